#!/bin/bash
# zixly offline kit: the official MariaDB image's healthcheck.sh contract, reduced.
# Usage: healthcheck.sh [--su-mysql] [--datadir=DIR] [--defaults-extra-file=F] [--no-defaults]
#                       --connect | --innodb_initialized | --innodb_buffer_pool_loaded ...
# Every named test must pass. Credentials: DATADIR/.my-healthcheck.cnf (made at init).
set -eo pipefail
datadir=/var/lib/mysql
extra_file=
nodefaults=
tests=()
for arg in "$@"; do
	case "$arg" in
		--su-mysql|--su=mysql) if [ "$(id -u)" = 0 ]; then exec gosu mysql "$0" "${@/$arg}"; fi ;;
		--datadir=*) datadir="${arg#*=}" ;;
		--defaults-extra-file=*) extra_file="${arg#*=}" ;;
		--defaults-file=*) extra_file="${arg#*=}"; nodefaults=1 ;;
		--no-defaults) nodefaults=1 ;;
		--connect|--innodb_initialized|--innodb_buffer_pool_loaded|--mariadbupgrade) tests+=("${arg#--}") ;;
		'') ;;
		--*=*) ;;  # other upstream options (e.g. --replication_*) are accepted and ignored
		*) echo "healthcheck.sh: unknown argument $arg" >&2; exit 1 ;;
	esac
done
if [ -z "$extra_file" ] && [ -r "$datadir/.my-healthcheck.cnf" ]; then
	extra_file="$datadir/.my-healthcheck.cnf"
fi
sql() {
	mariadb ${nodefaults:+--no-defaults} ${extra_file:+--defaults-extra-file=$extra_file} \
		--skip-column-names --batch -e "$1"
}
for t in "${tests[@]}"; do
	case "$t" in
		connect)
			# Like upstream: only "Can't connect" fails; access errors still prove the port is up.
			out="$(mariadb ${nodefaults:+--no-defaults} ${extra_file:+--defaults-extra-file=$extra_file} \
				-h localhost --protocol tcp -e 'select 1' 2>&1 || true)"
			if grep -qF "Can't connect" <<<"$out"; then echo "healthcheck connect failed: $out" >&2; exit 1; fi ;;
		innodb_initialized)
			[ "$(sql "select 1 from information_schema.ENGINES WHERE engine='innodb' AND support in ('YES', 'DEFAULT', 'ENABLED')")" = 1 ] \
				|| { echo "healthcheck innodb_initialized failed" >&2; exit 1; } ;;
		innodb_buffer_pool_loaded)
			sql "select VARIABLE_VALUE from information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='INNODB_BUFFER_POOL_LOAD_STATUS'" \
				| grep -qE 'load completed|not started' || { echo "healthcheck buffer pool not loaded" >&2; exit 1; } ;;
		mariadbupgrade) : ;;
	esac
done
exit 0
