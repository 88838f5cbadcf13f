#!/bin/sh
# zixly offline kit: the official redis image's entrypoint contract.
set -e

# first arg is `-f` or `--some-option`, or a config file
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	# The official image builds Redis with protected mode off; Debian's is on. Insert
	# `--protected-mode no` after an optional config file; a later user option still wins.
	shift
	if [ "${1%.conf}" != "${1:-}" ] && [ -n "${1:-}" ]; then
		conf="$1"; shift
		set -- redis-server "$conf" --protected-mode no "$@"
	else
		set -- redis-server --protected-mode no "$@"
	fi
	um="$(umask)"
	if [ "$um" = '0022' ]; then
		umask 0077
	fi
fi

exec "$@"
