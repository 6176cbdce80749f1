#!/usr/bin/env bash
# What `npm test` runs: build, unit tests, then every suite (unit, integration,
# e2e) against a real Kubernetes API server.
#
# By default it starts the local control plane of scripts/k8s-test-cluster.sh
# (building kube-apiserver once per machine) and stops it afterwards if it
# started it. To use an existing cluster instead, set KUBE_HOST together with
# KUBE_ADMIN_TOKEN (+ KUBE_CA, a CA file path) or with KUBECONFIG.
# Exits with vitest's exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=scripts/k8s-test-cluster.sh

npm run build
npx vitest run src

if [ -n "${KUBE_HOST:-}" ] && { [ -n "${KUBE_ADMIN_TOKEN:-}" ] || [ -n "${KUBECONFIG:-}" ]; }; then
  echo "[test] using the existing cluster at $KUBE_HOST"
else
  if ! "$cluster" status 2>/dev/null; then
    trap '"$cluster" stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
  "$cluster" start
  eval "$("$cluster" env)"
fi

set +e
npx vitest run
status=$?
set -e
exit "$status"
