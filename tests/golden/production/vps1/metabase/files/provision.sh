#!/bin/sh
# Rendered by zixly: create/update app roles, databases and extensions. Idempotent.
set -eu
PGPASSWORD=$(cat "$ZIXLY_ADMIN_PASSWORD_FILE"); export PGPASSWORD
i=0
until pg_isready -h "$ZIXLY_SERVER" -U postgres -q; do
  i=$((i+1)); [ "$i" -lt 120 ] || { echo "provision: $ZIXLY_SERVER not ready" >&2; exit 1; }; sleep 1
done
n=0
while [ "$n" -lt "$ZIXLY_COUNT" ]; do
  n=$((n+1))
  db="" user="" pwfile="" ext=""  # set by the eval below (names built from $n)
  eval "db=\$ZIXLY_DB_$n user=\$ZIXLY_USER_$n pwfile=\$ZIXLY_USER_${n}_PASSWORD_FILE ext=\$ZIXLY_EXT_$n"
  pw=$(cat "$pwfile")
  psql -h "$ZIXLY_SERVER" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -v user="$user" -v pw="$pw" -v db="$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
SQL
  for e in $ext; do
    psql -h "$ZIXLY_SERVER" -U postgres -d "$db" -v ON_ERROR_STOP=1 -q -v e="$e" <<'SQL'
SELECT format('CREATE EXTENSION IF NOT EXISTS %I', :'e') \gexec
SQL
  done
  echo "provision: $db ready"
done
