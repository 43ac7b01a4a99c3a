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
# (each tier adds its packages here)
# The compose page's browser test (tests/browser.rs): Debian's Chromium, and a Japanese font so
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

echo "== cargo test (unit, gRPC integration, doc)"
cargo test --locked --all-targets
cargo test --locked --doc

echo "== all tests passed"
