#!/usr/bin/env bash
# kwcat -C against the real broker, with kcat (librdkafka) as the reference: the same
# data read by both must print the same, per partition in the same order, for -f format
# strings (every token), the default format with -K/-D, -Z, -J (parsed and compared
# field by field), -o beginning/end/-N/absolute/beyond the end/s@/e@, -p, -c; the "Reached
# end" lines of -e; kcat's errors and exit codes; a tailing consumer that ends on SIGINT;
# and 100,000 messages (~100 MB) read in bounded memory (max RSS < 100 MB).
# Usage: it_kwcat_consume.sh KWCAT   (KW_BROKER_DIR: a broker started by tests/broker/kafka)
set -euo pipefail
kwcat=${1:?usage: it_kwcat_consume.sh KWCAT}
: "${KW_BROKER_DIR:?KW_BROKER_DIR must name a broker started by tests/broker/kafka}"
export LC_ALL=C
B=$(<"$KW_BROKER_DIR/bootstrap")
B=${B%%,*}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/it-kwcat-consume.XXXXXX")
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
started=$(now_ms)
run=it-kwcatc-$$-$RANDOM
T=$run-data T_BIG=$run-big

create_topic() {
  "${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KW_BROKER_DIR/log4j2.properties" -Dkwire.log="$tmp/tools-$1.log" \
    -cp "$(<"$KW_BROKER_DIR/libs")/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" \
    --create --topic "$1" --partitions "$2" --replication-factor 1 >"$tmp/create-$1.log" 2>&1 ||
    { cat "$tmp/create-$1.log" >&2; return 1; }
}
create_topic "$T" 3 & pid_t=$!
create_topic "$T_BIG" 3 & pid_big=$!

# ---- errors that need no data: kcat's message and exit code 1
expect_error() { # description, regex for stderr, command...
  local what=$1 re=$2 rc=0
  shift 2
  timeout 30 "$@" </dev/null >/dev/null 2>"$tmp/err" || rc=$?
  [ $rc -eq 1 ] || fail "$what: exit $rc, want 1 ($(cat "$tmp/err"))"
  grep -Eq "$re" "$tmp/err" || fail "$what: stderr lacks /$re/: $(cat "$tmp/err")"
}
expect_error "-o stored" '^% ERROR: -o stored needs a consumer group: use -G' "$kwcat" -C -b "$B" -t "$T" -o stored
expect_error "-o garbage" '^% ERROR: -o: ' "$kwcat" -C -b "$B" -t "$T" -o soon
expect_error "no -t" 'topic> missing' "$kwcat" -C -b "$B"
t0=$(now_ms)
expect_error "unreachable broker" '^% ERROR: Failed to query metadata for topic ' "$kwcat" -C -b 127.0.0.1:1 -t "$T" -e
[ $(($(now_ms) - t0)) -lt 10000 ] || fail "unreachable broker: took $(($(now_ms) - t0)) ms"
# Same stderr as kcat, byte for byte (kcat also exits 1).
same_error() { # description, args...
  local what=$1 rc1=0 rc2=0
  shift
  timeout 30 "$kwcat" "$@" </dev/null >/dev/null 2>"$tmp/err.kwcat" || rc1=$?
  timeout 30 kcat "$@" </dev/null >/dev/null 2>"$tmp/err.kcat.raw" || rc2=$?
  grep -v '^%[0-9]|' "$tmp/err.kcat.raw" >"$tmp/err.kcat" || true # librdkafka's own log lines
  [ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] || fail "$what: exit $rc1 (kcat $rc2)"
  cmp -s "$tmp/err.kwcat" "$tmp/err.kcat" || fail "$what: stderr differs: $(cat "$tmp/err.kwcat") vs $(cat "$tmp/err.kcat")"
}
same_error "empty formatter" -C -b "$B" -t "$T" -e -f 'x%'
same_error "unknown formatter" -C -b "$B" -t "$T" -e -f '%y'
same_error "unknown topic" -C -b "$B" -t "$run-nosuch" -e
echo "ok: -C -o stored, bad -o/-f, no -t, unknown topic, unreachable broker: exit 1 with kcat's messages"

wait $pid_t || fail "creating $T"
wait $pid_big || fail "creating $T_BIG"
same_error "partition out of range" -C -b "$B" -t "$T" -p 7 -e

# ---- data. Partition 0: keyed lines with headers (empty and null header values), a null
# value (tombstone), a null key, an empty value. Partition 1: two batches 300 ms apart (for
# s@/e@) and a value that needs JSON escapes. Partition 2 stays empty.
seq 1 40 | awk '{printf "k%d:v%d\n", $1, $1}' >"$tmp/p0.txt"
printf 'tomb:\n:nokey\nempty:\n' >"$tmp/p0z.txt"
kcat -P -b "$B" -t "$T" -p 0 -K: -H h1=a -H h2= -H h3 <"$tmp/p0.txt" || fail "kcat -P p0"
kcat -P -b "$B" -t "$T" -p 0 -K: -Z <"$tmp/p0z.txt" || fail "kcat -P -Z p0"
kcat -P -b "$B" -t "$T" -p 0 -K: <<<"empty2:" || fail "kcat -P p0 empty value"
seq 1 30 | sed 's/^/early /' | kcat -P -b "$B" -t "$T" -p 1 || fail "kcat -P p1 early"
sleep 0.3
seq 1 30 | sed 's/^/late /' | kcat -P -b "$B" -t "$T" -p 1 -k latekey || fail "kcat -P p1 late"
printf 'q"b\\s/t\tc\001d\037e\177f\303\251g' >"$tmp/special"
kcat -P -b "$B" -t "$T" -p 1 -H 'x"y=1\2' "$tmp/special" || fail "kcat -P special"

# Output of both, for the same arguments; the %p-first line formats are sorted stably on
# the partition, so each partition's lines keep their order (which must match exactly).
consume_both() { # name, args...
  local name=$1 rc1=0 rc2=0
  shift
  timeout 30 "$kwcat" -C -b "$B" -t "$T" "$@" >"$tmp/$name.kwcat" 2>"$tmp/$name.kwcat.err" || rc1=$?
  timeout 30 kcat -C -b "$B" -t "$T" "$@" >"$tmp/$name.kcat" 2>"$tmp/$name.kcat.err" || rc2=$?
  [ $rc1 -eq 0 ] || fail "$name ($*): kwcat exit $rc1: $(cat "$tmp/$name.kwcat.err")"
  [ $rc2 -eq 0 ] || fail "$name ($*): kcat exit $rc2, the reference changed"
}
same_sorted() { # name, args...: output lines as a set
  consume_both "$@"
  cmp -s <(sort "$tmp/$1.kwcat") <(sort "$tmp/$1.kcat") ||
    fail "$1 (${*:2}): output differs: $(diff <(sort "$tmp/$1.kwcat") <(sort "$tmp/$1.kcat") | head -5)"
}
same_per_partition() { # name, args... (the format starts with "%p|")
  consume_both "$@"
  cmp -s <(sort -s -t'|' -k1,1 "$tmp/$1.kwcat") <(sort -s -t'|' -k1,1 "$tmp/$1.kcat") ||
    fail "$1 (${*:2}): output differs: $(diff <(sort -s -t'|' -k1,1 "$tmp/$1.kwcat") <(sort -s -t'|' -k1,1 "$tmp/$1.kcat") | head -5)"
}
same_exact() { # name, args...: byte for byte (one partition)
  consume_both "$@"
  cmp -s "$tmp/$1.kwcat" "$tmp/$1.kcat" || fail "$1 (${*:2}): output differs: $(diff "$tmp/$1.kwcat" "$tmp/$1.kcat" | head -5)"
}

ALL='%p|%o|%k|%s|%K|%S|%h|%T|%t\n'
same_per_partition all -e -q -f "$ALL"
[ "$(wc -l <"$tmp/all.kwcat")" -eq 105 ] || fail "-f all tokens: $(wc -l <"$tmp/all.kwcat") lines, want 105"
grep -q '^0|40|tomb||4|-1||[0-9]' "$tmp/all.kwcat" || fail "tombstone: $(grep tomb "$tmp/all.kwcat")"
grep -q '^0|0|k1|v1|2|2|h1=a,h2=,h3=NULL|' "$tmp/all.kwcat" || fail "headers: $(head -1 "$tmp/all.kwcat")"
same_per_partition nullstr -e -q -Z -f '%p|%k|%s|\x41\t%%|\n'
grep -q '^0|tomb|NULL|' "$tmp/nullstr.kwcat" || fail "-Z: $(grep tomb "$tmp/nullstr.kwcat")"
same_sorted default -e -q
same_sorted keyed -e -q -K '=>' -D '\n--\n'
same_exact p0default -e -q -p 0
same_exact p1keyed -e -q -p 1 -K '' -Z
same_exact p0nullstr -e -q -p 0 -Z
same_exact p1binlen -e -q -p 1 -f '%R%s'
echo "ok: -f with every token, %h headers (empty, null), tombstone and null key, -Z, %R, escapes, default format, -K, -D: same as kcat"

P='%p|%o|%s\n'
same_per_partition end -e -q -o end -f "$P"
[ ! -s "$tmp/end.kwcat" ] || fail "-o end printed: $(head -3 "$tmp/end.kwcat")"
same_per_partition tail3 -e -q -o -3 -f "$P"
[ "$(wc -l <"$tmp/tail3.kwcat")" -eq 6 ] || fail "-o -3: $(wc -l <"$tmp/tail3.kwcat") lines"
same_per_partition tailall -e -q -o -1000 -f "$P"
same_per_partition abs -e -q -o 35 -f "$P"
same_per_partition beyond -e -q -o 1000 -f "$P"
same_per_partition begin -e -q -o beginning -p 1 -f "$P"
late_ts=$(kcat -C -b "$B" -t "$T" -p 1 -o 30 -c 1 -e -q -f '%T')
same_per_partition since -e -q -o "s@$late_ts" -f "$P"
grep -q '^1|30|late 1$' "$tmp/since.kwcat" && ! grep -q 'early' "$tmp/since.kwcat" || fail "s@$late_ts: $(head -3 "$tmp/since.kwcat")"
same_per_partition until -e -q -o "e@$late_ts" -f "$P"
grep -q '^1|29|early 30$' "$tmp/until.kwcat" && ! grep -q 'late' "$tmp/until.kwcat" || fail "e@$late_ts: $(tail -3 "$tmp/until.kwcat")"
same_exact count -e -q -p 1 -c 7 -o 3 -f "$P"
[ "$(wc -l <"$tmp/count.kwcat")" -eq 7 ] || fail "-c 7: $(wc -l <"$tmp/count.kwcat") lines"
rc=0; timeout 30 "$kwcat" -C -b "$B" -t "$T" -q -c 50 >"$tmp/c50" || rc=$? # no -e: -c alone ends it
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/c50")" -eq 50 ] || fail "-c 50 without -e: exit $rc, $(wc -l <"$tmp/c50") lines"
echo "ok: -o end, -3, -1000, 35, 1000 (beyond the end), beginning, s@, e@; -p; -c: same as kcat"

# ---- -J: every field of every object the same (parsed), and the -D object delimiter
same_sorted json -e -q -J
same_sorted jsond -e -q -J -D '\n\n'
if command -v python3 >/dev/null; then
  python3 - "$tmp/json.kwcat" "$tmp/json.kcat" <<'EOF' || fail "-J: objects differ"
import json, sys
def load(path):
    with open(path, "rb") as f:
        objs = [json.loads(l.decode("utf-8", "surrogateescape")) for l in f.read().split(b"\n") if l]
    return sorted(objs, key=lambda o: (o["partition"], o["offset"]))
a, b = load(sys.argv[1]), load(sys.argv[2])
assert len(a) == len(b) == 105, (len(a), len(b))
for x, y in zip(a, b):
    assert x == y, (x, y)
fields = {"topic", "partition", "offset", "tstype", "ts", "broker", "key", "payload"}
assert all(fields <= set(o) for o in a), a[0]
tomb = [o for o in a if o["key"] == "tomb"][0]
assert tomb["payload"] is None and "headers" not in tomb, tomb
assert a[0]["headers"] == ["h1", "a", "h2", "", "h3", None], a[0]
special = [o for o in a if o.get("headers") == ['x"y', "1\\2"]][0]
assert special["payload"] == 'q"b\\s/t\tc\x01d\x1fe\x7ff\u00e9g', special
EOF
fi
echo "ok: -J objects (headers, null key/value, escapes) equal to kcat's, field by field; -J -D"

# ---- -e: "Reached end" per partition (empty ones too), the last one ": exiting"
eof_lines() { sed 's/: exiting$//' "$1" | grep '^% Reached end of topic' | sort; }
consume_both eof -e -f "$P"
cmp -s <(eof_lines "$tmp/eof.kwcat.err") <(eof_lines "$tmp/eof.kcat.err") ||
  fail "-e end lines: $(cat "$tmp/eof.kwcat.err") vs $(cat "$tmp/eof.kcat.err")"
[ "$(grep -c ': exiting$' "$tmp/eof.kwcat.err")" -eq 1 ] && tail -1 "$tmp/eof.kwcat.err" | grep -q ': exiting$' ||
  fail "-e: want one last ': exiting': $(cat "$tmp/eof.kwcat.err")"
grep -qx "% Reached end of topic $T \[2\] at offset 0\(: exiting\)\?" "$tmp/eof.kwcat.err" || fail "empty partition end"
consume_both eofp2 -e -p 2
[ ! -s "$tmp/eofp2.kwcat" ] && cmp -s "$tmp/eofp2.kwcat.err" "$tmp/eofp2.kcat.err" || fail "-p 2 (empty) -e: $(cat "$tmp/eofp2.kwcat.err")"
consume_both eofend -e -o end -p 0
cmp -s "$tmp/eofend.kwcat.err" "$tmp/eofend.kcat.err" || fail "-o end -e: $(cat "$tmp/eofend.kwcat.err")"
consume_both eofq -e -q
[ ! -s "$tmp/eofq.kwcat.err" ] || fail "-q printed: $(cat "$tmp/eofq.kwcat.err")"
echo "ok: -e ends at each partition's end (empty partition, -o end) with kcat's lines; -q silences them"

# ---- without -e: a tailing consumer prints what arrives and ends on SIGINT with exit 0
"$kwcat" -C -b "$B" -t "$T" -p 1 -o end -u -f '%s\n' >"$tmp/tail.out" 2>"$tmp/tail.err" &
tail_pid=$!
bg_pids+=("$tail_pid")
for _ in $(seq 50); do grep -q 'Reached end' "$tmp/tail.err" && break; sleep 0.1; done
printf 'tail1\ntail2\n' | kcat -P -b "$B" -t "$T" -p 1
for _ in $(seq 100); do grep -q 'at offset 63$' "$tmp/tail.err" && break; sleep 0.05; done
kill -INT "$tail_pid"
rc=0; wait "$tail_pid" || rc=$?
printf 'tail1\ntail2\n' | cmp -s - "$tmp/tail.out" || fail "tail: got $(cat "$tmp/tail.out")"
[ $rc -eq 0 ] || fail "tail: SIGINT exit $rc"
grep -q "Reached end of topic $T \[1\] at offset 63$" "$tmp/tail.err" || fail "tail: no end after new messages: $(cat "$tmp/tail.err")"
echo "ok: tailing without -e prints new messages and their end; SIGINT exits 0"

# ---- 100,000 messages (~100 MB), read whole in bounded memory
seq 1 100000 | awk '{printf "%d:%s\n", $1, sprintf("%01000d", $1)}' | kcat -P -b "$B" -t "$T_BIG" -K: -z lz4 ||
  fail "kcat -P big"
t0=$(now_ms)
/usr/bin/time -f %M -o "$tmp/rss" "$kwcat" -C -b "$B" -t "$T_BIG" -e -q -f '%p %o %k %S\n' >"$tmp/big.out" ||
  fail "big: exit $?"
ms=$(($(now_ms) - t0))
rss=$(tail -1 "$tmp/rss")
[ "$(wc -l <"$tmp/big.out")" -eq 100000 ] || fail "big: $(wc -l <"$tmp/big.out") lines"
[ "$(awk '$4 != 1000' "$tmp/big.out" | wc -l)" -eq 0 ] || fail "big: value sizes differ"
[ "$(cut -d' ' -f3 "$tmp/big.out" | sort -un | wc -l)" -eq 100000 ] || fail "big: keys missing or repeated"
# Offsets per partition: 0, 1, 2, ... in order.
awk '{ if ($2 != n[$1]++) { print "partition " $1 " offset " $2; exit 1 } }' "$tmp/big.out" || fail "big: offsets out of order"
[ "$rss" -lt 102400 ] || fail "big: max RSS $rss KB"
# A slow reader: kwcat waits on the pipe, memory does not grow.
/usr/bin/time -f %M -o "$tmp/rss2" "$kwcat" -C -b "$B" -t "$T_BIG" -e -q | (sleep 2; wc -l >"$tmp/slow.count")
rss2=$(tail -1 "$tmp/rss2")
[ "$(cat "$tmp/slow.count")" -eq 100000 ] && [ "$rss2" -lt 102400 ] || fail "slow reader: $(cat "$tmp/slow.count") lines, $rss2 KB"
# A reader that goes away: kcat's write error, exit 1.
{
  rc=0
  "$kwcat" -C -b "$B" -t "$T_BIG" -e -q 2>"$tmp/pipe.err" || rc=$?
  echo $rc >"$tmp/pipe.rc"
} | head -1 >/dev/null
rc=$(<"$tmp/pipe.rc")
[ "$rc" -eq 1 ] && grep -q '^% ERROR: Write error for message of .*Broken pipe' "$tmp/pipe.err" ||
  fail "closed pipe: exit $rc: $(cat "$tmp/pipe.err")"
echo "ok: 100000 messages (100 MB) in $ms ms, max RSS $rss KB (slow reader $rss2 KB); closed pipe exits 1"

echo "PASS: it_kwcat_consume ($(($(now_ms) - started)) ms)"
