#!/usr/bin/env bash
# Builds the deployment validators from Go modules into a cache directory, so CI on a fresh machine needs only the
# Go module proxy: helm and kubeconform are not packaged in Debian 12 and no release-download site is reachable.
# Re-running is cheap: each tool is rebuilt only when its pinned version (or the validator source) changes.
#
#   scripts/build-validators.sh            # prints the bin directory on stdout
#   KUBESENTRY_TOOLS_DIR=/some/cache scripts/build-validators.sh
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${KUBESENTRY_TOOLS_DIR:-$repo_root/.cache/tools}
bin_dir=$tools_dir/bin
stamp_dir=$tools_dir/stamps
mkdir -p "$bin_dir" "$stamp_dir"

command -v go >/dev/null || { echo "build-validators: go is not on PATH (install Go >= 1.24)" >&2; exit 1; }

# Go's own caches live under the tools dir too, so a CI cache of that one directory makes the next run offline.
export GOMODCACHE=${GOMODCACHE:-$tools_dir/gomodcache}
export GOCACHE=${GOCACHE:-$tools_dir/gocache}
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

install_module_tool() {
  local name=$1 module=$2 version=$3
  local stamp=$stamp_dir/$name
  if [[ -x $bin_dir/$name && -f $stamp && $(<"$stamp") == "$version" ]]; then return; fi
  echo "build-validators: go install $module@$version" >&2
  GOBIN=$bin_dir go install "$module@$version" >&2
  echo "$version" >"$stamp"
}

install_module_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
install_module_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"

# The strict validator is our own source: rebuild when any of its files change.
validator_src=$repo_root/deploy/validate
validator_hash=$(cat "$validator_src"/go.mod "$validator_src"/go.sum "$validator_src"/*.go | sha256sum | cut -d' ' -f1)
validator_stamp=$stamp_dir/kubesentry-validate
if [[ ! -x $bin_dir/kubesentry-validate || ! -f $validator_stamp || $(<"$validator_stamp") != "$validator_hash" ]]; then
  echo "build-validators: building deploy/validate" >&2
  (cd "$validator_src" && go build -o "$bin_dir/kubesentry-validate" . >&2)
  echo "$validator_hash" >"$validator_stamp"
fi

echo "$bin_dir"
