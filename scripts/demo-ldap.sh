#!/usr/bin/env bash
# Runs the demo organisation from a real OpenLDAP server: starts a local slapd (schema in
# ldap/, data from `mailtips export-ldif`) on 127.0.0.1:3389 in a temporary directory, then
# `mailtips serve` (the release build, as in the README) against it on 127.0.0.1:50051.
# Ctrl-C stops both.
#
#   scripts/demo-ldap.sh                      # openldap preset
#   scripts/demo-ldap.sh active-directory     # AD attribute names (test schema)
#   PORT=3390 LISTEN_PORT=50061 scripts/demo-ldap.sh   # other slapd and gRPC ports
#
# Then, in another terminal (the script prints this with the port it uses):
#   target/release/mailtips tips --from taro.yamada@contoso.com --to kenji.suzuki@contoso.com \
#     --to all-staff@contoso.com --to announcements@contoso.com
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
preset="${1:-openldap}"
port="${PORT:-3389}"
listen_port="${LISTEN_PORT:-50051}"
base="dc=contoso,dc=com"

if [ ! -x /usr/sbin/slapd ]; then
  echo "slapd is not installed: apt-get install slapd ldap-utils" >&2
  exit 1
fi
for p in "$port" "$listen_port"; do
  if (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is in use: set PORT (slapd) or LISTEN_PORT (mailtips) to a free one" >&2
    exit 1
  fi
done
cargo build --quiet --release --bin mailtips
bin="${CARGO_TARGET_DIR:-target}/release/mailtips"

work="$(mktemp -d)"
slapd_pid=""
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$slapd_pid" ] && kill "$slapd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$work/db"

extra=""
[ "$preset" = "active-directory" ] && extra="include $repo/ldap/ad-test.schema"
cat >"$work/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $repo/ldap/mailtips.schema
$extra
pidfile $work/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "$base"
rootdn "cn=admin,$base"
rootpw demo-admin
directory $work/db
index objectClass,mail,member eq
limits users size.soft=unlimited size.hard=unlimited size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=metrics,$base" write by users read by * none
CONF

{
  "$bin" export-ldif --preset "$preset" --base-dn "$base"
  printf 'dn: cn=mailtips,%s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: mailtips\nuserPassword: demo-reader\n\n' "$base"
  printf 'dn: cn=metrics,%s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: metrics\nuserPassword: demo-writer\n\n' "$base"
} >"$work/demo.ldif"
/usr/sbin/slapadd -q -f "$work/slapd.conf" -l "$work/demo.ldif"

/usr/sbin/slapd -d 0 -h "ldap://127.0.0.1:$port/" -f "$work/slapd.conf" 2>"$work/slapd.log" &
slapd_pid=$!
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "== slapd (pid $slapd_pid) serving $base on ldap://127.0.0.1:$port ($preset preset)"

printf 'demo-reader\n' >"$work/reader.pw"
# The demo config, moved from the embedded directory to LDAP.
cp examples/mailtips.toml "$work/mailtips.toml"
cat >>"$work/mailtips.toml" <<CONF

[directory.ldap]
url = "ldap://127.0.0.1:$port"
base_dn = "$base"
bind_dn = "cn=mailtips,$base"
bind_password_file = "$work/reader.pw"
preset = "$preset"
CONF
echo "== mailtips serve --config $work/mailtips.toml --listen 127.0.0.1:$listen_port"
echo "   try: $bin tips --server http://127.0.0.1:$listen_port --from taro.yamada@contoso.com --to kenji.suzuki@contoso.com"
"$bin" serve --config "$work/mailtips.toml" --listen "127.0.0.1:$listen_port" &
server_pid=$!
wait "$server_pid"
