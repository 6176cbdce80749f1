# Debian packages for the test scripts, installed only when missing, with
# apt-get's chatter kept in $APT_LOG and shown only on failure. Sourced by
# scripts/test.sh and scripts/k8s-test-cluster.sh; set APT_LOG before sourcing.

: "${APT_LOG:=${TMPDIR:-/tmp}/latchkey-apt.log}"
APT_UPDATED=0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# A list that fails to refresh (a third-party repository out of reach) is not
# fatal: the install that follows says whether what we need was found.
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update >>"$APT_LOG" 2>&1 ||
      echo "warning: apt-get update reported errors (see $APT_LOG); going on" >&2
    APT_UPDATED=1
  fi
}

# missing_packages CMD:PACKAGE ... prints, one a line, each PACKAGE whose CMD
# (a command name, or an absolute path for what is not a command) is missing.
missing_packages() {
  local pair cmd
  for pair in "$@"; do
    cmd="${pair%%:*}"
    if [[ "$cmd" == /* ]]; then
      [ -e "$cmd" ] && continue
    else
      command -v "$cmd" >/dev/null 2>&1 && continue
    fi
    printf '%s\n' "${pair#*:}"
  done
}

# apt_install PACKAGE ... installs them; on failure shows the log's tail and returns 1.
apt_install() {
  apt_update_once
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$APT_LOG" 2>&1; then
    tail -n 30 "$APT_LOG" >&2
    return 1
  fi
}
