# One pattern rule per artifact; everything lands in build/ (git-ignored); half-written files are deleted on error.
.DELETE_ON_ERROR:
.PHONY: all bpf probe native simulator clean

BUILD := build
# node-gyp must build against the Node the agent runs on (Node 24), not the machine's default.
NODE_DIR ?= $(shell dirname $$(dirname $$(command -v node)))

all: bpf probe native simulator

# --- bpf: owned by the kernel programs (bpf/) ---
# Each bpf/*.bpf.c is one hook group, compiled alone (CO-RE, BTF kept) and linked into ONE object.
CLANG ?= clang
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I$(BUILD) -Ibpf
# bpf/probe.bpf.c is not a hook group: it is built alone by the `probe` target below.
# maps.bpf.c first: the linker misplaces maps when an extern declaration precedes the definition.
BPF_UNITS := bpf/maps.bpf.c $(filter-out bpf/probe.bpf.c bpf/maps.bpf.c,$(wildcard bpf/*.bpf.c))
BPF_UNIT_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_UNITS))
BPF_HEADERS := bpf/events.h $(wildcard bpf/lib/*.h bpf/*/*.h)

bpf: $(BUILD)/kubesentry.bpf.o $(BUILD)/kubesentry-test-bad.bpf.o

$(BUILD)/vmlinux.h: $(VMLINUX_BTF)
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file $< format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h $(BPF_HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/kubesentry.bpf.o: $(BPF_UNIT_OBJS)
	$(BPFTOOL) gen object $@ $^

# Rejected by the verifier on purpose: exercises the loader's error path.
$(BUILD)/kubesentry-test-bad.bpf.o: bpf/test/verifier_reject.bpf.c $(BUILD)/vmlinux.h $(BPF_HEADERS)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# --- probe: one tiny program per hook type, loaded one at a time to learn what the kernel allows ---
probe: $(BUILD)/probe.bpf.o

$(BUILD)/probe.bpf.o: bpf/probe.bpf.c bpf/open/untrusted_loads.h $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# --- simulator: static attack-simulator programs for `kubesentry simulate` (simulator/Makefile) ---
simulator:
	$(MAKE) -C simulator

# --- native: the N-API addon ---
native: native/build/Release/kubesentry.node

# npx exports the user's npmrc `nodedir` (here /usr, Node 20's headers) to node-gyp, which beats --nodedir.
native/build/Release/kubesentry.node: $(wildcard native/*.cc native/*.h native/binding.gyp) bpf/events.h
	cd native && npm_config_nodedir=$(NODE_DIR) npx --no-install node-gyp rebuild --nodedir=$(NODE_DIR) >/dev/null

clean:
	rm -rf $(BUILD) native/build

# A development loader for the kernel object (bpf/tools/ks-probe.c); not part of `all`.
$(BUILD)/ks-probe: bpf/tools/ks-probe.c bpf/events.h bpf/open/path_index.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -o $@ $< -lbpf -lelf -lz

# Cost of the in-kernel open filter versus an empty program (bpf/tools/ks-open-bench.c); not part of `all`.
$(BUILD)/ks-open-bench: bpf/tools/ks-open-bench.c bpf/events.h bpf/open/path_index.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -o $@ $< -lbpf -lelf -lz

# One kernel behaviour per subcommand, for test/bpf-programs.test.ts (bpf/tools/ks-trigger.c).
$(BUILD)/ks-trigger: bpf/tools/ks-trigger.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -pthread -o $@ $<
