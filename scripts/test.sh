#!/usr/bin/env bash
# What `npm test` runs: build, unit tests, then the HTTP, end-to-end,
# compatibility (real Vault clients) and integration suites, the last against
# a real Kubernetes API server and a real PostgreSQL server.
#
# By default it starts the local control plane of scripts/k8s-test-cluster.sh
# (building kube-apiserver once per machine) and stops it afterwards if it
# started it. To use an existing cluster instead, set KUBE_HOST together with
# KUBE_ADMIN_TOKEN (+ KUBE_CA, a CA file path) or with KUBECONFIG.
# Likewise it starts scripts/pg-test-server.sh and exports LATCHKEY_TEST_PG_URL,
# unless LATCHKEY_TEST_PG_URL is already set (a database of your own).
# Exits with vitest's exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=scripts/k8s-test-cluster.sh
pg=scripts/pg-test-server.sh

npm run build

results=$(mktemp -d)
# vitest's own summary is not a line CI reads; print "N passed, N failed" from its JSON report.
summary() {
  node -e '
    let passed = 0, failed = 0, skipped = 0;
    for (const f of process.argv.slice(1)) {
      try {
        const r = JSON.parse(require("fs").readFileSync(f, "utf8"));
        passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
      } catch { failed += 1; }
    }
    console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  ' "$@"
}
run_vitest() {
  local report=$1; shift
  npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
}

# The compatibility suite (test/compat) drives latchkey with real Vault clients:
# Debian's python3-hvac and curl. Installed as scripts/k8s-test-cluster.sh
# installs its tools: only what is missing, apt-get's chatter kept in a log
# that is shown on failure. An install that fails is not fatal here: the
# suite's own tests then fail saying what is missing.
APT_LOG="${TMPDIR:-/tmp}/latchkey-test-apt.log"
. scripts/lib/apt.sh
ensure_packages() {
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "[test] apt-get install ${missing[*]}"
  apt_install "${missing[@]}" ||
    echo "[test] warning: could not install ${missing[*]} (full output in $APT_LOG); test/compat will fail" >&2
}
# hvac is a Python module, not a command: its Debian package is found by its directory.
ensure_packages /usr/lib/python3/dist-packages/hvac:python3-hvac curl:curl
# The package and image tests (test/e2e/package.test.ts, image.test.ts): patchelf
# links the image's executable to its own loader; buildah builds the image
# (about 25 s to install on a fresh Debian machine).
ensure_packages patchelf:patchelf buildah:buildah

# Unit tests first: they need no cluster, and a failure stops here.
if ! run_vitest "$results/unit.json" --project unit; then
  summary "$results/unit.json"
  exit 1
fi

# What this run started, stopped again on exit.
stop_on_exit=()
cleanup() {
  local script
  for script in "${stop_on_exit[@]}"; do "$script" stop || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${KUBE_HOST:-}" ] && { [ -n "${KUBE_ADMIN_TOKEN:-}" ] || [ -n "${KUBECONFIG:-}" ]; }; then
  echo "[test] using the existing cluster at $KUBE_HOST"
else
  "$cluster" status 2>/dev/null || stop_on_exit+=("$cluster")
  "$cluster" start
  eval "$("$cluster" env)"
fi

if [ -n "${LATCHKEY_TEST_PG_URL:-}" ]; then
  echo "[test] using the existing PostgreSQL database in LATCHKEY_TEST_PG_URL"
else
  "$pg" status 2>/dev/null || stop_on_exit+=("$pg")
  "$pg" start
  eval "$("$pg" env)"
fi

set +e
run_vitest "$results/rest.json" --project suites
status=$?
set -e
summary "$results/unit.json" "$results/rest.json"
exit "$status"
