#!/bin/sh
# Installs (or removes) the Vigil agent on a sensor: the command the hub's API returns when an agent is created.
#
#   sudo ./deploy/install-agent.sh --hub URL --id ID --token TOKEN [options]
#   sudo ./deploy/install-agent.sh --uninstall [--purge] [options]
#
# What it does, each step only when needed (running it twice changes nothing the second time):
#   - a system user and group (vigil-agent) with no login shell and no home of its own;
#   - the agent bundle (dist/vigil-agent/, made by `node deploy/build-agent-bundle.mjs`) under PREFIX
#     (/opt/vigil-agent), with a launcher PREFIX/bin/vigil-agent that runs it with the Node.js found here (>= 20.10);
#   - /etc/vigil/agent.yaml (root:vigil-agent 0640), only if it does not exist: an existing config is never touched;
#   - /etc/vigil/agent.token (vigil-agent 0600), the token alone, updated when --token changes (token rotation);
#   - TLS files given with --ca-file/--cert-file/--key-file, copied to /etc/vigil/tls/ (key 0600);
#   - the state directory /var/lib/vigil-agent (vigil-agent 0750): the outbox;
#   - the hardened systemd unit vigil-agent.service, enabled and started (restarted when the bundle or the unit
#     changed).
# systemd is used when it runs this machine (/run/systemd/system) and --root is not given; --no-systemd skips it.
# --root DIR installs into a staging tree (packaging, tests): no user is created (files are given to --user only if
# it exists on this machine) and systemd is not called.
# Uninstall stops and removes the unit and PREFIX; the config, the token and the outbox (which may hold events not
# yet delivered) stay unless --purge is given, which also removes the user.
set -eu

PROG=install-agent.sh
usage() {
  cat <<EOF
usage: $PROG --hub URL --id ID --token TOKEN [options]
       $PROG --uninstall [--purge] [options]

  --hub URL          MQTT URL of the hub: mqtt://host:1883 or mqtts://host:8883
  --id ID            the agent id registered on the hub
  --token TOKEN      the agent's token (shown once by the hub)
  --ca-file FILE     CA certificate to verify the hub (mqtts://)
  --cert-file FILE   client certificate for mutual TLS (CN = agent id)
  --key-file FILE    client key for mutual TLS
  --prefix DIR       where the agent is installed (default /opt/vigil-agent)
  --root DIR         install into a staging root instead of / (implies --no-systemd)
  --user NAME        the service user (default vigil-agent)
  --bundle DIR       the agent bundle to install (default: dist/vigil-agent beside this script's directory)
  --node PATH        the node binary the agent runs with (default: node on PATH)
  --no-systemd       do not install, enable or start the systemd unit
  --uninstall        remove the agent (keeps config, token and outbox)
  --purge            with --uninstall: also remove config, token, outbox and the user
  -h, --help         this help
EOF
}
die() {
  echo "$PROG: $*" >&2
  exit 1
}
usage_error() {
  echo "$PROG: $*" >&2
  usage >&2
  exit 2
}
say() { echo "$PROG: $*"; }

HERE=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
HUB= ID= TOKEN= CA_FILE= CERT_FILE= KEY_FILE=
PREFIX=/opt/vigil-agent ROOT= SVC_USER=vigil-agent BUNDLE="$HERE/../dist/vigil-agent" NODE=
SYSTEMD=auto UNINSTALL=0 PURGE=0

need_value() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --hub) need_value "$@"; HUB=$2; shift 2 ;;
    --id) need_value "$@"; ID=$2; shift 2 ;;
    --token) need_value "$@"; TOKEN=$2; shift 2 ;;
    --ca-file) need_value "$@"; CA_FILE=$2; shift 2 ;;
    --cert-file) need_value "$@"; CERT_FILE=$2; shift 2 ;;
    --key-file) need_value "$@"; KEY_FILE=$2; shift 2 ;;
    --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
    --root) need_value "$@"; ROOT=$2; shift 2 ;;
    --user) need_value "$@"; SVC_USER=$2; shift 2 ;;
    --bundle) need_value "$@"; BUNDLE=$2; shift 2 ;;
    --node) need_value "$@"; NODE=$2; shift 2 ;;
    --no-systemd) SYSTEMD=no; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done

case "$PREFIX" in /*) ;; *) usage_error "--prefix must be an absolute path" ;; esac
case "$SVC_USER" in '' | *[!A-Za-z0-9._-]*) usage_error "--user: not a user name: '$SVC_USER'" ;; esac
[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || usage_error "--purge goes with --uninstall"
if [ -n "$ROOT" ]; then
  case "$ROOT" in /*) ;; *) ROOT=$(pwd)/$ROOT ;; esac
  ROOT=${ROOT%/}
  SYSTEMD=no
fi
if [ "$SYSTEMD" = auto ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then SYSTEMD=yes; else SYSTEMD=no; fi
fi

# Paths on the target system, and where they are written (under the staging root, if any).
ETC=/etc/vigil
STATE=/var/lib/vigil-agent
UNIT=/etc/systemd/system/vigil-agent.service
R() { printf '%s%s' "$ROOT" "$1"; }

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo), or give --root DIR to stage an installation"; fi

# The owner of what the agent reads or writes: the service user when it exists (always, once created, on a real
# install); otherwise (staging) the files stay with whoever runs this.
OWNER= GROUP=$SVC_USER
owner_known() { [ -n "$OWNER" ]; }
resolve_owner() {
  if id "$SVC_USER" >/dev/null 2>&1; then
    GROUP=$(id -gn "$SVC_USER")
    OWNER="$SVC_USER:$GROUP"
  fi
}
set_owner() { # OWNER FILE... (only when the service user exists)
  o=$1
  shift
  if owner_known; then chown "$o" "$@"; fi
}

CHANGED=0 # set when the bundle, the launcher or the unit changed: a running agent is restarted

# put SRC DEST MODE: installs a file when its content or mode differs; keeps it (and its time stamp) otherwise.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    [ "$(stat -c %a "$2")" = "$3" ] || chmod "$3" "$2"
    return 1
  fi
  mkdir -p "$(dirname "$2")"
  tmp="$2.tmp.$$"
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
  return 0
}
# put_text TEXT DEST MODE
put_text() {
  tmpsrc=$(mktemp)
  printf '%s' "$1" >"$tmpsrc"
  rc=0
  put "$tmpsrc" "$2" "$3" || rc=$?
  rm -f "$tmpsrc"
  return $rc
}
# dir DIR MODE
dir() {
  [ -d "$1" ] || { mkdir -p "$1" && say "created $1"; }
  [ "$(stat -c %a "$1")" = "$2" ] || chmod "$2" "$1"
}

# ---------------------------------------------------------------------------------------------------- uninstall
if [ "$UNINSTALL" = 1 ]; then
  [ -z "$HUB$ID$TOKEN" ] || usage_error "--uninstall takes no --hub, --id or --token"
  if [ "$SYSTEMD" = yes ]; then
    if systemctl list-unit-files vigil-agent.service >/dev/null 2>&1; then
      systemctl disable --now vigil-agent.service >/dev/null 2>&1 || true
    fi
  fi
  if [ -f "$(R "$UNIT")" ]; then
    rm -f "$(R "$UNIT")"
    say "removed $UNIT"
    [ "$SYSTEMD" = no ] || systemctl daemon-reload
  fi
  if [ -d "$(R "$PREFIX")" ]; then
    rm -rf "$(R "$PREFIX")"
    say "removed $PREFIX"
  fi
  if [ "$PURGE" = 1 ]; then
    for f in "$ETC/agent.yaml" "$ETC/agent.token" "$ETC/tls/agent-ca.crt" "$ETC/tls/agent.crt" "$ETC/tls/agent.key"; do
      if [ -e "$(R "$f")" ]; then rm -f "$(R "$f")" && say "removed $f"; fi
    done
    rmdir "$(R "$ETC/tls")" 2>/dev/null || true
    rmdir "$(R "$ETC")" 2>/dev/null || true
    if [ -d "$(R "$STATE")" ]; then rm -rf "$(R "$STATE")" && say "removed $STATE (the outbox)"; fi
    if [ -z "$ROOT" ] && id "$SVC_USER" >/dev/null 2>&1; then
      userdel "$SVC_USER" >/dev/null 2>&1 && say "removed user $SVC_USER" || true
    fi
  else
    [ ! -e "$(R "$ETC/agent.yaml")" ] || say "kept $ETC/agent.yaml, $ETC/agent.token and $STATE (the outbox may hold undelivered events); --purge removes them"
  fi
  exit 0
fi

# ------------------------------------------------------------------------------------------------------ install
[ -n "$HUB" ] || usage_error "--hub is required"
[ -n "$ID" ] || usage_error "--id is required"
[ -n "$TOKEN" ] || usage_error "--token is required"
case "$HUB" in mqtt://?* | mqtts://?*) ;; *) usage_error "--hub must be mqtt://HOST:PORT or mqtts://HOST:PORT, not '$HUB'" ;; esac
case "$HUB" in *[[:space:]\"\'\\]*) usage_error "--hub: unexpected characters in '$HUB'" ;; esac
case "$ID" in [A-Za-z0-9]*) ;; *) usage_error "--id must start with a letter or digit" ;; esac
case "$ID" in *[!A-Za-z0-9._-]*) usage_error "--id may hold only letters, digits, '.', '_' and '-'" ;; esac
[ "${#ID}" -le 128 ] || usage_error "--id is longer than 128 characters"
case "$TOKEN" in *[[:space:]]*) usage_error "--token must not contain white space" ;; esac
for f in "$CA_FILE" "$CERT_FILE" "$KEY_FILE"; do
  [ -z "$f" ] || [ -r "$f" ] || usage_error "cannot read $f"
done
[ -z "$CERT_FILE$KEY_FILE" ] || { [ -n "$CERT_FILE" ] && [ -n "$KEY_FILE" ]; } || usage_error "--cert-file and --key-file go together"
[ -f "$BUNDLE/vigil-agent.mjs" ] || die "no agent bundle in $BUNDLE (build it with: node deploy/build-agent-bundle.mjs)"

# Node.js >= 20.10
[ -n "$NODE" ] || NODE=$(command -v node 2>/dev/null || true)
[ -n "$NODE" ] && [ -x "$NODE" ] || die "Node.js 20.10 or newer is needed (none found; give --node PATH)"
NODE_VERSION=$("$NODE" -p 'process.versions.node' 2>/dev/null) || die "$NODE does not run"
NODE_MAJOR=${NODE_VERSION%%.*}
NODE_MINOR=${NODE_VERSION#*.}
NODE_MINOR=${NODE_MINOR%%.*}
if [ "$NODE_MAJOR" -lt 20 ] || { [ "$NODE_MAJOR" = 20 ] && [ "$NODE_MINOR" -lt 10 ]; }; then
  die "Node.js 20.10 or newer is needed ($NODE is $NODE_VERSION)"
fi

# The user
if [ -z "$ROOT" ] && ! id "$SVC_USER" >/dev/null 2>&1; then
  nologin=$(command -v nologin 2>/dev/null || echo /usr/sbin/nologin)
  useradd --system --user-group --home-dir "$STATE" --no-create-home --shell "$nologin" --comment "Vigil agent" "$SVC_USER"
  say "created user $SVC_USER"
fi
resolve_owner
[ -n "$ROOT" ] || owner_known || die "user $SVC_USER is missing"
[ -n "$ROOT" ] && ! owner_known && say "staging root: user $SVC_USER does not exist here; files keep the current owner"

# The bundle: copied file by file, so an unchanged file keeps its time stamp and an upgrade is seen as a change.
dir "$(R "$PREFIX")" 755
dir "$(R "$PREFIX/lib")" 755
dir "$(R "$PREFIX/bin")" 755
(cd "$BUNDLE" && find . -type f ! -name '*.map' | sort) >"${TMPDIR:-/tmp}/vigil-agent-files.$$"
while IFS= read -r f; do
  f=${f#./}
  if put "$BUNDLE/$f" "$(R "$PREFIX/lib/$f")" 644; then CHANGED=1; fi
done <"${TMPDIR:-/tmp}/vigil-agent-files.$$"
# Files of an older bundle that this one no longer has.
(cd "$(R "$PREFIX/lib")" && find . -type f | sort) | while IFS= read -r f; do
  f=${f#./}
  grep -qxF "./$f" "${TMPDIR:-/tmp}/vigil-agent-files.$$" || { rm -f "$(R "$PREFIX/lib/$f")"; echo removed; }
done | grep -q removed && CHANGED=1
rm -f "${TMPDIR:-/tmp}/vigil-agent-files.$$"
find "$(R "$PREFIX/lib")" -type d -empty -delete
if put_text "#!/bin/sh
# Runs the Vigil agent bundle (written by install-agent.sh).
# A fixed malloc trim/mmap threshold lets memory freed after start-up go back to the system (about 10 MiB of an
# idle agent's RSS); glibc's adaptive threshold would otherwise keep it. Set them yourself to override.
export MALLOC_TRIM_THRESHOLD_=\"\${MALLOC_TRIM_THRESHOLD_:-131072}\" MALLOC_MMAP_THRESHOLD_=\"\${MALLOC_MMAP_THRESHOLD_:-131072}\"
# V8's heap held near what the agent keeps live (tens of MiB): a 4 MiB semi-space, and the old generation collected
# once it has grown by half, not 4x, so a burst's garbage does not double the agent's peak.
exec \"$NODE\" --max-semi-space-size=4 --heap-growing-percent=50 \"$PREFIX/lib/vigil-agent.mjs\" \"\$@\"
" "$(R "$PREFIX/bin/vigil-agent")" 755; then CHANGED=1; fi
if [ -f "$HERE/../docs/deploy.md" ]; then put "$HERE/../docs/deploy.md" "$(R "$PREFIX/docs/deploy.md")" 644 || true; fi
[ "$CHANGED" = 0 ] || say "installed the agent in $PREFIX"

# Configuration, token, TLS files
dir "$(R "$ETC")" 750
set_owner "root:$GROUP" "$(R "$ETC")"
if put_text "$TOKEN
" "$(R "$ETC/agent.token")" 600; then say "wrote $ETC/agent.token"; fi
set_owner "$OWNER" "$(R "$ETC/agent.token")"
TLS_LINES=
copy_tls() { # SRC NAME MODE KEY
  [ -n "$1" ] || return 0
  dir "$(R "$ETC/tls")" 750
  set_owner "root:$GROUP" "$(R "$ETC/tls")"
  if put "$1" "$(R "$ETC/tls/$2")" "$3"; then say "wrote $ETC/tls/$2"; fi
  set_owner "$OWNER" "$(R "$ETC/tls/$2")"
  TLS_LINES="$TLS_LINES  $4: $ETC/tls/$2
"
}
copy_tls "$CA_FILE" agent-ca.crt 644 ca_file
copy_tls "$CERT_FILE" agent.crt 644 cert_file
copy_tls "$KEY_FILE" agent.key 600 key_file
if [ -e "$(R "$ETC/agent.yaml")" ]; then
  grep -q "^id: $ID\$" "$(R "$ETC/agent.yaml")" || say "warning: $ETC/agent.yaml exists with another id; it is left as it is"
  [ -z "$TLS_LINES" ] || grep -q 'ca_file\|cert_file' "$(R "$ETC/agent.yaml")" || say "note: $ETC/agent.yaml exists; add to its hub section:
$TLS_LINES"
else
  put_text "# Vigil agent configuration, written by install-agent.sh on $(date -u +%Y-%m-%d). It is yours now: the
# installer never overwrites it. Add feeds (see 'vigil-agent parsers' and docs/deploy.md), check it with
#   $PREFIX/bin/vigil-agent check $ETC/agent.yaml
# and apply it with: systemctl restart vigil-agent
id: $ID
data_dir: $STATE
hub:
  url: $HUB
  token_file: $ETC/agent.token
$TLS_LINES
feeds: []
#  - name: Spamhaus DROP
#    collector: { type: http, params: { url: https://www.spamhaus.org/drop/drop.txt, schedule: '0 17 */6 * * *' } }
#    parser: { type: spamhaus.drop }

log:
  level: info
" "$(R "$ETC/agent.yaml")" 640 || true
  say "wrote $ETC/agent.yaml"
fi
set_owner "root:$GROUP" "$(R "$ETC/agent.yaml")"

# State
dir "$(R "$STATE")" 750
set_owner "$OWNER" "$(R "$STATE")"

# The systemd unit, with this installation's prefix and user
UNIT_TEXT=$(sed -e "s#/opt/vigil-agent#$PREFIX#g" -e "s#^User=vigil-agent\$#User=$SVC_USER#" -e "s#^Group=vigil-agent\$#Group=$GROUP#" \
  "$HERE/systemd/vigil-agent.service")
UNIT_CHANGED=0
if put_text "$UNIT_TEXT
" "$(R "$UNIT")" 644; then
  UNIT_CHANGED=1
  CHANGED=1
  say "wrote $UNIT"
fi

if [ "$SYSTEMD" = yes ]; then
  [ "$UNIT_CHANGED" = 0 ] || systemctl daemon-reload
  systemctl is-enabled --quiet vigil-agent.service 2>/dev/null || { systemctl enable vigil-agent.service >/dev/null 2>&1 && say "enabled vigil-agent.service"; }
  if ! systemctl is-active --quiet vigil-agent.service; then
    systemctl start vigil-agent.service && say "started vigil-agent.service"
  elif [ "$CHANGED" = 1 ]; then
    systemctl restart vigil-agent.service && say "restarted vigil-agent.service"
  fi
else
  say "systemd: skipped; run the agent with: $PREFIX/bin/vigil-agent agent --config $ETC/agent.yaml"
fi
say "done: agent $ID -> $HUB"
