#!/usr/bin/env bash
# Runs before `npm test` (npm's pretest, after system-deps.sh): makes sure the NATS tests have a nats-server of at
# least 2.10. Older servers do not serialise compare-and-set writes in a cluster (nats-io/nats-server#4320, fixed in
# 2.9.21), which the hub workers' shared state rests on, and cannot fsync before acknowledging (`sync_interval`,
# 2.10). Debian 12 ships 2.9.10, so the tests take Debian 13's package instead: downloaded with apt-get into a
# private directory (no change to the system's apt sources, nothing installed), unpacked under
# node_modules/.cache/vigil/. test/helpers/nats.ts looks in the same places.
#   VIGIL_NATS_SERVER=PATH   use this binary (it must be 2.10 or newer)
set -euo pipefail
cd "$(dirname "$0")/../.."

MIN_MAJOR=2
MIN_MINOR=10
SUITE=trixie
cache=node_modules/.cache/vigil/nats-server
cached="$cache/root/usr/sbin/nats-server"

# "nats-server: v2.10.27" → true when at least MIN_MAJOR.MIN_MINOR.
recent_enough() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/^nats-server: v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt "$MIN_MAJOR" ] || { [ "$1" -eq "$MIN_MAJOR" ] && [ "$2" -ge "$MIN_MINOR" ]; }
}

if [ -n "${VIGIL_NATS_SERVER:-}" ]; then
  recent_enough "$VIGIL_NATS_SERVER" && exit 0
  echo "npm test: VIGIL_NATS_SERVER=$VIGIL_NATS_SERVER is not a nats-server $MIN_MAJOR.$MIN_MINOR or newer" >&2
  exit 1
fi
# The places test/helpers/nats.ts looks, in its order.
for candidate in "$cached" /usr/sbin/nats-server; do
  [ -x "$candidate" ] && recent_enough "$candidate" && exit 0
done

stop() {
  {
    echo "npm test: the NATS tests need nats-server $MIN_MAJOR.$MIN_MINOR or newer (Debian 12's 2.9.10 is too old), and $1."
    echo "Install one (Debian 13: apt-get install nats-server; elsewhere: https://github.com/nats-io/nats-server/releases),"
    echo "then run npm test again with VIGIL_NATS_SERVER=/path/to/nats-server if it is not /usr/sbin/nats-server."
  } >&2
  exit 1
}
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || stop "apt-get is not here to fetch Debian 13's package"

# Debian 13's package, fetched from the mirror the system already uses, into a private apt state.
mirror=$(apt-get indextargets --format '$(URI)' 2>/dev/null | grep -o '^[a-z]*://[^ ]*/debian/' | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian/}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
apt="$cache/apt"
rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$cache/download"
echo "deb [signed-by=$keyring] $mirror $SUITE main" > "$apt/sources.list"
opts=(-o "Dir::Etc::SourceList=$PWD/$apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent" -o "Dir::State::Lists=$PWD/$apt/lists"
  -o "Dir::Cache=$PWD/$apt/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
echo "npm test: fetching nats-server from Debian $SUITE ($mirror) into $cache (Debian 12's 2.9.10 is too old for the NATS tests)" >&2
apt-get "${opts[@]}" -qq update >/dev/null 2>&1 || stop "apt-get could not read Debian $SUITE's package list from $mirror"
(cd "$cache/download" && rm -f ./*.deb && apt-get "${opts[@]}" -qq download "nats-server" >/dev/null 2>&1) || stop "apt-get could not download Debian $SUITE's nats-server"
rm -rf "$cache/root" && dpkg-deb -x "$cache"/download/nats-server_*.deb "$cache/root"
rm -rf "$apt"
recent_enough "$cached" || stop "Debian $SUITE's package gave no working nats-server ($cached)"
