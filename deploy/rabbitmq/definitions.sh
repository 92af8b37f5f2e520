#!/usr/bin/env bash
# Prints RabbitMQ definitions (JSON for `rabbitmqctl import_definitions`) that create or update RunSaga's broker users:
# one per role of deploy/rabbitmq/permissions (scraper, orchestrator, consumers) with its tags and permissions in the
# virtual host RABBITMQ_VHOST (default /), and an administrator for the management UI.
#
#   RABBITMQ_<ROLE>_USER / RABBITMQ_<ROLE>_PASSWORD   for ROLE = SCRAPER, ORCHESTRATOR, CONSUMERS, ADMIN (all required)
#
#   deploy/rabbitmq/definitions.sh | rabbitmqctl import_definitions      # stdin: no password touches a file
#
# Used by scripts/lib/services.sh on this machine and by deploy/rabbitmq/start.sh in docker-compose.
set -euo pipefail

permissions="${RUNSAGA_PERMISSIONS_FILE:-$(dirname "${BASH_SOURCE[0]}")/permissions}"
vhost="${RABBITMQ_VHOST:-/}"

# JSON string contents: backslashes and quotes escaped; control characters are refused (no name, password or regex
# of RunSaga's has one).
json() {
  if [[ "$1" == *[[:cntrl:]]* ]]; then
    echo "definitions.sh: a value contains a control character" >&2
    exit 1
  fi
  local value=${1//\\/\\\\}
  printf '%s' "${value//\"/\\\"}"
}

need() {
  [[ -n "${!1:-}" ]] || {
    echo "definitions.sh: $1 is not set" >&2
    exit 1
  }
}

users=""
grants=""
add() { # add USER PASSWORD TAGS CONFIGURE WRITE READ
  users+="${users:+,}{\"name\":\"$(json "$1")\",\"password\":\"$(json "$2")\",\"tags\":\"$(json "$3")\"}"
  grants+="${grants:+,}{\"user\":\"$(json "$1")\",\"vhost\":\"$(json "$vhost")\",\"configure\":\"$(json "$4")\",\"write\":\"$(json "$5")\",\"read\":\"$(json "$6")\"}"
}

while read -r role tags configure write read || [[ -n "${role:-}" ]]; do
  [[ -z "$role" || "$role" == \#* ]] && continue
  [[ "$tags" == - ]] && tags=""
  upper=${role^^}
  need "RABBITMQ_${upper}_USER"
  need "RABBITMQ_${upper}_PASSWORD"
  user_var="RABBITMQ_${upper}_USER"
  password_var="RABBITMQ_${upper}_PASSWORD"
  add "${!user_var}" "${!password_var}" "$tags" "$configure" "$write" "$read"
done <"$permissions"

need RABBITMQ_ADMIN_USER
need RABBITMQ_ADMIN_PASSWORD
add "$RABBITMQ_ADMIN_USER" "$RABBITMQ_ADMIN_PASSWORD" administrator '.*' '.*' '.*'

printf '{"vhosts":[{"name":"%s"}],"users":[%s],"permissions":[%s]}\n' "$(json "$vhost")" "$users" "$grants"
