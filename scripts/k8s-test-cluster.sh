#!/usr/bin/env bash
# A real Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager)
# on loopback for latchkey's integration tests.
#
#   scripts/k8s-test-cluster.sh start    start it (idempotent; builds the binaries once)
#   scripts/k8s-test-cluster.sh stop     stop it; the cached binaries stay
#   scripts/k8s-test-cluster.sh env      print `export KUBE_HOST=...` lines for a running cluster
#   scripts/k8s-test-cluster.sh status   exit 0 when running and ready, 1 otherwise
#   scripts/k8s-test-cluster.sh build    build (or find in the cache) the binaries and print their paths
#
# kube-apiserver and kube-controller-manager are built from Debian's
# `kubernetes` source package (1.20), together on a fresh machine, and cached in
# $LATCHKEY_CACHE_DIR (default ~/.cache/latchkey), keyed by the Debian source
# version. Set LATCHKEY_KUBE_APISERVER or LATCHKEY_KUBE_CONTROLLER_MANAGER to
# use a binary of your own.
# The controller-manager runs only the controllers in $CONTROLLERS: CSRs are
# signed by the cluster CA once approved, new namespaces get their `default`
# service account (with a legacy token secret) and the kube-root-ca.crt
# ConfigMap, deleted namespaces are emptied and finalised, dependents of a
# deleted owner are garbage-collected, and the aggregated ClusterRoles (admin,
# edit, view) get their rules. There is no scheduler or kubelet, and
# no workload controllers: pods stay Pending, and nothing acts on Deployments,
# Jobs and the like.
set -euo pipefail

STATE_DIR="${LATCHKEY_K8S_DIR:-/tmp/latchkey-k8s}"
CACHE_DIR="${LATCHKEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey}"
SA_ISSUER="https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR="10.96.0.0/24"
SERVICE_IP="10.96.0.1"
READY_TIMEOUT_S="${LATCHKEY_K8S_READY_TIMEOUT:-180}"
# kube-controller-manager's controllers that a cluster without nodes has use for.
CONTROLLERS="serviceaccount-token,serviceaccount,root-ca-cert-publisher,namespace,garbagecollector,csrsigning,csrapproving,csrcleaner,clusterrole-aggregation"

PKI="$STATE_DIR/pki"
ENV_FILE="$STATE_DIR/env"

log() { printf '[k8s-test-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

APT_LOG="${TMPDIR:-/tmp}/latchkey-k8s-apt.log"
# shellcheck source=lib/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

# ensure_packages CMD:PACKAGE ... installs each PACKAGE whose CMD is missing, or dies.
ensure_packages() {
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed; full output in $APT_LOG"
}

# The Debian source version of `kubernetes` that `apt-get source` would fetch.
source_version() {
  # apt-cache exits 100 while no deb-src entry exists yet: that is "no version", not a failure.
  { apt-cache showsrc kubernetes 2>/dev/null || true; } | awk '/^Version:/ {print $2}' | sort -V | tail -n 1
}

# Adds a deb-src twin of every Debian source list so that `apt-get source` works.
enable_deb_src() {
  local f out="/etc/apt/sources.list.d/latchkey-deb-src"
  [ -e "$out.sources" ] || [ -e "$out.list" ] && return 0
  log "adding deb-src entries"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    grep -qE '^URIs:.*debian' "$f" || continue
    sed -e 's/^Types:.*$/Types: deb-src/' "$f"
    printf '\n'
  done | as_root tee "$out.sources" >/dev/null
  if [ -e /etc/apt/sources.list ]; then
    { grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
      sed -e 's/^deb /deb-src /' | as_root tee "$out.list" >/dev/null
  fi
  APT_UPDATED=0
}

# The Kubernetes binaries the cluster runs, each built from cmd/NAME.
KUBE_BINARIES=(kube-apiserver kube-controller-manager)

# override_var NAME prints the variable that names a binary of one's own for
# NAME: LATCHKEY_KUBE_APISERVER, LATCHKEY_KUBE_CONTROLLER_MANAGER.
override_var() {
  local var="LATCHKEY_${1//-/_}"
  printf '%s\n' "${var^^}"
}

# kube_binaries sets KUBE_BIN[NAME] to the path of each of $KUBE_BINARIES: the
# override when one is set, else the cached build, building whatever is missing
# (all of it in one go on a fresh machine, so that the binaries share one
# source tree and one compile).
declare -A KUBE_BIN=()
kube_binaries() {
  local name var override version="" missing=()
  for name in "${KUBE_BINARIES[@]}"; do
    var="$(override_var "$name")"
    override="${!var:-}"
    if [ -n "$override" ]; then
      [ -x "$override" ] || die "$var=$override is not executable"
      KUBE_BIN[$name]="$override"
      continue
    fi
    if [ -z "$version" ]; then
      version="$(source_version)"
      if [ -z "$version" ]; then
        enable_deb_src
        log "apt-get update"
        apt_update_once
        version="$(source_version)"
        [ -n "$version" ] || die "apt-cache showsrc kubernetes found no source package"
      fi
    fi
    KUBE_BIN[$name]="$CACHE_DIR/$name-${version//:/_}"
    [ -x "${KUBE_BIN[$name]}" ] || missing+=("$name")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/build.lock"
  flock 8
  # Another start may have built them while this one waited for the lock.
  local still=()
  for name in "${missing[@]}"; do
    [ -x "${KUBE_BIN[$name]}" ] || still+=("$name")
  done
  [ "${#still[@]}" -eq 0 ] || build_kube "$version" "${still[@]}"
  exec 8>&-
}

# build_kube VERSION NAME... builds cmd/NAME of Debian's kubernetes=VERSION
# source in one `make` and caches each as $CACHE_DIR/NAME-VERSION.
build_kube() {
  local version="$1"
  shift
  local names=("$@") build_log="$CACHE_DIR/build-${version//:/_}.log"
  ensure_packages go:golang-go dpkg-source:dpkg-dev rsync:rsync make:make \
    /usr/share/gocode/src/github.com/modern-go/reflect2/reflect2.go:golang-github-modern-go-reflect2-dev
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/latchkey-kube-build.XXXXXX")"
  local started=$SECONDS
  log "building ${names[*]} from Debian source kubernetes=$version (log: $build_log)"
  : >"$build_log"
  (cd "$work" && apt-get source -q "kubernetes=$version") >>"$build_log" 2>&1 ||
    { tail -n 30 "$build_log" >&2; die "apt-get source kubernetes=$version failed"; }
  local src
  src="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
  [ -n "$src" ] || die "no source tree unpacked in $work"

  # The vendored reflect2 v1.0.1 makes kube-apiserver panic (iteration over a nil
  # map) when built with Go >= 1.18; Debian's reflect2 1.0.2 is the fix.
  local reflect2_dir="$src/vendor/github.com/modern-go/reflect2"
  find "$reflect2_dir" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  find /usr/share/gocode/src/github.com/modern-go/reflect2/ -maxdepth 1 -type f \
    \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "$reflect2_dir/" \;

  # The upstream version inside Debian's ("1.20.5+really1.20.2-1.1" -> "1.20.2"),
  # so that /version and kubectl report something meaningful.
  local upstream="${version#*:}"
  upstream="${upstream%-*}"
  upstream="${upstream##*really}"
  upstream="${upstream%%[+~]*}"

  local what="${names[*]/#/cmd/}"
  mkdir -p "$src/.go/src/k8s.io"
  ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
  (
    cd "$src"
    export GOPATH="$src/.go" GOCACHE="$work/gocache" CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor
    export KUBE_GIT_VERSION="v$upstream" KUBE_GIT_TREE_STATE=clean
    make WHAT="$what"
  ) >>"$build_log" 2>&1 &
  local make_pid=$!
  while kill -0 "$make_pid" 2>/dev/null; do
    sleep 30
    kill -0 "$make_pid" 2>/dev/null &&
      log "still building ($((SECONDS - started))s, $(wc -l <"$build_log") log lines)"
  done
  if ! wait "$make_pid"; then
    tail -n 40 "$build_log" >&2
    die "make WHAT=\"$what\" failed; full log in $build_log"
  fi
  local name out
  for name in "${names[@]}"; do
    out="$(find "$src/_output" -type f -name "$name" -perm -u+x | head -n 1)"
    [ -n "$out" ] || die "build finished but no $name binary was found"
    cp "$out" "${KUBE_BIN[$name]}.tmp"
    mv "${KUBE_BIN[$name]}.tmp" "${KUBE_BIN[$name]}"
  done
  rm -rf "$work"
  log "built ${names[*]} v$upstream in $((SECONDS - started))s; cached in $CACHE_DIR"
  printf 'built %s in %ss\n' "${names[*]}" "$((SECONDS - started))" >>"$build_log"
}

# free_ports P1 P2 ... prints one free TCP port on 127.0.0.1 per argument: the
# port given when it is free (so a restarted cluster keeps its address), else
# any free one (0 asks for any).
free_ports() {
  node -e '
    const net = require("node:net");
    const take = (port) =>
      new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", (err) => (port === 0 ? reject(err) : resolve(take(0))));
        s.listen(port, "127.0.0.1", () => resolve(s));
      });
    (async () => {
      const servers = [];
      for (const port of process.argv.slice(1).map(Number)) servers.push(await take(port));
      console.log(servers.map((s) => s.address().port).join(" "));
      for (const s of servers) s.close();
    })();' "$@"
}

# pid_alive NAME: the pid in $STATE_DIR/NAME.pid is NAME started with this state dir
# (so that a recycled pid is never signalled).
pid_alive() {
  local pidfile="$STATE_DIR/$1.pid" pid argv0
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)"
  [[ "$(basename -- "$argv0")" == "$1"* ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$STATE_DIR/"
}

api_ready() {
  [ -f "$STATE_DIR/port" ] && [ -f "$STATE_DIR/admin-token" ] || return 1
  local body
  body="$(curl -s --noproxy '*' --max-time 5 --cacert "$PKI/ca.crt" \
    -H "Authorization: Bearer $(cat "$STATE_DIR/admin-token")" \
    "https://127.0.0.1:$(cat "$STATE_DIR/port")/readyz" 2>/dev/null)" || return 1
  [ "$body" = "ok" ]
}

controller_manager_healthy() {
  [ -f "$STATE_DIR/controller-manager-port" ] || return 1
  local body
  body="$(curl -s --noproxy '*' --max-time 5 --cacert "$PKI/ca.crt" \
    "https://127.0.0.1:$(cat "$STATE_DIR/controller-manager-port")/healthz" 2>/dev/null)" || return 1
  [ "$body" = "ok" ]
}

# The controllers are at work: the `default` service account of the `default`
# namespace exists (serviceaccount) and has its token secret (serviceaccount-token).
default_service_account_ready() {
  curl -s --noproxy '*' --max-time 5 --cacert "$PKI/ca.crt" \
    -H "Authorization: Bearer $(cat "$STATE_DIR/admin-token")" \
    "https://127.0.0.1:$(cat "$STATE_DIR/port")/api/v1/namespaces/default/serviceaccounts/default" 2>/dev/null |
    tr -d ' \n' | grep -q '"secrets":\[{"name"'
}

# Running and ready: a start that got as far as writing the env file, whose
# daemons are all still up.
is_running() {
  [ -f "$ENV_FILE" ] && pid_alive etcd && pid_alive kube-apiserver && pid_alive kube-controller-manager &&
    api_ready && controller_manager_healthy
}

stop_process() {
  local name="$1" pidfile="$STATE_DIR/$1.pid" pid _
  if pid_alive "$name"; then
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -d "/proc/$pid" ] || break
      sleep 0.2
    done
    if [ -d "/proc/$pid" ]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  stop_process kube-controller-manager
  stop_process kube-apiserver
  stop_process etcd
  rm -f "$ENV_FILE"
}

write_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=latchkey-test-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  cat >"$PKI/apiserver.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

# issue_cert NAME SUBJECT EXTENSIONS writes $PKI/NAME.{key,crt}, signed by the
# cluster CA, unless a cert the current CA signed is already there.
issue_cert() {
  local name="$1" subject="$2" ext="$3"
  if [ -s "$PKI/$name.key" ] && [ -s "$PKI/$name.crt" ] &&
    openssl verify -CAfile "$PKI/ca.crt" "$PKI/$name.crt" >/dev/null 2>&1; then
    return 0
  fi
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl req -newkey rsa:2048 -nodes -subj "$subject" \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
}

# kube-controller-manager's identity (the RBAC bootstrap policy binds
# system:kube-controller-manager) and the certificate of its /healthz port.
write_controller_manager_pki() {
  issue_cert controller-manager-client "/CN=system:kube-controller-manager" \
    "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  issue_cert controller-manager-serving "/CN=kube-controller-manager" \
    "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
}

write_controller_manager_kubeconfig() {
  local host="$1"
  cat >"$STATE_DIR/controller-manager.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: latchkey-test
  cluster:
    server: $host
    certificate-authority: $PKI/ca.crt
users:
- name: system:kube-controller-manager
  user:
    client-certificate: $PKI/controller-manager-client.crt
    client-key: $PKI/controller-manager-client.key
contexts:
- name: latchkey-test
  context:
    cluster: latchkey-test
    user: system:kube-controller-manager
current-context: latchkey-test
EOF
  chmod 600 "$STATE_DIR/controller-manager.kubeconfig"
}

write_kubeconfig() {
  local host="$1" token="$2"
  cat >"$STATE_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: latchkey-test
  cluster:
    server: $host
    certificate-authority: $PKI/ca.crt
users:
- name: latchkey-admin
  user:
    token: $token
contexts:
- name: latchkey-test
  context:
    cluster: latchkey-test
    user: latchkey-admin
current-context: latchkey-test
EOF
  chmod 600 "$STATE_DIR/kubeconfig"
}

# started_alive NAME: the process this start just launched as NAME has not
# exited. Its command line is not checked, unlike pid_alive's: for a moment
# after the launch it is still setsid, not NAME.
started_alive() {
  local pid state
  pid="$(cat "$STATE_DIR/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

wait_for() {
  local what="$1" timeout="$2" proc="$3"
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! started_alive "$proc"; then
      tail -n 40 "$STATE_DIR/$proc.log" >&2 || true
      die "$proc exited before $what; log in $STATE_DIR/$proc.log"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$STATE_DIR/$proc.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what"
    fi
    sleep 0.5
  done
}

etcd_healthy() {
  curl -s --noproxy '*' --max-time 2 "http://127.0.0.1:$(cat "$STATE_DIR/etcd-port")/health" 2>/dev/null |
    grep -q '"health":"true"'
}

# Lets anyone read the OIDC discovery document and JWKS, as a cluster that
# publishes its issuer does; Kubernetes ships the role but no binding for it.
bind_oidc_discovery() {
  local host="$1" token="$2" code
  code="$(curl -s --noproxy '*' -o "$STATE_DIR/bootstrap.out" -w '%{http_code}' --cacert "$PKI/ca.crt" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -X POST \
    "$host/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" --data-binary @- <<'EOF'
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
 "metadata":{"name":"latchkey-test:service-account-issuer-discovery"},
 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:service-account-issuer-discovery"},
 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:authenticated"},
             {"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:unauthenticated"}]}
EOF
  )"
  case "$code" in
    201 | 409) ;;
    *) cat "$STATE_DIR/bootstrap.out" >&2; die "creating the OIDC discovery binding returned HTTP $code" ;;
  esac
}

cmd_start() {
  mkdir -p "$(dirname "$STATE_DIR")"
  # Serialises concurrent starts; the daemons are started with fd 9 closed so
  # that they do not hold the lock after this script exits.
  exec 9>"$STATE_DIR.lock"
  flock 9
  if is_running; then
    log "already running at https://127.0.0.1:$(cat "$STATE_DIR/port")"
    return 0
  fi
  local started=$SECONDS
  umask 077
  cmd_stop
  ensure_packages etcd:etcd-server openssl:openssl curl:curl kubectl:kubernetes-client
  kube_binaries
  local apiserver="${KUBE_BIN[kube-apiserver]}" controller_manager="${KUBE_BIN[kube-controller-manager]}"

  if [ -d "$STATE_DIR" ] && [ ! -e "$STATE_DIR/.latchkey-k8s" ] && [ -n "$(ls -A "$STATE_DIR")" ]; then
    die "$STATE_DIR is not empty and was not made by this script; set LATCHKEY_K8S_DIR elsewhere"
  fi
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  touch "$STATE_DIR/.latchkey-k8s"
  # Each start is a fresh cluster (new etcd), but the keys, the admin token and
  # (when free) the ports of the previous one are kept, so that a restart does
  # not invalidate the `env` that other shells already exported.
  rm -rf "$STATE_DIR/etcd-data" "$STATE_DIR"/*.log "$ENV_FILE"
  if [ ! -s "$PKI/ca.crt" ] || [ ! -s "$PKI/apiserver.crt" ] || [ ! -s "$PKI/sa.pub" ]; then
    rm -rf "$PKI"
    write_pki
  fi
  write_controller_manager_pki
  [ -s "$STATE_DIR/admin-token" ] || openssl rand -hex 32 >"$STATE_DIR/admin-token"
  local token
  token="$(cat "$STATE_DIR/admin-token")"
  echo "$token,latchkey-admin,latchkey-admin,\"system:masters\"" >"$STATE_DIR/tokens.csv"

  local etcd_port peer_port api_port cm_port
  read -r etcd_port peer_port api_port cm_port <<<"$(free_ports \
    "$(cat "$STATE_DIR/etcd-port" 2>/dev/null || echo 0)" \
    "$(cat "$STATE_DIR/peer-port" 2>/dev/null || echo 0)" \
    "$(cat "$STATE_DIR/port" 2>/dev/null || echo 0)" \
    "$(cat "$STATE_DIR/controller-manager-port" 2>/dev/null || echo 0)")"
  [ -n "$cm_port" ] || die "could not find free ports on 127.0.0.1"
  echo "$etcd_port" >"$STATE_DIR/etcd-port"
  echo "$peer_port" >"$STATE_DIR/peer-port"
  echo "$api_port" >"$STATE_DIR/port"
  echo "$cm_port" >"$STATE_DIR/controller-manager-port"
  local host="https://127.0.0.1:$api_port"

  log "starting etcd on 127.0.0.1:$etcd_port"
  setsid etcd --name latchkey-test --data-dir "$STATE_DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "latchkey-test=http://127.0.0.1:$peer_port" \
    --logger zap --log-level warn \
    </dev/null >"$STATE_DIR/etcd.log" 2>&1 9>&- &
  echo $! >"$STATE_DIR/etcd.pid"
  wait_for "etcd health" 30 etcd etcd_healthy

  log "starting kube-apiserver on $host ($apiserver)"
  setsid "$apiserver" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --insecure-port 0 \
    --cert-dir "$PKI" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --token-auth-file "$STATE_DIR/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer "$SA_ISSUER" \
    --service-account-jwks-uri "$host/openid/v1/jwks" \
    --api-audiences "$SA_ISSUER" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --feature-gates BoundServiceAccountTokenVolume=true \
    --endpoint-reconciler-type none \
    --profiling=false \
    </dev/null >"$STATE_DIR/kube-apiserver.log" 2>&1 9>&- &
  echo $! >"$STATE_DIR/kube-apiserver.pid"
  wait_for "kube-apiserver /readyz" "$READY_TIMEOUT_S" kube-apiserver api_ready

  bind_oidc_discovery "$host" "$token"
  write_kubeconfig "$host" "$token"
  write_controller_manager_kubeconfig "$host"

  # Each controller acts as its own service account in kube-system, with the
  # bootstrap policy's system:controller:* role; system:kube-controller-manager
  # itself (the bootstrap role of that name) only watches, and makes those
  # accounts and their tokens.
  log "starting kube-controller-manager (healthz on 127.0.0.1:$cm_port; $controller_manager)"
  setsid "$controller_manager" \
    --kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
    --authentication-skip-lookup --client-ca-file "$PKI/ca.crt" \
    --bind-address 127.0.0.1 --secure-port "$cm_port" --port 0 \
    --tls-cert-file "$PKI/controller-manager-serving.crt" \
    --tls-private-key-file "$PKI/controller-manager-serving.key" \
    --controllers "$CONTROLLERS" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" \
    --leader-elect=false \
    --profiling=false \
    </dev/null >"$STATE_DIR/kube-controller-manager.log" 2>&1 9>&- &
  echo $! >"$STATE_DIR/kube-controller-manager.pid"
  local ready_by=$((SECONDS + READY_TIMEOUT_S))
  wait_for "kube-controller-manager /healthz" "$READY_TIMEOUT_S" kube-controller-manager controller_manager_healthy
  wait_for "the default service account and its token" "$((ready_by - SECONDS))" kube-controller-manager \
    default_service_account_ready
  cat >"$ENV_FILE" <<EOF
export KUBE_HOST=$host
export KUBE_CA=$PKI/ca.crt
export KUBE_ADMIN_TOKEN=$token
export KUBECONFIG=$STATE_DIR/kubeconfig
export KUBE_SA_SIGNING_KEY=$PKI/sa.key
export KUBE_SA_ISSUER=$SA_ISSUER
EOF
  log "ready at $host in $((SECONDS - started))s (state: $STATE_DIR)"
}

cmd_env() {
  if ! is_running || [ ! -f "$ENV_FILE" ]; then
    die "no cluster running in $STATE_DIR; run: $0 start"
  fi
  cat "$ENV_FILE"
}

cmd_build() {
  kube_binaries
  local name
  for name in "${KUBE_BINARIES[@]}"; do
    printf '%s\n' "${KUBE_BIN[$name]}"
  done
}

cmd_status() {
  if is_running; then
    log "running at https://127.0.0.1:$(cat "$STATE_DIR/port") (state: $STATE_DIR)"
  else
    log "not running (state: $STATE_DIR)"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  status) cmd_status ;;
  build) cmd_build ;;
  *)
    echo "usage: $0 start|stop|env|status|build" >&2
    exit 2
    ;;
esac
