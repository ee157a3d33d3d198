#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the store tests.
#
#   scripts/pg.sh start   # (re)create the cluster, wait until ready, print its URL
#   scripts/pg.sh url     # print the URL
#   scripts/pg.sh stop    # stop the cluster and delete its data directory
#
# Settings:
#   MAGFLOCK_PG_DIR   data directory  (default /tmp/magflock-pg)
#   MAGFLOCK_PG_PORT  TCP port on 127.0.0.1 (default 54329)
#
# The cluster trades durability for speed (fsync off): it holds test data only.
set -euo pipefail

PG_DIR="${MAGFLOCK_PG_DIR:-/tmp/magflock-pg}"
PG_PORT="${MAGFLOCK_PG_PORT:-54329}"
SOCKET_DIR=/tmp
PG_USER=magflock
PG_PASSWORD=magflock
PG_DATABASE=magflock

url() {
    echo "postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DATABASE}"
}

log() {
    echo "pg.sh: $*" >&2
}

# Runs a command as the `postgres` system user (directly when already unprivileged).
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

is_pg15() {
    [ -x "$1/pg_ctl" ] && [ -x "$1/initdb" ] && "$1/pg_ctl" --version 2>/dev/null | grep -q ' 15\.'
}

# Sets PG_BIN to a directory holding PostgreSQL 15's pg_ctl and initdb,
# installing the server package only when no PostgreSQL 15 is present.
find_bin() {
    local on_path
    on_path="$(command -v pg_ctl 2>/dev/null || true)"
    for dir in "${on_path:+$(dirname "$on_path")}" /usr/lib/postgresql/15/bin; do
        if [ -n "$dir" ] && is_pg15 "$dir"; then
            PG_BIN="$dir"
            return
        fi
    done
    log "PostgreSQL 15 not found; installing postgresql-15"
    if [ "$(id -u)" -ne 0 ]; then
        log "installing needs root"
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >&2
    if is_pg15 /usr/lib/postgresql/15/bin; then
        PG_BIN=/usr/lib/postgresql/15/bin
        return
    fi
    log "PostgreSQL 15 is still missing after installing postgresql-15"
    exit 1
}

stop_cluster() {
    if [ -f "$PG_DIR/PG_VERSION" ]; then
        if [ -f "$PG_DIR/postmaster.pid" ]; then
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w stop >&2 || true
        fi
    fi
    rm -rf "$PG_DIR"
}

start_cluster() {
    stop_cluster

    mkdir -p "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$PG_DIR"
    fi
    chmod 700 "$PG_DIR"

    # Local (socket) connections are trusted so this script can bootstrap the
    # role; TCP connections need the password.
    as_pg "$PG_BIN/initdb" -D "$PG_DIR" -U postgres --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null

    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $SOCKET_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2 || {
        log "server failed to start; log follows"
        cat "$PG_DIR/server.log" >&2 || true
        exit 1
    }

    local tries=0
    until pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            log "server did not become ready on 127.0.0.1:$PG_PORT"
            exit 1
        fi
        sleep 0.5
    done

    local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres)
    as_pg "${psql[@]}" -c "CREATE ROLE ${PG_USER} LOGIN SUPERUSER PASSWORD '${PG_PASSWORD}'"
    as_pg "${psql[@]}" -c "CREATE DATABASE ${PG_DATABASE} OWNER ${PG_USER}"

    url
}

case "${1:-}" in
start)
    find_bin
    start_cluster
    ;;
stop)
    find_bin
    stop_cluster
    ;;
url)
    url
    ;;
*)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
