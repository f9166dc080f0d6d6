#!/bin/sh
# The constant-time check of wearpay-shangmi: builds `ct/ctgrind.rs` in release with the
# `ctgrind` feature (secrets marked undefined through valgrind client requests) and runs it
# under valgrind's memcheck. Any secret-dependent branch or memory index is a report, and any
# report fails the script.
#
#   crates/shangmi/ct/run.sh            (from anywhere; honours CARGO_TARGET_DIR)
#
# Coverage: the program runs every SM4 back end the CPU reports. Valgrind's emulated CPUID
# does not report AVX2, AVX-512 or GFNI (it cannot execute them), so under valgrind the
# detection itself lowers the level and the check covers the portable and AES-NI back ends
# and all of SM2; the VAES and GFNI back ends are covered by the differential and timing
# tests instead. The program prints the back ends it ran.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "ct/run.sh: valgrind is not installed (Debian: apt-get install valgrind)" >&2
    exit 1
fi

# The path of the built example, wherever the target directory is.
bin=$(cargo build --release --locked -p wearpay-shangmi --features ctgrind --example ctgrind \
    --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*ctgrind[^"]*\)".*/\1/p' | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "ct/run.sh: could not find the built ctgrind example" >&2
    exit 1
fi

vg() {
    valgrind --tool=memcheck --error-exitcode=1 --leak-check=no --track-origins=yes -q "$@"
}

# First the control: a table-based SM4 must be reported, or the marking is not working.
if vg "$bin" --control >/dev/null 2>&1; then
    echo "ct/run.sh: the control (table-based SM4) was not flagged: the check is not working" >&2
    exit 1
fi

# Then this crate's code: any memcheck error fails the run (leaks are not the question).
vg "$bin"
echo "ct/run.sh: no secret-dependent branches or indices found"
