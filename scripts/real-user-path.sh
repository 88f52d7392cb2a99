#!/usr/bin/env bash
# The user's path on the real control plane, with real kubectl and helm, from a cluster that has
# nothing of KULTA's (`KULTA_REAL_CLUSTER_BARE=1 scripts/real-cluster.sh up`):
#
#  1. The README's "On a real cluster" workflow as written: the CRD from `gen-crd` (the same as
#     `kulta crd`) installed with client-side `kubectl apply`, `cargo run --bin kulta` against
#     the current kubeconfig, the example Rollout applied, a new revision promoted past its
#     timed and its indefinite pause with `kubectl annotate`.
#  2. The Helm chart installed (`helm install`), the controller run under the chart's
#     ServiceAccount (a TokenRequest token) with the environment of the chart's Deployment, and
#     a canary, a promote, an abort and a delete driven with kubectl.
#  3. The same with `kubectl apply --server-side -k deploy/kustomize/base`.
#
# The Gateway API CRDs come from `scripts/real-cluster.sh up` (the v1.5.1 release the README
# installs, from its Go module: this machine reaches no release download). No container runtime
# runs here, so the controller of steps 2 and 3 is the local `kulta` binary, not the Deployment's
# pod; it holds exactly the RBAC the chart or the kustomization grants.
#
# Usage: eval "$(KULTA_REAL_CLUSTER_BARE=1 scripts/real-cluster.sh up && scripts/real-cluster.sh env)"
#        scripts/real-user-path.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
: "${KULTA_TEST_CLUSTER:?run scripts/real-cluster.sh up and eval its env first}"
: "${KUBECONFIG:?run scripts/real-cluster.sh up and eval its env first}"
PATH="$(scripts/kube-tools.sh):$PATH"
work="$(mktemp -d)"
controller_pid=""
kulta="${CARGO_TARGET_DIR:-$root/target}/debug/kulta"

log() { printf '\n--- user path: %s (%ss)\n' "$*" "$SECONDS" >&2; }
fail() {
  printf 'user path: FAILED: %s\n' "$*" >&2
  if [ -f "$work/controller.log" ]; then
    echo "--- the controller's last log lines:" >&2
    tail -n 40 "$work/controller.log" >&2
  fi
  exit 1
}
stop_controller() {
  if [ -n "$controller_pid" ]; then
    kill -TERM "$controller_pid" 2>/dev/null || true
    wait "$controller_pid" 2>/dev/null || true
    controller_pid=""
  fi
}
trap 'stop_controller; rm -rf "$work"' EXIT

# Waits until `kubectl get rollout my-app -o jsonpath=$1` prints $2.
wait_rollout() {
  local path="$1" want="$2" got=""
  for _ in $(seq 600); do
    got="$(kubectl get rollout my-app -o "jsonpath=$path" 2>/dev/null || true)"
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "rollout my-app: $path is '$got', expected '$want'"
}

# Waits until the route's backend weights (stable canary) are $1.
wait_route() {
  local want="$1" got=""
  for _ in $(seq 600); do
    got="$(kubectl get httproute my-app-route -o 'jsonpath={.spec.rules[0].backendRefs[*].weight}')"
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "route my-app-route weights are '$got', expected '$want'"
}

set_image() {
  kubectl patch rollout my-app --type merge \
    -p "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"$1\"}]}}}}"
}

# A canary from nginx:1.25 to 1.26 promoted through both pauses, one to 1.27 aborted, then the
# Rollout deleted: traffic back on stable, its ReplicaSets collected.
canary_promote_abort_delete() {
  kubectl apply -f examples/basic-rollout-network.yaml -f examples/basic-rollout.yaml
  wait_rollout '{.status.phase}' Healthy
  wait_route "100 0"

  set_image nginx:1.26
  wait_rollout '{.status.phase}/{.status.canaryWeight}' Paused/20
  wait_route "80 20"
  kubectl annotate rollout my-app kulta.io/promote=true
  wait_rollout '{.status.phase}/{.status.canaryWeight}' Paused/50
  wait_route "50 50"
  kubectl annotate rollout my-app kulta.io/promote=true
  wait_rollout '{.status.phase}/{.spec.template.spec.containers[0].image}' Healthy/nginx:1.26
  wait_route "100 0"

  set_image nginx:1.27
  wait_rollout '{.status.phase}/{.status.canaryWeight}' Paused/20
  kubectl annotate rollout my-app kulta.io/abort=true
  wait_rollout '{.status.phase}/{.status.aborted}' Degraded/true
  wait_route "100 0"

  kubectl delete rollout my-app --timeout=60s
  wait_route "100 0"
  for _ in $(seq 600); do
    [ -z "$(kubectl get replicasets -l app=my-app -o name)" ] && return 0
    sleep 0.1
  done
  fail "the ReplicaSets of the deleted Rollout are still there"
}

# Starts the local controller as ServiceAccount $2/$1 with the environment of Deployment $2/$3
# (leader election, lease, tuning), as its pod would run.
start_as_deployment() {
  local account="$1" namespace="$2" deployment="$3" token admin_port
  token="$(kubectl -n "$namespace" create token "$account" --duration 1h)"
  local server ca
  server="$(kubectl config view --raw --minify --flatten -o 'jsonpath={.clusters[0].cluster.server}')"
  ca="$(kubectl config view --raw --minify --flatten -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')"
  cat >"$work/controller.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: real
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: $account
  user: {token: "$token"}
contexts:
- name: real
  context: {cluster: real, user: $account, namespace: $namespace}
current-context: real
EOF
  admin_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # The Deployment's literal env; the downward-API values are what its pod would get.
  local environment=()
  mapfile -t environment < <(kubectl -n "$namespace" get deployment "$deployment" -o json |
    python3 -c '
import json, sys
for var in json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0].get("env", []):
    if "value" in var:
        print(var["name"] + "=" + var["value"])')
  [ "${#environment[@]}" -gt 0 ] || fail "deployment $namespace/$deployment has no env"
  env "${environment[@]}" \
    POD_NAME="$deployment-local" POD_NAMESPACE="$namespace" \
    KULTA_ADMIN_ADDR="127.0.0.1:$admin_port" KULTA_LOG_FORMAT=text \
    KUBECONFIG="$work/controller.kubeconfig" \
    "$kulta" run >"$work/controller.log" 2>&1 &
  controller_pid=$!
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null && return 0
    kill -0 "$controller_pid" 2>/dev/null || fail "the controller exited"
    sleep 0.1
  done
  fail "the controller is not ready"
}

# No RBAC error may have been logged by a controller that was meant to hold every grant it needs.
no_forbidden() {
  if grep -qiE '\b403\b|forbidden' "$work/controller.log"; then
    grep -iE '\b403\b|forbidden' "$work/controller.log" | head -5 >&2
    fail "the controller was refused a request under $1's RBAC"
  fi
}

# ---------------------------------------------------------------------------------------------
log "1. the README's workflow, as written"
kubectl get crd rollouts.kulta.io >/dev/null 2>&1 && fail "the cluster already has KULTA's CRD: start it bare"
cargo build --quiet --bin kulta --bin gen-crd
cargo run --quiet --bin gen-crd > /tmp/rollout-crd.yaml
cmp -s /tmp/rollout-crd.yaml <("$kulta" crd) || fail "gen-crd and kulta crd differ"
kubectl apply -f /tmp/rollout-crd.yaml
kubectl wait --for condition=Established --timeout=60s crd/rollouts.kulta.io
RUST_LOG=info cargo run --quiet --bin kulta >"$work/controller.log" 2>&1 &
controller_pid=$!
kubectl apply -f examples/basic-rollout-network.yaml -f examples/basic-rollout.yaml
wait_rollout '{.status.phase}' Healthy
set_image nginx:1.26
wait_rollout '{.status.phase}/{.status.canaryWeight}' Paused/20
kubectl annotate rollout my-app kulta.io/promote=true
wait_rollout '{.status.phase}/{.status.canaryWeight}' Paused/50
# The README's command: promote past an indefinite pause.
kubectl annotate rollout my-app kulta.io/promote=true
wait_rollout '{.status.phase}/{.spec.template.spec.containers[0].image}' Healthy/nginx:1.26
wait_route "100 0"
kubectl delete rollout my-app --timeout=60s
stop_controller
# The chart installs the CRD itself (crds.install, the default): start it from none.
kubectl delete -f /tmp/rollout-crd.yaml --timeout=60s

log "2. helm install, the controller under the chart's RBAC"
helm install kulta deploy/helm/kulta --namespace kulta-helm --create-namespace --wait --timeout 2m
kubectl wait --for condition=Established --timeout=60s crd/rollouts.kulta.io
start_as_deployment kulta-controller kulta-helm kulta-controller
canary_promote_abort_delete
no_forbidden "the Helm chart"
kubectl -n kulta-helm get lease kulta-controller -o 'jsonpath={.spec.holderIdentity}' |
  grep -qx kulta-controller-local || fail "the controller did not hold the chart's Lease"
stop_controller
helm uninstall kulta --namespace kulta-helm --wait
# The chart keeps its CRD on uninstall (crds.keep); the kustomization's server-side apply would
# conflict with Helm's labels on it. Start from none, as a user moving between the two would.
kubectl get crd rollouts.kulta.io -o 'jsonpath={.metadata.annotations.helm\.sh/resource-policy}' |
  grep -qx keep || fail "the chart did not keep its CRD"
kubectl delete crd rollouts.kulta.io --timeout=60s

log "3. kubectl apply -k deploy/kustomize/base, the controller under its RBAC"
kubectl apply --server-side -k deploy/kustomize/base
kubectl -n kulta-system rollout status deployment/kulta-controller --timeout=2m
start_as_deployment kulta-controller kulta-system kulta-controller
canary_promote_abort_delete
no_forbidden "the kustomization"
kubectl -n kulta-system get lease kulta-controller -o 'jsonpath={.spec.holderIdentity}' |
  grep -qx kulta-controller-local || fail "the controller did not hold the kustomization's Lease"
stop_controller

log "ok"
