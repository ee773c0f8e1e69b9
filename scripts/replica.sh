#!/bin/sh
# A streaming standby of the local PostgreSQL (127.0.0.1:5432) for trying and testing
# ORDERDECK_READ_DATABASE_URL on one machine: `scripts/replica.sh start` copies the server with
# pg_basebackup into a temporary directory and starts the copy as a hot standby on port 5433;
# `scripts/replica.sh stop` stops it and removes the directory. Run as root or as postgres.
#
#   scripts/replica.sh start
#   ORDERDECK_TEST_REPLICA_URL=postgresql://postgres@127.0.0.1:5433/postgres \
#       .venv/bin/pytest -n 0 tests/integration/test_read_replica.py
#   scripts/replica.sh stop
#
# The primary must accept replication connections from 127.0.0.1: `start` adds
# "host replication postgres 127.0.0.1/32 trust" to its pg_hba.conf (once) and reloads it. That
# is for a development machine only; production standbys authenticate (docs/operations.md).
set -eu

PORT=${REPLICA_PORT:-5433}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
DIR=${REPLICA_DIR:-/tmp/orderdeck-standby-$PORT}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else su postgres -s /bin/sh -c "$(printf '%s ' "$@")"; fi
}

case "${1:-}" in
start)
    HBA=$(psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -Atc "SHOW hba_file")
    if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32' "$HBA"; then
        echo "host replication postgres 127.0.0.1/32 trust" >>"$HBA"
        psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -Atc "SELECT pg_reload_conf()" >/dev/null
    fi
    mkdir -p "$DIR" && chown postgres "$DIR" && chmod 700 "$DIR"
    as_postgres "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DIR/data" -R -X stream -c fast
    # Debian keeps the server's configuration outside its data directory: the copy gets its own.
    cat >"$DIR/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
hot_standby = on
max_connections = 200
CONF
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$DIR/data/pg_hba.conf"
    chown postgres "$DIR/data/postgresql.conf" "$DIR/data/pg_hba.conf"
    as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start
    echo "standby on 127.0.0.1:$PORT: $(psql -h 127.0.0.1 -p "$PORT" -U postgres -Atc 'SELECT pg_is_in_recovery()') in recovery"
    ;;
stop)
    if [ -d "$DIR/data" ]; then as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop || true; fi
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
