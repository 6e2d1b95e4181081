#!/usr/bin/env bash
# make test-ansible: deploy/ansible (site.yml and its roles) against this machine with
# `connection: local`, every path in a temporary directory, nothing on the host changed.
#   1. installs Debian's ansible when ansible-playbook is missing
#   2. ansible-playbook --syntax-check
#   3. --check --diff, files only (roundhouse_manage_services=false): nothing is written
#   4. --check --diff with the package, service and container tasks too (check mode: apt,
#      service, modprobe and user only look; the compose commands are skipped)
#   5. a real run of the file-only roles into the temporary directory, then the generated
#      files are checked (compose and env files per edge, distinct state volumes, I2C lines)
#   6. a second real run and a check-mode run: changed=0 on every host (idempotence)
#   7. an edge removed from the inventory loses its env file and service
#   8. a bad inventory (two edges on one motor port) is refused before anything is written
# Every ansible-playbook run is bounded by STEP_TIMEOUT seconds (default 300).
# ROUNDHOUSE_KEEP_TMP=1 keeps the temporary directory (its path is printed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PLAY=$ROOT/deploy/ansible
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
t_start=$SECONDS
t_step=$SECONDS
log() { echo "test-ansible: $*"; }
step() { log "$1 ($((SECONDS - t_step)) s)"; t_step=$SECONDS; }
fail() { echo "test-ansible: FAIL: $*" >&2; exit 1; }

if ! command -v ansible-playbook >/dev/null 2>&1; then
  log "installing Debian's ansible"
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive timeout 600 "${sudo[@]}" apt-get install -y \
    --no-install-recommends ansible >/dev/null || fail "apt-get install ansible"
  step "ansible installed"
fi
v=$(ansible-playbook --version)
log "${v%%$'\n'*}"

T=$(mktemp -d /tmp/roundhouse-ansible.XXXXXX)
cleanup() {
  local rc=$?
  if [ "${ROUNDHOUSE_KEEP_TMP:-}" = 1 ] || [ "$rc" -ne 0 ]; then
    log "temporary directory kept: $T"
  else
    rm -rf "$T"
  fi
  log "total $((SECONDS - t_start)) s, exit $rc"
}
trap cleanup EXIT

# Three hosts, all this machine: the central and two Pis. yard has only /boot/config.txt
# (an older image) with the I2C line commented out; shed has both files, and the firmware
# one, with i2c_arm off, must be the one changed.
mkdir -p "$T/yard/boot" "$T/shed/boot/firmware" "$T/central-host"
printf '# yard\n#dtparam=i2c_arm=on\ndtparam=audio=on\n' >"$T/yard/boot/config.txt"
printf '# shed, firmware\ndtparam=i2c_arm=off\n[all]\n' >"$T/shed/boot/firmware/config.txt"
printf '# shed, old location\n' >"$T/shed/boot/config.txt"
cat >"$T/inventory.yml" <<INV
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: /usr/bin/python3
    roundhouse_become: false
    roundhouse_image_tag: test
  children:
    roundhouse_central:
      hosts:
        central-host:
          roundhouse_deploy_dir: $T/central-host/opt
          roundhouse_central_port: 18000
          roundhouse_mqtt_port: 11883
    roundhouse_pis:
      vars:
        roundhouse_i2c_gid: 4242
        roundhouse_pi_users: [root]
      hosts:
        yard:
          roundhouse_deploy_dir: $T/yard/opt
          roundhouse_boot_config_candidates: [$T/yard/boot/firmware/config.txt, $T/yard/boot/config.txt]
          roundhouse_modules_load_dir: $T/yard/modules-load.d
          roundhouse_edges:
            - {name: motor1, motor_port: 1, health_port: 8081, train_id: express, train_name: Express}
            - {name: motor2, motor_port: 2, health_port: 8082, train_id: goods, train_name: Goods train}
            - {name: motor3, motor_port: 3, health_port: 8083, simulate: true}
        shed:
          roundhouse_deploy_dir: $T/shed/opt
          roundhouse_pi_name: shed-pi
          roundhouse_boot_config_candidates: [$T/shed/boot/firmware/config.txt, $T/shed/boot/config.txt]
          roundhouse_modules_load_dir: $T/shed/modules-load.d
          roundhouse_simulate: true
          roundhouse_edges:
            - {name: motor1, motor_port: 1, health_port: 9081, train_id: shunter,
               state_volume: shed_motor1_state}
INV

export ANSIBLE_CONFIG=$PLAY/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
       ANSIBLE_LOCAL_TEMP=$T/ansible-local ANSIBLE_REMOTE_TEMP=$T/ansible-remote
# play NAME ARGS...: one bounded ansible-playbook run, its output in $T/NAME.log.
play() {
  local name=$1 rc=0
  shift
  (cd "$PLAY" && timeout "$STEP_TIMEOUT" ansible-playbook -i "$T/inventory.yml" site.yml "$@") \
    >"$T/$name.log" 2>&1 || rc=$?
  if [ "$rc" -eq 124 ]; then tail -n 40 "$T/$name.log"; fail "$name: timed out after $STEP_TIMEOUT s"; fi
  return "$rc"
}
# recap NAME HOST FIELD: that host's count in the run's PLAY RECAP.
recap() {
  sed -n "s/^$2 *:.* $3=\([0-9]*\).*/\1/p" "$T/$1.log" | tail -n1
}
expect_recap() {  # NAME FIELD OP VALUE, for every host
  local h v
  for h in central-host yard shed; do
    v=$(recap "$1" "$h" "$2")
    [ -n "$v" ] || { tail -n 40 "$T/$1.log"; fail "$1: no recap for $h"; }
    test "$v" "$3" "$4" || { tail -n 60 "$T/$1.log"; fail "$1: $h has $2=$v, expected $3 $4"; }
  done
}
snapshot() { (cd "$T" && find yard shed central-host -print0 | sort -z | xargs -0 ls -ld --time-style=+%s.%N; \
              find yard shed central-host -type f -print0 | sort -z | xargs -0 sha256sum); }

play syntax --syntax-check || { cat "$T/syntax.log"; fail "syntax check"; }
step "syntax check passed"

before=$(snapshot)
play check-files --check --diff -e roundhouse_manage_services=false ||
  { tail -n 60 "$T/check-files.log"; fail "check mode (files only)"; }
expect_recap check-files failed -eq 0
expect_recap check-files changed -gt 0
grep -q '^+dtparam=i2c_arm=on' "$T/check-files.log" || fail "check mode shows no I2C diff"
[ "$(snapshot)" = "$before" ] || fail "check mode changed files"
step "check mode, files only: changes shown, nothing written"

play check-all --check --diff ||
  { tail -n 60 "$T/check-all.log"; fail "check mode (with packages, services, containers)"; }
expect_recap check-all failed -eq 0
[ "$(snapshot)" = "$before" ] || fail "check mode with services changed files"
step "check mode with the package, service and container tasks: no failure, nothing written"

play apply -e roundhouse_manage_services=false || { tail -n 60 "$T/apply.log"; fail "first run"; }
expect_recap apply failed -eq 0
expect_recap apply changed -gt 0
step "first run (files only)"

/usr/bin/python3 - "$T" <<'PY' || fail "generated files"
import os, re, sys, yaml
T = sys.argv[1]
def read(*p):
    with open(os.path.join(T, *p)) as f:
        return f.read()
def env(*p):
    return dict(l.split("=", 1) for l in read(*p).splitlines() if l and not l.startswith("#"))
def check(cond, what):
    if not cond:
        sys.exit("generated files: " + what)

# I2C: the line replaced in place (yard: the commented one; shed: the firmware file, off -> on).
check(read("yard/boot/config.txt") == "# yard\ndtparam=i2c_arm=on\ndtparam=audio=on\n", "yard config.txt")
check(read("shed/boot/firmware/config.txt") == "# shed, firmware\ndtparam=i2c_arm=on\n[all]\n", "shed firmware config.txt")
check(read("shed/boot/config.txt") == "# shed, old location\n", "shed /boot/config.txt untouched")
for h in ("yard", "shed"):
    mods = [l for l in read(h, "modules-load.d/roundhouse-i2c.conf").splitlines() if not l.startswith("#")]
    check(mods == ["i2c-dev"], h + " modules-load file")

# yard: three edges, one project, distinct state volumes, the HAT device on the two real ones.
c = yaml.safe_load(read("yard/opt/edge/compose.yaml"))
check(c["version"] == "2.4", "compose version")
check(sorted(c["services"]) == ["edge-motor1", "edge-motor2", "edge-motor3"], "yard services")
vols = {s: v["volumes"][0].split(":")[0] for s, v in c["services"].items()}
check(len(set(vols.values())) == 3, "yard state volumes not distinct")
names = [c["volumes"][vols[s]]["name"] for s in sorted(vols)]
check(names == ["roundhouse_edge-motor1-state", "roundhouse_edge-motor2-state",
                "roundhouse_edge-motor3-state"], "yard volume names %s" % names)
for s, v in c["services"].items():
    check(v["image"] == "roundhouse-edge:test", s + " image")
    check(v["network_mode"] == "host" and v["env_file"] == s + ".env", s + " network/env_file")
    real = s != "edge-motor3"
    check((v.get("devices") == ["/dev/i2c-1:/dev/i2c-1"]) == real, s + " devices")
    check((v.get("group_add") == ["4242"]) == real, s + " group_add")
e1, e2, e3 = (env("yard/opt/edge/edge-motor%d.env" % i) for i in (1, 2, 3))
check(e1["CONTROLLER_NAME"] == "yard-motor1" and e1["MOTOR_PORT"] == "1"
      and e1["TRAIN_ID"] == "express" and e1["TRAIN_NAME"] == "Express"
      and e1["HEALTH_LISTEN"] == "127.0.0.1:8081" and e1["SIMULATION_MODE"] == "false", "edge-motor1.env %s" % e1)
check(e2["MOTOR_PORT"] == "2" and e2["TRAIN_NAME"] == "Goods train", "edge-motor2.env")
check("TRAIN_ID" not in e3 and e3["SIMULATION_MODE"] == "true" and e3["MOTOR_PORT"] == "3", "edge-motor3.env")
for e in (e1, e2, e3):
    check(e["CENTRAL_API_URL"] == "http://central-host:18000", "central URL %s" % e["CENTRAL_API_URL"])
    check(e["STATE_DIR"] == "/var/lib/roundhouse-edge", "STATE_DIR")

# shed: one simulated edge with a named volume of its own.
c = yaml.safe_load(read("shed/opt/edge/compose.yaml"))
check(list(c["services"]) == ["edge-motor1"] and "devices" not in c["services"]["edge-motor1"], "shed services")
check(c["volumes"]["edge-motor1-state"]["name"] == "shed_motor1_state", "shed volume")
s = env("shed/opt/edge/edge-motor1.env")
check(s["CONTROLLER_NAME"] == "shed-pi-motor1" and s["TRAIN_NAME"] == "shunter", "shed env %s" % s)

# central: broker + central, the database on its named volume.
c = yaml.safe_load(read("central-host/opt/central/compose.yaml"))
check(sorted(c["services"]) == ["central", "mosquitto"], "central services")
ce = c["services"]["central"]["environment"]
check(ce["ROUNDHOUSE_LISTEN"] == "0.0.0.0:18000" and ce["MQTT_BROKER_PORT"] == "11883"
      and ce["ROUNDHOUSE_DB"] == "/var/lib/roundhouse/roundhouse.db", "central env %s" % ce)
check(c["services"]["central"]["volumes"] == ["central-db:/var/lib/roundhouse"], "central volume")
check(c["volumes"] == {"central-db": None, "mosquitto-data": None}, "central volumes (named by the project)")
check(c["services"]["mosquitto"]["environment"]["MQTT_PORT"] == "11883", "mosquitto port")
print("generated files: as expected")
PY
# docker-compose, when installed, must accept the generated projects (no daemon needed).
if command -v docker-compose >/dev/null 2>&1; then
  for d in yard/opt/edge shed/opt/edge central-host/opt/central; do
    timeout 60 docker-compose --project-directory "$T/$d" -f "$T/$d/compose.yaml" config -q ||
      fail "docker-compose config refuses $d/compose.yaml"
  done
  log "docker-compose config accepts the three generated projects"
fi
step "generated files checked"

play again -e roundhouse_manage_services=false || { tail -n 60 "$T/again.log"; fail "second run"; }
expect_recap again failed -eq 0
expect_recap again changed -eq 0
after=$(snapshot)
play check-again --check --diff -e roundhouse_manage_services=false ||
  { tail -n 60 "$T/check-again.log"; fail "check mode after the runs"; }
expect_recap check-again changed -eq 0
[ "$(snapshot)" = "$after" ] || fail "second run or check mode changed files"
step "second run and check mode: changed=0 on every host"

# An edge taken out of the inventory: its env file and service go (its volume is kept by
# compose, the container removed by --remove-orphans on a real run).
sed -i '/name: motor3, motor_port: 3/d' "$T/inventory.yml"
play remove --limit yard -e roundhouse_manage_services=false || { tail -n 60 "$T/remove.log"; fail "run without motor3"; }
[ "$(recap remove yard changed)" -gt 0 ] || fail "removing motor3 changed nothing"
[ ! -e "$T/yard/opt/edge/edge-motor3.env" ] || fail "edge-motor3.env left behind"
if grep -q motor3 "$T/yard/opt/edge/compose.yaml"; then fail "motor3 still in compose.yaml"; fi
[ -e "$T/yard/opt/edge/edge-motor2.env" ] || fail "edge-motor2.env removed"
after=$(snapshot)
step "edge removed from the inventory: its env file and service gone"

# Two edges on one motor port: refused by the assertion, before any file is written.
sed -i 's/motor_port: 2, health_port: 8082/motor_port: 1, health_port: 8082/' "$T/inventory.yml"
if play bad --limit yard -e roundhouse_manage_services=false; then fail "duplicate motor port accepted"; fi
grep -q 'distinct motor_port' "$T/bad.log" || { tail -n 30 "$T/bad.log"; fail "no message for the duplicate port"; }
[ "$(snapshot)" = "$after" ] || fail "the refused run changed files"
step "duplicate motor port refused, nothing written"
log "passed"
