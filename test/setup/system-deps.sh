#!/usr/bin/env bash
# Runs before `npm test` (npm's pretest): checks the Debian packages the tests need (test/setup/system-packages.txt).
# All present: nothing else happens (no apt-get). Some missing: as root they are installed with apt-get; otherwise
# it stops before the first test and prints the apt-get command that installs exactly those.
#   VIGIL_SYSTEM_PACKAGES=FILE   another list (the tests of this script use one)
set -euo pipefail
cd "$(dirname "$0")/../.."
list="${VIGIL_SYSTEM_PACKAGES:-test/setup/system-packages.txt}"

missing() {
  local pkg check
  while read -r pkg check || [ -n "$pkg" ]; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    # The rest of the line is a shell test; its trailing comment is a shell comment.
    ( eval "$check" ) >/dev/null 2>&1 || printf '%s\n' "$pkg"
  done < "$list"
}

mapfile -t need < <(missing)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "npm test: installing the system packages the tests need: ${need[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  mapfile -t still < <(missing)
  if [ ${#still[@]} -gt 0 ]; then
    echo "npm test: apt-get installed ${need[*]}, but these still fail their check in $list: ${still[*]}" >&2
    exit 1
  fi
  exit 0
fi

{
  echo "npm test: the tests need these system packages, which are not installed: ${need[*]}"
  echo "Install them (Debian or Ubuntu), then run npm test again:"
  echo "  sudo apt-get install -y --no-install-recommends ${need[*]}"
  echo "(What needs each one: $list.)"
} >&2
exit 1
