#!/usr/bin/env bash
# The harvester's CKAN testbed: a real CKAN 2.12.0 on 127.0.0.1:5000 with
# PostgreSQL + Redis and NO Solr (dataset search is served from PostgreSQL by
# the plugin in ckanext-pgsearch-lite/).  Idempotent: re-running skips what is
# already done and (re)starts whatever is not running, so it is also the
# restart command.  `make ckan-up` runs it; see README.md here.
#
# Debian 12, run as root.  Writes only under $CKAN_TESTBED_DIR (default: the
# folder "var" next to this script; the Makefile uses <project>/.ckan-testbed,
# both git-ignored), plus the apt packages and the "ckan" and "harvester_state"
# roles/databases in the local PostgreSQL cluster (the DSN of the second one is
# written to $CKAN_TESTBED_DIR/state_dsn.txt for the tests marked postgres).
#
# Env knobs: CKAN_TESTBED_DIR (<script dir>/var), CKAN_PORT (5000),
#            CKAN_SERVER (ckanrun|gunicorn).  The CKAN client (ckanapi) is the
#            project's own dependency: no client venv is made here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # sources: the plugin
STATE="${CKAN_TESTBED_DIR:-$HERE/var}"                 # everything this script creates
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
VENV="$STATE/venv"                 # CKAN's own venv
PLUGIN_DIR="$HERE/ckanext-pgsearch-lite"
INI="$STATE/ckan.ini"
RUN="$STATE/run"
LOGS="$STATE/logs"
STORAGE="$STATE/storage"
TIMINGS="$STATE/timings.txt"
TOKEN_FILE="$STATE/token.txt"
CKAN_VERSION="2.12.0"
CKAN_PORT="${CKAN_PORT:-5000}"
CKAN_SERVER="${CKAN_SERVER:-ckanrun}"
CKAN_URL="http://127.0.0.1:${CKAN_PORT}"
DB_NAME=ckan
DB_USER=ckan
DB_PASS=ckan
ADMIN_USER=ckan_admin
STATE_DB_NAME=harvester_state   # harvester's PostgreSQL state backend, for its tests
STATE_DB_USER=harvester_state
STATE_DB_PASS=harvester_state
STATE_DSN_FILE="$STATE/state_dsn.txt"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir -p "$RUN" "$LOGS" "$STORAGE"
echo "=== setup.sh run at $(date -u +%FT%TZ)" >> "$TIMINGS"

T0=0
phase_start() { PHASE="$1"; T0=$(date +%s); echo ">>> [$PHASE] start"; }
phase_end() {
  local dt=$(( $(date +%s) - T0 ))
  echo ">>> [$PHASE] done in ${dt}s"
  printf '%-14s %4ss\n' "$PHASE" "$dt" >> "$TIMINGS"
}

# --------------------------------------------------------------- 1. apt
phase_start apt
need=()
dpkg -s postgresql  >/dev/null 2>&1 || need+=(postgresql)
dpkg -s redis-server >/dev/null 2>&1 || need+=(redis-server)
dpkg -s libpq-dev   >/dev/null 2>&1 || need+=(libpq-dev)      # psycopg2 is built from source
dpkg -s libmagic1   >/dev/null 2>&1 || need+=(libmagic1)      # python-magic (upload mimetypes)
command -v gcc >/dev/null 2>&1      || need+=(gcc)
command -v curl >/dev/null 2>&1     || need+=(curl)
# Debian's own python3 needs these; a pyenv/official build already has them
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
python3 -c 'import os,sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
  >/dev/null 2>&1 || need+=(python3-dev)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: missing ${need[*]}; run it as root (it installs them with apt-get)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" > "$LOGS/apt.log" 2>&1
else
  echo "apt: nothing to install"
fi
phase_end

# --------------------------------------------------------------- 2. services
phase_start services
PGVER="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main"' | grep -q .; then
  pg_createcluster "$PGVER" main
fi
if ! pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$PGVER" main start
fi
PGPORT="$(pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main" {print $3}')"
for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 1
done
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
    --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" --dir "$RUN" \
    --save '' --appendonly no
  for _ in $(seq 1 20); do
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.5
  done
fi
redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG
psql_su() { runuser -u postgres -- psql -p "$PGPORT" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != 1 ]; then
  psql_su -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS'"
fi
if [ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != 1 ]; then
  runuser -u postgres -- createdb -p "$PGPORT" -O "$DB_USER" -E UTF8 "$DB_NAME"
fi
# harvester's own state tests (tests marked postgres): a role that may create a fresh database per test
# session, its database, and its DSN in $STATE_DSN_FILE
if [ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname='$STATE_DB_USER'")" != 1 ]; then
  psql_su -c "CREATE ROLE $STATE_DB_USER LOGIN CREATEDB PASSWORD '$STATE_DB_PASS'"
fi
if [ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname='$STATE_DB_NAME'")" != 1 ]; then
  runuser -u postgres -- createdb -p "$PGPORT" -O "$STATE_DB_USER" -E UTF8 "$STATE_DB_NAME"
fi
echo "postgresql://$STATE_DB_USER:$STATE_DB_PASS@127.0.0.1:$PGPORT/$STATE_DB_NAME" > "$STATE_DSN_FILE"
phase_end

# --------------------------------------------------------------- 3. pip
phase_start pip
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("ckan"))' 2>/dev/null || true)" != "$CKAN_VERSION" ] \
   || ! "$VENV/bin/python" -c 'import flask, psycopg2, sqlalchemy, redis, magic' 2>/dev/null; then
  # NB: plain "pip install ckan==2.12.0" installs NO dependencies: CKAN keeps
  # its pinned requirements in the "requirements" extra.
  "$VENV/bin/pip" install -q "ckan[requirements]==$CKAN_VERSION" > "$LOGS/pip-ckan.log" 2>&1 \
    || { tail -30 "$LOGS/pip-ckan.log"; exit 1; }
fi
# the plugin (small, always reinstalled so edits are picked up)
"$VENV/bin/pip" install -q --no-deps --force-reinstall "$PLUGIN_DIR" > "$LOGS/pip-plugin.log" 2>&1 \
  || { tail -30 "$LOGS/pip-plugin.log"; exit 1; }
rm -rf "$PLUGIN_DIR/build" "$PLUGIN_DIR"/*.egg-info
if [ "$CKAN_SERVER" = gunicorn ] && [ ! -x "$VENV/bin/gunicorn" ]; then
  "$VENV/bin/pip" install -q gunicorn > "$LOGS/pip-gunicorn.log" 2>&1
fi
phase_end

# --------------------------------------------------------------- 4. config
phase_start config
CKAN="$VENV/bin/ckan"
[ -f "$INI" ] || "$CKAN" generate config "$INI" > /dev/null
# config-tool edits keys in place (idempotent). licenses_group_url: DataSud's licence list (lov2...), see
# README.md here. CKAN reads its config at start-up: when this phase changed ckan.ini, a CKAN started from
# here is stopped so that phase 6 starts it again with the new settings.
INI_BEFORE="$(sha256sum "$INI" | cut -d' ' -f1)"
"$CKAN" config-tool "$INI" \
  "sqlalchemy.url = postgresql://$DB_USER:$DB_PASS@127.0.0.1:$PGPORT/$DB_NAME" \
  "ckan.site_url = $CKAN_URL" \
  "ckan.site_id = default" \
  "ckan.redis.url = redis://127.0.0.1:6379/0" \
  "solr_url = http://127.0.0.1:1/solr-is-not-used" \
  "ckan.plugins = pgsearch_lite" \
  "ckan.storage_path = $STORAGE" \
  "ckan.max_resource_size = 100" \
  "ckan.views.default_views = " \
  "ckan.devserver.host = 127.0.0.1" \
  "ckan.devserver.port = $CKAN_PORT" \
  "licenses_group_url = file://$HERE/licenses_datasud.json" > /dev/null
if [ "$(sha256sum "$INI" | cut -d' ' -f1)" != "$INI_BEFORE" ] \
   && [ -f "$RUN/ckan.pid" ] && kill -0 "$(cat "$RUN/ckan.pid")" 2>/dev/null; then
  echo "ckan.ini changed: restarting CKAN"
  CKAN_TESTBED_DIR="$STATE" bash "$HERE/stop.sh" ckan
fi
phase_end

# --------------------------------------------------------------- 5. db init
phase_start db-init
"$CKAN" -c "$INI" db init > "$LOGS/db-init.log" 2>&1 || { tail -40 "$LOGS/db-init.log"; exit 1; }
phase_end

# --------------------------------------------------------------- 6. start
phase_start start
up() { curl -fsS -m 5 "$CKAN_URL/api/3/action/status_show" > /dev/null 2>&1; }
if ! up; then
  if [ -f "$RUN/ckan.pid" ] && kill -0 "$(cat "$RUN/ckan.pid")" 2>/dev/null; then
    echo "stale CKAN pid $(cat "$RUN/ckan.pid") does not answer; stopping it"
    kill "$(cat "$RUN/ckan.pid")" || true; sleep 2
  fi
  if [ "$CKAN_SERVER" = gunicorn ]; then
    cat > "$RUN/wsgi.py" <<EOF
from ckan.config.middleware import make_app
from ckan.cli import CKANConfigLoader
application = make_app(CKANConfigLoader("$INI").get_config())
EOF
    setsid "$VENV/bin/gunicorn" --chdir "$RUN" -b "127.0.0.1:$CKAN_PORT" -w 2 --timeout 120 \
      --pid "$RUN/ckan.pid" wsgi:application > "$LOGS/ckan.log" 2>&1 < /dev/null &
  else
    # werkzeug server via "ckan run": no reloader, threaded
    setsid "$CKAN" -c "$INI" run -H 127.0.0.1 -p "$CKAN_PORT" --disable-reloader --threaded \
      > "$LOGS/ckan.log" 2>&1 < /dev/null &
    echo $! > "$RUN/ckan.pid"
  fi
  for i in $(seq 1 120); do up && break; sleep 1; done
  up || { echo "CKAN did not come up"; tail -40 "$LOGS/ckan.log"; exit 1; }
fi
if ! { [ -f "$RUN/ckan.pid" ] && kill -0 "$(cat "$RUN/ckan.pid")" 2>/dev/null; }; then
  echo "a CKAN answers at $CKAN_URL but it was not started from $STATE:" \
       "stop it (make ckan-down in its project) or use another CKAN_PORT" >&2
  exit 1
fi
echo "CKAN answering at $CKAN_URL (pid $(cat "$RUN/ckan.pid"))"
phase_end

# --------------------------------------------------------------- 7. admin + token
phase_start admin
token_ok() {
  [ -s "$TOKEN_FILE" ] && curl -fsS -m 10 -H "Authorization: $(cat "$TOKEN_FILE")" \
    -H 'Content-Type: application/json' -d "{\"user_id\": \"$ADMIN_USER\"}" \
    "$CKAN_URL/api/3/action/api_token_list" > /dev/null 2>&1
}
if ! token_ok; then
  [ -s "$RUN/admin_password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$RUN/admin_password"
  # creates the user if missing, then makes it sysadmin (one CKAN start-up)
  "$CKAN" -c "$INI" sysadmin add "$ADMIN_USER" --create email=admin@example.invalid \
    password="$(cat "$RUN/admin_password")" > "$LOGS/sysadmin-add.log" 2>&1
  "$CKAN" -c "$INI" user token add -q "$ADMIN_USER" setup-sh 2> "$LOGS/token-add.log" \
    | tail -1 | tr -d '[:space:]' > "$TOKEN_FILE"
  chmod 600 "$TOKEN_FILE"
  token_ok || { echo "API token does not work"; exit 1; }
fi
phase_end
echo "token in $TOKEN_FILE; timings appended to $TIMINGS"
