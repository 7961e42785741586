#!/usr/bin/env bash
# Run, stop, inspect and test the whole system on one machine, without containers.
#
#   ./manage_all.sh up                 set up what is missing, migrate, start every process
#   ./manage_all.sh down               stop every process
#   ./manage_all.sh status             each process: pid and whether it answers
#   ./manage_all.sh logs [NAME]        follow the logs (of one process)
#   ./manage_all.sh start|stop|restart NAME
#   ./manage_all.sh test [PYTEST ARGS] lint, then every test suite
#
# Configuration: the environment, then .env (ENV_FILE names another; created from
# .env.example on first `up`). Runtime state lives under var/ (VAR_DIR names another):
# var/run/NAME.pid, var/log/NAME.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
VAR_DIR="${VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR_DIR/run"
LOG_DIR="$VAR_DIR/log"
export ENV_FILE="${ENV_FILE:-$ROOT/.env}"

SERVICES=(orders payments)
PROCESSES=(orders payments orders-worker orders-beat payments-worker payments-beat)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- configuration ---------------------------------------------------------------------------

load_env() {
  if [[ -f "$ENV_FILE" ]]; then
    # Variables already set in the environment win over the file.
    while IFS= read -r line || [[ -n "$line" ]]; do
      [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
      local name="${line%%=*}" value="${line#*=}"
      [[ -z "${!name+x}" ]] && export "$name=$value"
    done < "$ENV_FILE"
  fi
  export ORDERS_DATABASE_URL="${ORDERS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/orders}"
  export PAYMENTS_DATABASE_URL="${PAYMENTS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/payments}"
  export ORDERS_PORT="${ORDERS_PORT:-8001}"
  export PAYMENTS_PORT="${PAYMENTS_PORT:-8002}"
  export BROKER_URL="${BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}"
  export DJANGO_STATIC_ROOT="${DJANGO_STATIC_ROOT:-$VAR_DIR/static}"
  export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-2}"
  # Names this stack's Celery nodes, so two stacks on one machine stay apart.
  export STACK_NAME="${STACK_NAME:-main}"
}

# First `up` on a fresh clone: an env file with freshly generated secrets, printed once.
create_dotenv() {
  [[ -f "$ENV_FILE" ]] && return
  local secret password
  secret="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  password="${DJANGO_SUPERUSER_PASSWORD:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')}"
  sed -e "s|^DJANGO_SECRET_KEY=.*|DJANGO_SECRET_KEY=$secret|" \
      -e "s|^DJANGO_SUPERUSER_PASSWORD=.*|DJANGO_SUPERUSER_PASSWORD=$password|" \
      .env.example > "$ENV_FILE"
  chmod 600 "$ENV_FILE"
  say "created $ENV_FILE with generated secrets; admin login: admin / $password (kept there)"
}

# --- virtualenv ------------------------------------------------------------------------------

find_python() {
  local candidate
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return
    fi
  done
  die "Python 3.11 is required (python3.11 or python3 on PATH)"
}

# Creates the virtualenv when missing and installs the lock file whenever it changed.
ensure_venv() {
  local lock="requirements/dev.txt" stamp="$VENV/.requirements.sha256" want
  [[ -x "$PY" ]] || { say "creating virtualenv $VENV"; "$(find_python)" -m venv "$VENV"; }
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    say "installing $lock"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$lock"
    echo "$want" > "$stamp"
  fi
}

# --- external services -----------------------------------------------------------------------

check_postgres() {  # also creates the services' databases when missing
  "$PY" deploy/create_databases.py "$ORDERS_DATABASE_URL" "$PAYMENTS_DATABASE_URL" ||
    die "PostgreSQL is needed (see above)"
}

check_rabbitmq() {
  "$PY" deploy/check_broker.py "$BROKER_URL" || die "RabbitMQ is needed (see above)"
}

# --- processes -------------------------------------------------------------------------------

service_of() { echo "${1%%-*}"; }   # orders-worker -> orders

settings_of() { echo "$(service_of "$1")_project.settings.production"; }

port_of() {
  case "$(service_of "$1")" in
    orders) echo "$ORDERS_PORT" ;;
    payments) echo "$PAYMENTS_PORT" ;;
  esac
}

# NAME -> command line. Web processes run under gunicorn with the shared config; workers
# use the prefork pool (docs/messaging.md says why) and consume their service's queues.
process_command() {
  local name="$1" service app
  service="$(service_of "$name")"
  app="${service}_project"
  case "$name" in
    orders|payments)
      echo "$VENV/bin/gunicorn $app.wsgi:application -c deploy/gunicorn.conf.py" \
           "--bind 127.0.0.1:$(port_of "$name") --name $name"
      ;;
    *-worker)
      echo "$VENV/bin/celery -A $app worker --pool prefork --concurrency $WORKER_CONCURRENCY" \
           "--hostname $name.$STACK_NAME@%h --loglevel INFO"
      ;;
    *-beat)
      echo "$VENV/bin/celery -A $app beat --schedule $RUN_DIR/$name-schedule --loglevel INFO"
      ;;
    *) die "unknown process '$name' (known: ${PROCESSES[*]})" ;;
  esac
}

pid_of() {
  local pidfile="$RUN_DIR/$1.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

http_ok() {
  "$PY" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# Whether a process does its job: web processes answer /readyz; a worker answers a ping
# over the broker; beat has logged that it started since its last start.
answers() {
  local name="$1" service
  service="$(service_of "$name")"
  case "$name" in
    orders|payments) http_ok "http://127.0.0.1:$(port_of "$name")/readyz" ;;
    *-worker)
      DJANGO_SETTINGS_MODULE="$(settings_of "$name")" "$VENV/bin/celery" -A "${service}_project" \
        inspect ping --destination "$name.$STACK_NAME@$(hostname)" --timeout 3 >/dev/null 2>&1
      ;;
    *-beat) started_since_launch "$name" "beat: Starting" ;;
  esac
}

started_since_launch() {  # NAME MARKER: the marker is in the log after the launch offset
  local offset; offset="$(cat "$RUN_DIR/$1.offset" 2>/dev/null || echo 0)"
  tail -c "+$((offset + 1))" "$LOG_DIR/$1.log" 2>/dev/null | grep -q "$2"
}

ready() {  # cheaper than `answers` for a worker that was just started
  case "$1" in
    *-worker) started_since_launch "$1" " ready." ;;
    *) answers "$1" ;;
  esac
}

start_process() {
  local name="$1" command
  command="$(process_command "$name")"
  if pid_of "$name" >/dev/null; then say "$name already running"; return; fi
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  stat -c %s "$LOG_DIR/$name.log" 2>/dev/null > "$RUN_DIR/$name.offset" || echo 0 > "$RUN_DIR/$name.offset"
  # setsid: its own process group, so `stop` ends the process and all its children.
  DJANGO_SETTINGS_MODULE="$(settings_of "$name")" \
    setsid bash -c "exec $command" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  say "started $name (pid $!), log $LOG_DIR/$name.log"
}

stop_process() {
  local name="$1" pid
  process_command "$name" >/dev/null
  if ! pid="$(pid_of "$name")"; then rm -f "$RUN_DIR/$name.pid"; return; fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$RUN_DIR/$name.pid"
  say "stopped $name"
}

wait_ready() {
  local name deadline=$((SECONDS + 90))
  for name in "$@"; do
    until ready "$name"; do
      pid_of "$name" >/dev/null || die "$name exited; see $LOG_DIR/$name.log"
      (( SECONDS < deadline )) || die "$name not ready in 90 s; see $LOG_DIR/$name.log"
      sleep 0.5
    done
  done
}

manage() {  # manage SERVICE ARGS...: a service's manage.py with production settings
  local service="$1"; shift
  DJANGO_SETTINGS_MODULE="${service}_project.settings.production" \
    "$PY" "${service}_project/manage.py" "$@"
}

ensure_superuser() {
  DJANGO_SUPERUSER_USERNAME="${DJANGO_SUPERUSER_USERNAME:-admin}" \
  DJANGO_SUPERUSER_EMAIL="${DJANGO_SUPERUSER_EMAIL:-admin@localhost}" \
    manage "$1" shell --verbosity 0 -c '
import os
from django.contrib.auth import get_user_model
User = get_user_model()
name = os.environ["DJANGO_SUPERUSER_USERNAME"]
if not User.objects.filter(username=name).exists():
    User.objects.create_superuser(name, os.environ["DJANGO_SUPERUSER_EMAIL"], os.environ["DJANGO_SUPERUSER_PASSWORD"])
'
}

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  ensure_venv
  create_dotenv
  load_env
  check_postgres
  check_rabbitmq
  local service name
  for service in "${SERVICES[@]}"; do
    say "$service: migrating, collecting static files, admin user"
    manage "$service" migrate --no-input --verbosity 0
    manage "$service" collectstatic --no-input --verbosity 0
    ensure_superuser "$service"
  done
  for name in "${PROCESSES[@]}"; do start_process "$name"; done
  wait_ready "${PROCESSES[@]}"
  cat <<EOF

The system is up.
  Orders API        http://127.0.0.1:$ORDERS_PORT/orders      docs /api/docs/   admin /admin/
  Payments API      http://127.0.0.1:$PAYMENTS_PORT/accounts    docs /api/docs/   admin /admin/
  Admin login       ${DJANGO_SUPERUSER_USERNAME:-admin} (password in $ENV_FILE)
  Logs              $LOG_DIR/   (./manage_all.sh logs [NAME])
Stop it with ./manage_all.sh down.
EOF
}

cmd_down() {
  load_env
  local i
  # Web processes first, so nothing new is recorded while the workers finish.
  for ((i = 0; i < ${#PROCESSES[@]}; i++)); do stop_process "${PROCESSES[$i]}"; done
}

cmd_status() {
  load_env
  local name pid state
  printf '%-16s %-8s %s\n' NAME PID STATE
  for name in "${PROCESSES[@]}"; do
    if pid="$(pid_of "$name")"; then
      if answers "$name"; then state="running, answers"; else state="running, NOT answering"; fi
    else
      pid="-"; state="stopped"
    fi
    printf '%-16s %-8s %s\n' "$name" "$pid" "$state"
  done
}

cmd_logs() {
  mkdir -p "$LOG_DIR"
  if [[ $# -gt 0 ]]; then tail -n 100 -F "$LOG_DIR/$1.log"; else tail -n 20 -F "$LOG_DIR"/*.log; fi
}

# No Docker engine is needed: `config` only parses and validates the file. Debian's
# docker-compose package provides the command where the `docker compose` plugin is missing.
check_compose_file() {
  local compose=()
  if docker compose version >/dev/null 2>&1; then compose=(docker compose)
  else
    if ! command -v docker-compose >/dev/null && [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
      say "installing Debian's docker-compose to validate the compose file"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; } >/dev/null
    fi
    command -v docker-compose >/dev/null ||
      { echo "docker-compose is not installed (apt-get install docker-compose)" >&2; return 1; }
    compose=(docker-compose)
  fi
  DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-compose-config-check}" "${compose[@]}" config -q
}

# Every suite runs even after one fails, so one run reports everything; the exit status is
# non-zero if anything failed. One pytest run per Django project (own settings, own test
# database); tests/ drives the whole system through manage_all.sh itself.
cmd_test() {
  ensure_venv
  load_env
  check_postgres
  check_rabbitmq
  local failed=() suite
  say "ruff check";           "$VENV/bin/ruff" check . || failed+=("ruff check")
  say "ruff format --check";  "$VENV/bin/ruff" format --check . || failed+=("ruff format")
  say "docker-compose.yml";   check_compose_file || failed+=("compose file")
  for suite in "common:common.tests.settings" "payments_project:payments_project.settings.test" \
               "orders_project:orders_project.settings.test" "tests:tests.settings"; do
    say "tests: ${suite%%:*}"
    "$VENV/bin/pytest" "${suite%%:*}" --ds="${suite#*:}" "$@" || failed+=("${suite%%:*} tests")
  done
  if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[*]}" >&2
    return 1
  fi
  say "all checks passed"
}

main() {
  local command="${1:-}"; shift || true
  case "$command" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    start|stop) [[ $# -eq 1 ]] || die "usage: $0 $command NAME"; load_env; "${command}_process" "$1" ;;
    restart) [[ $# -eq 1 ]] || die "usage: $0 restart NAME"; load_env; stop_process "$1"; start_process "$1" ;;
    test) cmd_test "$@" ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; [[ -z "$command" || "$command" =~ ^(-h|--help|help)$ ]] ;;
  esac
}

main "$@"
