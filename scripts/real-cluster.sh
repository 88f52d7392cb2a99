#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, built from pinned Go modules, without containers:
# etcd 3.6, kube-apiserver and kube-controller-manager 1.36 (tools/etcd, tools/k8s), and
# `kulta-sim agent` in place of a kubelet, a scheduler and a Gateway API implementation (it binds
# pods to one fake node, reports them Running and Ready, finishes graceful deletions, and writes
# HTTPRoute/GRPCRoute status as a conforming gateway does).
#
# The API server serves TLS, authenticates bearer tokens, authorizes with RBAC only, enforces
# owner-reference permissions (OwnerReferencesPermissionEnforcement, on in many production
# clusters) and writes an audit log. Two kubeconfigs are written: `admin.kubeconfig` (system:masters) and
# `controller.kubeconfig`, the ServiceAccount that deploy/kustomize/base creates, with a token
# from the TokenRequest API, so KULTA holds exactly what the rendered ClusterRole and Role grant.
#
# Usage:
#   scripts/real-cluster.sh build      build (or find in the cache) the binaries; prints their dir
#   scripts/real-cluster.sh up         build if needed, start everything, install CRDs and RBAC
#   scripts/real-cluster.sh env        print `export KUBECONFIG=... KULTA_TEST_CLUSTER=...`
#   scripts/real-cluster.sh down       stop every process it started and remove its state
#   scripts/real-cluster.sh status     say whether it runs
#   scripts/real-cluster.sh test ARGS  up, `cargo test ARGS` against it, down (even on failure)
#
# Env:
#   KULTA_CACHE_DIR           binaries cache (default ${XDG_CACHE_HOME:-~/.cache}/kulta), by version
#   KULTA_REAL_CLUSTER_DIR    state of the running cluster (default $KULTA_CACHE_DIR/real-cluster)
#   KULTA_REAL_CLUSTER_BARE=1 `up` installs nothing of KULTA's (CRD, RBAC): the cluster a user
#                             has before following the README (scripts/real-user-path.sh)
#
# Needs Go (1.26.x, GOTOOLCHAIN=local is fine), openssl, python3, cargo. A cold build of the
# Kubernetes binaries takes ~20 minutes on 2 cores; a cached one starts in seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${KULTA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kulta}"
state="${KULTA_REAL_CLUSTER_DIR:-$cache/real-cluster}"

log() { printf 'real-cluster: %s\n' "$*" >&2; }
fail() { printf 'real-cluster: FAILED: %s\n' "$*" >&2; exit 1; }

# The versions come from the committed tool modules; the cache key is a digest of them, so a
# change to either module builds anew and never reuses a binary of another version.
k8s_version() { awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$root/tools/k8s/go.mod"; }
etcd_version() { awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$root/tools/etcd/go.mod"; }
gateway_api_version() {
  awk '{for (i = 1; i < NF; i++) if ($i == "sigs.k8s.io/gateway-api") {print $(i + 1); exit}}' \
    "$root/tools/gateway-api/go.mod"
}
bin_dir() {
  local digest
  digest="$(cat "$root"/tools/*/go.mod "$root"/tools/*/go.sum | sha256sum | cut -c1-12)"
  echo "$cache/bin/k8s-$(k8s_version)-etcd-$(etcd_version)-$digest"
}

# ---------------------------------------------------------------------------------------------
build() {
  local bin version major minor
  bin="$(bin_dir)"
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] && [ -x "$bin/etcd" ] &&
    [ -d "$bin/gateway-api-crds" ]; then
    echo "$bin"
    return
  fi
  command -v go >/dev/null || fail "go is required to build the control plane"
  mkdir -p "$bin.partial"
  # Never upgrade anything: the go.mod/go.sum files are the pins.
  export GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local
  version="$(k8s_version)"
  major="${version#v}"; major="${major%%.*}"
  minor="${version#v*.}"; minor="${minor%%.*}"
  # The ldflags the Kubernetes release build sets, so /version reports the real version.
  local ldflags="-s -w"
  for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $package.gitVersion=$version -X $package.gitMajor=$major"
    ldflags+=" -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
    ldflags+=" -X $package.buildDate=1970-01-01T00:00:00Z"
  done
  log "building kube-apiserver and kube-controller-manager $version (cold: ~20 min on 2 cores)"
  (cd "$root/tools/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin.partial/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
  log "building etcd $(etcd_version)"
  (cd "$root/tools/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
    -o "$bin.partial/etcd" go.etcd.io/etcd/server/v3)
  log "fetching the Gateway API $(gateway_api_version) CRDs from its Go module"
  local gateway_dir
  gateway_dir="$(cd "$root/tools/gateway-api" &&
    go mod download -json sigs.k8s.io/gateway-api | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  mkdir -p "$bin.partial/gateway-api-crds"
  cp "$gateway_dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$bin.partial/gateway-api-crds/"
  chmod -R u+w "$bin.partial"
  rm -rf "$bin"
  mv "$bin.partial" "$bin"
  echo "$bin"
}

# ---------------------------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pki() {
  local dir="$state/pki"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kulta-real-cluster-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$dir/apiserver.key" -out "$dir/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:10.96.0.1\n' \
    >"$dir/san.ext"
  openssl x509 -req -in "$dir/apiserver.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/san.ext" -out "$dir/apiserver.crt" 2>/dev/null
  # Service-account token signing.
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
}

kubeconfig() {
  local file="$1" user="$2" token="$3" namespace="${4:-default}"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kulta-real
  cluster:
    server: https://127.0.0.1:$(cat "$state/apiserver.port")
    certificate-authority: $state/pki/ca.crt
users:
- name: $user
  user:
    token: $token
contexts:
- name: $user
  context: {cluster: kulta-real, user: $user, namespace: $namespace}
current-context: $user
EOF
}

token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

start() {
  local name="$1"
  shift
  "$@" >"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/pids/$name"
}

running() { [ -f "$state/pids/$1" ] && kill -0 "$(cat "$state/pids/$1")" 2>/dev/null; }

wait_until() {
  local what="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    for process in "$state"/pids/*; do
      running "$(basename "$process")" ||
        { tail -n 30 "$state/logs/$(basename "$process").log" >&2 || true; fail "$(basename "$process") exited while waiting for $what"; }
    done
    [ "$SECONDS" -lt "$deadline" ] || fail "$what not within ${seconds}s"
    sleep 0.2
  done
}

kubectl_bin() {
  local tools_bin
  tools_bin="$("$root/scripts/kube-tools.sh")"
  echo "$tools_bin/kubectl"
}

up() {
  if [ -f "$state/admin.kubeconfig" ] && running kube-apiserver; then
    log "already running ($state)"
    return
  fi
  rm -rf "$state"
  mkdir -p "$state/logs" "$state/pids"
  local bin kubectl agent
  bin="$(build)"
  kubectl="$(kubectl_bin)"
  log "building kulta-sim (the agent)"
  (cd "$root" && cargo build -q -p kulta-sim --bin kulta-sim)
  agent="${CARGO_TARGET_DIR:-$root/target}/debug/kulta-sim"
  pki

  local etcd_port etcd_peer_port api_port
  etcd_port="$(free_port)"; etcd_peer_port="$(free_port)"; api_port="$(free_port)"
  echo "$api_port" >"$state/apiserver.port"

  local admin_token kcm_token agent_token
  admin_token="$(token)"; kcm_token="$(token)"; agent_token="$(token)"
  {
    echo "$admin_token,admin,admin,system:masters"
    echo "$kcm_token,system:kube-controller-manager,system:kube-controller-manager"
    # The agent plays kubelet, scheduler and gateway: test infrastructure whose rights are not
    # under test. Its user name is the identity kulta-sim's own controllers have.
    echo "$agent_token,system:kulta-sim-controllers,kulta-sim-controllers,system:masters"
  } >"$state/tokens.csv"
  cat >"$state/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
# The control plane's own traffic is not what the tests read.
- level: None
  users: ["system:kube-controller-manager", "system:apiserver", "system:kube-scheduler"]
- level: None
  userGroups: ["system:serviceaccounts:kube-system"]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/openapi/*", "/api", "/apis", "/api/*", "/apis/*"]
- level: Metadata
EOF

  log "starting etcd on 127.0.0.1:$etcd_port"
  start etcd "$bin/etcd" --name kulta --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "kulta=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync --log-level warn --quota-backend-bytes 8589934592
  wait_until "etcd health" 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  log "starting kube-apiserver $(k8s_version) on https://127.0.0.1:$api_port"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$state/pki/apiserver.crt" --tls-private-key-file "$state/pki/apiserver.key" \
    --client-ca-file "$state/pki/ca.crt" \
    --token-auth-file "$state/tokens.csv" \
    --authorization-mode RBAC \
    --enable-admission-plugins OwnerReferencesPermissionEnforcement \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$state/pki/sa.pub" \
    --service-account-signing-key-file "$state/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --audit-policy-file "$state/audit-policy.yaml" --audit-log-path "$state/audit.log" \
    --audit-log-format json --audit-log-maxsize 0 \
    --profiling=false
  kubeconfig "$state/admin.kubeconfig" admin "$admin_token"
  kubeconfig "$state/kube-controller-manager.kubeconfig" system:kube-controller-manager "$kcm_token"
  kubeconfig "$state/agent.kubeconfig" system:kulta-sim-controllers "$agent_token"
  wait_until "kube-apiserver /readyz" 120 "$kubectl" --kubeconfig "$state/admin.kubeconfig" get --raw /readyz

  log "starting kube-controller-manager"
  # No cloud, no node lifecycle (the agent's node is always Ready), no leader election: one
  # instance. Everything else is the default set: ReplicaSets, garbage collection, namespaces,
  # ServiceAccounts, EndpointSlices, each controller under its own ServiceAccount and bootstrap
  # role as kubeadm runs it.
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$state/kube-controller-manager.kubeconfig" \
    --leader-elect=false --secure-port 0 \
    --controllers '*,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' \
    --service-account-private-key-file "$state/pki/sa.key" \
    --root-ca-file "$state/pki/ca.crt" \
    --use-service-account-credentials \
    --concurrent-replicaset-syncs 10 --concurrent-gc-syncs 10 --kube-api-qps 200 --kube-api-burst 400
  log "starting the agent (node, pods, gateway)"
  start agent "$agent" agent --kubeconfig "$state/agent.kubeconfig"

  local k=("$kubectl" --kubeconfig "$state/admin.kubeconfig")
  server_version() {
    "${k[@]}" version -o json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'
  }
  log "installing the Gateway API CRDs"
  "${k[@]}" apply --server-side -f "$bin/gateway-api-crds/" >/dev/null
  "${k[@]}" wait --for condition=Established --timeout=60s crd --all >/dev/null
  "${k[@]}" wait --for=jsonpath='{.status.phase}'=Active --timeout=60s namespace/default >/dev/null
  wait_until "the default ServiceAccount" 60 "${k[@]}" -n default get serviceaccount default

  # The agent's node must be there before a test's first pod.
  wait_until "the agent's node Ready" 60 "${k[@]}" wait --for condition=Ready --timeout=1s node --all

  cat >"$state/env" <<EOF
export KUBECONFIG=$state/admin.kubeconfig
export KULTA_TEST_CLUSTER=$state
EOF
  if [ "${KULTA_REAL_CLUSTER_BARE:-}" = 1 ]; then
    log "up (bare: nothing of KULTA installed): $(server_version) at https://127.0.0.1:$api_port"
    return
  fi

  log "installing KULTA's CRDs and RBAC from deploy/kustomize/base"
  "${k[@]}" apply --server-side -k "$root/deploy/kustomize/base" >/dev/null
  # No container runtime here: the controller runs as a local process under the
  # ServiceAccount's token, so the Deployment has no replica.
  "${k[@]}" -n kulta-system scale deployment kulta-controller --replicas 0 >/dev/null
  wait_until "the kulta-controller ServiceAccount" 30 "${k[@]}" -n kulta-system get serviceaccount kulta-controller
  local controller_token
  controller_token="$("${k[@]}" -n kulta-system create token kulta-controller --duration 24h)"
  kubeconfig "$state/controller.kubeconfig" system:serviceaccount:kulta-system:kulta-controller \
    "$controller_token" kulta-system
  log "up: $(server_version) at https://127.0.0.1:$api_port"
  log "use it: eval \"\$(scripts/real-cluster.sh env)\""
}

down() {
  [ -d "$state/pids" ] || { log "not running"; return; }
  # Reverse order of start: nothing keeps writing to a server that is gone.
  for name in agent kube-controller-manager kube-apiserver etcd; do
    [ -f "$state/pids/$name" ] || continue
    local pid
    pid="$(cat "$state/pids/$name")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_REAL_CLUSTER_STATE:-}" = 1 ]; then
    rm -rf "$state/pids"
    log "down; state kept in $state"
  else
    rm -rf "$state"
    log "down"
  fi
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  env)
    [ -f "$state/env" ] || fail "not running: scripts/real-cluster.sh up"
    cat "$state/env"
    ;;
  status)
    if running kube-apiserver; then echo "running: $state"; else echo "not running"; exit 1; fi
    ;;
  test)
    shift
    up
    trap down EXIT
    # shellcheck disable=SC1091
    source "$state/env"
    (cd "$root" && cargo test "$@")
    ;;
  *)
    sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
