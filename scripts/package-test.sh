#!/usr/bin/env bash
# The Debian package test (a step of scripts/test.sh, after the release build): packages the
# release binary already built with `cargo deb --no-build`, checks the package's files, conffile
# and maintainer scripts, runs `systemd-analyze verify` on its units, extracts it into a
# temporary root and starts the packaged binary with the packaged config until it answers.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
out="$target/debian"
rm -rf "$out"
cargo deb --no-build --locked --fast --output "$out/" >/dev/null
deb="$(ls "$out"/mailtips_*.deb)"
echo "package: $deb ($(du -h "$deb" | cut -f1))"

fail() { echo "package test: $*" >&2; exit 1; }
files="$(dpkg-deb --contents "$deb" | awk '{print $6}')"
for f in ./usr/bin/mailtips ./etc/mailtips/mailtips.toml \
  ./usr/lib/systemd/system/mailtips.service ./usr/lib/systemd/system/mailtips-metrics.service \
  ./usr/lib/systemd/system/mailtips-metrics.timer ./usr/share/doc/mailtips/deploy.md \
  ./usr/share/doc/mailtips/operations.md ./usr/share/doc/mailtips/examples/demo-directory.toml; do
  grep -qx "$f" <<<"$files" || fail "$f is not in the package"
done
dpkg-deb --info "$deb" conffiles | grep -qx /etc/mailtips/mailtips.toml ||
  fail "/etc/mailtips/mailtips.toml is not a conffile"
postinst="$(dpkg-deb --info "$deb" postinst)"
grep -q 'deb-systemd-helper enable mailtips.service' <<<"$postinst" ||
  fail "postinst does not enable mailtips.service"
grep -q 'deb-systemd-invoke $_dh_action mailtips.service' <<<"$postinst" ||
  fail "postinst does not start mailtips.service"
# The metrics timer needs LDAP: the administrator enables it; the package only keeps it enabled
# across upgrades once it is.
grep -q 'deb-systemd-helper debian-installed mailtips-metrics.timer' <<<"$postinst" ||
  fail "postinst enables the metrics timer on a fresh install"
if grep -q 'invoke $_dh_action mailtips-metrics' <<<"$postinst"; then
  fail "postinst starts the metrics job on install"
fi

root="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT
dpkg-deb -x "$deb" "$root"
cmp "$root/etc/mailtips/mailtips.toml" examples/mailtips.toml ||
  fail "the packaged config is not examples/mailtips.toml"
units="$root/usr/lib/systemd/system"
# verify checks that ExecStart's binary exists: point copies of the units at the extracted one.
mkdir "$root/verify"
for unit in mailtips.service mailtips-metrics.service mailtips-metrics.timer; do
  sed "s|/usr/bin/mailtips|$root/usr/bin/mailtips|" "$units/$unit" >"$root/verify/$unit"
done
(cd "$root/verify" && systemd-analyze verify --man=no \
  mailtips.service mailtips-metrics.service mailtips-metrics.timer)
for unit in mailtips.service mailtips-metrics.service; do
  exposure="$(cd "$units" && systemd-analyze security --offline=true --no-pager "./$unit" | tail -n 1)"
  echo "$exposure"
  grep -q " OK " <<<"$exposure" || fail "$unit is not rated OK by systemd-analyze security"
done
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$units/mailtips.service" ||
  fail "mailtips.service does not reload with SIGHUP"

bin="$root/usr/bin/mailtips"
"$bin" check-config --config "$root/etc/mailtips/mailtips.toml"
port=50398
"$bin" serve --config "$root/etc/mailtips/mailtips.toml" --listen "127.0.0.1:$port" 2>"$root/serve.log" &
server=$!
for _ in $(seq 1 100); do
  "$bin" tips --server "http://127.0.0.1:$port" --from taro.yamada@contoso.com \
    --to hr@contoso.com >"$root/tips.txt" 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$root/serve.log" >&2; fail "the packaged server exited"; }
  sleep 0.1
done
grep -q "hr@contoso.com" "$root/tips.txt" || { cat "$root/tips.txt" >&2; fail "no answer"; }
echo "package test: the packaged binary serves the packaged config"
