#!/usr/bin/env bash
# LDAP scale run (BENCHMARKS.md, issue 4): the generated organisation (default 100k mailboxes,
# 10k groups) in a local slapd, `mailtips serve` (release) against it, then cold drafts of 10
# and of 200 recipients, one at a time, each draft sent once: latency (p50/p99) and the LDAP
# searches they cost, counted in slapd's own stats log. Also prints the slapadd time and how
# long the background group metrics (paged group scans + expansion) took.
#
#   scripts/ldap-scale-run.sh [MAILBOXES] [GROUPS] [DRAFTS_10] [DRAFTS_200] [DRAFTS_600]
#
# The 600-recipient run (default 30 drafts; 0 skips it) checks the chunking: more than 250
# (addresses_per_search) cold addresses must cost one lookup search per 250, i.e. 2 or 3.
#
# MEMBERSHIP=member-of (default) loads slapd's memberof overlay (the LDIF carries the memberOf
# values, `export-ldif --member-of`, as slapadd bypasses overlays) and sets
# `group_membership = "member-of"`: a sender's direct groups come with the lookup, the nesting
# above them from the server's index. MEMBERSHIP=walk: neither (one search per nesting level),
# as before; the key and the flag are then left out, so older builds run too.
#
# Manual run, not part of scripts/test.sh. Uses the release binary in $CARGO_TARGET_DIR (default
# target/), works in a fresh temporary directory (kept with KEEP=1), picks free loopback ports,
# and stops only the slapd and server it started, by pid, on any exit. Each step is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
mailboxes=${1:-100000}
groups=${2:-10000}
drafts10=${3:-500}
drafts200=${4:-200}
drafts600=${5:-30}
membership=${MEMBERSHIP:-member-of}
case "$membership" in member-of|walk) ;; *) echo "MEMBERSHIP must be member-of or walk" >&2; exit 2;; esac
base="dc=contoso,dc=com"
bin="${CARGO_TARGET_DIR:-target}/release/mailtips"

[ -x /usr/sbin/slapd ] || { echo "slapd is not installed: apt-get install slapd ldap-utils" >&2; exit 1; }
cargo build --release --locked --quiet --bin mailtips

work="$(mktemp -d /tmp/mailtips-ldapscale.XXXXXX)"
slapd_pid=""
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null || true
  [ -n "$slapd_pid" ] && kill -TERM "$slapd_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null || true
  [ -n "$slapd_pid" ] && wait "$slapd_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
secs() { printf '%.2f' "$(echo "$2 - $1" | bc)"; }
ldap_port=$(free_port)
grpc_port=$(free_port)

echo "== $(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
t0=$(now)
"$bin" gen-directory --mailboxes "$mailboxes" --groups "$groups" --seed 1 \
  --out "$work/org.toml" --config-out "$work/gen-config.toml" >/dev/null
t1=$(now)
member_of_flag=""
[ "$membership" = member-of ] && member_of_flag="--member-of"
{
  # shellcheck disable=SC2086 # the flag is one word or none
  "$bin" export-ldif --preset openldap --base-dn "$base" --directory "$work/org.toml" $member_of_flag
  printf 'dn: cn=mailtips,%s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: mailtips\nuserPassword: scale-reader\n\n' "$base"
} >"$work/org.ldif"
t2=$(now)
entries=$(grep -c '^dn:' "$work/org.ldif")
echo "gen-directory: $(secs "$t0" "$t1") s; export-ldif: $(secs "$t1" "$t2") s, $entries entries, $(du -m "$work/org.ldif" | cut -f1) MB"

mkdir "$work/db"
memberof_module="" memberof_overlay=""
if [ "$membership" = member-of ]; then
  # docs/ldap.md: the memberof overlay keeps each entry's direct groups in memberOf.
  memberof_module="moduleload memberof"
  memberof_overlay="overlay memberof"
fi
cat >"$work/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $repo/ldap/mailtips.schema
pidfile $work/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
$memberof_module
database mdb
maxsize 4294967296
suffix "$base"
rootdn "cn=admin,$base"
rootpw scale-admin
directory $work/db
index objectClass,mail,mailtipsProxyAddress,mailtipsSendFrom,member eq
limits users size.soft=unlimited size.hard=unlimited size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
$memberof_overlay
CONF
t3=$(now)
timeout 600 /usr/sbin/slapadd -q -f "$work/slapd.conf" -l "$work/org.ldif"
t4=$(now)
echo "slapadd -q (mdb, indexes objectClass,mail,mailtipsProxyAddress,mailtipsSendFrom,member): $(secs "$t3" "$t4") s for $entries entries, database $(du -sm "$work/db" | cut -f1) MB"

# -d 256 (stats): one line per operation, with the search filter: the count of searches is
# slapd's, not the server's.
/usr/sbin/slapd -d 256 -h "ldap://127.0.0.1:$ldap_port/" -f "$work/slapd.conf" 2>"$work/slapd.log" &
slapd_pid=$!
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$ldap_port") 2>/dev/null && break
  sleep 0.1
done

printf 'scale-reader\n' >"$work/reader.pw"
grep -v '^file = ' "$work/gen-config.toml" >"$work/config.toml"
membership_key=""
[ "$membership" = walk ] || membership_key="group_membership = \"$membership\""
# One load client is one caller: its anti-harvest budget would refuse most drafts.
cat >>"$work/config.toml" <<CONF

[auth]
mode = "none"
recipients_per_minute = 1000000000

[directory.ldap]
url = "ldap://127.0.0.1:$ldap_port"
base_dn = "$base"
bind_dn = "cn=mailtips,$base"
bind_password_file = "$work/reader.pw"
preset = "openldap"
$membership_key
CONF
echo "group_membership: $membership"

t5=$(now)
"$bin" serve --config "$work/config.toml" --listen "127.0.0.1:$grpc_port" >/dev/null 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1200); do
  grep -q "group metrics computed" "$work/serve.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
t6=$(now)
grep -q "group metrics computed" "$work/serve.log" || { echo "no group metrics after 120 s"; cat "$work/serve.log"; exit 1; }
echo "server started; group metrics from LDAP done $(secs "$t5" "$t6") s after exec:"
grep -E "LDAP group scan done|group metrics computed" "$work/serve.log" | sed 's/\x1b\[[0-9;]*m//g; s/^.*INFO /  /'
scan_searches=$(grep -c ' SRCH base=' "$work/slapd.log" || true)
echo "  slapd saw $scan_searches searches up to here (bind check + paged group/contact scans)"

# Each run: DRAFTS distinct drafts (seeded, from the generated file), one in flight at a time,
# each sent once; the server was never asked for most of their addresses (see "addresses per
# lookup search" for how many were actually cold).
run() {
  local rcpt=$1 n=$2 seed=$3
  local mark
  mark=$(wc -l <"$work/slapd.log")
  timeout 600 "$bin" load --target "http://127.0.0.1:$grpc_port" --directory "$work/org.toml" \
    --recipients "$rcpt" --concurrency 1 --requests "$n" --pool "$n" --seed "$seed" \
    --duration 500s --timeout 5s --json "$work/cold-$rcpt.json" >/dev/null
  sleep 0.5
  tail -n +"$((mark + 1))" "$work/slapd.log" >"$work/slapd-$rcpt.log"
  jq -r --arg r "$rcpt" '"cold \($r)-recipient drafts: \(.requests) in \(.elapsed_s * 100 | round / 100) s, status \(.status | tostring); latency ms p50 \(.latency_ms.p50), p90 \(.latency_ms.p90), p99 \(.latency_ms.p99), max \(.latency_ms.max), mean \(.latency_ms.mean * 100 | round / 100)"' "$work/cold-$rcpt.json"
  python3 - "$work/slapd-$rcpt.log" "$n" <<'PY'
import re, sys
path, drafts = sys.argv[1], int(sys.argv[2])
lookups, other, kinds, found, etimes = set(), 0, {}, [], []
# What the rest is for: moderators by DN (one OR search), moderators by base search, and the
# group walk; a walk level naming exactly one person is a sender's first level, i.e. a draft
# that needed its sender's groups and did not get them with the lookup.
moderators_or, moderators_base, walk, walk_senders, nesting = 0, 0, 0, 0, 0
by_dn, by_dn_etimes = set(), []
for line in open(path, errors="replace"):
    op = re.search(r"conn=(\d+) op=(\d+) ", line)
    if " SRCH base=" in line:
        m = re.search(r'scope=(\d) .*?filter="(.*)', line.rstrip("\n"))
        flt = m.group(2) if m else ""
        if flt.startswith("(|(mail="):
            lookups.add(op.groups())
        else:
            other += 1
            if flt.startswith("(|(entryDN="):
                moderators_or += 1
                by_dn.add(op.groups())
            elif "(memberOf=*)" in flt:
                nesting += 1
            elif m and m.group(1) == "0":
                moderators_base += 1
            elif "(member=" in flt:
                walk += 1
                if flt.count("(member=") == 1 and ",ou=people," in flt:
                    walk_senders += 1
            key = ("scope=%s " % m.group(1) if m else "") + re.sub(r"=[^()]*\)", "=…)", flt)[:60]
            kinds[key.rstrip('"')] = kinds.get(key.rstrip('"'), 0) + 1
    elif " SEARCH RESULT " in line and op and op.groups() in by_dn:
        r = re.search(r"etime=([0-9.]+)", line)
        if r:
            by_dn_etimes.append(float(r.group(1)) * 1000)
    elif " SEARCH RESULT " in line and op and op.groups() in lookups:
        r = re.search(r"etime=([0-9.]+) .*nentries=(\d+)", line)
        if r:
            etimes.append(float(r.group(1)) * 1000)
            found.append(int(r.group(2)))
lookup = len(lookups)
print(f"  LDAP lookup searches (one OR filter of mail/proxy terms): {lookup} for {drafts} drafts"
      f" = {lookup / drafts:.3f} per draft")
if found:
    found.sort(); etimes.sort()
    print(f"  entries returned per lookup search: min {found[0]}, median {found[len(found) // 2]}, "
          f"max {found[-1]}; slapd's time per lookup search (etime) ms: median "
          f"{etimes[len(etimes) // 2]:.2f}, max {etimes[-1]:.2f}; entries returned, all searches: {sum(found)}")
print(f"  ALL searches: {lookup + other} for {drafts} drafts = {(lookup + other) / drafts:.3f} per draft")
print(f"  moderators: {moderators_or} searches by DN, {moderators_base} base searches; group walk:"
      f" {walk} searches, for {walk_senders} senders; nesting index pages: {nesting}")
if by_dn_etimes:
    by_dn_etimes.sort()
    print(f"  slapd's time per moderator search by DN (etime) ms: median"
          f" {by_dn_etimes[len(by_dn_etimes) // 2]:.2f}, max {by_dn_etimes[-1]:.2f}")
print(f"  other searches: {other} ({other / drafts:.3f} per draft)"
      + "".join(f"\n    {v} x {k}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
PY
}
run 10 "$drafts10" 101
run 200 "$drafts200" 201
[ "$drafts600" -gt 0 ] && run 600 "$drafts600" 601

grep -E "VmHWM" "/proc/$server_pid/status" | sed 's/^/server /'
