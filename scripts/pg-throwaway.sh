#!/usr/bin/env bash
# Run a command next to a throwaway PostgreSQL: scripts/pg-throwaway.sh COMMAND [ARGS...]
#
# Why: the PostgreSQL store's tests (services/paidan-store-pg, the paidan server on PostgreSQL)
# need a real server, and neither a developer nor CI should have to keep one around. This script
# creates a cluster in a temporary directory (initdb), starts it on a free port of 127.0.0.1 only
# (pg_ctl), exports its URL as PAIDAN_TEST_PG_URL, runs COMMAND, and stops the server and removes
# the directory when COMMAND ends, fails or is interrupted (a trap on EXIT). It exits with
# COMMAND's status. The tests create one database each in it.
#
# As root (CI), initdb and the server run as the `postgres` user (PostgreSQL refuses root).
# The binaries: PG_BIN if set, else initdb on PATH, else the newest /usr/lib/postgresql/*/bin
# (Debian: apt-get install postgresql). The cluster trades durability for speed (fsync off):
# it holds test data only.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]  (runs COMMAND with PAIDAN_TEST_PG_URL set)" >&2
    exit 2
fi

bin="${PG_BIN:-}"
if [ -z "$bin" ]; then
    if command -v initdb >/dev/null 2>&1; then
        bin="$(dirname "$(command -v initdb)")"
    else
        bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    fi
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "pg-throwaway: no PostgreSQL server binaries found (set PG_BIN, or apt-get install postgresql)" >&2
    exit 2
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/paidan-pg.XXXXXX")"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    as_pg=(runuser -u postgres --)
fi
data="$dir/data"

stop() {
    if [ -f "$data/postmaster.pid" ]; then
        "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }

port=""
for _ in 1 2 3 4 5 6 7 8; do
    try=$((20000 + RANDOM % 40000))
    if "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
        -o "-p $try -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null 2>&1; then
        port="$try"
        break
    fi
done
if [ -z "$port" ]; then
    echo "pg-throwaway: PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
fi

export PAIDAN_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "pg-throwaway: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $PAIDAN_TEST_PG_URL (data in $dir, removed at exit)" >&2
status=0
"$@" || status=$?
exit "$status"
