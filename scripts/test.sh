#!/usr/bin/env bash
# Runs every test of the project, installing what the tests need when it is missing.
# This is the README's test command; .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use (real slapd, real Chromium). Installed only when missing.
need_pkgs=()
# LDAP tier: Debian's OpenLDAP server. The tests start their own slapd on a free loopback port;
# a system slapd that the package's postinst may start (port 389) is not used and not in the way.
{ [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ] && command -v ldapsearch >/dev/null; } ||
  need_pkgs+=(slapd ldap-utils)
command -v openssl >/dev/null || need_pkgs+=(openssl) # test certificates for ldaps/StartTLS
# Authentication: a real OpenID Connect provider (tests/it/auth_oidc.rs starts its own glewlwyd
# on a free loopback port with an SQLite database made by sqlite3).
{ [ -x /usr/bin/glewlwyd ] && [ -x /usr/bin/sqlite3 ]; } || need_pkgs+=(glewlwyd sqlite3)
# (each tier adds its packages here)
# The Debian package test (scripts/package-test.sh): systemd-analyze verifies and rates the units.
command -v systemd-analyze >/dev/null || need_pkgs+=(systemd)
# The compose page's browser test (tests/it/browser.rs): Debian's Chromium, and a Japanese font so
# the screenshots show Japanese text rather than empty boxes.
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium fonts-liberation)
if ! fc-list :lang=ja 2>/dev/null | grep -q .; then need_pkgs+=(fonts-vlgothic); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_pkgs[@]}"
fi

echo "== web/: npm packages, and the committed bundle is what its sources build"
if [ ! -d web/node_modules ]; then
  (cd web && npm ci --no-audit --no-fund)
fi
(cd web && node scripts/build.mjs --check)
echo "== web/: unit tests of the page's helpers (node --test)"
(cd web && node --test tests/draft.test.mjs)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test (unit, gRPC integration, doc)"
cargo test --locked --all-targets
cargo test --locked --doc

echo "== benches and the load tool: release build, then a short smoke run of each"
# Full runs are manual (BENCHMARKS.md); here they only have to build and run.
cargo bench --locked --no-run
cargo build --locked --release --bin mailtips
cargo bench --locked --bench load -- --smoke
bin="${CARGO_TARGET_DIR:-target}/release/mailtips"
port=50397
# The load tool drives one caller far past the anti-harvest budget: this server lifts it.
load_config=$(mktemp)
{ cat examples/mailtips.toml; printf '\n[auth]\nmode = "none"\nrecipients_per_minute = 1000000000\n'; } >"$load_config"
"$bin" serve --config "$load_config" --listen "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$bin" tips --server "http://127.0.0.1:$port" --from taro.yamada@contoso.com \
    --to hr@contoso.com >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin" load --target "http://127.0.0.1:$port" --directory examples/demo-directory.toml \
  --concurrency 8 --duration 2s --requests 20000 | tee /tmp/mailtips-load-smoke.txt
grep -Eq "status: Ok=[0-9]+$" /tmp/mailtips-load-smoke.txt \
  || { echo "load smoke run: calls failed"; exit 1; }
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT

echo "== Debian package: cargo deb from the release binary above, its units, the packaged server"
# cargo-deb is a cargo plug-in from crates.io; installed when missing (about 2 minutes).
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
scripts/package-test.sh

echo "== all tests passed"
