# Sourced by the setup scripts: apt_ensure WHO [--no-install-recommends] PACKAGE... installs
# the packages that are not installed yet (one apt-get update first), and says so on stderr
# as "WHO: apt-get install ...". Nothing happens when all are there. apt's own output
# (progress, debconf's notes) is kept in a file and shown only if apt fails. apt waits up to
# 10 minutes for another apt or dpkg on the machine to finish instead of failing at once.
apt_ensure() {
  local who=$1 opts=(-o DPkg::Lock::Timeout=600)
  shift
  if [[ "${1:-}" == --no-install-recommends ]]; then
    opts+=("$1")
    shift
  fi
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "$who: apt-get install ${missing[*]}" >&2
  local log
  log=$(mktemp /tmp/gozt-apt.XXXXXX)
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${opts[@]}" "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "$who: apt-get install failed" >&2
    return 1
  fi
  rm -f "$log"
}
