# Sourced by the CI scripts that need more than ci/install-deps.sh installs.

# ensure_packages PACKAGE...: installs, by name from Debian's archive, those not installed yet.
ensure_packages() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "needs these packages, installed as root: ${need[*]}" >&2
    return 2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
}
