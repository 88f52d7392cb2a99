#!/usr/bin/env bash
# Checks the deployment artefacts with real tools (kubectl v1.36, helm v4 from scripts/kube-tools.sh):
#
#   1. helm lint --strict: default values, values-ha.yaml, a single-namespace install, the
#      ServiceMonitor; and the chart refuses bad values (schema, replicas without election);
#   2. helm template and kubectl kustomize render without error (base, ha, chart, chart + HA);
#   3. every rendering is applied to a fresh kulta-sim with `kubectl apply --server-side` and
#      kubectl's default validation (fieldValidation=Strict): the CRD first (and waited for),
#      then the rest, twice (the second apply must be a no-op without conflicts); `kubectl get`
#      must see every applied object, and the Rollout kind must be served.
#
# Kinds the sim does not serve cannot be applied:
# they are listed as SKIPPED on every run, never dropped silently, and start being applied as
# soon as the sim serves them. kulta-controller/tests/deploy.rs checks them instead (RBAC
# allow-list, and a decode into their k8s-openapi types that catches unknown fields).
#
# Usage: scripts/check-deploy.sh        (from anywhere; builds kulta-sim with cargo if needed)
# Env:   KULTA_TOOLS_DIR  where kube-tools caches kubectl and helm (default .tools)
#        KEEP_RENDERED=1  keep the rendered manifests and sim logs (the path is printed)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools_bin="$(scripts/kube-tools.sh)"
kubectl="$tools_bin/kubectl"
helm="$tools_bin/helm"
chart="deploy/helm/kulta"

work="$(mktemp -d)"
sim_pid=""
cleanup() {
  stop_sim
  if [ "${KEEP_RENDERED:-}" = 1 ]; then
    echo "check-deploy: rendered manifests kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

step() { printf '\n--- check-deploy: %s (%ss)\n' "$*" "$SECONDS"; }
fail() { echo "check-deploy: FAILED: $*" >&2; exit 1; }

# Helm prints an INFO line for the chart's symlink to the generated CRD; keep real messages.
helm_quiet() { "$helm" "$@" 2> >(grep -v 'found symbolic link in path' >&2); }

# ---------------------------------------------------------------------------------------------
step "helm lint"
helm_quiet lint --strict "$chart"
helm_quiet lint --strict "$chart" -f "$chart/values-ha.yaml"
helm_quiet lint --strict "$chart" --set watchNamespace=team-a --set crds.install=false
helm_quiet lint --strict "$chart" --set serviceMonitor.enabled=true

# The chart must refuse what would break the controller, and values.schema.json a typo.
refused() {
  if helm_quiet template kulta "$chart" "$@" >/dev/null 2>&1; then
    fail "helm template accepted $*"
  fi
  echo "  refused as expected: $*"
}
refused --set replicas=2 --set leaderElection.enabled=false
refused --set replica=2
refused --set logFormat=xml
refused --set leaderElection.leaseDuration=15

# ---------------------------------------------------------------------------------------------
step "render"
mkdir -p "$work/render"
"$kubectl" kustomize deploy/kustomize/base >"$work/render/kustomize-base.yaml"
"$kubectl" kustomize deploy/kustomize/ha >"$work/render/kustomize-ha.yaml"
# Helm renderings go to their own namespace and release name so that nothing is shared with the
# kustomize objects; each rendering is applied to its own sim anyway.
helm_quiet template kulta-helm "$chart" --namespace kulta-helm >"$work/render/helm.yaml"
helm_quiet template kulta-helm "$chart" --namespace kulta-helm -f "$chart/values-ha.yaml" \
  >"$work/render/helm-ha.yaml"
for file in "$work"/render/*.yaml; do
  printf '  %-22s %3d objects\n' "$(basename "$file")" "$(grep -c '^kind:' "$file")"
done

# ---------------------------------------------------------------------------------------------
step "build kulta-sim"
# Once, so that the `cargo run` of each start below is only a freshness check.
cargo build -q -p kulta-sim --bin kulta-sim

start_sim() {
  local dir="$1"
  mkdir -p "$dir"
  # `cargo run` execs the sim, so $! is the sim itself.
  cargo run -q -p kulta-sim -- serve --addr 127.0.0.1:0 --kubeconfig "$dir/kubeconfig" \
    --no-controllers >"$dir/sim.out" 2>"$dir/sim.err" &
  sim_pid=$!
  local deadline=$((SECONDS + 600)) # the first start may compile the sim
  until [ -s "$dir/kubeconfig" ] && "$kubectl" --kubeconfig "$dir/kubeconfig" get --raw /version \
    >/dev/null 2>&1; do
    if ! kill -0 "$sim_pid" 2>/dev/null; then
      cat "$dir/sim.err" >&2
      fail "kulta-sim exited before serving"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "kulta-sim did not serve within 600s"
    sleep 0.2
  done
}

stop_sim() {
  [ -n "$sim_pid" ] || return 0
  # TERM, not INT: a background job of a non-interactive shell starts with SIGINT ignored.
  kill -TERM "$sim_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
}

# Splits a multi-document rendering by kind into crds.yaml, served.yaml and skipped.txt
# ("apiVersion kind name" per line) according to the sim's discovery (served-kinds.txt holds
# "apiVersion Kind" lines).
split_rendering() {
  local rendering="$1" dir="$2"
  awk -v served_list="$dir/served-kinds.txt" -v out="$dir" '
    BEGIN {
      while ((getline line < served_list) > 0) served[line] = 1
      crds = out "/crds.yaml"; rest = out "/served.yaml"; skipped = out "/skipped.txt"
      printf "" > crds; printf "" > rest; printf "" > skipped
    }
    function flush(   target) {
      if (kind == "") { doc = ""; return }
      if (kind == "CustomResourceDefinition") target = crds
      else if ((api " " kind) in served) target = rest
      else { print api " " kind " " name >> skipped; doc = ""; api = kind = name = ""; return }
      printf "---\n%s", doc >> target
      doc = ""; api = kind = name = ""
    }
    /^---/ { flush(); next }
    {
      doc = doc $0 "\n"
      if ($0 ~ /^apiVersion: /) api = $2
      if ($0 ~ /^kind: /) kind = $2
      if (in_meta && $0 ~ /^  name: /) { name = $2; in_meta = 0 }
      if ($0 ~ /^metadata:/) in_meta = 1
      else if ($0 ~ /^[^ #]/) in_meta = 0
    }
    END { flush() }
  ' "$rendering"
}

# Applies one rendering to a fresh sim: CRDs first, then everything the sim serves.
apply_rendering() {
  local name="$1" rendering="$2" namespace="$3"
  local dir="$work/$name"
  local kc=(--kubeconfig "$dir/kubeconfig")
  step "apply --server-side: $name"
  start_sim "$dir"

  "$kubectl" "${kc[@]}" api-resources --no-headers | awk '{print $(NF-2) " " $NF}' \
    >"$dir/served-kinds.txt"
  split_rendering "$rendering" "$dir"

  if [ -s "$dir/skipped.txt" ]; then
    echo "  SKIPPED (kind not served by kulta-sim; checked by helm lint and tests/deploy.rs only):"
    sed 's/^/    /' "$dir/skipped.txt"
  fi
  [ -s "$dir/crds.yaml" ] || fail "$name: no CustomResourceDefinition in the rendering"
  grep -q '^kind: Deployment' "$dir/served.yaml" || fail "$name: the Deployment was not applied"

  # `helm install --create-namespace`. Applied rather than `kubectl create namespace`: that
  # command sends protobuf, which kulta-sim does not decode (415).
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$namespace" |
    "$kubectl" "${kc[@]}" apply --server-side --field-manager=kulta-check-deploy -f -
  "$kubectl" "${kc[@]}" apply --server-side --field-manager=kulta-check-deploy -f "$dir/crds.yaml"
  "$kubectl" "${kc[@]}" wait --for condition=Established --timeout=30s -f "$dir/crds.yaml"
  "$kubectl" "${kc[@]}" apply --server-side --field-manager=kulta-check-deploy -f "$dir/served.yaml"

  # Everything applied must be readable back, and the Rollout kind must be served.
  local want got
  want="$(grep -c '^kind:' "$dir/crds.yaml" "$dir/served.yaml" | awk -F: '{n += $2} END {print n}')"
  got="$("$kubectl" "${kc[@]}" get -f "$dir/crds.yaml" -f "$dir/served.yaml" -o name | tee "$dir/got.txt" | wc -l)"
  sed 's/^/  got /' "$dir/got.txt"
  [ "$got" -eq "$want" ] || fail "$name: applied $want objects, kubectl get sees $got"
  "$kubectl" "${kc[@]}" get rollouts.kulta.io -A >/dev/null 2>"$dir/rollouts.err" ||
    fail "$name: the Rollout kind is not served after applying the CRD: $(cat "$dir/rollouts.err")"
  # Applying the same rendering again (an upgrade to the same version) must be accepted: no
  # conflicts with our own field manager.
  "$kubectl" "${kc[@]}" apply --server-side --field-manager=kulta-check-deploy -f "$dir/crds.yaml" \
    -f "$dir/served.yaml" >/dev/null
  stop_sim
}

apply_rendering kustomize-base "$work/render/kustomize-base.yaml" kulta-system
apply_rendering kustomize-ha "$work/render/kustomize-ha.yaml" kulta-system
apply_rendering helm "$work/render/helm.yaml" kulta-helm
apply_rendering helm-ha "$work/render/helm-ha.yaml" kulta-helm

step "ok"
