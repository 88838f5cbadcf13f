#!/bin/bash
# Rendered by zixly: nightly restic backup of environment local, host local. Do not edit.
# Needs bash, docker and restic on the host; no Python. See zixly_stack/backup/script.py.
set -u -o pipefail
umask 077
ENV=local
HERE=$(cd "$(dirname "$0")" && pwd)
export RESTIC_REPOSITORY="${RESTIC_REPOSITORY:-/var/backups/zixly/local}"
export RESTIC_PASSWORD_FILE="${RESTIC_PASSWORD_FILE:-$HERE/secrets/restic_password}"
# The target's credentials (S3 keys), exported to restic: the host admin's 0600 file, not part of this script.
# shellcheck source=/dev/null
if [ -f "/etc/zixly/backup-$ENV.env" ]; then set -a; . "/etc/zixly/backup-$ENV.env"; set +a; fi
HOST=local
STATE="${ZIXLY_BACKUP_STATE:-/opt/zixly/local/backup}"
RELEASE="${ZIXLY_RELEASE_DIR:-/opt/zixly/local/current}"
SECRETS_STORE="${ZIXLY_SECRETS_STORE:-}"
ONLY="${ZIXLY_BACKUP_ONLY:-}"
MAINT="${ZIXLY_BACKUP_MAINT:-1}"
NOTIFY_CONF="${ZIXLY_NOTIFY_CONFIG:-$HERE/../notify/apprise.txt}"
NOTIFY_TO=''
APPRISE="${ZIXLY_APPRISE:-apprise}"
OUTBOX="$STATE/outbox"
RHOST=zixly-local-local
RUN=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$STATE/manifests" "$STATE/services" && chmod 700 "$STATE"
# restic's cache stays under this environment's state directory, not in the home of whoever runs it.
export RESTIC_CACHE_DIR="${RESTIC_CACHE_DIR:-$STATE/restic-cache}"
RC=0
SAVED=0
ABORT=0
FAILED=""
STOPPED=""

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# Map restic's stderr (in $STATE/restic.err) to the exit code of a distinct fault.
classify() {
  grep -Eiq 'wrong password|no key found' "$STATE/restic.err" && return 11
  grep -Eiq 'repository is already locked|unable to create lock' "$STATE/restic.err" && return 12
  grep -Eiq 'no space left on device|disk quota exceeded' "$STATE/restic.err" && return 13
  grep -Eiq 'ciphertext verification failed|pack .* (contains|is) .*(damaged|invalid)|Fatal: repository contains errors|hash does not match|wrong data returned|errors were found' "$STATE/restic.err" && return 14
  grep -Eiq 'unable to open config file|Is there a repository at the following location' "$STATE/restic.err" && return 16
  return 10
}

# The messages name commands in backquotes, meant literally (not command substitution).
# shellcheck disable=SC2016
fault_message() {  # fault_message CODE: what the distinct fault means (empty for others)
  case "$1" in
    11) printf '%s' 'wrong repository password (the password is the secret backup.restic_password of this environment); ';;
    12) printf '%s' 'repository is locked by another restic process (wait for it to finish; if it died, `restic unlock` removes stale locks); ';;
    13) printf '%s' 'no space left on the backup target (free space or move the repository; the partial snapshot was not saved); ';;
    14) printf '%s' 'the repository holds damaged data (run `restic check --read-data`; restore from another copy of the repository); ';;
    16) printf '%s' 'no restic repository at the target (`zixly backup ENV` initialises it on first use); ';;
  esac
}

fatal_code() { case "$1" in 11|12|13|16) return 0;; esac; return 1; }

fail() {  # fail CODE MESSAGE: record the first failure, keep going
  log "FAILED: $2"
  FAILED="$FAILED $2;"
  [ "$RC" -ne 0 ] || RC=$1
}

snapshot_of() { grep -o '"snapshot_id":"[0-9a-f]*"' "$STATE/restic.out" | tail -n1 | cut -d'"' -f4; }
field_of() { grep -o "\"$1\":[0-9]*" "$STATE/restic.out" | tail -n1 | cut -d: -f2; }

saved() {  # saved ITEM: print the ITEM line of the snapshot just written
  printf 'ITEM %s %s %s %s\n' "$1" "$(snapshot_of)" "$(field_of data_added)" "$(field_of total_bytes_processed)"
  log "saved $1 as snapshot $(snapshot_of)"
  SAVED=$((SAVED + 1))
}

restic_failed() {  # restic_failed ITEM: classify, report, abort on repository-wide faults
  classify; local code=$?
  fail "$code" "$1: $(fault_message "$code")restic: $(grep -v '^$' "$STATE/restic.err" | tail -n 3 | tr '\n' ' ')"
  if fatal_code "$code"; then ABORT=1; fi
}

stop_c() { docker stop "$1" >/dev/null 2>&1 || { fail 15 "cannot stop $1"; return 1; }; STOPPED="$STOPPED $1 "; log "stopped $1"; }
start_c() {
  case "$STOPPED" in *" $1 "*) ;; *) return 0;; esac
  if docker start "$1" >/dev/null 2>&1; then log "started $1"; else fail 15 "cannot start $1 again"; fi
}

tags() {  # tags SERVICE KIND ITEM
  printf -- '--tag\nenv:%s\n--tag\nservice:%s\n--tag\nkind:%s\n--tag\nitem:%s\n--tag\nrun:%s\n' "$ENV" "$1" "$2" "$3" "$RUN"
}

running() {  # running CONTAINER...: every one is running, or fail with the container-down code
  local c state ok=0
  for c in "$@"; do
    state=$(docker inspect --format '{{.State.Status}}' "$c" 2>/dev/null || echo missing)
    if [ "$state" != running ]; then fail 15 "container $c is $state (needed for the backup)"; ok=1; fi
  done
  return $ok
}

step() {  # step CONTAINER STANDIN ARGV...: a pre/post command in a container
  local c=$1 standin=$2; shift 2
  if [ "$standin" = 1 ]; then log "skipped in $c (labelled stand-in: the vendor's command is not in it): $*"; return 0; fi
  if ! docker exec "$c" "$@" >"$STATE/step.out" 2>&1; then
    fail 17 "step in $c failed: $* ($(tail -n 2 "$STATE/step.out" | tr '\n' ' '))"; return 1
  fi
  log "ran in $c: $*"
}

# A pg_dump -Fc archive starts with its creation time; restic's first chunk of every dump (0.5-8 MiB)
# would then be new every night even when no row changed. pg_stable fixes that timestamp to
# 2000-01-01 (pg_restore only prints it; the snapshot keeps the real time) so an unchanged database
# dedups completely. Archive formats it does not know, or a host without perl: passed through as is.
# Called through stream's FILTER argument (shellcheck cannot see that call).
# shellcheck disable=SC2317
pg_stable() {
  if command -v perl >/dev/null 2>&1; then perl -e 'binmode STDIN; binmode STDOUT;
my $h = "";
while (length($h) < 128) { my $n = read(STDIN, $h, 128 - length($h), length($h)); last unless $n; }
if (substr($h, 0, 5) eq "PGDMP" && length($h) >= 12) {
  my ($maj, $min, $is) = (ord(substr($h, 5, 1)), ord(substr($h, 6, 1)), ord(substr($h, 8, 1)));
  my $off = $min >= 15 ? 12 : 12 + $is;
  if ($maj == 1 && $min >= 10 && $min <= 16 && ($is == 4 || $is == 8) && length($h) >= $off + 7 * (1 + $is)) {
    my $t = "";
    $t .= "\0" . substr(pack("V", $_) . ("\0" x 4), 0, $is) for (0, 0, 0, 1, 0, 100, 0);
    substr($h, $off, length($t)) = $t;
  }
}
print $h;
my $b;
while (read(STDIN, $b, 1048576)) { print $b; }
'; else cat; fi
}

stream() {  # stream SERVICE ITEM FILENAME FILTER ARGV...: docker exec ARGV | FILTER | restic backup --stdin, all-or-nothing
  local svc=$1 item=$2 file=$3 filter=$4; shift 4
  local -a t; mapfile -t t < <(tags "$svc" db "$item")
  docker exec "$@" 2>"$STATE/dump.err" | "$filter" \
    | restic backup --json --quiet --host "$RHOST" "${t[@]}" --stdin --stdin-filename "$file" \
        >"$STATE/restic.out" 2>"$STATE/restic.err"
  local rcs=("${PIPESTATUS[@]}")
  if [ "${rcs[2]}" -ne 0 ]; then restic_failed "$item"; return 1; fi
  if [ "${rcs[0]}" -ne 0 ] || [ "${rcs[1]}" -ne 0 ]; then
    local snap; snap=$(snapshot_of)
    [ -z "$snap" ] || restic forget --quiet "$snap" >/dev/null 2>&1 || log "could not remove partial snapshot $snap"
    fail 17 "$item: dump failed, partial snapshot removed: $(tail -n 2 "$STATE/dump.err" | tr '\n' ' ')"
    return 1
  fi
  saved "$item"
}

dump_postgres() {  # dump_postgres SERVICE ITEM CONTAINER DATABASE FILENAME
  stream "$1" "$2" "$5" pg_stable "$3" pg_dump -U postgres -Fc -Z0 --no-password "$4"
}

# The sh -c program is single-quoted on purpose: it is expanded inside the container, where the secret file is.
# shellcheck disable=SC2016
dump_mariadb() {  # dump_mariadb SERVICE ITEM CONTAINER DATABASE FILENAME
  stream "$1" "$2" "$5" cat "$3" sh -c 'MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE") exec mariadb-dump -uroot \
--single-transaction --quick --skip-extended-insert --skip-dump-date --routines --triggers --hex-blob "$1"' sh "$4"
}

# The whole instance as one RDB. Not `redis-cli --rdb -`: with the server's diskless sync
# (Redis 7.0's default) redis-cli 7.0 leaves the 40-byte EOF marker on stdout -- it truncates it
# only from a regular file -- and the AOF loader then rejects the restored base file. So the RDB
# goes to a temp file in the container, then to stdout. The password reaches redis-cli only via
# REDISCLI_AUTH read from the secret file inside the container (never in an argv or docker env).
# shellcheck disable=SC2016  # as dump_mariadb: expanded by the container's sh
dump_redis() {  # dump_redis SERVICE ITEM CONTAINER FILENAME
  stream "$1" "$2" "$4" cat "$3" sh -c 'f=$(mktemp) || exit 1
REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli -h 127.0.0.1 --rdb "$f" >&2 && cat "$f"; rc=$?; rm -f "$f"; exit $rc'
}

manifest() {  # manifest PATH: "sha256  absolute path" of every file under PATH (or of the file), sorted
  if [ -d "$1" ]; then (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sed "s|  \./|  $1/|"
  else sha256sum "$1"; fi
}

paths() {  # paths SERVICE KIND ITEM PATH...: restic backup of host paths (+ a checksum manifest)
  local svc=$1 kind=$2 item=$3; shift 3
  local -a t; mapfile -t t < <(tags "$svc" "$kind" "$item")
  local m="$STATE/manifests/$item.sha256" p
  : >"$m"
  for p in "$@"; do manifest "$p" >>"$m" || { fail 10 "$item: cannot read $p"; return 1; }; done
  if ! restic backup --json --quiet --host "$RHOST" "${t[@]}" "$@" "$m" >"$STATE/restic.out" 2>"$STATE/restic.err"; then
    restic_failed "$item"; return 1
  fi
  saved "$item"
}

volume() {  # volume SERVICE KIND ITEM VOLUME
  local mp
  if ! mp=$(docker volume inspect --format '{{.Mountpoint}}' "$4" 2>/dev/null); then
    fail 10 "$3: volume $4 does not exist"; return 1
  fi
  paths "$1" "$2" "$3" "$mp"
}

wanted() { [ "$ABORT" = 0 ] || return 1; [ -z "$ONLY" ] && return 0; case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }

# -- notifications: backup.failed through the apprise CLI (URLs only in $NOTIFY_CONF, 0600) -------------
# NOTIFY_TO: "channel:timeout_s" of every channel that takes backup.failed. What a channel does not
# take waits in $OUTBOX (format: zixly_stack/notify/outbox.py), retried by the next run and the health agent.
hdr() { sed -n "2,9s/^$1: //p" "$2" | head -n 1; }

spool() {  # spool FILE CHANNEL EVENT SEVERITY TITLE BODY ERROR ATTEMPTS CREATED
  mkdir -p "$OUTBOX" && chmod 700 "$OUTBOX"
  { printf 'zixly-notify 1\nchannel: %s\nevent: %s\nseverity: %s\ncreated: %s\nattempts: %s\nerror: %s\ntitle: %s\n\n' \
      "$2" "$3" "$4" "$9" "$8" "$(printf '%s' "$7" | tr '\n' ' ')" "$5"; printf '%s' "$6"; } >"$1.tmp" && mv -f "$1.tmp" "$1"
}

send_one() {  # send_one CHANNEL TIMEOUT EVENT SEVERITY TITLE BODY [SPOOLED_FILE]: 0 when delivered
  local err type=failure
  case "$4" in info) type=info;; warning) type=warning;; esac
  if [ ! -f "$NOTIFY_CONF" ]; then err="no channel file $NOTIFY_CONF"
  elif err=$(timeout "$(( $2 + 30 ))" "$APPRISE" -c "$NOTIFY_CONF" -g "$1" -n "$type" -t "$5" -b "$6" 2>&1 >/dev/null); then
    log "notify: $3 sent to $1"; [ -z "${7:-}" ] || rm -f "$7"; return 0
  else err="apprise exited $?: $(printf '%s' "$err" | grep -v '^$' | tail -n 1 | sed -E 's#([A-Za-z0-9+]+)://[^ ]*#\1://***#g' | head -c 300)"
  fi
  log "notify: $3 to $1 FAILED: $err (kept in $OUTBOX; retried on the next run)"
  if [ -n "${7:-}" ]; then
    spool "$7" "$1" "$3" "$4" "$5" "$6" "$err" "$(( $(hdr attempts "$7") + 1 ))" "$(hdr created "$7")"
  else
    spool "$OUTBOX/$(date -u +%Y%m%dT%H%M%SZ)-$RANDOM$RANDOM.msg" "$1" "$3" "$4" "$5" "$6" "$err" 1 "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  fi
  return 1
}

timeout_of() { local c; for c in $NOTIFY_TO; do [ "${c%%:*}" = "$1" ] && { echo "${c##*:}"; return 0; }; done; return 1; }

retry_outbox() {  # what earlier runs could not deliver: per channel oldest first, up to its first failure
  local f ch t blocked=" "
  for f in "$OUTBOX"/*.msg; do
    [ -f "$f" ] || continue
    ch=$(hdr channel "$f")
    if ! t=$(timeout_of "$ch"); then log "notify: dropped an undelivered message for $ch (no longer configured)"; rm -f "$f"; continue; fi
    case "$blocked" in *" $ch "*) continue;; esac
    send_one "$ch" "$t" "$(hdr event "$f")" "$(hdr severity "$f")" "$(hdr title "$f")" "$(sed '1,/^$/d' "$f")" "$f" \
      || blocked="$blocked$ch "
  done
}

notify() {  # backup.failed once per fault: the same exit code again is not repeated until a run succeeds
  [ -n "$NOTIFY_TO" ] || return 0
  if [ "$(cat "$STATE/notified" 2>/dev/null)" = "$RC" ]; then
    log "notify: backup.failed (exit $RC) was sent for an earlier run; not repeated until a backup succeeds"; return 0
  fi
  local c title body
  title="[zixly $ENV] backup failed: $HOST exit $RC"
  body=$(printf 'zixly backup of %s on host %s FAILED (exit %s, run %s):%s\n\nevent: backup.failed (critical), host %s' \
    "$ENV" "$HOST" "$RC" "$RUN" "$FAILED" "$HOST" | head -c 3000)
  for c in $NOTIFY_TO; do send_one "${c%%:*}" "${c##*:}" backup.failed critical "$title" "$body"; done
  echo "$RC" >"$STATE/notified"
}

succeeded() {  # succeeded SERVICE: every item of SERVICE was saved in this run
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$RUN" >"$STATE/services/$1"
}

write_status() {  # $STATE/status.json from the per-service records (contract: zixly_stack/backup/status.py)
  local f name when run sep=""
  {
    printf '{"version":1,"environment":"%s","host":"%s","last_run":{"run":"%s","finished":"%s","exit_code":%s},"services":{' \
      "$ENV" "$HOST" "$RUN" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$RC"
    for f in "$STATE"/services/*; do
      [ -f "$f" ] || continue
      name=${f##*/}
      read -r when run <"$f" || continue
      printf '%s"%s":{"last_success":"%s","run":"%s"}' "$sep" "$name" "$when" "$run"
      sep=","
    done
    printf '}}\n'
  } >"$STATE/.status.json.tmp" || { log "could not write $STATE/status.json"; return 0; }
  mv -f "$STATE/.status.json.tmp" "$STATE/status.json" || log "could not write $STATE/status.json"
}

finish() {
  [ "$RC" -ne 0 ] || [ "$SAVED" -gt 0 ] || fail 10 "nothing was backed up"
  write_status
  [ -z "$NOTIFY_TO" ] || retry_outbox
  if [ "$RC" -ne 0 ]; then log "backup of $ENV FAILED (exit $RC):$FAILED"; notify
  else log "backup of $ENV complete"; rm -f "$STATE/notified"; fi
  exit "$RC"
}

# -- the repository ----------------------------------------------------------------------------
if ! restic cat config >/dev/null 2>"$STATE/restic.err"; then
  classify; code=$?
  if [ "$code" -eq 16 ]; then
    log "initialising the repository"
    restic init >/dev/null 2>"$STATE/restic.err" || { classify; fail $? "restic init: $(tail -n 2 "$STATE/restic.err" | tr '\n' ' ')"; finish; }
  else
    fail "$code" "repository: $(fault_message "$code")restic: $(grep -v '^$' "$STATE/restic.err" | tail -n 3 | tr '\n' ' ')"; finish
  fi
fi
log "backup of $ENV (run $RUN) to $RESTIC_REPOSITORY"

# -- redis
if wanted redis; then
  ok=1
  running zixly-local-redis-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_redis redis redis.db.redis zixly-local-redis-server-1 redis/dump.rdb || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded redis
fi
# -- portainer
if wanted portainer; then
  ok=1
  [ $ok = 1 ] && { stop_c zixly-local-portainer-portainer-1 || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume portainer volume portainer.volume.data zixly-local-portainer_data || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded portainer
  start_c zixly-local-portainer-portainer-1
fi
# -- warehouse
if wanted warehouse; then
  ok=1
  running zixly-local-warehouse-db-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_postgres warehouse warehouse.db.warehouse zixly-local-warehouse-db-1 warehouse warehouse/warehouse.pgdump || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded warehouse
fi
# -- traefik
if wanted traefik; then
  ok=1
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume traefik files traefik.files.acme zixly-local-traefik_acme || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded traefik
fi
# -- chatwoot
if wanted chatwoot; then
  ok=1
  running zixly-local-postgres-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_postgres chatwoot chatwoot.db.chatwoot zixly-local-postgres-server-1 chatwoot chatwoot/chatwoot.pgdump || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume chatwoot volume chatwoot.volume.storage zixly-local-chatwoot_storage || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded chatwoot
fi
# -- invoiceninja
if wanted invoiceninja; then
  ok=1
  running zixly-local-mariadb-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_mariadb invoiceninja invoiceninja.db.invoiceninja zixly-local-mariadb-server-1 invoiceninja invoiceninja/invoiceninja.sql || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume invoiceninja volume invoiceninja.volume.storage zixly-local-invoiceninja_storage || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded invoiceninja
fi
# -- mautic
if wanted mautic; then
  ok=1
  running zixly-local-mariadb-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_mariadb mautic mautic.db.mautic zixly-local-mariadb-server-1 mautic mautic/mautic.sql || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume mautic volume mautic.volume.config zixly-local-mautic_config || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume mautic volume mautic.volume.media-files zixly-local-mautic_media-files || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume mautic volume mautic.volume.media-images zixly-local-mautic_media-images || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded mautic
fi
# -- metabase
if wanted metabase; then
  ok=1
  running zixly-local-postgres-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_postgres metabase metabase.db.metabase zixly-local-postgres-server-1 metabase metabase/metabase.pgdump || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded metabase
fi
# -- n8n
if wanted n8n; then
  ok=1
  running zixly-local-postgres-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_postgres n8n n8n.db.n8n zixly-local-postgres-server-1 n8n n8n/n8n.pgdump || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume n8n volume n8n.volume.data zixly-local-n8n_data || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded n8n
fi
# -- nextcloud
if wanted nextcloud; then
  ok=1
  running zixly-local-postgres-server-1 zixly-local-nextcloud-app-1 || ok=0
  [ $ok = 1 ] && { step zixly-local-nextcloud-app-1 1 su -s /bin/sh www-data -c 'php /var/www/html/occ maintenance:mode --on' || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_postgres nextcloud nextcloud.db.nextcloud zixly-local-postgres-server-1 nextcloud nextcloud/nextcloud.pgdump || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume nextcloud volume nextcloud.volume.html zixly-local-nextcloud_html || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume nextcloud volume nextcloud.volume.data zixly-local-nextcloud_data || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded nextcloud
  step zixly-local-nextcloud-app-1 1 su -s /bin/sh www-data -c 'php /var/www/html/occ maintenance:mode --off'
fi
# -- plane
if wanted plane; then
  ok=1
  running zixly-local-postgres-server-1 || ok=0
  [ $ok = 1 ] && [ $ABORT = 0 ] && { dump_postgres plane plane.db.plane zixly-local-postgres-server-1 plane plane/plane.pgdump || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && { volume plane volume plane.volume.uploads zixly-local-plane_uploads || ok=0; }
  [ $ok = 1 ] && [ $ABORT = 0 ] && succeeded plane
fi

# -- the release and the encrypted secrets store --------------------------------------------------
if [ -z "$ONLY" ] && [ "$ABORT" = 0 ]; then
  if [ -d "$RELEASE" ]; then paths zixly files zixly.files.release "$(readlink -f "$RELEASE")"
  else log "no release at $RELEASE: not backed up"; fi
  if [ -n "$SECRETS_STORE" ]; then paths zixly files zixly.files.secrets "$SECRETS_STORE"; fi
fi

# -- retention and checks -------------------------------------------------------------------------
if [ "$MAINT" = 1 ] && [ -z "$ONLY" ] && [ "$RC" = 0 ]; then
  # nightly snapshots by the retention policy (checkpoints kept), then the upgrade checkpoints by their own count
  if ! restic forget --quiet --tag "env:$ENV" --group-by host,paths --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --keep-tag zixly-checkpoint >"$STATE/restic.out" 2>"$STATE/restic.err" \
    || ! restic forget --quiet --tag "env:$ENV,zixly-checkpoint" --group-by host,paths --keep-last 3 --prune >"$STATE/restic.out" 2>"$STATE/restic.err"; then
    restic_failed retention
  fi
  subset=""
  [ "$(date -u +%u)" = 7 ] && subset="--read-data-subset=$(( $(date -u +%V) % 4 + 1 ))/4"
  if ! restic check $subset >"$STATE/restic.out" 2>"$STATE/restic.err"; then
    cp "$STATE/restic.out" "$STATE/check.out"; cat "$STATE/restic.out" >>"$STATE/restic.err"; restic_failed check
  fi
fi
finish
