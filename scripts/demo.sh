#!/usr/bin/env bash
# The quick-start demo: a broker, the central API on SQLite and two simulated controllers,
# each with a train, all on 127.0.0.1, with their state and logs under ./demo.
#   scripts/demo.sh start BIN_DIR     (make demo)
#   scripts/demo.sh stop              (make demo-stop)
# Ports: DEMO_HTTP_PORT (8000), DEMO_MQTT_PORT (11883; not 1883, which a system broker may
# hold), DEMO_HEALTH_PORT_BASE (18081, 18082 for the two controllers).
# DEMO_MQTT_ACL=1 (make demo DEMO_MQTT_ACL=1): the broker refuses anonymous clients and runs
# Mosquitto's dynamic-security plugin, which the central manages (--mqtt-acl): each controller
# gets its own account. The administrator's password is made once, in demo/mqtt-admin.password.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
demo="$top/demo"
http_port=${DEMO_HTTP_PORT:-8000}
mqtt_port=${DEMO_MQTT_PORT:-11883}
health_base=${DEMO_HEALTH_PORT_BASE:-18081}

stop() {
  local stopped=0
  for pidfile in "$demo"/*.pid; do
    [ -e "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      stopped=$((stopped + 1))
    fi
    rm -f "$pidfile"
  done
  echo "demo: stopped $stopped process(es)"
}

wait_http() {
  for _ in $(seq 1 100); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "demo: $1 did not answer; see $demo/*.log" >&2
  return 1
}

# Whether something accepts connections on 127.0.0.1:PORT.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local bin=${1:?bin dir}
  bin=$(cd "$bin" && pwd)
  stop >/dev/null
  mkdir -p "$demo"
  local p name
  for p in "$http_port:DEMO_HTTP_PORT" "$mqtt_port:DEMO_MQTT_PORT" \
           "$health_base:DEMO_HEALTH_PORT_BASE" "$((health_base + 1)):DEMO_HEALTH_PORT_BASE"; do
    name=${p#*:}
    if port_busy "${p%%:*}"; then
      echo "demo: port ${p%%:*} on 127.0.0.1 is in use by another program; stop it, or pick" \
           "another port with $name=..." >&2
      exit 1
    fi
  done
  # A start that fails half-way leaves nothing running.
  trap 'echo "demo: start failed; stopping what was started (logs in $demo)" >&2; stop >/dev/null' ERR
  mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  cat >"$demo/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
persistence false
set_tcp_nodelay true
CONF
  local acl=()
  if [ "${DEMO_MQTT_ACL:-0}" = 1 ]; then
    local plugin pwfile="$demo/mqtt-admin.password"
    plugin=$(ls /usr/lib/*/mosquitto_dynamic_security.so 2>/dev/null | head -n 1)
    if [ -z "$plugin" ]; then
      echo "demo: DEMO_MQTT_ACL=1 needs mosquitto's dynamic-security plugin" \
           "(mosquitto_dynamic_security.so, in Debian's mosquitto package)" >&2
      exit 1
    fi
    [ -s "$pwfile" ] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$pwfile")
    if [ ! -s "$demo/dynsec.json" ]; then
      mosquitto_ctrl dynsec init "$demo/dynsec.json" roundhouse-central "$(cat "$pwfile")" >/dev/null
    fi
    printf 'allow_anonymous false\nplugin %s\nplugin_opt_config_file %s\n' "$plugin" \
      "$demo/dynsec.json" >>"$demo/mosquitto.conf"
    # Started as root, mosquitto drops to its own user, which may not read ./demo.
    [ "$(id -u)" -ne 0 ] || echo "user root" >>"$demo/mosquitto.conf"
    acl=(--mqtt-acl --mqtt-username roundhouse-central)
    export MQTT_PASSWORD
    MQTT_PASSWORD=$(cat "$pwfile")
  else
    echo "allow_anonymous true" >>"$demo/mosquitto.conf"
  fi
  "$mosquitto_bin" -c "$demo/mosquitto.conf" >"$demo/mosquitto.log" 2>&1 &
  echo $! >"$demo/mosquitto.pid"

  "$bin/roundhouse-central" --listen "127.0.0.1:$http_port" --db "$demo/roundhouse.db" \
    --mqtt "127.0.0.1:$mqtt_port" --withrottle-listen 127.0.0.1:0 --log-format text \
    ${acl[@]+"${acl[@]}"} >"$demo/central.log" 2>&1 &
  unset MQTT_PASSWORD
  echo $! >"$demo/central.pid"
  wait_http "http://127.0.0.1:$http_port/api/ping"

  if [ -x "$bin/roundhouse-edge" ]; then
    local i
    for i in 1 2; do
      STATE_DIR="$demo/edge-$i" CONTROLLER_NAME="demo-pi-$i" SIMULATION_MODE=true \
        TRAIN_ID="demo-train-$i" TRAIN_NAME="Demo train $i" MOTOR_PORT="$i" \
        "$bin/roundhouse-edge" --central "http://127.0.0.1:$http_port" \
        --health-listen "127.0.0.1:$((health_base + i - 1))" --log-format text \
        >"$demo/edge-$i.log" 2>&1 &
      echo $! >"$demo/edge-$i.pid"
    done
    for i in 1 2; do wait_http "http://127.0.0.1:$((health_base + i - 1))/health"; done
  fi
  trap - ERR

  cat <<TXT
Roundhouse demo is running (logs and state in $demo):
  web UI        http://127.0.0.1:$http_port/
  REST API      http://127.0.0.1:$http_port/api/controllers
  health        http://127.0.0.1:$http_port/health
  MQTT broker   127.0.0.1:$mqtt_port
TXT
  if [ ${#acl[@]} -gt 0 ]; then
    echo "  MQTT ACL      on: one account per controller; administrator roundhouse-central," \
         "password in $demo/mqtt-admin.password"
  fi
  if [ -x "$bin/roundhouse-edge" ]; then
    echo "  controllers   demo-pi-1 (health http://127.0.0.1:$health_base/health), demo-pi-2 (health http://127.0.0.1:$((health_base + 1))/health)"
  fi
  echo "Stop it with: make demo-stop"
}

case "${1:-}" in
  start) start "${2:-build/bin}" ;;
  stop) stop ;;
  *) echo "usage: $0 start BIN_DIR | stop" >&2; exit 2 ;;
esac
