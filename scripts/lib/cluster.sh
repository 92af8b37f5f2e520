# shellcheck shell=bash
# The distributed shape RunSaga is tested in (docs/deployment.md), on one machine, from Debian's packages alone:
#
#   ensure_broker_cluster   three RabbitMQ nodes joined in one cluster: runsaga-c1..c3@<host>, AMQP on 5701..5703,
#                           management API on 15701..15703, Erlang distribution on 25701..25703; data under
#                           /var/lib/rabbitmq/runsaga-cluster, logs under /var/log/rabbitmq/runsaga-cluster.
#                           RunSaga's broker users are imported into it (the same passwords as the single broker).
#   ensure_postgres_pair    two PostgreSQL clusters, $RUNSAGA_PG_VERSION/runsaga-a on 5441 and .../runsaga-b on 5442:
#                           one primary and one streaming standby made with pg_basebackup, replicating synchronously
#                           (a commit returns once the standby has flushed it). Whichever is primary now stays so.
#   stop_distributed        stops both (scripts/down --all).
#
# The tests find them at these fixed ports (RUNSAGA_CLUSTER_* variables, read by TestSettings, override them). The
# fault campaign (scripts/chaos, and its short profile in scripts/test) runs against these: it kills, stops and
# partitions broker nodes and fails the database over, so it never touches the single broker and cluster the other
# tests use. Sourced by scripts/lib/services.sh; expects its helpers (runsaga_log, _runsaga_root, ...).

RUNSAGA_CLUSTER_RABBIT_BASE=/var/lib/rabbitmq/runsaga-cluster
RUNSAGA_CLUSTER_RABBIT_LOGS=/var/log/rabbitmq/runsaga-cluster
RUNSAGA_CLUSTER_PG_PORTS=(5441 5442)
RUNSAGA_CLUSTER_PG_NAMES=(runsaga-a runsaga-b)

_runsaga_cluster_host() { hostname -s; }

# The node name of broker node $1 (1..3).
runsaga_cluster_node() { printf 'runsaga-c%s@%s' "$1" "$(_runsaga_cluster_host)"; }

# Runs a RabbitMQ CLI tool ($1: rabbitmqctl, rabbitmq-diagnostics...) against broker node $2 (1..3), as the rabbitmq user.
_runsaga_cluster_ctl() {
  local tool=$1 node=$2
  shift 2
  _runsaga_rabbit "$tool" -n "$(runsaga_cluster_node "$node")" "$@"
}

# The environment one broker node runs with: its name, ports, config file, data and log directories.
_runsaga_cluster_node_env() {
  local i=$1
  printf '%s\n' \
    "RABBITMQ_NODENAME=$(runsaga_cluster_node "$i")" \
    "RABBITMQ_NODE_PORT=570$i" \
    "RABBITMQ_DIST_PORT=2570$i" \
    "RABBITMQ_CONFIG_FILE=$RUNSAGA_CLUSTER_RABBIT_BASE/c$i.conf" \
    "RABBITMQ_MNESIA_BASE=$RUNSAGA_CLUSTER_RABBIT_BASE" \
    "RABBITMQ_LOG_BASE=$RUNSAGA_CLUSTER_RABBIT_LOGS" \
    "RABBITMQ_PID_FILE=$RUNSAGA_CLUSTER_RABBIT_BASE/c$i.pid"
}

# Launches broker node $1 (1..3) in the background when it is not running.
_runsaga_cluster_launch_node() {
  local i=$1
  if _runsaga_cluster_ctl rabbitmqctl "$i" -q ping >/dev/null 2>&1; then
    return 0
  fi
  local -a env
  mapfile -t env < <(_runsaga_cluster_node_env "$i")
  # Through su as the wrapper does, with the node's own environment (the wrapper's command line would lose it).
  _runsaga_root su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && exec env ${env[*]} /usr/lib/rabbitmq/bin/rabbitmq-server -detached" \
    >>"$RUNSAGA_RUN_DIR/rabbitmq-cluster-start.log" 2>&1 || true
}

# Waits until broker node $1 (1..3) has booted (90 s at most).
_runsaga_cluster_wait_node() {
  local i=$1
  # await_startup needs the node's Erlang VM to answer already; until then, ping.
  local deadline=$((SECONDS + 90))
  until _runsaga_cluster_ctl rabbitmqctl "$i" -q ping >/dev/null 2>&1 &&
    _runsaga_cluster_ctl rabbitmqctl "$i" -q -t 30 await_startup >/dev/null 2>&1; do
    ((SECONDS < deadline)) ||
      runsaga_die "RabbitMQ node $(runsaga_cluster_node "$i") did not start within 90 s; see $RUNSAGA_CLUSTER_RABBIT_LOGS/ and $RUNSAGA_RUN_DIR/rabbitmq-cluster-start.log"
    sleep 1
  done
}

# Starts broker node $1 (1..3) when it is not running, and waits until it has booted (the fault campaign restarts a
# node it killed with this).
runsaga_cluster_start_node() {
  _runsaga_cluster_launch_node "$1"
  _runsaga_cluster_wait_node "$1"
}

# Stops the three broker nodes (the first one last, so that it is the one to start first) and the PostgreSQL pair.
stop_distributed() {
  local i name
  for i in 3 2 1; do
    if _runsaga_cluster_ctl rabbitmqctl "$i" -q ping >/dev/null 2>&1; then
      runsaga_log "stopping RabbitMQ node $(runsaga_cluster_node "$i")"
      _runsaga_cluster_ctl rabbitmqctl "$i" -q stop >/dev/null 2>&1 || true
    fi
  done
  for name in "${RUNSAGA_CLUSTER_PG_NAMES[@]}"; do
    if [[ "$(_runsaga_pair_status "$name")" == online* ]]; then
      runsaga_log "stopping PostgreSQL $RUNSAGA_PG_VERSION/$name"
      _runsaga_root pg_ctlcluster "$RUNSAGA_PG_VERSION" "$name" stop || true
    fi
  done
}

ensure_broker_cluster() {
  command -v rabbitmq-server >/dev/null 2>&1 || runsaga_apt_install rabbitmq-server
  _runsaga_root install -d -o rabbitmq -g rabbitmq "$RUNSAGA_CLUSTER_RABBIT_BASE" "$RUNSAGA_CLUSTER_RABBIT_LOGS" ||
    runsaga_die "could not create $RUNSAGA_CLUSTER_RABBIT_BASE and $RUNSAGA_CLUSTER_RABBIT_LOGS"
  local i
  for i in 1 2 3; do
    # pause_minority: a node cut off from the other two stops serving instead of going its own way.
    _runsaga_root su rabbitmq -s /bin/sh -c "cat > '$RUNSAGA_CLUSTER_RABBIT_BASE/c$i.conf'" <<EOF
listeners.tcp.default = 570$i
management.tcp.port = 1570$i
max_message_size = ${RABBITMQ_MAX_MESSAGE_SIZE:-16777216}
cluster_partition_handling = pause_minority
EOF
  done
  # All three at once: after a machine restart each node waits for the others before it finishes booting.
  for i in 1 2 3; do _runsaga_cluster_launch_node "$i"; done
  for i in 1 2 3; do _runsaga_cluster_wait_node "$i"; done

  for i in 2 3; do
    local members
    members=$(_runsaga_cluster_ctl rabbitmqctl 1 -q cluster_status --formatter json 2>/dev/null) ||
      runsaga_die "rabbitmqctl -n $(runsaga_cluster_node 1) cluster_status failed; see $RUNSAGA_CLUSTER_RABBIT_LOGS/"
    if [[ "$members" != *"\"$(runsaga_cluster_node "$i")\""* ]]; then
      runsaga_log "joining $(runsaga_cluster_node "$i") to $(runsaga_cluster_node 1)"
      local log="$RUNSAGA_RUN_DIR/rabbitmq-cluster-start.log"
      _runsaga_cluster_ctl rabbitmqctl "$i" -q stop_app >>"$log" 2>&1 &&
        _runsaga_cluster_ctl rabbitmqctl "$i" -q reset >>"$log" 2>&1 &&
        _runsaga_cluster_ctl rabbitmqctl "$i" -q join_cluster "$(runsaga_cluster_node 1)" >>"$log" 2>&1 &&
        _runsaga_cluster_ctl rabbitmqctl "$i" -q start_app >>"$log" 2>&1 ||
        runsaga_die "could not join $(runsaga_cluster_node "$i") to the cluster (see $log and $RUNSAGA_CLUSTER_RABBIT_LOGS/)"
    fi
  done

  runsaga_load_broker_credentials
  bash "$RUNSAGA_ROOT/deploy/rabbitmq/definitions.sh" | _runsaga_cluster_ctl rabbitmqctl 1 -q import_definitions >/dev/null ||
    runsaga_die "could not create RunSaga's broker users in the cluster (definitions.sh | rabbitmqctl -n $(runsaga_cluster_node 1) import_definitions)"
  local code deadline=$((SECONDS + 60))
  for i in 1 2 3; do
    until code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -u "$RABBITMQ_ADMIN_USER:$RABBITMQ_ADMIN_PASSWORD" "http://localhost:1570$i/api/overview") && [[ "$code" == 200 ]]; do
      ((SECONDS < deadline)) || runsaga_die "the management API of $(runsaga_cluster_node "$i") (http://localhost:1570$i) did not answer 200 (last: ${code:-none})"
      sleep 1
    done
  done
  runsaga_log "RabbitMQ cluster ready: $(runsaga_cluster_node 1), $(runsaga_cluster_node 2), $(runsaga_cluster_node 3) (AMQP :5701-5703, management :15701-15703)"
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL primary + synchronous standby
# ---------------------------------------------------------------------------------------------------

# Prints the status of cluster $1 (runsaga-a or runsaga-b): online, online,recovery, down, or nothing when it does not exist.
_runsaga_pair_status() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$RUNSAGA_PG_VERSION" -v n="$1" '$1 == v && $2 == n { print $4; exit }'
}

_runsaga_pair_data_dir() { printf '/var/lib/postgresql/%s/%s' "$RUNSAGA_PG_VERSION" "$1"; }

# Writes the replication settings of cluster $1 (index 0 or 1) into its conf.d: it replicates synchronously to the
# other one when primary, and follows it when standby.
_runsaga_pair_configure() {
  local i=$1 other=$((1 - $1))
  local name=${RUNSAGA_CLUSTER_PG_NAMES[$i]} other_name=${RUNSAGA_CLUSTER_PG_NAMES[$other]}
  _runsaga_root install -d -o postgres -g postgres "/etc/postgresql/$RUNSAGA_PG_VERSION/$name/conf.d"
  _runsaga_as_postgres sh -c "cat > /etc/postgresql/$RUNSAGA_PG_VERSION/$name/conf.d/runsaga-replication.conf" <<EOF
# Written by scripts/lib/cluster.sh: a primary that waits for its standby, or a standby that follows the other cluster.
listen_addresses = 'localhost'
wal_level = replica
max_wal_senders = 5
wal_keep_size = '256MB'
hot_standby = on
synchronous_commit = on
synchronous_standby_names = '${other_name//-/_}'
primary_conninfo = 'host=127.0.0.1 port=${RUNSAGA_CLUSTER_PG_PORTS[$other]} user=runsaga_replicator passfile=/var/lib/postgresql/.runsaga-pgpass application_name=${name//-/_}'
EOF
  # Replication connections from this machine only, with the replicator's password.
  local hba="/etc/postgresql/$RUNSAGA_PG_VERSION/$name/pg_hba.conf"
  if ! _runsaga_as_postgres grep -q runsaga_replicator "$hba"; then
    _runsaga_as_postgres sh -c "echo 'host replication runsaga_replicator 127.0.0.1/32 scram-sha-256' >> '$hba'"
  fi
}

# (Re)makes cluster $2 a standby of cluster $1 (indexes 0/1): its data directory is replaced by a base backup.
runsaga_pair_make_standby() {
  local primary=$1 standby=$2
  local name=${RUNSAGA_CLUSTER_PG_NAMES[$standby]} dir
  dir=$(_runsaga_pair_data_dir "$name")
  _runsaga_root pg_ctlcluster "$RUNSAGA_PG_VERSION" "$name" stop -m immediate >/dev/null 2>&1 || true
  _runsaga_root rm -rf "$dir"
  _runsaga_as_postgres pg_basebackup -h 127.0.0.1 -p "${RUNSAGA_CLUSTER_PG_PORTS[$primary]}" -U runsaga_replicator \
    -D "$dir" -X stream -c fast -w -d "passfile=/var/lib/postgresql/.runsaga-pgpass" >/dev/null ||
    runsaga_die "pg_basebackup of ${RUNSAGA_CLUSTER_PG_NAMES[$primary]} into $name failed (see above)"
  _runsaga_as_postgres touch "$dir/standby.signal"
  _runsaga_root pg_ctlcluster "$RUNSAGA_PG_VERSION" "$name" start ||
    runsaga_die "the standby $RUNSAGA_PG_VERSION/$name did not start; see /var/log/postgresql/postgresql-$RUNSAGA_PG_VERSION-$name.log"
}

ensure_postgres_pair() {
  command -v pg_ctlcluster >/dev/null 2>&1 || runsaga_apt_install postgresql
  local user password
  user=$(runsaga_pg_field username runsaga)
  password=$(runsaga_pg_field password runsaga)
  runsaga_load_broker_credentials
  local replicator_password=$POSTGRES_REPLICATOR_PASSWORD
  _runsaga_as_postgres sh -c "umask 077; printf '127.0.0.1:*:replication:runsaga_replicator:%s\n' '$replicator_password' > /var/lib/postgresql/.runsaga-pgpass"

  local i name status primary=""
  for i in 0 1; do
    name=${RUNSAGA_CLUSTER_PG_NAMES[$i]}
    if [[ -z "$(_runsaga_pair_status "$name")" ]]; then
      # The second one's data is replaced by a base backup of the first below.
      runsaga_log "creating PostgreSQL $RUNSAGA_PG_VERSION/$name on port ${RUNSAGA_CLUSTER_PG_PORTS[$i]}"
      _runsaga_root pg_createcluster "$RUNSAGA_PG_VERSION" "$name" -p "${RUNSAGA_CLUSTER_PG_PORTS[$i]}" >/dev/null ||
        runsaga_die "pg_createcluster $RUNSAGA_PG_VERSION $name failed"
    fi
    _runsaga_pair_configure "$i"
  done

  # The primary: the one running and not in recovery; else runsaga-a, started (a first run, or a machine restart).
  for i in 0 1; do
    status=$(_runsaga_pair_status "${RUNSAGA_CLUSTER_PG_NAMES[$i]}")
    if [[ "$status" == online ]]; then
      # Two primaries (a failover the campaign did not finish): which one has the newer data is not for a script to guess.
      [[ -z "$primary" ]] || runsaga_die "both $RUNSAGA_PG_VERSION/${RUNSAGA_CLUSTER_PG_NAMES[0]} and ${RUNSAGA_CLUSTER_PG_NAMES[1]} run as primaries; stop the older one (pg_ctlcluster $RUNSAGA_PG_VERSION <name> stop) and run this again: it becomes the standby"
      primary=$i
    fi
  done
  if [[ -z "$primary" ]]; then
    for i in 0 1; do
      # The data directory is the postgres user's (mode 700): look as root.
      if ! _runsaga_root test -f "$(_runsaga_pair_data_dir "${RUNSAGA_CLUSTER_PG_NAMES[$i]}")/standby.signal"; then primary=$i; break; fi
    done
    primary=${primary:-0}
    _runsaga_root pg_ctlcluster "$RUNSAGA_PG_VERSION" "${RUNSAGA_CLUSTER_PG_NAMES[$primary]}" restart >/dev/null 2>&1 ||
      _runsaga_root pg_ctlcluster "$RUNSAGA_PG_VERSION" "${RUNSAGA_CLUSTER_PG_NAMES[$primary]}" start ||
      runsaga_die "could not start PostgreSQL $RUNSAGA_PG_VERSION/${RUNSAGA_CLUSTER_PG_NAMES[$primary]}"
  else
    # Settings changed since it started (a first run): reload is enough for all but wal_level and max_wal_senders.
    _runsaga_root pg_ctlcluster "$RUNSAGA_PG_VERSION" "${RUNSAGA_CLUSTER_PG_NAMES[$primary]}" reload >/dev/null
  fi
  local port=${RUNSAGA_CLUSTER_PG_PORTS[$primary]}
  local deadline=$((SECONDS + 30))
  until pg_isready -q -h 127.0.0.1 -p "$port"; do
    ((SECONDS < deadline)) || runsaga_die "the pair's primary on port $port is not accepting connections"
    sleep 1
  done

  local psql_pg=(psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" -d postgres)
  # The replicator and the tests' administrator (the same name and password as on the single cluster).
  # synchronous_commit = local: no standby may be there yet to confirm these commits.
  # The passwords go in on standard input (\set), never on a command line another user could read with ps.
  _runsaga_as_postgres "${psql_pg[@]}" -v role="$user" <<EOF >/dev/null || runsaga_die "could not create the pair's roles"
SET synchronous_commit = local;
\\set pw '${password//\'/\'\'}'
\\set rpw '${replicator_password//\'/\'\'}'
SELECT CASE WHEN 'runsaga_replicator' IN (SELECT rolname FROM pg_roles) THEN 'ALTER' ELSE 'CREATE' END AS verb \\gset
:verb ROLE runsaga_replicator LOGIN REPLICATION PASSWORD :'rpw';
SELECT CASE WHEN :'role' IN (SELECT rolname FROM pg_roles) THEN 'ALTER' ELSE 'CREATE' END AS verb \\gset
:verb ROLE :"role" LOGIN SUPERUSER PASSWORD :'pw';
EOF
  local standby=$((1 - primary))
  local standby_name=${RUNSAGA_CLUSTER_PG_NAMES[$standby]}
  if [[ "$(_runsaga_pair_status "$standby_name")" != "online,recovery" ]]; then
    runsaga_log "making $RUNSAGA_PG_VERSION/$standby_name a streaming standby of ${RUNSAGA_CLUSTER_PG_NAMES[$primary]} (pg_basebackup)"
    runsaga_pair_make_standby "$primary" "$standby"
  fi
  deadline=$((SECONDS + 60))
  until [[ "$(_runsaga_as_postgres "${psql_pg[@]}" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '${standby_name//-/_}'")" == sync ]]; do
    ((SECONDS < deadline)) || runsaga_die "the standby $standby_name does not replicate synchronously from ${RUNSAGA_CLUSTER_PG_NAMES[$primary]} after 60 s; see /var/log/postgresql/postgresql-$RUNSAGA_PG_VERSION-$standby_name.log"
    sleep 1
  done
  runsaga_log "PostgreSQL pair ready: primary $RUNSAGA_PG_VERSION/${RUNSAGA_CLUSTER_PG_NAMES[$primary]} (:$port), synchronous standby $standby_name (:${RUNSAGA_CLUSTER_PG_PORTS[$standby]})"
}
