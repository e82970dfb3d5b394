#!/usr/bin/env bash
# Sets up a Docker-Engine-API compatible container engine (rootful podman) on a
# Debian 12 machine without systemd and without a working Docker daemon.
#
# Idempotent: reruns skip what is already done. Must run as root.
#
#   DBC_DOCKER_SOCKET   unix socket path for the API (default /run/dbc-podman/podman.sock)
#   DBC_PODMAN_LOG      service log file (default: <socket dir>/podman-service.log)
#   DBC_PODMAN_WAIT_S   seconds to wait for the API to answer (default 60)
#
# On success the last line printed on stdout is: DOCKER_SOCKET=<path>
set -euo pipefail

SOCKET="${DBC_DOCKER_SOCKET:-/run/dbc-podman/podman.sock}"
SOCKET_DIR="$(dirname "$SOCKET")"
LOG_FILE="${DBC_PODMAN_LOG:-$SOCKET_DIR/podman-service.log}"
PID_FILE="$SOCKET_DIR/podman-service.pid"
WAIT_S="${DBC_PODMAN_WAIT_S:-60}"
CONF=/etc/containers/containers.conf
PACKAGES=(podman runc busybox-static)

log() { echo "[podman_setup] $*" >&2; }
die() { echo "[podman_setup] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# --- 1. packages -------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q "${missing[@]}" >&2
else
  log "packages already installed: ${PACKAGES[*]}"
fi
command -v podman >/dev/null || die "podman not found after install"
command -v curl >/dev/null || die "curl is required"

# --- 2. /etc/containers/containers.conf ---------------------------------------
# set_ini_key FILE SECTION KEY VALUE: makes KEY = VALUE the only active
# assignment of KEY inside [SECTION] of a TOML file. The first existing active
# assignment (possibly a multi-line array) is replaced in place, further ones
# are removed; without one the key goes right after the section header, and a
# missing section is appended. Comments and all other content are preserved,
# so applying the same setting twice leaves the file byte-identical.
set_ini_key() {
  local file="$1" section="$2" key="$3" value="$4" tmp
  tmp="$(mktemp "${file}.XXXXXX")"
  # pass 1 (NR==FNR) only detects whether the section has an active assignment
  awk -v section="$section" -v key="$key" -v value="$value" '
    BEGIN { keypat = "^[[:space:]]*" key "[[:space:]]*=" }
    function header(l,   h) {
      if (l !~ /^[[:space:]]*\[[^]]*\][[:space:]]*(#.*)?$/) return ""
      h = l; sub(/^[[:space:]]*\[/, "", h); sub(/\].*$/, "", h); gsub(/[[:space:]]/, "", h)
      return "[" h "]"
    }
    NR == FNR {
      h = header($0); if (h != "") in_sec = (h == "[" section "]")
      else if (in_sec && $0 ~ keypat) has_key = 1
      next
    }
    FNR == 1 { in_sec = 0 }
    {
      line = $0
      if (skip_array) {            # continuation of a removed multi-line array
        if (line ~ /\]/) skip_array = 0
        next
      }
      h = header(line)
      if (h != "") {
        in_sec = (h == "[" section "]")
        print line
        if (in_sec && !has_key && !done) { print key " = " value; done = 1 }
        if (in_sec) seen = 1
        next
      }
      if (in_sec && line ~ keypat) {
        rhs = line; sub(keypat, "", rhs); sub(/#.*$/, "", rhs)
        if (rhs ~ /\[/ && rhs !~ /\]/) skip_array = 1
        if (!done) { print key " = " value; done = 1 }
        next
      }
      print line
    }
    END { if (!seen) { print ""; print "[" section "]"; print key " = " value } }
  ' "$file" "$file" > "$tmp"
  if cmp -s "$tmp" "$file"; then rm -f "$tmp"; else cat "$tmp" > "$file"; rm -f "$tmp"; fi
}

mkdir -p /etc/containers
[ -f "$CONF" ] || printf '# written by dbc podman_setup.sh\n' > "$CONF"
before="$(cksum < "$CONF")"
# This machine's cgroups (v1, no systemd) need runc and no default ulimits.
set_ini_key "$CONF" containers default_ulimits '[]'
set_ini_key "$CONF" engine runtime '"runc"'
set_ini_key "$CONF" engine cgroup_manager '"cgroupfs"'
set_ini_key "$CONF" engine events_logger '"file"'
if [ "$before" != "$(cksum < "$CONF")" ]; then
  log "updated $CONF"
  CONF_CHANGED=1
else
  CONF_CHANGED=0
fi

# --- 3. API service -----------------------------------------------------------
ping_ok() {
  [ -S "$SOCKET" ] || return 1
  [ "$(curl -s --max-time 2 --unix-socket "$SOCKET" http://d/_ping 2>/dev/null)" = "OK" ]
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# log_since OFFSET: what the service wrote to the log after OFFSET bytes (this run's part only;
# the file is appended to across runs).
log_since() { tail -c "+$(( $1 + 1 ))" "$LOG_FILE" 2>/dev/null | tail -n 30 >&2 || true; }

service_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # make sure the pid is (still) our podman service
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "system service" || return 1
  echo "$pid"
}

if ping_ok && [ "$CONF_CHANGED" = 1 ]; then
  if pid="$(service_pid)"; then
    # running containers are owned by conmon and survive a service restart
    log "config changed, restarting our podman service (pid $pid)"
    kill "$pid" || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  else
    log "WARNING: config changed but the service on $SOCKET was not started by this script; restart it yourself"
  fi
fi

if ping_ok; then
  log "podman API already answering on $SOCKET"
else
  mkdir -p "$SOCKET_DIR"
  log_offset="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
  if pid="$(service_pid)"; then
    log "podman service pid $pid exists but does not answer; waiting for it"
  else
    rm -f "$SOCKET"
    log "starting podman system service on unix://$SOCKET (log: $LOG_FILE)"
    start_ts="$(date +%s.%N)"
    # setsid + nohup: detach from this shell so the service outlives it. Until the forked
    # subshell has exec'd, $! still reads as this script, so the wait below asks only whether
    # that pid lives (service_pid's command-line check would race the exec).
    setsid nohup podman system service --time=0 "unix://$SOCKET" \
      >>"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" > "$PID_FILE"
  fi
  deadline=$(( $(date +%s) + WAIT_S ))
  until ping_ok; do
    if ! alive "$pid"; then
      log "podman service exited; its log since it started ($LOG_FILE):"
      log_since "$log_offset"
      die "podman system service died before answering on $SOCKET"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "log tail ($LOG_FILE):"
      log_since "$log_offset"
      die "podman API on $SOCKET did not answer /_ping with OK within ${WAIT_S}s"
    fi
    sleep 0.2
  done
  if [ -n "${start_ts:-}" ]; then
    log "podman API up after $(awk -v s="$start_ts" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}')s"
  fi
fi

echo "DOCKER_SOCKET=$SOCKET"
