#!/usr/bin/env bash
# Scale run (BENCHMARKS.md): start-up time to the first answered GetMailTips, group metrics
# time, and peak RSS (VmHWM) of `mailtips serve` with a generated directory (default 100k mailboxes,
# 10k groups), with a 10-second load run against it before it is stopped.
#
#   scripts/scale-run.sh [MAILBOXES] [GROUPS] [LOAD_SECONDS]
#
# RECIPIENTS=200 loads with 200-recipient drafts instead of 10.
#
# Uses the release binary in $CARGO_TARGET_DIR (default target/) and writes its data to
# ${SCALE_DIR:-/tmp/mailtips-scale}. Only the server it starts is contacted, and only it is
# stopped (by its pid).
set -euo pipefail
cd "$(dirname "$0")/.."
mailboxes=${1:-100000}
groups=${2:-10000}
load_seconds=${3:-10}
target_dir=${CARGO_TARGET_DIR:-target}
bin="$target_dir/release/mailtips"
dir=${SCALE_DIR:-/tmp/mailtips-scale}
port=${SCALE_PORT:-50391}
mkdir -p "$dir"

cargo build --release --locked --bin mailtips
"$bin" gen-directory --mailboxes "$mailboxes" --groups "$groups" --seed 1 \
  --out "$dir/org.toml" --config-out "$dir/config.toml"
ls -l "$dir/org.toml"
# One load client measuring throughput: its anti-harvest budget and its per-caller shares are
# lifted (docs/load-testing.md), as the load bench does; it would be refused otherwise.
cat >> "$dir/config.toml" <<'TOML'

[auth]
mode = "none"
recipients_per_minute = 1000000000

[server.limits]
max_evaluating_recipients_per_caller = 32000
max_running_recipients_per_caller = 32000
TOML

start=$(date +%s.%N)
"$bin" serve --config "$dir/config.toml" --listen "127.0.0.1:$port" >/dev/null 2>"$dir/serve.log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' EXIT
ready=""
for _ in $(seq 1 600); do
  if "$bin" tips --server "http://127.0.0.1:$port" --from mai.yamada10@contoso.com \
       --to hiroshi.yamada5@contoso.com >/dev/null 2>&1; then
    ready=$(date +%s.%N)
    break
  fi
  sleep 0.05
done
[ -n "$ready" ] || { echo "server never answered"; cat "$dir/serve.log"; exit 1; }
echo "ready (first GetMailTips answered): $(echo "$ready - $start" | bc) s after exec"
for _ in $(seq 1 600); do
  grep -q "group metrics computed" "$dir/serve.log" && break
  sleep 0.1
done
grep "group metrics computed" "$dir/serve.log" | sed 's/^.*INFO/metrics:/'

# The server's CPU time (user + system, from the kernel) per request of the load run:
# what one request costs the server, whatever the client's share of the cores.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before=$(cpu_ticks)
"$bin" load --target "http://127.0.0.1:$port" --directory "$dir/org.toml" \
  --concurrency 32 --duration "${load_seconds}s" --recipients "${RECIPIENTS:-10}" \
  --json "$dir/load.json"
after=$(cpu_ticks)
answered=$(grep -o '"requests": *[0-9]*' "$dir/load.json" | grep -o '[0-9]*$')
echo "server CPU per request: $(echo "scale=1; ($after - $before) * 1000000 / $(getconf CLK_TCK) / $answered" | bc) µs"

# Peak RSS over the whole life so far (load, metrics, start-up), from the kernel.
grep -E "VmHWM|VmRSS" "/proc/$server/status"
kill -TERM "$server"
wait "$server" || true
trap - EXIT
