#!/bin/sh
# zixly offline kit: the build steps both PostgreSQL images share (postgres: Debian's 15,
# postgres-16: registry builds; it is linked there), run by their Dockerfiles' one big RUN.
#   postgres-image.sh user                     the postgres user and group, uid/gid 999 like the
#                                              official image (before Debian's packages pick others)
#   postgres-image.sh finish SAMPLE VECTOR_SO  listen on every address (SAMPLE: the major's
#                                              postgresql.conf.sample), the official image's
#                                              directories and modes, and the tools on PATH checked
set -eux
case "$1" in
user)
	groupadd -r -g 999 postgres
	useradd -r -g postgres -u 999 -d /var/lib/postgresql -s /bin/bash postgres
	mkdir -p /var/lib/postgresql
	chown postgres:postgres /var/lib/postgresql
	;;
finish)
	sample="$2"
	sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
	grep -F "listen_addresses = '*'" "$sample"
	mkdir -p /var/run/postgresql /docker-entrypoint-initdb.d
	chown -R postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	mkdir -p /var/lib/postgresql/data
	chown postgres:postgres /var/lib/postgresql/data
	chmod 1777 /var/lib/postgresql/data
	test -f "$3"
	test -f "$(dirname "$sample")/extension/vector.control"
	gosu nobody true
	for tool in postgres pg_isready psql pg_dump pg_dumpall pg_restore; do "$tool" --version; done
	;;
*)
	echo "usage: $0 user | finish SAMPLE VECTOR_SO" >&2
	exit 2
	;;
esac
