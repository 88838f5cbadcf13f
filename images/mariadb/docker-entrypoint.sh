#!/bin/bash
# zixly offline kit: MariaDB entrypoint keeping the official image's contract
# (MariaDB/mariadb-docker docker-entrypoint.sh), reduced to what the stack relies on.
set -eo pipefail
shopt -s nullglob

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

note()  { printf '%s [Note] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
error() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE (not both).
file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		error "Both $var and $fileVar are set (but are exclusive)"
	fi
	local val="$def"
	if [ "${!var:-}" ]; then
		val="${!var}"
	elif [ "${!fileVar:-}" ]; then
		val="$(< "${!fileVar}")"
	fi
	export "$var"="$val"
	unset "$fileVar"
}

# MYSQL_X and MARIADB_X are aliases; MARIADB_X wins.
maria_env() {
	local var="$1" maria="MARIADB_${1#MYSQL_}"
	file_env "$var" "${2:-}"
	file_env "$maria" "${!var}"
	export "$var"="${!maria}"
}

setup_env() {
	maria_env MYSQL_ROOT_HOST '%'
	maria_env MYSQL_DATABASE
	maria_env MYSQL_USER
	maria_env MYSQL_PASSWORD
	maria_env MYSQL_ROOT_PASSWORD
	maria_env MYSQL_RANDOM_ROOT_PASSWORD
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
	DATABASE_ALREADY_EXISTS=
	if [ -d "$DATADIR/mysql" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
}

verify_minimum_env() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] \
		&& [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		error $'Database is uninitialized and password option is not specified\n\tYou need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD'
	fi
	if [ -n "$MARIADB_USER" ] && [ "$MARIADB_USER" = root ]; then
		error "MARIADB_USER=root: use MARIADB_ROOT_PASSWORD for the root user"
	fi
	if [ -n "$MARIADB_USER" ] && [ -z "$MARIADB_PASSWORD" ]; then
		error "MARIADB_USER is set but MARIADB_PASSWORD is not"
	fi
}

sql_escape_string() { sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g" <<<"$1"; }
sql_escape_ident()  { sed -e 's/`/``/g' <<<"$1"; }

client() { mariadb --no-defaults --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"; }

temp_server_start() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
		--expire-logs-days=0 --skip-slave-start --loose-innodb_buffer_pool_load_at_startup=0 &
	TEMP_PID=$!
	local i
	for i in $(seq 60); do
		if client --database=mysql -e 'SELECT 1' >/dev/null 2>&1 \
			|| MYSQL_PWD="$MARIADB_ROOT_PASSWORD" client --database=mysql -e 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$TEMP_PID" 2>/dev/null || error "temporary server exited during startup"
		sleep 1
	done
	error "Unable to start server."
}

temp_server_stop() {
	MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb-admin --no-defaults -uroot --socket="$SOCKET" shutdown
	wait "$TEMP_PID" || :
}

setup_db() {
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		MARIADB_ROOT_PASSWORD="$(pwgen --numerals --capitalize --symbols --remove-chars="'\\" -1 32)"
		export MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD="$MARIADB_ROOT_PASSWORD"
		note "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
	fi
	local rootPw healthPw rootCreate='' userCreate='' dbCreate=''
	rootPw="$(sql_escape_string "$MARIADB_ROOT_PASSWORD")"
	healthPw="$(pwgen --numerals --capitalize --secure -1 32)"  # alphanumeric: "#" would start a comment in the .cnf
	if [ "$MARIADB_ROOT_HOST" != 'localhost' ]; then
		local host; host="$(sql_escape_string "$MARIADB_ROOT_HOST")"
		rootCreate="CREATE USER 'root'@'${host}' IDENTIFIED BY '${rootPw}';
			GRANT ALL ON *.* TO 'root'@'${host}' WITH GRANT OPTION;
			GRANT PROXY ON ''@'%' TO 'root'@'${host}' WITH GRANT OPTION;"
	fi
	if [ -n "$MARIADB_DATABASE" ]; then
		dbCreate="CREATE DATABASE IF NOT EXISTS \`$(sql_escape_ident "$MARIADB_DATABASE")\`;"
	fi
	if [ -n "$MARIADB_USER" ]; then
		local user pw; user="$(sql_escape_string "$MARIADB_USER")"; pw="$(sql_escape_string "$MARIADB_PASSWORD")"
		userCreate="CREATE USER '${user}'@'%' IDENTIFIED BY '${pw}';"
		if [ -n "$MARIADB_DATABASE" ]; then
			userCreate+="GRANT ALL ON \`$(sql_escape_ident "$MARIADB_DATABASE")\`.* TO '${user}'@'%';"
		fi
	fi
	note "Securing system users and creating database/user"
	client --database=mysql <<-EOSQL
		SET @@SESSION.SQL_LOG_BIN=0;
		SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
		DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
		EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname,'\'');
		SET PASSWORD FOR 'root'@'localhost'= PASSWORD('${rootPw}');
		${rootCreate}
		CREATE USER healthcheck@'127.0.0.1' IDENTIFIED BY '${healthPw}';
		CREATE USER healthcheck@'::1' IDENTIFIED BY '${healthPw}';
		CREATE USER healthcheck@localhost IDENTIFIED BY '${healthPw}';
		GRANT USAGE ON *.* TO healthcheck@'127.0.0.1', healthcheck@'::1', healthcheck@localhost;
		${dbCreate}
		${userCreate}
	EOSQL
	printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
		"$SOCKET" "$healthPw" > "$DATADIR/.my-healthcheck.cnf"
	chmod 600 "$DATADIR/.my-healthcheck.cnf"
}

process_init_files() {
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then note "$0: running $f"; "$f"
				else note "$0: sourcing $f"; . "$f"; fi ;;
			*.sql)     note "$0: running $f"; MYSQL_PWD="$MARIADB_ROOT_PASSWORD" client "${MARIADB_DATABASE:+--database=$MARIADB_DATABASE}" < "$f" ;;
			*.sql.gz)  note "$0: running $f"; gunzip -c "$f" | MYSQL_PWD="$MARIADB_ROOT_PASSWORD" client "${MARIADB_DATABASE:+--database=$MARIADB_DATABASE}" ;;
			*.sql.xz)  note "$0: running $f"; xzcat "$f" | MYSQL_PWD="$MARIADB_ROOT_PASSWORD" client "${MARIADB_DATABASE:+--database=$MARIADB_DATABASE}" ;;
			*.sql.zst) note "$0: running $f"; zstd -dc "$f" | MYSQL_PWD="$MARIADB_ROOT_PASSWORD" client "${MARIADB_DATABASE:+--database=$MARIADB_DATABASE}" ;;
			*)         note "$0: ignoring $f" ;;
		esac
	done
}

main() {
	if [ "${1:0:1}" = '-' ]; then
		set -- mariadbd "$@"
	fi
	if [ "$1" = 'mariadbd' ] || [ "$1" = 'mysqld' ]; then
		note "Entrypoint script for MariaDB Server (zixly offline kit) started."
		setup_env
		if [ "$(id -u)" = '0' ]; then
			mkdir -p "$DATADIR" /run/mysqld
			find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql: '{}' +
			exec gosu mysql "${BASH_SOURCE[0]}" "$@"
		fi
		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			verify_minimum_env
			note "Initializing database files"
			mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
				--skip-test-db --default-time-zone=SYSTEM --enforce-storage-engine= --skip-log-bin \
				--expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 \
				--loose-innodb_buffer_pool_dump_at_shutdown=0 "${@:2}"
			note "Database files initialized"
			note "Starting temporary server"
			temp_server_start "$@"
			setup_db
			process_init_files /docker-entrypoint-initdb.d/*
			note "Stopping temporary server"
			temp_server_stop
			note "MariaDB init process done. Ready for start up."
		fi
	fi
	exec "$@"
}

main "$@"
