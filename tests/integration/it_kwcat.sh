#!/usr/bin/env bash
# kwcat -P and -L against the real broker, with kcat (librdkafka) as the reference:
# keyed lines with -K and lz4 read back exactly and in order per key; -D/-k/-H/-p/-c/-T;
# every codec round trips; kwcat and `kcat -X partitioner=murmur2_random` put every key on
# the same partition; whole files and -l; errors exit 1 with kcat's messages, and an
# unreachable broker ends the run quickly; -L lists the topics created.
# Usage: it_kwcat.sh KWCAT   (KW_BROKER_DIR: a broker started by tests/broker/kafka)
set -euo pipefail
kwcat=${1:?usage: it_kwcat.sh KWCAT}
: "${KW_BROKER_DIR:?KW_BROKER_DIR must name a broker started by tests/broker/kafka}"
export LC_ALL=C
B=$(<"$KW_BROKER_DIR/bootstrap")
B=${B%%,*}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/it-kwcat.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
started=$(now_ms)
run=it-kwcat-$$-$RANDOM
T_KEYED=$run-keyed T_KCAT=$run-kcat T_OPTS=$run-opts T_FILES=$run-files

# Neither kcat nor kwcat creates topics with N partitions: Kafka's own tool does (one JVM
# each, started in the background while the single-partition checks run).
create_topic() {
  "${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KW_BROKER_DIR/log4j2.properties" -Dkwire.log="$tmp/tools-$1.log" \
    -cp "$(<"$KW_BROKER_DIR/libs")/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" \
    --create --topic "$1" --partitions "$2" --replication-factor 1 >"$tmp/create-$1.log" 2>&1 ||
    { cat "$tmp/create-$1.log" >&2; return 1; }
}
create_topic "$T_KEYED" 6 & pid_keyed=$!
create_topic "$T_KCAT" 6 & pid_kcat=$!
create_topic "$T_OPTS" 4 & pid_opts=$!

consume() { kcat -C -b "$B" -t "$1" -o beginning -e -q -m 15 -f "$2"; }

# ---- (3) every codec round trips (auto-created single-partition topics)
seq 1 500 | awk '{printf "line %05d %s\n", $1, "compressible-compressible-compressible"}' >"$tmp/codec.txt"
for codec in none gzip snappy lz4 zstd; do
  "$kwcat" -P -b "$B" -t "$run-codec-$codec" -z "$codec" <"$tmp/codec.txt" || fail "-z $codec: exit $?"
  consume "$run-codec-$codec" '%s\n' >"$tmp/codec-$codec.out"
  cmp -s "$tmp/codec.txt" "$tmp/codec-$codec.out" || fail "-z $codec: read back differs ($(wc -l <"$tmp/codec-$codec.out") lines)"
done
echo "ok: codecs none gzip snappy lz4 zstd round trip (500 messages each)"

# ---- (5) file arguments: each whole file is one message; -l splits its one file like stdin
printf 'a\nb\n' >"$tmp/f1"
printf 'c' >"$tmp/f2"
: >"$tmp/empty"
"$kwcat" -P -b "$B" -t "$T_FILES" "$tmp/f1" "$tmp/f2" "$tmp/empty" || fail "files: exit $?"
"$kwcat" -P -b "$B" -t "$T_FILES" -l "$tmp/f1" || fail "-l: exit $?"
consume "$T_FILES" '[%s]\n' >"$tmp/files.out"
printf '[a\nb\n]\n[c]\n[a]\n[b]\n' | cmp -s - "$tmp/files.out" || { cat "$tmp/files.out" >&2; fail "files / -l read back differs"; }
rc=0; "$kwcat" -P -b "$B" -t "$T_FILES" -l "$tmp/f1" "$tmp/f2" 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q 'Only one file allowed' "$tmp/err" || fail "-l with two files: exit $rc, $(cat "$tmp/err")"
rc=0; "$kwcat" -P -b "$B" -t "$T_FILES" "$tmp/nonexistent" 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q "Failed to open $tmp/nonexistent" "$tmp/err" || fail "missing file: exit $rc, $(cat "$tmp/err")"
echo "ok: whole files as messages (empty skipped), -l line mode, file errors"

# ---- (6) errors: exit 1 with a message naming the cause
expect_error() { # description, regex for stderr, command...
  local what=$1 re=$2 rc=0
  shift 2
  "$@" </dev/null >/dev/null 2>"$tmp/err" || rc=$?
  [ $rc -eq 1 ] || fail "$what: exit $rc, want 1 ($(cat "$tmp/err"))"
  grep -Eq "$re" "$tmp/err" || fail "$what: stderr lacks /$re/: $(cat "$tmp/err")"
}
expect_error "unknown -X" '^% ERROR: .*"no\.such\.property"' "$kwcat" -P -b "$B" -t "$run-x" -X no.such.property=1
expect_error "bad -X value" '"linger\.ms"' "$kwcat" -P -b "$B" -t "$run-x" -X linger.ms=soon
expect_error "-X without =" 'Expected -X property=value' "$kwcat" -P -b "$B" -t "$run-x" -X linger.ms
expect_error "bad -z" '"compression\.type"' "$kwcat" -P -b "$B" -t "$run-x" -z brotli
expect_error "no -t" 'topic> missing' "$kwcat" -P -b "$B"
expect_error "no -b" 'broker,\.\.> missing' "$kwcat" -P -t "$run-x"
expect_error "-L unknown -X" '"no\.such\.property"' "$kwcat" -L -b "$B" -X no.such.property=1
t=$(now_ms)
rc=0; echo hello | timeout 30 "$kwcat" -P -b 127.0.0.1:1 -t "$run-x" -X message.timeout.ms=3000 2>"$tmp/err" || rc=$?
ms=$(($(now_ms) - t))
[ $rc -eq 1 ] && grep -q '^% ERROR: .*brokers are down' "$tmp/err" || fail "unreachable broker: exit $rc: $(cat "$tmp/err")"
[ $ms -lt 10000 ] || fail "unreachable broker: took $ms ms"
t=$(now_ms)
rc=0; echo hello | timeout 30 "$kwcat" -P -E -b 127.0.0.1:1 -t "$run-x" -X message.timeout.ms=3000 2>"$tmp/err" || rc=$?
ms2=$(($(now_ms) - t))
[ $rc -eq 1 ] && grep -q '^% Delivery failed for message: ' "$tmp/err" || fail "unreachable broker -E: exit $rc: $(cat "$tmp/err")"
[ $ms2 -lt 10000 ] || fail "unreachable broker -E: took $ms2 ms"
echo "ok: errors exit 1 naming the property; unreachable broker: exit 1 after $ms ms (-E: $ms2 ms, message timeout)"

wait $pid_keyed || fail "creating $T_KEYED"
wait $pid_kcat || fail "creating $T_KCAT"
wait $pid_opts || fail "creating $T_OPTS"

# ---- (1) 10,000 keyed lines with -K: and lz4, read back exactly, in order per key
seq 0 9999 | awk '{printf "k%d:v%d\n", $1 % 100, $1}' >"$tmp/keyed.txt"
"$kwcat" -P -b "$B" -t "$T_KEYED" -K: -z lz4 <"$tmp/keyed.txt" || fail "keyed produce: exit $?"
# Stable sort by key: values stay in produce order within each key on both sides.
tr : = <"$tmp/keyed.txt" | sort -s -t= -k1,1 >"$tmp/keyed.want"
consume "$T_KEYED" '%k=%s\n' | sort -s -t= -k1,1 >"$tmp/keyed.got"
cmp -s "$tmp/keyed.want" "$tmp/keyed.got" || fail "keyed: read back differs ($(wc -l <"$tmp/keyed.got") of 10000 lines)"
echo "ok: 10000 keyed messages (-K: -z lz4) read back exactly, in order per key"

# ---- (4) kwcat's default partitioner places keys as kcat -X partitioner=murmur2_random
kcat -P -b "$B" -t "$T_KCAT" -K: -z lz4 -X partitioner=murmur2_random <"$tmp/keyed.txt" || fail "kcat -P: exit $?"
consume "$T_KEYED" '%k %p\n' | sort -u >"$tmp/place.kwcat"
consume "$T_KCAT" '%k %p\n' | sort -u >"$tmp/place.kcat"
[ "$(wc -l <"$tmp/place.kwcat")" -eq 100 ] || fail "kwcat put a key on two partitions"
cmp -s "$tmp/place.kwcat" "$tmp/place.kcat" || fail "key placement differs: $(diff "$tmp/place.kwcat" "$tmp/place.kcat" | head -5)"
parts=$(cut -d' ' -f2 "$tmp/place.kwcat" | sort -u | wc -l)
[ "$parts" -gt 1 ] || fail "all keys on one partition"
echo "ok: 100 keys on the same partitions as kcat (murmur2), spread over $parts partitions"

# ---- (2) -D (multi-byte, escapes), -k, -K, -H, -p, -c, -T
printf 'one;;two;;three' | "$kwcat" -P -b "$B" -t "$T_OPTS" -D ';;' -k fixed -H h1=v1 -H h2=v2 -p 2 || fail "-D ;;: exit $?"
printf 'k1=x\tk2=y\t' | "$kwcat" -P -b "$B" -t "$T_OPTS" -D '\t' -K = -p 1 -H solo || fail "-D \\t: exit $?"
printf 'ka::a\x1ekb::b\x1e\x1e' | "$kwcat" -P -b "$B" -t "$T_OPTS" -D '\x1e' -K '::' -p 0 || fail "-D \\x1e: exit $?"
seq 1 100 >"$tmp/seq100"
"$kwcat" -P -b "$B" -t "$T_OPTS" -p 3 -c 5 -T <"$tmp/seq100" >"$tmp/tee.out" || fail "-c -T: exit $?"
seq 1 5 | cmp -s - "$tmp/tee.out" || fail "-T echoed: $(cat "$tmp/tee.out")"
consume "$T_OPTS" '%p|%k|%s|%h\n' | sort -s -t'|' -k1,1 >"$tmp/opts.got"
cat >"$tmp/opts.want" <<'EOF'
0|ka|a|
0|kb|b|
1|k1|x|solo=NULL
1|k2|y|solo=NULL
2|fixed|one|h1=v1,h2=v2
2|fixed|two|h1=v1,h2=v2
2|fixed|three|h1=v1,h2=v2
3||1|
3||2|
3||3|
3||4|
3||5|
EOF
cmp -s "$tmp/opts.want" "$tmp/opts.got" || fail "-D/-k/-K/-H/-p/-c read back: $(diff "$tmp/opts.want" "$tmp/opts.got")"
# A partition the topic does not have: each message fails, exit 1 (as kcat).
rc=0; printf 'x\ny\n' | "$kwcat" -P -b "$B" -t "$T_OPTS" -p 99 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -Eq 'Delivery failed for message|Failed to produce message' "$tmp/err" ||
  fail "-p 99: exit $rc: $(cat "$tmp/err")"
rc=0; printf 'x\ny\n' | kcat -P -b "$B" -t "$T_OPTS" -p 99 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "kcat -p 99 exits $rc: the reference changed"
echo "ok: -D ';;' '\\t' '\\x1e', -k, -K, -H, -p, -c, -T; unknown partition exits 1 like kcat"

# ---- (7) -L lists the topics created; -X list lists the properties
"$kwcat" -L -b "$B" -X client.id=it-kwcat >"$tmp/list.out" || fail "-L: exit $?"
for want in "$T_KEYED 6" "$T_KCAT 6" "$T_OPTS 4" "$T_FILES 1" "$run-codec-zstd 1"; do
  grep -q "^  topic \"${want% *}\" with ${want#* } partitions:" "$tmp/list.out" || fail "-L lacks topic ${want% *} (${want#* } partitions)"
done
"$kwcat" -L -b "$B" -t "$T_OPTS" >"$tmp/list1.out" || fail "-L -t: exit $?"
[ "$(grep -c '^    partition [0-3], leader ' "$tmp/list1.out")" -eq 4 ] || fail "-L -t $T_OPTS: $(cat "$tmp/list1.out")"
"$kwcat" -X list >"$tmp/props.out" || fail "-X list: exit $?"
grep -q '^compression\.type ' "$tmp/props.out" || fail "-X list lacks compression.type"
echo "ok: -L lists the created topics; -X list"

echo "PASS: it_kwcat ($(( $(now_ms) - started )) ms)"
