#!/usr/bin/env bash
# Runs every test of wearpay on a fresh Debian machine with Rust.
#
# Installs what the tests need — Debian's openssl 3 and Python's gmssl for the
# interoperability checks, perl and make to build Tongsuo for the live TLCP peer, Debian's
# PostgreSQL for the center's storage tests — then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
# crates/interop builds Tongsuo 8.5 from source (tongsuo-src): its Configure needs the full
# perl (IPC::Cmd is not in perl-base), and the build needs make and a C compiler.
perl -MIPC::Cmd -e1 2>/dev/null || need_apt+=(perl)
command -v make >/dev/null || need_apt+=(make)
command -v cc >/dev/null || need_apt+=(gcc)
# `wearpay bridge --ble` (btleplug over BlueZ) is built here too: it needs D-Bus's headers.
dpkg -s libdbus-1-dev >/dev/null 2>&1 || need_apt+=(libdbus-1-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# crates/shangmi's constant-time check runs its secret-handling paths under valgrind.
command -v valgrind >/dev/null || need_apt+=(valgrind)
# crates/center runs every storage test on SQLite and on PostgreSQL. A WEARPAY_TEST_POSTGRES
# given by the caller is used as it is; otherwise Debian's server is installed and started here.
if [ -z "${WEARPAY_TEST_POSTGRES:-}" ]; then
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi
if ! python3 -c 'import gmssl' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check gmssl==3.2.2 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages gmssl==3.2.2
fi

if [ -z "${WEARPAY_TEST_POSTGRES:-}" ]; then
    # The newest installed server version (15 on bookworm), its cluster `main`, started.
    pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }' ||
        pg_createcluster "$pg_version" main >/dev/null
    pg_ctlcluster "$pg_version" main status >/dev/null 2>&1 || pg_ctlcluster "$pg_version" main start
    pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" { print $3 }')
    pg_isready -q -h 127.0.0.1 -p "$pg_port" -t 60
    psql_admin() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$pg_port" "$@"); }
    # A role that may create databases (each test makes its own from the URL below, and drops
    # it), and the database it connects to first. Dropping a database WITH (FORCE) ends the
    # sessions still in it, which may include an autovacuum worker: that takes
    # pg_signal_backend.
    psql_admin -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'wearpay_test') THEN
            CREATE ROLE wearpay_test LOGIN CREATEDB PASSWORD 'wearpay_test';
        END IF; END \$\$"
    psql_admin -c "GRANT pg_signal_backend TO wearpay_test"
    [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'wearpay_test'")" = 1 ] ||
        psql_admin -c "CREATE DATABASE wearpay_test OWNER wearpay_test"
    # Databases that an interrupted earlier run left behind.
    for db in $(psql_admin -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'wearpay\_t\_%'"); do
        psql_admin -c "DROP DATABASE \"$db\" WITH (FORCE)"
    done
    export WEARPAY_TEST_POSTGRES="postgres://wearpay_test:wearpay_test@127.0.0.1:$pg_port/wearpay_test"
fi

# The interoperability tests refuse to skip silently when a peer is missing, and the storage
# tests fail when PostgreSQL is unreachable.
export WEARPAY_REQUIRE_INTEROP=1
# A one-shot run of everything gains nothing from incremental state, which would otherwise
# take about as much disk again as the build itself.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo test --workspace --all-targets --locked
# The real BLE central builds (running it needs a Bluetooth adapter, which CI has not).
cargo build --locked -p wearpay-cli --features ble
# No secret-dependent branch or memory index in the fast SM2/SM4 (valgrind, ctgrind method).
crates/shangmi/ct/run.sh
