# shellcheck shell=bash
# scripts/lib/services.sh: sourced by scripts/test, scripts/up and scripts/down.
#
# Makes sure the two services RunSaga needs are there and ready:
#   - PostgreSQL 15 with a LOGIN SUPERUSER role `runsaga` (password `runsaga`) owning database `runsaga`;
#     superuser because the integration tests create/drop databases and triggers;
#   - RabbitMQ 3.10 with the management plugin (HTTP API on :15672), which tests use to inspect queues, and
#     RunSaga's broker users (deploy/rabbitmq/permissions): runsaga-scraper, runsaga-orchestrator and
#     runsaga-consumers, plus runsaga-admin (administrator) for the management UI and the tests. Their passwords are
#     generated once into ~/.config/runsaga/credentials.env (mode 600; one file per machine user, so that every
#     checkout on the machine shares the broker's users); guest is never used.
#
# Targets Debian 12 with no systemd: packages come from apt, services are started by hand
# (pg_ctlcluster, rabbitmq-server -detached). With RUNSAGA_USE_DOCKER=1 and a reachable Docker engine
# it uses docker-compose.yml instead. If ConnectionStrings__Postgres / ConnectionStrings__RabbitMq
# point at another host, nothing is installed or started for that service; we only wait for it.
#
# Sourcing has no side effects; it is safe under `set -euo pipefail`. Public functions:
#   ensure_services      install/start/provision PostgreSQL and RabbitMQ (or wait for remote ones)
#   ensure_python_pika   sets and exports PYTHON_FOR_PIKA, an interpreter that can `import pika`
#   ensure_python_scrapy sets and exports PYTHON_FOR_SCRAPY, one that can `import pika, scrapy` (python3-scrapy)
#   runsaga_amqp_uri ROLE   the AMQP URI of a broker user (admin, scraper, orchestrator, consumers)
#   runsaga_pg_field KEY DEFAULT   a field of ConnectionStrings__Postgres (host, port, database, username, password)
#   runsaga_log / runsaga_warn / runsaga_die

if [[ -n "${_RUNSAGA_SERVICES_SH:-}" ]]; then
  return 0
fi
_RUNSAGA_SERVICES_SH=1

RUNSAGA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNSAGA_RUN_DIR="${RUNSAGA_RUN_DIR:-$RUNSAGA_ROOT/.run}"
# The PostgreSQL major version Debian 12 ships; an existing `main` cluster of another version is used if 15 is absent.
RUNSAGA_PG_VERSION="${RUNSAGA_PG_VERSION:-15}"

# rabbitmqctl, rabbitmq-server and friends live in /usr/sbin, which is not on a normal user's PATH on Debian.
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) PATH="$PATH:/usr/sbin:/sbin" ;;
esac

_RUNSAGA_APT_UPDATED=0

runsaga_log() { printf '[runsaga] %s\n' "$*" >&2; }
runsaga_warn() { printf '[runsaga] WARNING: %s\n' "$*" >&2; }
runsaga_die() {
  printf '[runsaga] ERROR: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
_runsaga_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    runsaga_die "need root to run '$*': run this script as root, or install sudo"
  fi
}

# Runs a command as the `postgres` OS user (peer authentication on the local socket), from / so that
# psql does not complain it cannot read the caller's working directory.
_runsaga_as_postgres() {
  if [[ "$(id -un)" == postgres ]]; then
    (cd / && "$@")
  elif [[ "$(id -u)" -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -u postgres -- "$@")
  fi
}

# apt-get install, with one `apt-get update` per script run.
runsaga_apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    runsaga_die "apt-get not found: install $* by hand (these scripts target Debian 12)"
  if [[ "$_RUNSAGA_APT_UPDATED" -eq 0 ]]; then
    runsaga_log "apt-get update"
    _runsaga_root apt-get update -qq ||
      runsaga_die "apt-get update failed: check network access to the Debian mirrors"
    _RUNSAGA_APT_UPDATED=1
  fi
  runsaga_log "installing $* (apt-get)"
  # `env` because sudo drops most of the caller's environment.
  _runsaga_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" ||
    runsaga_die "apt-get install $* failed: see the apt output above"
}

# True for a host name that means "this machine" (or a Unix socket directory).
_runsaga_is_local_host() {
  case "${1:-localhost}" in
    "" | localhost | localhost.localdomain | 127.* | ::1 | "[::1]" | 0.0.0.0 | /*) return 0 ;;
    *) return 1 ;;
  esac
}

# One field of the Npgsql connection string in ConnectionStrings__Postgres, e.g.
# "Host=localhost;Port=5432;Database=runsaga;Username=runsaga;Password=runsaga". Keys are matched the
# way Npgsql does (case-insensitive, spaces ignored, common aliases).
runsaga_pg_field() {
  local want=$1 default=$2 part key value
  local -a parts=()
  IFS=';' read -r -a parts <<<"${ConnectionStrings__Postgres:-}"
  for part in "${parts[@]}"; do
    [[ "$part" == *=* ]] || continue
    key=${part%%=*}
    value=${part#*=}
    key=$(printf '%s' "$key" | tr -d ' ' | tr '[:upper:]' '[:lower:]')
    # trim surrounding whitespace of the value
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    case "$key" in
      server) key=host ;;
      db) key=database ;;
      user | userid) key=username ;;
      pwd) key=password ;;
    esac
    if [[ "$key" == "$want" ]]; then
      printf '%s' "$value"
      return 0
    fi
  done
  printf '%s' "$default"
}

# Host and port of the AMQP URI in ConnectionStrings__RabbitMq (amqp://user:pass@host:port/vhost).
# Sets _RMQ_HOST and _RMQ_PORT.
_runsaga_rabbit_endpoint() {
  local uri=${ConnectionStrings__RabbitMq:-amqp://guest:guest@localhost:5672/}
  local re='^amqps?://([^@/]*@)?(\[[^]]*\]|[^:/?]*)(:([0-9]+))?'
  _RMQ_HOST=localhost
  _RMQ_PORT=5672
  if [[ "$uri" =~ $re ]]; then
    _RMQ_HOST=${BASH_REMATCH[2]:-localhost}
    _RMQ_PORT=${BASH_REMATCH[4]:-5672}
    if [[ "$uri" == amqps://* && -z "${BASH_REMATCH[4]}" ]]; then
      _RMQ_PORT=5671
    fi
  else
    runsaga_warn "ConnectionStrings__RabbitMq='$uri' is not an amqp:// URI; assuming localhost:5672"
  fi
}

# Waits until host:port accepts TCP connections. Returns 1 after $3 seconds.
_runsaga_wait_tcp() {
  local host=$1 port=$2 deadline=$((SECONDS + ${3:-60}))
  host=${host#[}
  host=${host%]}
  until timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# ---------------------------------------------------------------------------------------------------
# Docker path (RUNSAGA_USE_DOCKER=1 and `docker info` works)
# ---------------------------------------------------------------------------------------------------

# docker-compose.yml takes every password from an env file: for this machine's scripts it is .run/compose.env, written
# from $RUNSAGA_CREDENTIALS_FILE (the PostgreSQL administrator keeps the password of ConnectionStrings__Postgres, which the
# tests log in with). The management UI is published too (deploy/compose/management.yml): the tests read queues with it.
runsaga_compose_env_file() {
  runsaga_load_broker_credentials
  local file="$RUNSAGA_RUN_DIR/compose.env"
  if ! grep -q '^POSTGRES_OWNER_PASSWORD=' "$RUNSAGA_CREDENTIALS_FILE"; then
    printf 'POSTGRES_OWNER_PASSWORD=%s\n' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$RUNSAGA_CREDENTIALS_FILE"
  fi
  [[ -s "$RUNSAGA_RUN_DIR/api-key" ]] || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUNSAGA_RUN_DIR/api-key")
  (
    umask 077
    exec >"$file"
    echo "# Written by scripts/lib/services.sh from $RUNSAGA_CREDENTIALS_FILE; see deploy/compose.env.example."
    echo "POSTGRES_ADMIN_PASSWORD=$(runsaga_pg_field password runsaga)"
    sed -n 's/^POSTGRES_OWNER_PASSWORD=/POSTGRES_OWNER_PASSWORD=/p' "$RUNSAGA_CREDENTIALS_FILE" | tail -n 1
    echo "POSTGRES_APP_PASSWORD=$POSTGRES_APP_PASSWORD"
    local role upper user_var password_var
    for role in "${_RUNSAGA_BROKER_ROLES[@]}"; do
      upper=${role^^}
      user_var="RABBITMQ_${upper}_USER"
      password_var="RABBITMQ_${upper}_PASSWORD"
      echo "$user_var=${!user_var}"
      echo "$password_var=${!password_var}"
    done
    echo "RUNSAGA_ADMIN_API_KEY=$(cat "$RUNSAGA_RUN_DIR/api-key")"
  )
  printf '%s' "$file"
}

_runsaga_compose() {
  local env_file
  env_file=$(runsaga_compose_env_file)
  local files=(--env-file "$env_file" -f "$RUNSAGA_ROOT/docker-compose.yml" -f "$RUNSAGA_ROOT/deploy/compose/management.yml")
  if docker compose version >/dev/null 2>&1; then
    (cd "$RUNSAGA_ROOT" && docker compose "${files[@]}" "$@")
  elif command -v docker-compose >/dev/null 2>&1; then
    (cd "$RUNSAGA_ROOT" && docker-compose "${files[@]}" "$@")
  else
    runsaga_die "neither 'docker compose' nor 'docker-compose' is available: install one (apt-get install docker-compose) or unset RUNSAGA_USE_DOCKER"
  fi
}

_runsaga_services_docker() {
  runsaga_log "starting postgres and rabbitmq with docker compose (RUNSAGA_USE_DOCKER=1)"
  _runsaga_compose up -d postgres rabbitmq ||
    runsaga_die "docker compose up failed: see its output above"
  local svc id health deadline
  for svc in postgres rabbitmq; do
    deadline=$((SECONDS + 120))
    runsaga_log "waiting for the $svc container to be healthy"
    while :; do
      id=$(_runsaga_compose ps -q "$svc" 2>/dev/null || true)
      health=
      if [[ -n "$id" ]]; then
        health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id" 2>/dev/null || true)
      fi
      [[ "$health" == healthy ]] && break
      if ((SECONDS >= deadline)); then
        runsaga_die "$svc container is not healthy after 120 s (status: ${health:-missing}); look at: docker compose logs $svc"
      fi
      sleep 2
    done
  done
  runsaga_log "postgres and rabbitmq containers are healthy"
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

# Prints "VERSION PORT STATUS" of the cluster to use: 15/main if it exists, else the first `main` cluster.
_runsaga_pg_cluster() {
  local line
  line=$(pg_lsclusters -h 2>/dev/null | awk -v v="$RUNSAGA_PG_VERSION" '$1 == v && $2 == "main" { print $1, $3, $4; exit }')
  if [[ -z "$line" ]]; then
    line=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" { print $1, $3, $4; exit }')
  fi
  printf '%s' "$line"
}

_runsaga_ensure_postgres_local() {
  local host port user password database cluster ver cport status
  host=$(runsaga_pg_field host localhost)
  port=$(runsaga_pg_field port 5432)
  user=$(runsaga_pg_field username runsaga)
  password=$(runsaga_pg_field password runsaga)
  database=$(runsaga_pg_field database runsaga)

  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    runsaga_apt_install postgresql
  fi

  cluster=$(_runsaga_pg_cluster)
  if [[ -z "$cluster" ]]; then
    # The package normally creates 15/main; it does not when create_main_cluster=false.
    runsaga_log "no PostgreSQL 'main' cluster: creating $RUNSAGA_PG_VERSION/main"
    _runsaga_root pg_createcluster "$RUNSAGA_PG_VERSION" main ||
      runsaga_die "pg_createcluster $RUNSAGA_PG_VERSION main failed; is postgresql-$RUNSAGA_PG_VERSION installed?"
    cluster=$(_runsaga_pg_cluster)
  fi
  read -r ver cport status <<<"$cluster"
  if [[ "$ver" != "$RUNSAGA_PG_VERSION" ]]; then
    runsaga_warn "no PostgreSQL $RUNSAGA_PG_VERSION cluster; using $ver/main"
  fi
  if [[ "$cport" != "$port" ]]; then
    runsaga_warn "cluster $ver/main listens on port $cport but the connection string says $port"
  fi

  if [[ "$status" != online* ]]; then
    runsaga_log "starting PostgreSQL $ver/main"
    # May fail with "already running" if the package's init script started it meanwhile; the status
    # check below is what counts.
    _runsaga_root pg_ctlcluster "$ver" main start || true
    status=$(_runsaga_pg_cluster | awk '{ print $3 }')
    [[ "$status" == online* ]] ||
      runsaga_die "could not start PostgreSQL $ver/main; see /var/log/postgresql/postgresql-$ver-main.log, then run: pg_ctlcluster $ver main start"
  fi

  local deadline=$((SECONDS + 30))
  until pg_isready -q -h "$host" -p "$port"; do
    ((SECONDS < deadline)) ||
      runsaga_die "PostgreSQL on $host:$port is not accepting connections after 30 s; see /var/log/postgresql/postgresql-$ver-main.log"
    sleep 1
  done
  runsaga_log "PostgreSQL $ver/main is up on $host:$port"

  # Role and database, created once. psql variables (:'x' literal, :"x" identifier) do the quoting.
  local psql_pg=(psql -X -q -At -v ON_ERROR_STOP=1 -p "$cport" -d postgres -v role="$user" -v pw="$password" -v db="$database")
  local role_state db_exists
  role_state=$(_runsaga_as_postgres "${psql_pg[@]}" <<<"SELECT CASE WHEN rolsuper AND rolcanlogin THEN 'ok' ELSE 'weak' END FROM pg_roles WHERE rolname = :'role';") ||
    runsaga_die "cannot query PostgreSQL as the postgres OS user; check that peer authentication for 'postgres' is enabled in pg_hba.conf"
  case "$role_state" in
    "")
      runsaga_log "creating role $user (LOGIN SUPERUSER)"
      _runsaga_as_postgres "${psql_pg[@]}" <<<"CREATE ROLE :\"role\" LOGIN SUPERUSER PASSWORD :'pw';" >/dev/null ||
        runsaga_die "could not create role $user"
      ;;
    weak)
      # The tests create and drop databases and triggers: a plain role would fail them confusingly.
      runsaga_log "granting LOGIN SUPERUSER to existing role $user"
      _runsaga_as_postgres "${psql_pg[@]}" <<<"ALTER ROLE :\"role\" LOGIN SUPERUSER;" >/dev/null ||
        runsaga_die "could not alter role $user"
      ;;
  esac
  db_exists=$(_runsaga_as_postgres "${psql_pg[@]}" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
  if [[ -z "$db_exists" ]]; then
    runsaga_log "creating database $database owned by $user"
    _runsaga_as_postgres "${psql_pg[@]}" <<<"CREATE DATABASE :\"db\" OWNER :\"role\";" >/dev/null ||
      runsaga_die "could not create database $database"
  fi

  # The hosts' own role: it logs in, is no superuser and owns nothing; the migration grants it RunSaga's rows.
  runsaga_load_broker_credentials
  local app_exists
  app_exists=$(_runsaga_as_postgres "${psql_pg[@]}" -v app="$POSTGRES_APP_USER" <<<"SELECT 1 FROM pg_roles WHERE rolname = :'app';")
  if [[ -z "$app_exists" ]]; then
    runsaga_log "creating role $POSTGRES_APP_USER (LOGIN, not a superuser: the hosts' role)"
  fi
  # The password goes in on standard input (\set), never on a command line another user could read with ps.
  _runsaga_as_postgres "${psql_pg[@]}" -v app="$POSTGRES_APP_USER" <<<"
    \\set apppw '${POSTGRES_APP_PASSWORD//\'/\'\'}'
    SELECT CASE WHEN :'app' IN (SELECT rolname FROM pg_roles) THEN 'ALTER' ELSE 'CREATE' END AS verb \\gset
    :verb ROLE :\"app\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'apppw';" >/dev/null ||
    runsaga_die "could not create or update role $POSTGRES_APP_USER"

  # What the application does: a password login over TCP.
  if ! PGPASSWORD=$password PGCONNECT_TIMEOUT=5 psql -X -q -At -h "$host" -p "$port" -U "$user" -d "$database" -c 'select 1' >/dev/null; then
    runsaga_die "role $user exists but cannot log in to $database on $host:$port with the configured password; fix it with:
    runuser -u postgres -- psql -c \"ALTER ROLE $user PASSWORD '<password from ConnectionStrings__Postgres>'\""
  fi
  runsaga_log "PostgreSQL role $user and database $database are ready"
}

_runsaga_wait_postgres_remote() {
  local host port
  host=$(runsaga_pg_field host localhost)
  port=$(runsaga_pg_field port 5432)
  runsaga_log "PostgreSQL is remote ($host:$port, from ConnectionStrings__Postgres): not installing or starting it, waiting for it"
  if command -v pg_isready >/dev/null 2>&1; then
    local deadline=$((SECONDS + 60))
    until pg_isready -q -h "$host" -p "$port"; do
      ((SECONDS < deadline)) || runsaga_die "PostgreSQL at $host:$port is not ready after 60 s; check ConnectionStrings__Postgres and that the server is up"
      sleep 2
    done
  else
    _runsaga_wait_tcp "$host" "$port" 60 ||
      runsaga_die "PostgreSQL at $host:$port is unreachable after 60 s; check ConnectionStrings__Postgres and that the server is up"
  fi
  runsaga_log "PostgreSQL at $host:$port is reachable (role/database provisioning is up to its operator)"
}

# ---------------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------------

_RUNSAGA_HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
RUNSAGA_CREDENTIALS_FILE="${RUNSAGA_CREDENTIALS_FILE:-${XDG_CONFIG_HOME:-$_RUNSAGA_HOME/.config}/runsaga/credentials.env}"
_RUNSAGA_BROKER_ROLES=(admin scraper orchestrator consumers)

# Exports RABBITMQ_<ROLE>_USER and RABBITMQ_<ROLE>_PASSWORD for every role, and POSTGRES_APP_USER and
# POSTGRES_APP_PASSWORD (the hosts' PostgreSQL role): from the environment when set there, else from
# $RUNSAGA_CREDENTIALS_FILE (~/.config/runsaga/credentials.env), written once with random passwords (mode 600). It
# is per machine user, not per checkout: the broker's users are the machine's, and a second checkout (a fresh clone
# for CI) must not give them new passwords under the first one's running hosts.
runsaga_load_broker_credentials() {
  local role upper user_var password_var
  mkdir -p "$RUNSAGA_RUN_DIR"
  (umask 077 && mkdir -p "$(dirname "$RUNSAGA_CREDENTIALS_FILE")")
  if [[ ! -s "$RUNSAGA_CREDENTIALS_FILE" && -s "$RUNSAGA_RUN_DIR/credentials.env" ]]; then
    # Written by an earlier version into this checkout: keep the passwords the broker has.
    (umask 077 && cp "$RUNSAGA_RUN_DIR/credentials.env" "$RUNSAGA_CREDENTIALS_FILE")
  fi
  if [[ ! -s "$RUNSAGA_CREDENTIALS_FILE" ]]; then
    runsaga_log "generating broker passwords into $RUNSAGA_CREDENTIALS_FILE"
    (
      umask 077
      exec >"$RUNSAGA_CREDENTIALS_FILE"
      echo "# RunSaga's local broker users, generated by scripts/lib/services.sh. Keep this file secret."
      for role in "${_RUNSAGA_BROKER_ROLES[@]}"; do
        upper=${role^^}
        echo "RABBITMQ_${upper}_USER=runsaga-$role"
        echo "RABBITMQ_${upper}_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      done
    )
  fi
  # Files written before the hosts' PostgreSQL role existed get it added.
  if ! grep -q '^POSTGRES_APP_PASSWORD=' "$RUNSAGA_CREDENTIALS_FILE"; then
    printf 'POSTGRES_APP_USER=runsaga_app\nPOSTGRES_APP_PASSWORD=%s\n' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$RUNSAGA_CREDENTIALS_FILE"
  fi
  # The replication role of the PostgreSQL pair the fault campaign fails over (scripts/lib/cluster.sh).
  if ! grep -q '^POSTGRES_REPLICATOR_PASSWORD=' "$RUNSAGA_CREDENTIALS_FILE"; then
    printf 'POSTGRES_REPLICATOR_PASSWORD=%s\n' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$RUNSAGA_CREDENTIALS_FILE"
  fi
  for user_var in POSTGRES_APP_USER POSTGRES_APP_PASSWORD POSTGRES_REPLICATOR_PASSWORD; do
    if [[ -z "${!user_var:-}" ]]; then
      printf -v "$user_var" '%s' "$(sed -n "s/^$user_var=//p" "$RUNSAGA_CREDENTIALS_FILE" | tail -n 1)"
    fi
    export "${user_var?}"
  done
  for role in "${_RUNSAGA_BROKER_ROLES[@]}"; do
    upper=${role^^}
    user_var="RABBITMQ_${upper}_USER"
    password_var="RABBITMQ_${upper}_PASSWORD"
    if [[ -z "${!user_var:-}" ]]; then
      printf -v "$user_var" '%s' "$(sed -n "s/^$user_var=//p" "$RUNSAGA_CREDENTIALS_FILE" | tail -n 1)"
    fi
    if [[ -z "${!password_var:-}" ]]; then
      printf -v "$password_var" '%s' "$(sed -n "s/^$password_var=//p" "$RUNSAGA_CREDENTIALS_FILE" | tail -n 1)"
    fi
    [[ -n "${!user_var}" && -n "${!password_var}" ]] ||
      runsaga_die "$user_var / $password_var are not set and not in $RUNSAGA_CREDENTIALS_FILE; delete that file to generate it again"
    export "${user_var?}" "${password_var?}"
  done
}

# The AMQP URI of ROLE's broker user on the broker of ConnectionStrings__RabbitMq (host and port only are read from it).
runsaga_amqp_uri() {
  local upper=${1^^} user_var password_var
  user_var="RABBITMQ_${upper}_USER"
  password_var="RABBITMQ_${upper}_PASSWORD"
  _runsaga_rabbit_endpoint
  printf 'amqp://%s:%s@%s:%s/' "${!user_var}" "${!password_var}" "$_RMQ_HOST" "$_RMQ_PORT"
}

# Creates or updates the broker users of deploy/rabbitmq/permissions and runsaga-admin in virtual host / with one
# `rabbitmqctl import_definitions` (idempotent: passwords, tags and permissions are set to what they should be).
_runsaga_ensure_broker_users() {
  runsaga_load_broker_credentials
  # Through standard input: the passwords never touch a file another user could read.
  bash "$RUNSAGA_ROOT/deploy/rabbitmq/definitions.sh" | _runsaga_rabbit rabbitmqctl -q import_definitions >/dev/null ||
    runsaga_die "could not create RunSaga's broker users (deploy/rabbitmq/definitions.sh | rabbitmqctl import_definitions failed, see above)"
  runsaga_log "broker users ready: $RABBITMQ_SCRAPER_USER, $RABBITMQ_ORCHESTRATOR_USER, $RABBITMQ_CONSUMERS_USER, $RABBITMQ_ADMIN_USER (passwords in $RUNSAGA_CREDENTIALS_FILE)"
}

# rabbitmqctl & co. must run as root or rabbitmq (the Debian wrapper switches to the rabbitmq user,
# whose Erlang cookie they need).
_runsaga_rabbit() { _runsaga_root "$@"; }

_runsaga_ensure_rabbitmq_local() {
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    runsaga_apt_install rabbitmq-server
  fi

  if _runsaga_rabbit rabbitmqctl -q status >/dev/null 2>&1; then
    runsaga_log "RabbitMQ is running"
  else
    mkdir -p "$RUNSAGA_RUN_DIR"
    runsaga_log "starting RabbitMQ (rabbitmq-server -detached; output in ${RUNSAGA_RUN_DIR#"$RUNSAGA_ROOT"/}/rabbitmq-start.log)"
    # On Debian the package's postinst may already be starting it through the init script; then this
    # fails with "node with name rabbit already running", which is fine: the wait below decides.
    _runsaga_rabbit rabbitmq-server -detached >>"$RUNSAGA_RUN_DIR/rabbitmq-start.log" 2>&1 || true
    local deadline=$((SECONDS + 60))
    until _runsaga_rabbit rabbitmq-diagnostics -q ping >/dev/null 2>&1; do
      ((SECONDS < deadline)) ||
        runsaga_die "RabbitMQ did not answer a ping within 60 s; see /var/log/rabbitmq/ and $RUNSAGA_RUN_DIR/rabbitmq-start.log, then try: rabbitmq-server -detached"
      sleep 2
    done
    # ping answers as soon as the Erlang node is up; await_startup waits for the broker application.
    _runsaga_rabbit rabbitmqctl -q -t 60 await_startup >/dev/null 2>&1 ||
      runsaga_die "RabbitMQ node is up but the broker did not finish booting within 60 s; see /var/log/rabbitmq/"
    runsaga_log "RabbitMQ started"
  fi

  # The management plugin (HTTP API on :15672) is how tests look at queues. Enabling is idempotent,
  # but checking first saves a few seconds of Erlang start-up.
  local enabled
  enabled=$(_runsaga_rabbit rabbitmq-plugins -q list -e -m 2>/dev/null || true)
  if ! grep -qx rabbitmq_management <<<"$enabled"; then
    runsaga_log "enabling rabbitmq_management"
    _runsaga_rabbit rabbitmq-plugins enable rabbitmq_management >/dev/null ||
      runsaga_die "could not enable rabbitmq_management; run: rabbitmq-plugins enable rabbitmq_management"
  fi

  _runsaga_ensure_broker_users
  _runsaga_rabbit_max_message_size

  if ! command -v curl >/dev/null 2>&1; then
    runsaga_apt_install curl
  fi
  local deadline=$((SECONDS + 60)) code
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "$RABBITMQ_ADMIN_USER:$RABBITMQ_ADMIN_PASSWORD" http://localhost:15672/api/overview || true)
    [[ "$code" == 200 ]] && break
    ((SECONDS < deadline)) ||
      runsaga_die "RabbitMQ management API on http://localhost:15672 did not answer 200 for $RABBITMQ_ADMIN_USER (last: ${code:-none}); check 'rabbitmq-plugins list' and 'rabbitmqctl list_users'"
    sleep 2
  done
  runsaga_log "RabbitMQ is ready (AMQP :5672, management API :15672)"
}

# The broker refuses a message larger than RABBITMQ_MAX_MESSAGE_SIZE bytes (default 16 MiB, twice MAX_BATCH_BYTES'
# default) at publish, so a huge batch never reaches the Consumers' memory: set on the running node and written to
# /etc/rabbitmq/rabbitmq.conf for its next start (deploy/rabbitmq/rabbitmq.conf ships the same setting).
_runsaga_rabbit_max_message_size() {
  local size=${RABBITMQ_MAX_MESSAGE_SIZE:-16777216} conf=/etc/rabbitmq/rabbitmq.conf
  [[ "$size" =~ ^[0-9]+$ ]] || runsaga_die "RABBITMQ_MAX_MESSAGE_SIZE must be a number of bytes, not '$size'"
  _runsaga_rabbit rabbitmqctl -q eval "application:set_env(rabbit, max_message_size, $size)." >/dev/null ||
    runsaga_die "could not set RabbitMQ's max_message_size (rabbitmqctl eval failed, see above)"
  if ! grep -qE "^max_message_size *= *$size *\$" "$conf" 2>/dev/null; then
    runsaga_log "writing max_message_size = $size to $conf"
    _runsaga_root sh -c "touch '$conf' && sed -i '/^max_message_size *=/d' '$conf' && echo 'max_message_size = $size' >>'$conf'" ||
      runsaga_warn "could not write $conf: the broker forgets max_message_size = $size when it restarts"
  fi
}

_runsaga_wait_rabbitmq_remote() {
  runsaga_log "RabbitMQ is remote ($_RMQ_HOST:$_RMQ_PORT, from ConnectionStrings__RabbitMq): not installing or starting it, waiting for it"
  _runsaga_wait_tcp "$_RMQ_HOST" "$_RMQ_PORT" 60 ||
    runsaga_die "RabbitMQ at $_RMQ_HOST:$_RMQ_PORT is unreachable after 60 s; check ConnectionStrings__RabbitMq and that the broker is up"
  runsaga_log "RabbitMQ at $_RMQ_HOST:$_RMQ_PORT is reachable (its operator creates RunSaga's users from deploy/rabbitmq/permissions; the management plugin must be enabled there for the tests)"
  runsaga_load_broker_credentials
}

# ---------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------

ensure_services() {
  # In this shell (not only in the subshells that use them): scripts/up builds the programs' URIs from them.
  runsaga_load_broker_credentials
  if [[ "${RUNSAGA_USE_DOCKER:-0}" == 1 ]]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      _runsaga_services_docker
      return 0
    fi
    runsaga_warn "RUNSAGA_USE_DOCKER=1 but no Docker engine is reachable ('docker info' failed); using local services"
  fi

  local pg_host
  pg_host=$(runsaga_pg_field host localhost)
  _runsaga_rabbit_endpoint

  if _runsaga_is_local_host "$pg_host"; then
    _runsaga_ensure_postgres_local
  else
    _runsaga_wait_postgres_remote
  fi

  if _runsaga_is_local_host "$_RMQ_HOST"; then
    _runsaga_ensure_rabbitmq_local
  else
    _runsaga_wait_rabbitmq_remote
  fi
}

# _ensure_python_modules VAR MODULES PACKAGES... [-- CANDIDATES...]: finds an interpreter that imports MODULES (a
# comma-separated Python import list) among VAR's value, the CANDIDATES and /usr/bin/python3; otherwise apt-installs
# PACKAGES for /usr/bin/python3. Exports VAR as the interpreter found.
_ensure_python_modules() {
  local variable=$1 modules=$2 candidate
  shift 2
  local packages=() candidates=()
  while (($#)) && [[ $1 != -- ]]; do packages+=("$1"); shift; done
  (($#)) && shift
  candidates=("${!variable:-}" "$@" /usr/bin/python3)
  for candidate in "${candidates[@]}"; do
    [[ -n "$candidate" ]] || continue
    if "$candidate" -c "import $modules" >/dev/null 2>&1; then
      printf -v "$variable" '%s' "$candidate"
      export "${variable?}"
      runsaga_log "$modules importable by $candidate"
      return 0
    fi
  done
  runsaga_apt_install "${packages[@]}"
  /usr/bin/python3 -c "import $modules" >/dev/null 2>&1 ||
    runsaga_die "${packages[*]} installed, but /usr/bin/python3 cannot import $modules; install them by hand (pip install ${modules//,/}) and set $variable"
  printf -v "$variable" '%s' /usr/bin/python3
  export "${variable?}"
  runsaga_log "$modules importable by /usr/bin/python3"
}

# The example scraper (examples/python) needs pika. `python3` on PATH may be a pyenv/venv interpreter that cannot see
# Debian's python3-pika (installed for /usr/bin/python3), so the interpreter that imports it is exported as PYTHON_FOR_PIKA.
ensure_python_pika() {
  _ensure_python_modules PYTHON_FOR_PIKA pika python3-pika -- "$(command -v python3 2>/dev/null || true)"
}

# The Scrapy integration (clients/python/runsaga_scrapy), its tests and `scripts/up --crawl` need Scrapy next to pika,
# in one interpreter: Debian's python3-scrapy (2.8) for /usr/bin/python3. Exports PYTHON_FOR_SCRAPY.
ensure_python_scrapy() {
  _ensure_python_modules PYTHON_FOR_SCRAPY "pika, scrapy" python3-scrapy python3-pika -- "${PYTHON_FOR_PIKA:-}"
}

# The page's test drives Debian's Chromium headless (through Playwright). The /usr/bin/chromium wrapper script
# is bypassed: the binary under /usr/lib/chromium is exported as RUNSAGA_CHROMIUM.
ensure_chromium() {
  local candidate
  for candidate in "${RUNSAGA_CHROMIUM:-}" /usr/lib/chromium/chromium /usr/bin/chromium; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      RUNSAGA_CHROMIUM=$candidate
      export RUNSAGA_CHROMIUM
      runsaga_log "Chromium for the page's test: $RUNSAGA_CHROMIUM"
      return 0
    fi
  done
  runsaga_apt_install chromium
  [[ -x /usr/lib/chromium/chromium ]] || runsaga_die "chromium is installed but /usr/lib/chromium/chromium is missing; set RUNSAGA_CHROMIUM"
  RUNSAGA_CHROMIUM=/usr/lib/chromium/chromium
  export RUNSAGA_CHROMIUM
  runsaga_log "Chromium for the page's test: $RUNSAGA_CHROMIUM"
}

# upgrade_classic_queues: RunSaga's queues are quorum queues unless RABBITMQ_QUEUE_TYPE=classic, and RabbitMQ cannot
# change a queue's type. On a local broker that still has empty classic runsaga.* queues in vhost / (from an older
# RunSaga), they are deleted so the hosts can declare them again; a classic queue that holds messages stops here.
upgrade_classic_queues() {
  [[ "${RABBITMQ_QUEUE_TYPE:-quorum}" == classic ]] && return 0
  _runsaga_rabbit_endpoint
  _runsaga_is_local_host "$_RMQ_HOST" || return 0
  command -v rabbitmqctl >/dev/null 2>&1 || return 0
  local name type messages
  while read -r name type messages; do
    [[ "$name" == runsaga.* && "$type" == classic ]] || continue
    if [[ "$messages" != 0 ]]; then
      runsaga_die "queue $name is a classic queue holding $messages messages; RunSaga now uses quorum queues. Let the old hosts drain it, then delete it (rabbitmqctl delete_queue $name), or set RABBITMQ_QUEUE_TYPE=classic"
    fi
    runsaga_log "deleting the empty classic queue $name (RunSaga's queues are quorum queues now)"
    _runsaga_rabbit rabbitmqctl -q delete_queue "$name" >/dev/null </dev/null
  done < <(_runsaga_rabbit rabbitmqctl -q list_queues -p / name type messages 2>/dev/null || true)
}

# Node.js and npm for examples/typescript: Debian's packages when missing.
ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    return 0
  fi
  runsaga_log "installing Node.js and npm (Debian's nodejs, npm) for examples/typescript"
  runsaga_apt_install nodejs npm
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    runsaga_die "node/npm still not found after installing nodejs and npm"
}

# promtool, to check deploy/prometheus/alerts.yml. Only promtool is needed, not a Prometheus server: Debian's
# prometheus package is downloaded and unpacked into .run/promtool (not installed, so no service is started).
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    PROMTOOL=$(command -v promtool)
    return 0
  fi
  local dir
  dir="$(pwd)/.run/promtool"
  if [[ ! -x "$dir/usr/bin/promtool" ]]; then
    command -v apt-get >/dev/null 2>&1 || runsaga_die "promtool not found and no apt-get to fetch it: install Prometheus's promtool"
    if [[ "$_RUNSAGA_APT_UPDATED" -eq 0 ]]; then
      _runsaga_root apt-get update -qq || runsaga_die "apt-get update failed: check network access to the Debian mirrors"
      _RUNSAGA_APT_UPDATED=1
    fi
    mkdir -p "$dir"
    runsaga_log "fetching promtool (Debian's prometheus package, unpacked into .run/promtool)"
    (cd "$dir" && apt-get download -q prometheus) || runsaga_die "apt-get download prometheus failed: see above"
    dpkg -x "$dir"/prometheus_*.deb "$dir" || runsaga_die "could not unpack the prometheus package in $dir"
  fi
  PROMTOOL="$dir/usr/bin/promtool"
}

# The three-node broker and the PostgreSQL pair of the fault campaign.
# shellcheck source=scripts/lib/cluster.sh
source "$RUNSAGA_ROOT/scripts/lib/cluster.sh"
