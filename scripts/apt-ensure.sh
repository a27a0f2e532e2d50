# Sourced by the setup scripts: apt_ensure WHO [--no-install-recommends] PACKAGE... installs
# the packages that are not installed yet (one apt-get update first), and says so on stderr
# as "WHO: apt-get install ...". Nothing happens when all are there.
apt_ensure() {
  local who=$1 opts=()
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
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${opts[@]}" "${missing[@]}" >/dev/null
}
