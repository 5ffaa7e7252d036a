#!/usr/bin/env bash
# Builds the deployment validators from Go modules and prints the directory holding them on stdout (progress on
# stderr): helm and kubeconform are not packaged in Debian 12 and no release-download or schema site is reachable,
# so CI needs nothing but the Go module proxy. Prometheus is built too: the dashboards are checked against a real
# one fed through the shipped Collector config (test/deploy-dashboards.test.ts). Binaries are cached outside the repository; each is rebuilt only when
# its pinned version (or, for our own validator, its source) or the Go toolchain changes. Cold builds take minutes
# (helm is large); warm runs take well under a second.
#   KUBESENTRY_CACHE_DIR   cache root (default /var/cache/kubesentry)
set -euo pipefail

readonly HELM_VERSION=v3.22.0
readonly KUBECONFORM_VERSION=v0.8.0
# Prometheus 3's Go module is versioned v0.3xx.y; this one has the native OTLP receiver the demo and docs rely on.
readonly PROMETHEUS_MODULE_VERSION=v0.316.0

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_root="${KUBESENTRY_CACHE_DIR:-/var/cache/kubesentry}"
bin_dir=$cache_root/deploy-tools/bin
stamp_dir=$cache_root/deploy-tools/stamps
validator_src=$repo_root/deploy/validate

command -v go >/dev/null || { echo "build-validators: go is not on PATH (Go >= 1.26 needed)" >&2; exit 1; }
mkdir -p "$bin_dir" "$stamp_dir"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false"
toolchain=$(go env GOVERSION GOOS GOARCH | tr '\n' ' ')

# Builds into a scratch directory and renames into place, so an interrupted build never leaves a binary that the
# stamp check would trust.
build_if_changed() {
  local name=$1 key=$2
  shift 2
  local stamp=$stamp_dir/$name
  if [[ -x $bin_dir/$name && -f $stamp && $(<"$stamp") == "$key" ]]; then return; fi
  local work
  work=$(mktemp -d "$cache_root/deploy-tools/.build-XXXXXX")
  echo "build-validators: building $name" >&2
  if ! "$@" "$work" >&2; then rm -rf "$work"; echo "build-validators: building $name failed" >&2; exit 1; fi
  mv "$work/$name" "$bin_dir/$name"
  rm -rf "$work"
  echo "$key" >"$stamp"
}

go_install() { GOBIN=${*: -1} go install "${@:1:$#-1}"; }
build_validator() { (cd "$validator_src" && go build -o "$1/kubesentry-validate" .); }

build_if_changed helm "$HELM_VERSION $toolchain" go_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
build_if_changed kubeconform "$KUBECONFORM_VERSION $toolchain" \
  go_install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
# remove_all_sd leaves out the cloud service-discovery plugins (Prometheus's own build tag): only the OTLP receiver
# and the query API are used, and the cloud SDKs would triple the build time.
build_if_changed prometheus "$PROMETHEUS_MODULE_VERSION remove_all_sd $toolchain" \
  go_install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION"
validator_hash=$(cat "$validator_src"/go.mod "$validator_src"/go.sum "$validator_src"/*.go | sha256sum | cut -c1-16)
build_if_changed kubesentry-validate "$validator_hash $toolchain" build_validator

echo "$bin_dir"
