#!/bin/sh
# Rendered by zixly: create/update app users and databases. Idempotent.
set -eu
MYSQL_PWD=$(cat "$ZIXLY_ADMIN_PASSWORD_FILE"); export MYSQL_PWD
i=0
until mariadb-admin ping -h "$ZIXLY_SERVER" -uroot --silent; do
  i=$((i+1)); [ "$i" -lt 120 ] || { echo "provision: $ZIXLY_SERVER not ready" >&2; exit 1; }; sleep 1
done
n=0
while [ "$n" -lt "$ZIXLY_COUNT" ]; do
  n=$((n+1))
  db="" user="" pwfile=""  # set by the eval below (names built from $n)
  eval "db=\$ZIXLY_DB_$n user=\$ZIXLY_USER_$n pwfile=\$ZIXLY_USER_${n}_PASSWORD_FILE"
  pw=$(cat "$pwfile")
  pw_sql=$(printf '%s' "$pw" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")
  mariadb -h "$ZIXLY_SERVER" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$pw_sql';
ALTER USER '$user'@'%' IDENTIFIED BY '$pw_sql';
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'%';
FLUSH PRIVILEGES;
SQL
  echo "provision: $db ready"
done
