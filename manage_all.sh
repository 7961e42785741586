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
# Configuration: the environment, then .env (created from .env.example on first `up`).
# Runtime state lives under var/: var/run/NAME.pid, var/log/NAME.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
RUN_DIR="$ROOT/var/run"
LOG_DIR="$ROOT/var/log"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- configuration ---------------------------------------------------------------------------

load_env() {
  if [[ -f .env ]]; then
    # Variables already set in the environment win over the file.
    while IFS= read -r line || [[ -n "$line" ]]; do
      [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
      local name="${line%%=*}" value="${line#*=}"
      [[ -z "${!name+x}" ]] && export "$name=$value"
    done < .env
  fi
  export PAYMENTS_DATABASE_URL="${PAYMENTS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/payments}"
  export PAYMENTS_PORT="${PAYMENTS_PORT:-8002}"
  export BROKER_URL="${BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}"
  export DJANGO_SETTINGS_MODULE_SUFFIX="${DJANGO_SETTINGS_MODULE_SUFFIX:-production}"
}

# First `up` on a fresh clone: a .env with freshly generated secrets, printed once.
create_dotenv() {
  [[ -f .env ]] && return
  local secret password
  secret="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')"
  password="${DJANGO_SUPERUSER_PASSWORD:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')}"
  sed -e "s|^DJANGO_SECRET_KEY=.*|DJANGO_SECRET_KEY=$secret|" \
      -e "s|^DJANGO_SUPERUSER_PASSWORD=.*|DJANGO_SUPERUSER_PASSWORD=$password|" \
      .env.example > .env
  chmod 600 .env
  say "created .env with generated secrets; admin login: admin / $password (kept in .env)"
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

check_postgres() {
  "$PY" deploy/create_databases.py "$PAYMENTS_DATABASE_URL" ||
    die "PostgreSQL is needed (see above)"
}

check_rabbitmq() {
  "$PY" deploy/check_broker.py "$BROKER_URL" || die "RabbitMQ is needed (see above)"
}

# --- processes -------------------------------------------------------------------------------

# NAME -> command line. Each web process runs under gunicorn with the shared config.
process_command() {
  case "$1" in
    payments)
      echo "$VENV/bin/gunicorn payments_project.wsgi:application -c deploy/gunicorn.conf.py" \
           "--bind 127.0.0.1:$PAYMENTS_PORT --env DJANGO_SETTINGS_MODULE=payments_project.settings.$DJANGO_SETTINGS_MODULE_SUFFIX"
      ;;
    *) die "unknown process '$1' (known: ${PROCESSES[*]})" ;;
  esac
}

# URL that answers when the process is ready (empty: a process without HTTP).
process_probe() {
  case "$1" in
    payments) echo "http://127.0.0.1:$PAYMENTS_PORT/readyz" ;;
  esac
}

PROCESSES=(payments)

pid_of() {
  local pidfile="$RUN_DIR/$1.pid"
  [[ -f "$pidfile" ]] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  local url; url="$(process_probe "$1")"
  [[ -z "$url" ]] && return 0
  "$PY" - "$url" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

start_process() {
  local name="$1" command
  command="$(process_command "$name")"
  if pid_of "$name" >/dev/null; then say "$name already running"; return; fi
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # setsid: its own process group, so `stop` ends the process and all its children.
  setsid bash -c "exec $command" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  say "started $name (pid $!), log var/log/$name.log"
}

stop_process() {
  local name="$1" pid
  if ! pid="$(pid_of "$name")"; then rm -f "$RUN_DIR/$name.pid"; return; fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$RUN_DIR/$name.pid"
  say "stopped $name"
}

wait_ready() {
  local name deadline=$((SECONDS + 60))
  for name in "${PROCESSES[@]}"; do
    until answers "$name"; do
      pid_of "$name" >/dev/null || die "$name exited; see var/log/$name.log"
      (( SECONDS < deadline )) || die "$name did not become ready in 60 s; see var/log/$name.log"
      sleep 0.5
    done
  done
}

manage() {  # manage SERVICE ARGS...: run a service's manage.py with production settings
  local service="$1"; shift
  DJANGO_SETTINGS_MODULE="${service}_project.settings.$DJANGO_SETTINGS_MODULE_SUFFIX" \
    "$PY" "${service}_project/manage.py" "$@"
}

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  ensure_venv
  create_dotenv
  load_env
  check_postgres
  say "migrating, collecting static files"
  manage payments migrate --no-input --verbosity 0
  manage payments collectstatic --no-input --verbosity 0
  ensure_superuser payments
  local name
  for name in "${PROCESSES[@]}"; do start_process "$name"; done
  wait_ready
  cat <<EOF

The system is up.
  Payments API      http://127.0.0.1:$PAYMENTS_PORT/accounts
  Payments docs     http://127.0.0.1:$PAYMENTS_PORT/api/docs/
  Payments admin    http://127.0.0.1:$PAYMENTS_PORT/admin/   (user ${DJANGO_SUPERUSER_USERNAME:-admin}, password in .env)
Stop it with ./manage_all.sh down.
EOF
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

cmd_down() {
  load_env
  local name
  for name in "${PROCESSES[@]}"; do stop_process "$name"; done
}

cmd_status() {
  load_env
  local name pid state
  printf '%-12s %-8s %s\n' NAME PID STATE
  for name in "${PROCESSES[@]}"; do
    if pid="$(pid_of "$name")"; then
      if answers "$name"; then state="running, answers"; else state="running, not answering"; fi
    else
      pid="-"; state="stopped"
    fi
    printf '%-12s %-8s %s\n' "$name" "$pid" "$state"
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
# non-zero if anything failed.
cmd_test() {
  ensure_venv
  load_env
  check_postgres
  check_rabbitmq
  local failed=()
  say "ruff check";           "$VENV/bin/ruff" check . || failed+=("ruff check")
  say "ruff format --check";  "$VENV/bin/ruff" format --check . || failed+=("ruff format")
  say "docker-compose.yml"; check_compose_file || failed+=("compose file")
  # One pytest run per Django project: each has its own settings and test database.
  say "common tests (shared apps, messaging against RabbitMQ, real worker processes)"
  "$VENV/bin/pytest" common --ds=common.tests.settings "$@" || failed+=("common tests")
  say "payments tests"
  "$VENV/bin/pytest" payments_project --ds=payments_project.settings.test "$@" ||
    failed+=("payments tests")
  say "orders tests"
  "$VENV/bin/pytest" orders_project --ds=orders_project.settings.test "$@" ||
    failed+=("orders tests")
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
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; [[ -z "$command" || "$command" =~ ^(-h|--help|help)$ ]] ;;
  esac
}

main "$@"
