#!/usr/bin/env bash
# Runs every test of wearpay on a fresh Debian machine with Rust.
#
# Installs what the tests need — Debian's openssl 3 and Python's gmssl for the
# interoperability checks, perl and make to build Tongsuo for the live TLCP peer — then runs
# the whole workspace's tests.
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
if [ ${#need_apt[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi
if ! python3 -c 'import gmssl' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check gmssl==3.2.2 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages gmssl==3.2.2
fi

# The interoperability tests refuse to skip silently when a peer is missing.
export WEARPAY_REQUIRE_INTEROP=1
cargo test --workspace --all-targets --locked
