# Sourced by the set-up scripts that write into the shared cache (toolchains.sh, arm64.sh
# setup, kernels.sh, build-testdata.sh): `setup_lock WHO "$@"` runs the rest of the calling
# script under the cache's lock, $GOZT_CACHE/setup.lock (inside the cache, so set-ups that
# share a cache wait for each other and set-ups with their own cache do not), by running the
# script again under flock(1). A run that finds the lock held says so on stderr and waits.
# flock's -o keeps the lock out of the script's children: a daemon an apt package starts
# does not hold it after the script ends. A script run under the lock (GOZT_SETUP_LOCK names
# the file) goes on without taking it again.
setup_lock() {
  local who=$1 lock="$GOZT_CACHE/setup.lock"
  shift
  [[ "${GOZT_SETUP_LOCK:-}" == "$lock" ]] && return 0
  mkdir -p "$GOZT_CACHE"
  if ! flock -n "$lock" true; then
    echo "$who: waiting for another set-up that uses $GOZT_CACHE ($lock)" >&2
  fi
  GOZT_SETUP_LOCK=$lock exec flock -o "$lock" "$BASH" "$(realpath "${BASH_SOURCE[1]}")" "$@"
}
