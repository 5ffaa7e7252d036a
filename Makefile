# One pattern rule per artifact; everything lands in build/ (git-ignored); half-written files are deleted on error.
.DELETE_ON_ERROR:
.PHONY: all bpf native clean

BUILD := build
# node-gyp must build against the Node the agent runs on (Node 24), not the machine's default.
NODE_DIR ?= $(shell dirname $$(dirname $$(command -v node)))

all: bpf native

# --- bpf: owned by the kernel programs (bpf/) ---
bpf:

# --- native: the N-API addon ---
native: native/build/Release/kubesentry.node

native/build/Release/kubesentry.node: $(wildcard native/*.cc native/*.h native/binding.gyp) bpf/events.h
	cd native && npx --no-install node-gyp rebuild --nodedir=$(NODE_DIR) >/dev/null

clean:
	rm -rf $(BUILD) native/build
