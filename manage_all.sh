#!/usr/bin/env bash
# Run, stop, inspect and test the whole system on one machine, without containers.
#
#   ./manage_all.sh up                 set up what is missing, migrate, start every process
#   ./manage_all.sh down               stop every process
#   ./manage_all.sh status             each process: pid and whether it answers
#   ./manage_all.sh logs [NAME]        follow the logs (of one process)
#   ./manage_all.sh start|stop|restart NAME
#   ./manage_all.sh test [PYTEST ARGS] lint, then every test suite
#   ./manage_all.sh chaos [--minutes N] [--scale N] the fault-injection suite (docs/reliability.md)
#   ./manage_all.sh bench              the benchmark (docs/performance.md)
#
# Configuration: the environment, then .env (ENV_FILE names another; created from
# .env.example on first `up`). Runtime state lives under var/ (VAR_DIR names another):
# var/run/ (supervisord: config, socket, pid), var/log/NAME.log (rotated by size).
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
# In start order; `down` stops the web processes first, then beats, then workers. With
# SCALE=N, set_processes adds instances 2..N of the gateway, the workers and the beats.
PROCESSES=(orders payments gateway orders-worker payments-worker orders-beat payments-beat flower)
STOP_ORDER=(gateway orders payments flower orders-beat payments-beat orders-worker payments-worker)
SCALED_KINDS=(gateway orders-worker payments-worker orders-beat payments-beat)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- configuration ---------------------------------------------------------------------------

load_env() {
  # The environment wins over the env file, and the env file over the defaults; but the
  # embedded backends the running stack's `up` fell back to win over all (choose_backends),
  # except for `test`, which always runs on the real servers.
  read_env_file "$ENV_FILE"
  set_defaults
  if [[ "${1:-}" != without-backends ]]; then
    read_env_file "$RUN_DIR/backends.env" override
  fi
  set_broker_urls
  set_notify_url
  set_processes
}

# The gateway's live order status LISTENs on Orders' database as a role that may only
# connect (deploy/create_databases.py --connect-only, docs/gateway.md): by default Orders' URL
# with the role <Orders' role>_notify and ORDERS_NOTIFY_DB_PASSWORD (generated into .env on
# the first `up`). None on SQLite (the embedded mode) or without that password: the gateway
# then re-reads each waiting order every second. ORDERS_NOTIFY_DATABASE_URL set by hand wins.
set_notify_url() {
  NOTIFY_URL_CONFIGURED="${NOTIFY_URL_CONFIGURED-${ORDERS_NOTIFY_DATABASE_URL:+yes}}"
  [[ -z "$NOTIFY_URL_CONFIGURED" ]] || return 0
  local rest="${ORDERS_DATABASE_URL#*://}"
  if [[ "$ORDERS_DATABASE_URL" == postgres* && "$rest" == *@* && -n "${ORDERS_NOTIFY_DB_PASSWORD:-}" ]]; then
    export ORDERS_NOTIFY_DATABASE_URL="postgres://${rest%%[:@]*}_notify:$ORDERS_NOTIFY_DB_PASSWORD@${rest#*@}"
  else
    export ORDERS_NOTIFY_DATABASE_URL=""
  fi
}

# SCALE=N (1 to 8, default 1): N gateways on the one public port (SO_REUSEPORT: the kernel
# spreads connections over them), N workers and N beats per service, named gateway-2,
# orders-worker-2, ... Several of each are safe by design: consumers share a queue, every
# claim is FOR UPDATE SKIP LOCKED, and the inbox absorbs what two of them receive twice
# (docs/scaling.md). A running stack keeps the scale it was started with.
set_processes() {
  local scale="${SCALE:-}" kind
  if [[ -z "$scale" ]]; then
    scale="$(cat "$RUN_DIR/scale" 2>/dev/null || echo 1)"
  fi
  [[ "$scale" =~ ^[1-8]$ ]] || die "SCALE must be a whole number from 1 to 8 (got '$scale')"
  export SCALE="$scale"
  PROCESSES=(orders payments) STOP_ORDER=()
  for kind in gateway orders-worker payments-worker orders-beat payments-beat flower; do
    PROCESSES+=("$(instances_of "$kind")")
  done
  for kind in gateway orders payments flower orders-beat payments-beat orders-worker \
              payments-worker; do
    STOP_ORDER+=("$(instances_of "$kind")")
  done
  # One word per process (instances_of printed each kind's instances on one line).
  read -r -a PROCESSES <<< "${PROCESSES[*]}"
  read -r -a STOP_ORDER <<< "${STOP_ORDER[*]}"
}

instances_of() {  # KIND -> its processes at this SCALE: "orders-worker orders-worker-2"
  local names="$1" instance
  if [[ " ${SCALED_KINDS[*]} " == *" $1 "* ]]; then
    for ((instance = 2; instance <= SCALE; instance++)); do names+=" $1-$instance"; done
  fi
  echo "$names"
}

kind_of() {  # orders-worker-2 -> orders-worker; orders -> orders
  if [[ "$1" =~ ^(.+)-([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; else echo "$1"; fi
}

instance_of() {  # orders-worker-2 -> 2; orders-worker -> 1
  if [[ "$1" =~ -([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; else echo 1; fi
}

# FILE [override]: export its variables, parsed by django-environ as the services parse
# them (deploy/env_exports.py): one reader for bash and Django. Variables already set in
# the environment win, unless `override`.
read_env_file() {
  [[ -f "$1" ]] || return 0
  [[ -x "$PY" ]] || die "no virtualenv at $VENV yet: run ./manage_all.sh up first"
  local exports
  exports="$("$PY" deploy/env_exports.py "$1" ${2:+--override})" || die "cannot read $1"
  eval "$exports"
}

set_defaults() {
  export ORDERS_DATABASE_URL="${ORDERS_DATABASE_URL:-$DEFAULT_ORDERS_DATABASE_URL}"
  export PAYMENTS_DATABASE_URL="${PAYMENTS_DATABASE_URL:-$DEFAULT_PAYMENTS_DATABASE_URL}"
  export ORDERS_PORT="${ORDERS_PORT:-8001}"
  export PAYMENTS_PORT="${PAYMENTS_PORT:-8002}"
  export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
  export GATEWAY_BIND="${GATEWAY_BIND:-0.0.0.0}"   # the one public port
  export FLOWER_PORT="${FLOWER_PORT:-5555}"
  export ORDERS_URL="http://127.0.0.1:$ORDERS_PORT" PAYMENTS_URL="http://127.0.0.1:$PAYMENTS_PORT"
  export BROKER_URL="${BROKER_URL:-$DEFAULT_BROKER_URL}"
  # The server's superuser: `up` makes each service's role and database with it; the services
  # never get it (docs/security.md). The tests connect with it (pytest-django needs CREATEDB).
  export DATABASE_ADMIN_URL="${DATABASE_ADMIN_URL:-$DEFAULT_DATABASE_ADMIN_URL}"
  export DJANGO_STATIC_ROOT="${DJANGO_STATIC_ROOT:-$VAR_DIR/static}"
  export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-1}"
  # Flower reads its login from the environment, kept off the command line (`ps`).
  export FLOWER_BASIC_AUTH="${FLOWER_USER:-admin}:${FLOWER_PASSWORD:-}"
  # Names this stack's Celery nodes, so two stacks on one machine stay apart.
  export STACK_NAME="${STACK_NAME:-main}"
  # Every process logs UTC times, whatever the host's zone (gunicorn, Celery, supervisord).
  export TZ=UTC
  # Each process's log (var/log/NAME.log) is rotated at this size, keeping so many.
  export LOG_MAX_BYTES="${LOG_MAX_BYTES:-20MB}" LOG_BACKUPS="${LOG_BACKUPS:-5}"
  # Lines a person reads at a terminal; LOG_FORMAT=json for a log pipeline.
  export LOG_FORMAT="${LOG_FORMAT:-plain}"
  # The workers' /metrics (the web processes serve theirs on their own port).
  export ORDERS_WORKER_METRICS_PORT="${ORDERS_WORKER_METRICS_PORT:-9101}"
  export PAYMENTS_WORKER_METRICS_PORT="${PAYMENTS_WORKER_METRICS_PORT:-9102}"
}

# First `up` on a fresh clone: an env file with freshly generated secrets, printed once.
create_dotenv() {
  [[ -f "$ENV_FILE" ]] && return
  local password flower_password orders_db payments_db
  password="${DJANGO_SUPERUSER_PASSWORD:-$(random_token 12)}"
  flower_password="${FLOWER_PASSWORD:-$(random_token 12)}"
  orders_db="$(random_token 24)" payments_db="$(random_token 24)"
  # umask 077: the file is never readable by others, not even before a chmod.
  ( umask 077
    sed -e "s|^DJANGO_SECRET_KEY=.*|DJANGO_SECRET_KEY=$(random_token 50)|" \
        -e "s|^INTERNAL_API_TOKEN=.*|INTERNAL_API_TOKEN=$(random_token 32)|" \
        -e "s|^DJANGO_SUPERUSER_PASSWORD=.*|DJANGO_SUPERUSER_PASSWORD=$password|" \
        -e "s|^FLOWER_PASSWORD=.*|FLOWER_PASSWORD=$flower_password|" \
        -e "s|^GRAFANA_ADMIN_PASSWORD=.*|GRAFANA_ADMIN_PASSWORD=$(random_token 12)|" \
        -e "s|^ORDERS_DB_PASSWORD=.*|ORDERS_DB_PASSWORD=$orders_db|" \
        -e "s|^ORDERS_NOTIFY_DB_PASSWORD=.*|ORDERS_NOTIFY_DB_PASSWORD=$(random_token 24)|" \
        -e "s|^\(ORDERS_DATABASE_URL=postgres://orders:\)[^@]*@|\1$orders_db@|" \
        -e "s|^PAYMENTS_DB_PASSWORD=.*|PAYMENTS_DB_PASSWORD=$payments_db|" \
        -e "s|^\(PAYMENTS_DATABASE_URL=postgres://payments:\)[^@]*@|\1$payments_db@|" \
        -e "s|^ORDERS_BROKER_PASSWORD=.*|ORDERS_BROKER_PASSWORD=$(random_token 24)|" \
        -e "s|^PAYMENTS_BROKER_PASSWORD=.*|PAYMENTS_BROKER_PASSWORD=$(random_token 24)|" \
        -e "s|^FLOWER_BROKER_PASSWORD=.*|FLOWER_BROKER_PASSWORD=$(random_token 24)|" \
        -e "s|^POSTGRES_SUPERUSER_PASSWORD=.*|POSTGRES_SUPERUSER_PASSWORD=$(random_token 24)|" \
        .env.example > "$ENV_FILE" )
  chmod 600 "$ENV_FILE"
  say "created $ENV_FILE with generated secrets (kept there):"
  say "  admin login  ${DJANGO_SUPERUSER_USERNAME:-admin} / $password"
  say "  Flower login ${FLOWER_USER:-admin} / $flower_password"
}

random_token() {
  "$PY" -c "import secrets, sys; print(secrets.token_urlsafe(int(sys.argv[1])))" "$1"
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
  # A virtualenv left half-made (say, by an interrupted first run) is made again.
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    say "creating virtualenv $VENV"
    "$(find_python)" -m venv --clear "$VENV"
  fi
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    say "installing $lock"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$lock"
    echo "$want" > "$stamp"
  fi
}

# --- external services -----------------------------------------------------------------------

# EMBEDDED=auto (default): PostgreSQL or RabbitMQ that is neither configured (the default
# local address) nor reachable is replaced by SQLite databases or a file-based broker under
# VAR_DIR, with a banner; a configured server that fails stops `up` with the reason, so a
# running system never moves to an empty second store by accident. EMBEDDED=1 uses them
# whatever is reachable; EMBEDDED=0 never.
# LOCAL_POSTGRES and LOCAL_RABBITMQ (from the environment, not .env) name the local servers
# the defaults point at: the tests make them unreachable to see the fall-back.
DEFAULT_ORDERS_DATABASE_URL="${LOCAL_POSTGRES:-postgres://postgres@127.0.0.1:5432}/orders"
DEFAULT_PAYMENTS_DATABASE_URL="${LOCAL_POSTGRES:-postgres://postgres@127.0.0.1:5432}/payments"
DEFAULT_BROKER_URL="${LOCAL_RABBITMQ:-amqp://guest:guest@127.0.0.1:5672//}"
DEFAULT_DATABASE_ADMIN_URL="${LOCAL_POSTGRES:-postgres://postgres@127.0.0.1:5432}/postgres"

choose_backends() {
  local mode="${EMBEDDED:-auto}" chosen=() line
  mkdir -p "$RUN_DIR"
  if [[ -f "$RUN_DIR/backends.env" ]] && any_process_running; then
    say "the stack is running: keeping the backends it was started with"
    print_embedded_banner
    return
  fi
  rm -f "$RUN_DIR/backends.env"
  if [[ "$mode" == 1 ]] || { [[ "$mode" == auto ]] && default_databases && ! reachable_postgres; }; then
    mkdir -p "$VAR_DIR/db"
    chosen+=("ORDERS_DATABASE_URL=sqlite:///$VAR_DIR/db/orders.sqlite3"
             "PAYMENTS_DATABASE_URL=sqlite:///$VAR_DIR/db/payments.sqlite3")
  else
    check_postgres
  fi
  if [[ "$mode" == 1 ]] || {
       [[ "$mode" == auto && "$BROKER_URL" == "$DEFAULT_BROKER_URL" ]] && ! reachable_rabbitmq; }; then
    mkdir -p "$VAR_DIR/broker/control"
    chosen+=("BROKER_URL=filesystem://" "BROKER_FOLDER=$VAR_DIR/broker" "ORDERS_BROKER_URL="
             "PAYMENTS_BROKER_URL=" "FLOWER_BROKER_URL=")
  else
    check_rabbitmq
  fi
  for line in "${chosen[@]}"; do
    export "${line?}"
    echo "$line" >> "$RUN_DIR/backends.env"
  done
  set_notify_url
  if ((${#chosen[@]})); then print_embedded_banner; fi
}

default_databases() {  # on the default server, as whichever role (.env names the services' own)
  local server; server="$(server_of "$DEFAULT_ORDERS_DATABASE_URL")"
  [[ "$(server_of "$ORDERS_DATABASE_URL")" == "$server" &&
     "$(server_of "$PAYMENTS_DATABASE_URL")" == "$server" ]]
}

server_of() {  # postgres://user:password@host:port/name -> host:port
  local rest="${1#*://}"
  rest="${rest##*@}"
  echo "${rest%%/*}"
}

any_process_running() {
  process_states | awk '$2 != "STOPPED" && $2 != "EXITED" && $2 != "FATAL" {found = 1} END {exit !found}'
}

reachable_postgres() {
  "$PY" deploy/create_databases.py --admin "$DATABASE_ADMIN_URL" \
    "$ORDERS_DATABASE_URL" "$PAYMENTS_DATABASE_URL" 2>/dev/null
}

notify_role_option() {  # create_databases.py's option for the gateway's LISTEN role, if any
  [[ -z "${ORDERS_NOTIFY_DATABASE_URL:-}" ]] || printf '%s\n' --connect-only "$ORDERS_NOTIFY_DATABASE_URL"
}

reachable_rabbitmq() { "$PY" deploy/check_broker.py "$BROKER_URL" 2>/dev/null; }

print_embedded_banner() {
  local parts=()
  [[ "$ORDERS_DATABASE_URL" == sqlite* ]] && parts+=("SQLite databases in $VAR_DIR/db")
  [[ "$BROKER_URL" == filesystem* ]] && parts+=("a file-based broker in $VAR_DIR/broker")
  printf '%s\n' \
    "================================================================================" \
    " EMBEDDED MODE: $(IFS=';'; echo "${parts[*]}")" \
    " For trying the system on one machine only. SQLite locks the whole database for" \
    " each write, so writes queue up; the file broker has no publisher confirms and" \
    " lives in one folder. Start PostgreSQL and RabbitMQ (or set ORDERS_DATABASE_URL," \
    " PAYMENTS_DATABASE_URL, BROKER_URL) and run up again for the real thing." \
    "================================================================================"
}

# Also creates the services' roles and databases when missing (deploy/create_databases.py):
# each service's own role owns its database, made with DATABASE_ADMIN_URL.
check_postgres() {
  local notify_role; mapfile -t notify_role < <(notify_role_option)
  "$PY" deploy/create_databases.py --admin "$DATABASE_ADMIN_URL" "${notify_role[@]}" \
    "$ORDERS_DATABASE_URL" "$PAYMENTS_DATABASE_URL" || die "PostgreSQL is needed (see above)"
}

check_rabbitmq() {
  "$PY" deploy/check_broker.py "$BROKER_URL" || die "RabbitMQ is needed (see above)"
}

# One RabbitMQ user per process group (orders, payments, flower), allowed only what it uses
# (deploy/broker_users.py, docs/security.md), named after STACK_NAME: made by `up` where it
# can (the broker on this host, rabbitmqctl as root), deleted by `down`. BROKER_USERS=1 in
# backends.env tells the later commands; otherwise every process uses BROKER_URL's user.
ensure_broker_users() {
  if [[ "${BROKER_USERS:-}" == 1 ]] && any_process_running; then return; fi  # kept as started
  unset_broker_urls
  [[ "$BROKER_URL" == amqp* ]] || return 0  # the embedded mode's file broker has no users
  local why=""
  case "$(server_of "$BROKER_URL")" in
    127.0.0.1|127.0.0.1:*|localhost|localhost:*|\[::1\]*) ;;
    *) why="the broker is not on this host" ;;
  esac
  if [[ -z "$why" ]] && ! command -v rabbitmqctl >/dev/null; then why="no rabbitmqctl"; fi
  if [[ -z "$why" ]] && [[ -z "${ORDERS_BROKER_PASSWORD:-}" || -z "${PAYMENTS_BROKER_PASSWORD:-}" ||
                           -z "${FLOWER_BROKER_PASSWORD:-}" ]]; then
    why="set ORDERS_BROKER_PASSWORD, PAYMENTS_BROKER_PASSWORD, FLOWER_BROKER_PASSWORD in $ENV_FILE"
  fi
  if [[ -z "$why" ]]; then
    why="$("$PY" deploy/broker_users.py create "$BROKER_URL" \
           --prefix "${MESSAGING_QUEUE_PREFIX:-}" --users "$STACK_NAME-" 2>&1)" && why="" ||
      why="${why#error: }"
  fi
  if [[ -n "$why" ]]; then
    say "broker users NOT created ($why): every process uses BROKER_URL's user"
    return
  fi
  echo "BROKER_USERS=1" >> "$RUN_DIR/backends.env"
  export BROKER_USERS=1
  set_broker_urls
  say "broker users $STACK_NAME-orders, $STACK_NAME-payments, $STACK_NAME-flower: each process group on its own"
}

# ORDERS_BROKER_URL, PAYMENTS_BROKER_URL, FLOWER_BROKER_URL of the stack's users, where `up`
# made them and none is set already (the settings fall back to BROKER_URL without them).
set_broker_urls() {
  [[ "${BROKER_USERS:-}" == 1 ]] || return 0
  local line name
  while IFS= read -r line; do
    name="${line%%=*}"
    [[ -z "${!name:-}" ]] || continue  # one set in the environment or the env file wins
    export "${line?}"
    DERIVED_BROKER_URLS+=" $name"
  done < <("$PY" deploy/broker_users.py urls "$BROKER_URL" --users "$STACK_NAME-")
}

unset_broker_urls() {
  local name
  for name in ${DERIVED_BROKER_URLS:-}; do unset "$name"; done
  DERIVED_BROKER_URLS="" BROKER_USERS=""
}

delete_broker_users() {
  [[ "${BROKER_USERS:-}" == 1 ]] || return 0
  "$PY" deploy/broker_users.py delete "$BROKER_URL" --users "$STACK_NAME-" &&
    say "deleted the broker users $STACK_NAME-orders, -payments, -flower"
}

# The gateway keeps its rate limits' buckets in Redis (docs/security.md). `up` starts none and
# needs none: without it the gateway lets every request through (fail open), which this says
# plainly. Nothing to check when both limits are off (a rate of 0).
check_redis() {
  local problem
  problem="$("$PY" - <<'PY'
import os, re, sys
import redis
rates = [os.environ.get("GATEWAY_RATE_LIMIT_PER_USER") or "100",
         os.environ.get("GATEWAY_RATE_LIMIT_PER_ADDRESS") or "500"]
if all(float(rate) == 0 for rate in rates):
    sys.exit(0)
url = os.environ.get("GATEWAY_RATE_LIMIT_REDIS_URL") or "redis://127.0.0.1:6379/0"
try:
    redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
except (redis.RedisError, OSError, ValueError) as exc:
    print(f"{re.sub(r'//[^@/]*@', '//***@', url)}: {exc}")
    sys.exit(1)
PY
  )" && return 0
  printf '%s\n' \
    "================================================================================" \
    " RATE LIMITS OFF (fail open): Redis does not answer at $problem" \
    " The gateway lets every request through, unlimited, and logs a warning each minute." \
    " Start Redis (or set GATEWAY_RATE_LIMIT_REDIS_URL); the limits come back by themselves" \
    " within a second of Redis answering, without a restart." \
    "================================================================================"
}

# --- processes -------------------------------------------------------------------------------

service_of() {   # orders-worker -> orders; flower shows every worker, through orders' app
  case "$1" in flower) echo orders ;; *) echo "${1%%-*}" ;; esac
}

known_process() {
  [[ " ${PROCESSES[*]} " == *" $1 "* ]] || die "unknown process '$1' (known: ${PROCESSES[*]})"
}

settings_of() {  # Flower: Orders' settings with a broker user of its own
  if [[ "$1" == flower ]]; then echo orders_project.settings.flower
  else echo "$(service_of "$1")_project.settings.production"; fi
}

# Every gateway instance binds the one public port; a worker's instance N serves /metrics on
# its own port: ORDERS_WORKER_N_METRICS_PORT, by default the first one's + 10 * (N - 1).
port_of() {
  local instance variable
  instance="$(instance_of "$1")"
  case "$(kind_of "$1")" in
    orders) echo "$ORDERS_PORT" ;;
    payments) echo "$PAYMENTS_PORT" ;;
    gateway) echo "$GATEWAY_PORT" ;;
    flower) echo "$FLOWER_PORT" ;;
    orders-worker|payments-worker)
      variable="$(port_variable_of "$1")"
      if (( instance == 1 )); then echo "${!variable}"
      else
        local first; first="$(port_variable_of "$(kind_of "$1")")"
        echo "${!variable:-$(( ${!first} + 10 * (instance - 1) ))}"
      fi ;;
  esac
}

port_variable_of() {  # NAME -> the variable that sets its port: ORDERS_PORT, ORDERS_WORKER_METRICS_PORT
  local variable="${1^^}"
  variable="${variable//-/_}"
  [[ "$(kind_of "$1")" == *-worker ]] && variable+="_METRICS"
  echo "${variable}_PORT"
}

# NAME -> the supervisord environment line of its program. A process group that records
# metrics (web: gunicorn's workers; a Celery worker and its pool) adds them up in a
# directory of its own, emptied when the group starts (common/observability/launch.py).
process_environment() {
  local name="$1" environment
  environment="DJANGO_SETTINGS_MODULE=\"$(settings_of "$name")\""
  case "$(kind_of "$name")" in
    orders|payments|gateway|*-worker)
      environment+=",PROMETHEUS_MULTIPROC_DIR=\"$VAR_DIR/metrics/$name\"" ;;
  esac
  case "$(kind_of "$name")" in
    *-worker) environment+=",METRICS_PORT=\"$(port_of "$name")\",METRICS_ADDRESS=\"127.0.0.1\"" ;;
  esac
  echo "$environment"
}

# NAME -> command line. Web processes run under gunicorn with the shared config; workers
# use the prefork pool (docs/messaging.md says why) and consume their service's queues.
process_command() {
  local name="$1" service app launch
  service="$(service_of "$name")"
  app="${service}_project"
  launch="$VENV/bin/python -m common.observability.launch"
  case "$(kind_of "$name")" in
    orders|payments)
      echo "$launch $VENV/bin/gunicorn $app.wsgi:application -c deploy/gunicorn.conf.py" \
           "--bind 127.0.0.1:$(port_of "$name") --name $name"
      ;;
    gateway)
      # One gevent worker unless GATEWAY_WORKERS says otherwise (deploy/gunicorn.conf.py: it
      # serves the concurrency of two at 85 MiB less). The threads count only with
      # GUNICORN_WORKER_CLASS=gthread: a gateway request mostly waits on a service.
      echo "$launch $VENV/bin/gunicorn gateway_project.wsgi:application -c deploy/gunicorn.conf.py" \
           "--bind $GATEWAY_BIND:$GATEWAY_PORT --name $name --threads ${GATEWAY_THREADS:-8}" \
           "$( (( SCALE == 1 )) || echo --reuse-port)"
      ;;
    flower)
      [[ -n "${FLOWER_PASSWORD:-}" ]] || die "set FLOWER_PASSWORD (in $ENV_FILE) for Flower's login"
      # The login goes through the environment (FLOWER_BASIC_AUTH), not the command line.
      echo "$VENV/bin/celery -A common.lean_celery flower --address=127.0.0.1 --port=$FLOWER_PORT" \
           "--persistent=False"
      ;;
    *-worker)
      # No mingle and gossip: they only sync revoked tasks and events between workers (unused
      # here), and mingle alone adds a second or more to every (re)start.
      echo "$launch $VENV/bin/celery -A $app worker --pool prefork --concurrency $WORKER_CONCURRENCY" \
           "--hostname $name.$STACK_NAME@%h --without-mingle --without-gossip --loglevel INFO"
      ;;
    *-beat)
      # Beat and Flower: the lean Celery app, the service's settings (process_environment)
      # without Django's apps (common/lean_celery.py).
      echo "$VENV/bin/celery -A common.lean_celery beat --schedule $RUN_DIR/$name-schedule --loglevel INFO"
      ;;
    *) die "unknown process '$name' (known: ${PROCESSES[*]})" ;;
  esac
}

port_free() {
  "$PY" - "$1" <<'PY'
import socket, sys
with socket.socket() as sock:
    # As gunicorn binds: connections of a stopped server in TIME_WAIT do not count.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}

http_ok() {  # URL: the URL answers 200
  "$PY" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# --- supervision -----------------------------------------------------------------------------
#
# supervisord (pinned in requirements/base.txt) runs the processes: it restarts one that
# exits at once, backs off (1 s, 2 s, ...) when it dies again within STARTSECS of a start,
# and gives up after START_RETRIES such tries (state FATAL, which `status` reports as a
# crash loop); it rotates each log by size and stops a process with TERM, then KILL of its
# whole process group after STOP_WAIT_SECONDS. One supervisord per stack: its socket,
# config and pid live under VAR_DIR/run, so stacks with their own VAR_DIR stay apart.
STARTSECS=3
START_RETRIES=5
# Longer than gunicorn's graceful_timeout (10 s) and a Celery worker's batch.
STOP_WAIT_SECONDS=20

supervisor_conf() { echo "$RUN_DIR/supervisord.conf"; }

supervisorctl() { "$VENV/bin/supervisorctl" -c "$(supervisor_conf)" "$@"; }

supervisord_running() {
  [[ -f "$(supervisor_conf)" ]] && supervisorctl pid >/dev/null 2>&1
}

# The config, written anew by every command that starts something, from this shell's
# configuration. The processes inherit supervisord's environment: the one of the `up` (or
# `start`) that started it.
write_supervisor_conf() {
  local name
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  {
    cat <<CONF
; Written by manage_all.sh: edits are lost at the next up/start.
[unix_http_server]
file=$RUN_DIR/supervisor.sock
chmod=0700

[supervisord]
logfile=$LOG_DIR/supervisord.log
logfile_maxbytes=$LOG_MAX_BYTES
logfile_backups=$LOG_BACKUPS
pidfile=$RUN_DIR/supervisord.pid
directory=$ROOT
identifier=shop-$STACK_NAME

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$RUN_DIR/supervisor.sock
CONF
    for name in "${PROCESSES[@]}"; do
      # %% is how supervisord writes a literal % (Celery's %h).
      cat <<CONF

[program:$name]
command=$(process_command "$name" | sed 's/%/%%/g')
environment=$(process_environment "$name")
autostart=false
autorestart=true
startsecs=$STARTSECS
startretries=$START_RETRIES
stopsignal=TERM
stopwaitsecs=$STOP_WAIT_SECONDS
; TERM to the main process alone: gunicorn and Celery stop their children gracefully
; (Celery's pool children would die at once on a TERM of their own). KILL hits the group.
stopasgroup=false
killasgroup=true
redirect_stderr=true
stdout_logfile=$LOG_DIR/$name.log
stdout_logfile_maxbytes=$LOG_MAX_BYTES
stdout_logfile_backups=$LOG_BACKUPS
CONF
    done
  } > "$(supervisor_conf).new"
  mv "$(supervisor_conf).new" "$(supervisor_conf)"
}

ensure_supervisord() {  # NAME...: the programs to bring up to date if it runs already
  write_supervisor_conf
  if supervisord_running; then
    # These programs are restarted if their command changed; no other is touched.
    supervisorctl update "$@" >/dev/null
    return
  fi
  "$VENV/bin/supervisord" -c "$(supervisor_conf)" || die "supervisord did not start"
  local _
  for _ in $(seq 1 50); do supervisord_running && return; sleep 0.2; done
  die "supervisord does not answer; see $LOG_DIR/supervisord.log"
}

# "NAME STATE PID" lines (PID 0 unless running), one per process, in PROCESSES order; a
# process supervisord does not report (it is not running) is STOPPED.
process_states() {
  # One call: supervisorctl status exits non-zero whenever a process is not running, and
  # prints no process line when supervisord does not answer.
  { [[ -f "$(supervisor_conf)" ]] && supervisorctl status 2>/dev/null || true; } |
    awk -v order="${PROCESSES[*]}" '
      { pid = 0; if ($3 == "pid") { pid = $4; sub(",", "", pid) }; line[$1] = $1 " " $2 " " pid }
      END {
        n = split(order, names, " ")
        for (i = 1; i <= n; i++) print (names[i] in line) ? line[names[i]] : names[i] " STOPPED 0"
      }'
}

gateway_running() {  # any instance of the gateway
  process_states | awk '$1 ~ /^gateway(-[0-9]+)?$/ && $2 == "RUNNING" {found = 1} END {exit !found}'
}

state_of() { process_states | awk -v name="$1" '$1 == name {print $2}'; }

pid_of() {  # the pid of a running process, or failure
  local pid
  pid="$(process_states | awk -v name="$1" '$1 == name && $2 == "RUNNING" {print $3}')"
  [[ -n "$pid" ]] && echo "$pid"
}

# Whether a process does its job: web processes answer /readyz; a worker answers a ping
# over the broker; beat has run for STARTSECS since it was last started.
answers() {
  local name="$1"
  case "$(kind_of "$name")" in
    orders|payments|gateway) http_ok "http://127.0.0.1:$(port_of "$name")/readyz" ;;
    flower) http_ok "http://127.0.0.1:$FLOWER_PORT/healthcheck" ;;  # needs no login
    *-worker)  # twice: the embedded mode's file broker loses a reply now and then
      worker_pings "$name" || worker_pings "$name" ;;
    *-beat) pid_of "$name" >/dev/null ;;
  esac
}

worker_pings() {
  DJANGO_SETTINGS_MODULE="$(settings_of "$1")" "$VENV/bin/celery" -A "$(service_of "$1")_project" \
    inspect ping --destination "$1.$STACK_NAME@$(hostname)" --timeout 5 >/dev/null 2>&1
}

# Cheaper than `answers` for a worker just started: its own "ready." line, by its pid (the
# log format has it), so a line of an earlier run does not count.
ready() {
  local pid
  case "$(kind_of "$1")" in
    *-worker)
      pid="$(pid_of "$1")" || return 1
      # grep -c, not -q: -q could stop reading early and fail the pipe (pipefail). The
      # pid is "[1234] " in a plain line, "process": 1234 in a JSON one.
      grep -F "celery.apps.worker" "$LOG_DIR/$1.log" 2>/dev/null | grep -F " ready." |
        grep -cE "\[$pid\] |\"process\": $pid[,}]" >/dev/null
      ;;
    *) answers "$1" ;;
  esac
}

# NAME...: started together, then wait until each answers.
start_processes() {
  local name port
  for name in "$@"; do
    known_process "$name"
    port="$(port_of "$name")"
    # Instances of a scaled gateway share their port (SO_REUSEPORT): it is another's only if
    # it is taken while none of them runs.
    if [[ "$(kind_of "$name")" == gateway ]] && (( SCALE > 1 )) && gateway_running; then
      continue
    fi
    if [[ -n "$port" ]] && ! pid_of "$name" >/dev/null && ! port_free "$port"; then
      die "port $port for $name is taken by another process (set $(port_variable_of "$name"))"
    fi
  done
  ensure_supervisord "$@"
  # One supervisorctl per process, side by side: each waits STARTSECS for its own. What
  # did not start, wait_ready names.
  for name in "$@"; do supervisorctl start "$name" >/dev/null 2>&1 & done
  wait
  wait_ready "$@"
  for name in "$@"; do say "$name running (pid $(pid_of "$name")), log $LOG_DIR/$name.log"; done
}

stop_processes() {  # NAME...: TERM, then KILL of the group after STOP_WAIT_SECONDS
  local name
  for name in "$@"; do known_process "$name"; done
  supervisord_running || return 0
  supervisorctl stop "$@" >/dev/null || true
  for name in "$@"; do say "stopped $name"; done
}

wait_ready() {
  local name deadline=$((SECONDS + 90))
  for name in "$@"; do
    until pid_of "$name" >/dev/null && ready "$name"; do
      [[ "$(state_of "$name")" != FATAL ]] ||
        die "$name keeps exiting, supervisord gave up; see $LOG_DIR/$name.log"
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
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    user = User(username=name, email=os.environ["DJANGO_SUPERUSER_EMAIL"])
    try:
        validate_password(os.environ["DJANGO_SUPERUSER_PASSWORD"], user)
    except ValidationError as exc:
        raise SystemExit("DJANGO_SUPERUSER_PASSWORD is too weak: " + " ".join(exc.messages))
    User.objects.create_superuser(name, os.environ["DJANGO_SUPERUSER_EMAIL"], os.environ["DJANGO_SUPERUSER_PASSWORD"])
'
}

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  ensure_venv
  create_dotenv
  load_env
  choose_backends
  ensure_broker_users
  check_redis
  local service name
  for service in "${SERVICES[@]}"; do
    say "$service: migrating, admin user"
    # A migration may rewrite a large table: no statement time-out for it.
    DB_STATEMENT_TIMEOUT_SECONDS=0 manage "$service" migrate --no-input --verbosity 0
    ensure_superuser "$service"
  done
  # One static root for all: the services' apps (admin, Swagger UI) include the gateway's,
  # and one collection keeps one manifest that holds every file.
  say "collecting static files"
  manage payments collectstatic --no-input --verbosity 0
  echo "$SCALE" > "$RUN_DIR/scale"
  start_processes "${PROCESSES[@]}"
  if [[ -f "$RUN_DIR/backends.env" ]]; then print_embedded_banner; fi
  cat <<EOF

The system is up.
  API (the gateway)  http://127.0.0.1:$GATEWAY_PORT/   Swagger UI /swagger   OpenAPI /openapi.json
  Orders admin       http://127.0.0.1:$ORDERS_PORT/admin/
  Payments admin     http://127.0.0.1:$PAYMENTS_PORT/admin/   (login ${DJANGO_SUPERUSER_USERNAME:-admin}, password in $ENV_FILE)
  Flower             http://127.0.0.1:$FLOWER_PORT/   (login ${FLOWER_USER:-admin}, password in $ENV_FILE)
  Logs               $LOG_DIR/   (./manage_all.sh logs [NAME])
Stop it with ./manage_all.sh down.
EOF
}

cmd_down() {
  load_env
  local name
  # Web first (nothing new is recorded), then beats (no new sweeps), then the workers.
  for name in "${STOP_ORDER[@]}"; do stop_processes "$name"; done
  if supervisord_running; then
    local pid; pid="$(supervisorctl pid)"
    supervisorctl shutdown >/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    say "stopped supervisord"
  fi
  delete_broker_users || say "could not delete the broker users (see above)"
  rm -f "$RUN_DIR/backends.env" "$RUN_DIR/scale"
}

cmd_status() {  # exits non-zero unless every process runs and answers
  load_env
  local name state pid shown healthy=0 since
  supervisord_running || say "supervisord is not running: nothing restarts a crashed process"
  since="$(date -d '-10 min' '+%Y-%m-%d %H:%M:%S')"
  printf '%-18s %-8s %-9s %s\n' NAME PID RESTARTS STATE
  while read -r name state pid; do
    case "$state" in
      RUNNING)
        if answers "$name"; then shown="running, answers"
        else shown="running, NOT answering"; healthy=1; fi ;;
      STARTING) shown="starting"; healthy=1 ;;
      BACKOFF) shown="exited on start, retrying with back-off"; healthy=1 ;;
      FATAL) shown="CRASH LOOP: gave up after $START_RETRIES starts, see $LOG_DIR/$name.log"; healthy=1 ;;
      *) shown="stopped"; healthy=1 ;;
    esac
    [[ "$pid" != 0 ]] || pid="-"
    printf '%-18s %-8s %-9s %s\n' "$name" "$pid" "$(crashes_since "$name" "$since")" "$shown"
  done < <(process_states)
  echo
  metrics_summary
  return "$healthy"
}

# Rates, backlogs, parked messages, the oldest NEW order and the last ledger audit from the
# processes' /metrics, two scrapes METRICS_SUMMARY_SECONDS (2) apart (deploy/metrics_summary.py;
# docs/operations.md). Information only: it never changes status's verdict, and a summary
# that fails or hangs says so and no more.
metrics_summary() {
  timeout 30 "$PY" deploy/metrics_summary.py --interval "${METRICS_SUMMARY_SECONDS:-2}" ||
    echo "(no metrics summary: deploy/metrics_summary.py failed)"
}

# NAME SINCE: how often supervisord saw NAME exit unexpectedly since SINCE (its log's
# local-time stamps compare as strings). Shown as RESTARTS (in the last 10 minutes).
crashes_since() {
  cat "$LOG_DIR"/supervisord.log* 2>/dev/null |
    awk -v name="$1" -v since="$2" '
      ($1 " " substr($2, 1, 8)) >= since && $4 == "exited:" && $5 == name && /not expected/ { n++ }
      END { print n + 0 }'
}

cmd_logs() {
  mkdir -p "$LOG_DIR"
  if [[ $# -gt 0 ]]; then tail -n 100 -F "$LOG_DIR/$1.log"; else tail -n 20 -F "$LOG_DIR"/*.log; fi
}

# The compose file is validated by tests/test_compose.py with `docker compose config` or
# Debian's docker-compose (no Docker engine needed); install the latter where neither is.
ensure_compose_tool() {
  docker compose version >/dev/null 2>&1 && return
  command -v docker-compose >/dev/null && return
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian's docker-compose to validate the compose file"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; } >/dev/null
  fi
}

# deploy/observability/ is checked by tests/test_observability_config.py with promtool, which
# Debian ships in its prometheus package. Only the tool is wanted: the package's own
# Prometheus service must not start, so where no policy-rc.d forbids that already (Docker's
# Debian images have one), one does for the time of the install.
ensure_promtool() {
  command -v promtool >/dev/null && return
  [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null || return 0  # the test says what is missing
  say "installing promtool (Debian's prometheus package) to check deploy/observability/"
  local policy=/usr/sbin/policy-rc.d temporary_policy=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && temporary_policy=1
  fi
  { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
  } >/dev/null || say "could not install promtool: its tests will fail"
  [[ -z $temporary_policy ]] || rm -f "$policy"
}

# tests/test_browser.py drives Debian's Chromium with Playwright's Python package (never
# Playwright's own browser download, which this machine's closed network would refuse).
ensure_chromium() {
  [[ -x /usr/bin/chromium ]] && return
  [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null || return 0  # the test says what is missing
  say "installing Debian's chromium for the browser test"
  { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
  } >/dev/null || say "could not install chromium: the browser test will fail"
}

# tests/test_pgbouncer.py and tests/test_k8s.py start Debian's pgbouncer on ports of their
# own; as with promtool, the package's own service must not start (port 6432).
ensure_pgbouncer() {
  [[ -x /usr/sbin/pgbouncer ]] && return
  [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null || return 0  # the test says what is missing
  say "installing Debian's pgbouncer for the PgBouncer tests"
  local policy=/usr/sbin/policy-rc.d temporary_policy=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && temporary_policy=1
  fi
  { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer
  } >/dev/null || say "could not install pgbouncer: its tests will fail"
  [[ -z $temporary_policy ]] || rm -f "$policy"
}

# Every suite runs even after one fails, so one run reports everything; the exit status is
# non-zero if anything failed. One pytest run per Django project (own settings, own test
# database); tests/ drives the whole system through manage_all.sh itself.
cmd_test() {
  ensure_venv
  load_env without-backends
  check_postgres
  check_rabbitmq
  local failed=() suite
  say "ruff check";           "$VENV/bin/ruff" check . || failed+=("ruff check")
  say "ruff format --check";  "$VENV/bin/ruff" format --check . || failed+=("ruff format")
  ensure_compose_tool
  ensure_promtool
  ensure_chromium
  ensure_pgbouncer
  local status
  for suite in "common:common.tests.settings" "payments_project:payments_project.settings.test" \
               "orders_project:orders_project.settings.test" \
               "gateway_project:gateway_project.settings.test" "tests:tests.settings"; do
    say "tests: ${suite%%:*}"
    status=0
    "$VENV/bin/pytest" "${suite%%:*}" --ds="${suite#*:}" "$@" || status=$?
    # Exit 5 is "no test collected": fine for a suite a -k selection leaves empty, a
    # failure for a plain run (a suite that ran nothing).
    if (( status == 5 && $# > 0 )); then continue; fi
    (( status == 0 )) || failed+=("${suite%%:*} tests")
  done
  # The short chaos run: every fault scenario once or twice (a few minutes). Not with
  # pytest arguments, which select tests.
  if (( $# == 0 )); then
    say "chaos: short run"
    run_chaos || failed+=("chaos")
  fi
  if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[*]}" >&2
    return 1
  fi
  say "all checks passed"
}

# Stops and restarts the machine's RabbitMQ and PostgreSQL among other faults: run it where
# nothing else uses them (tests/chaos/faults.py).
cmd_chaos() {
  ensure_venv
  load_env without-backends
  check_postgres
  check_rabbitmq
  run_chaos "$@"
}

run_chaos() { DJANGO_SETTINGS_MODULE=tests.settings "$PY" -m tests.chaos "$@"; }

# A stack of its own on free ports; results in bench/results/ (docs/performance.md).
cmd_bench() {
  ensure_venv
  load_env without-backends
  check_postgres
  check_rabbitmq
  DJANGO_SETTINGS_MODULE=tests.settings "$PY" -m bench "$@"
}

main() {
  local command="${1:-}"; shift || true
  case "$command" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    start|stop) [[ $# -eq 1 ]] || die "usage: $0 $command NAME"; load_env; "${command}_processes" "$1" ;;
    restart) [[ $# -eq 1 ]] || die "usage: $0 restart NAME"; load_env; stop_processes "$1"; start_processes "$1" ;;
    test) cmd_test "$@" ;;
    chaos) cmd_chaos "$@" ;;
    bench) cmd_bench "$@" ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; [[ -z "$command" || "$command" =~ ^(-h|--help|help)$ ]] ;;
  esac
}

main "$@"; exit  # on one line: bash never reads past it, so editing the file mid-run is safe
