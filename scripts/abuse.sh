#!/usr/bin/env bash
# The abuse suite (docs/reliability.md): builds the release server and the suite
# (examples/abuse/), then runs every attack on loopback with bounded counts and times and
# prints a table. Takes about two minutes. Not part of scripts/test.sh (the test command only
# builds the suite, through clippy --all-targets).
#
#   scripts/abuse.sh                      # this checkout's server
#   scripts/abuse.sh --bin OTHER/mailtips # another build, e.g. an older one for "before" figures
#   scripts/abuse.sh --only flood         # the quiet row and the attacks whose name holds "flood"
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release --bin mailtips --example abuse
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/mailtips"
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --only) only=(--only "$2"); shift 2 ;;
    *) echo "usage: scripts/abuse.sh [--bin path/to/mailtips] [--only WORD]" >&2; exit 2 ;;
  esac
done
# The attacks open a few thousand sockets; the suite's own limit must not be what stops them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
exec "$target/release/examples/abuse" --bin "$bin" "${only[@]}"
