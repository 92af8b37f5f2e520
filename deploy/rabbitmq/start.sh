#!/usr/bin/env bash
# RabbitMQ for docker-compose: starts the broker, then creates or updates RunSaga's broker users from the environment
# (deploy/rabbitmq/definitions.sh reads RABBITMQ_<ROLE>_USER / _PASSWORD and deploy/rabbitmq/permissions) and deletes
# guest. The health check waits for /tmp/runsaga-users-ready, so no host connects before its user exists.
set -euo pipefail

rm -f /tmp/runsaga-users-ready
rabbitmq-server &
broker=$!
trap 'rabbitmqctl stop >/dev/null 2>&1 || true; wait "$broker"' TERM INT

until rabbitmqctl -q await_startup -t 10 >/dev/null 2>&1; do
  kill -0 "$broker" 2>/dev/null || { echo "start.sh: rabbitmq-server exited" >&2; wait "$broker"; exit 1; }
  sleep 2
done

bash /etc/runsaga/definitions.sh | rabbitmqctl -q import_definitions
rabbitmqctl -q delete_user guest >/dev/null 2>&1 || true
touch /tmp/runsaga-users-ready
echo "start.sh: RunSaga's broker users are ready; guest is deleted"
wait "$broker"
