#!/usr/bin/env bash
# kwcat -G (balanced consumer) and -Q (offsets for times) against the real broker, with
# kcat (librdkafka) as the reference, as a user's kcat script would run them:
# -Q for several timestamps (the first record's, one inside, one past the last record,
# -1 the end, -2 the beginning), an empty partition, a partition and a topic that do not
# exist, several topics, -J: stdout byte for byte as kcat's; -G -e from the beginning
# (every -f token, -J, -o end/absolute/tail, two topics, a cooperative assignor) prints
# what kcat prints and exits at the end with kcat's lines (a topic that does not exist:
# kcat's error); the group's commits are kcat's (kcat goes on where kwcat
# stopped and back, -c commits only what was printed); two members, kwcat+kwcat and
# kcat+kwcat, split the partitions and print every record exactly once; argument errors
# exit 1 with kcat's stderr.
# Usage: it_kwcat_group.sh KWCAT   (KW_BROKER_DIR: a broker started by tests/broker/kafka)
set -euo pipefail
kwcat=${1:?usage: it_kwcat_group.sh KWCAT}
: "${KW_BROKER_DIR:?KW_BROKER_DIR must name a broker started by tests/broker/kafka}"
export LC_ALL=C
B=$(<"$KW_BROKER_DIR/bootstrap")
B=${B%%,*}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/it-kwcat-group.XXXXXX")
bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
started=$(now_ms)
run=it-kwcatg-$$-$RANDOM
T=$run-data TQ=$run-query TS=$run-split TM=$run-mixed

create_topic() {
  "${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KW_BROKER_DIR/log4j2.properties" -Dkwire.log="$tmp/tools-$1.log" \
    -cp "$(<"$KW_BROKER_DIR/libs")/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" \
    --create --topic "$1" --partitions "$2" --replication-factor 1 >"$tmp/create-$1.log" 2>&1 ||
    { cat "$tmp/create-$1.log" >&2; return 1; }
}
create_topic "$T" 4 & pid_t=$!
create_topic "$TQ" 3 & pid_q=$!
create_topic "$TS" 4 & pid_s=$!
create_topic "$TM" 4 & pid_m=$!

# ---- argument errors: kcat's stderr byte for byte, exit 1
same_error() { # description, args...
  local what=$1 rc1=0 rc2=0
  shift
  timeout 30 "$kwcat" "$@" </dev/null >/dev/null 2>"$tmp/err.kwcat" || rc1=$?
  timeout 30 kcat "$@" </dev/null >/dev/null 2>"$tmp/err.kcat.raw" || rc2=$?
  grep -v '^%[0-9]|' "$tmp/err.kcat.raw" >"$tmp/err.kcat" || true # librdkafka's own log lines
  [ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] || fail "$what: exit $rc1 (kcat $rc2): $(cat "$tmp/err.kwcat")"
  cmp -s "$tmp/err.kwcat" "$tmp/err.kcat" || fail "$what: stderr differs: $(cat "$tmp/err.kwcat") vs $(cat "$tmp/err.kcat")"
}
same_error "-G without topics" -b "$B" -G "$run-g0"
same_error "-G with a topic twice" -b "$B" -G "$run-g0" "$T" "$TQ" "$T"
same_error "-G with -o s@" -b "$B" -G "$run-g0" -o s@5 "$T"
same_error "-G with -o e@" -b "$B" -G "$run-g0" -o e@5 "$T"
same_error "-Q -t without partition" -b "$B" -Q -t "$TQ"
same_error "-Q -t with a bad partition" -b "$B" -Q -t "$TQ:x:5"
same_error "-Q -t with a bad timestamp" -b "$B" -Q -t "$TQ:0:soon"
rc=0; "$kwcat" -b "$B" -Q </dev/null >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 1 ] && grep -q -- '-t <topic>:<partition>:<offset_or_timestamp> missing' "$tmp/err" || fail "-Q without -t: exit $rc"
echo "ok: -G without topics, with a topic twice, with -o s@/e@, -Q without or with a bad -t: exit 1 with kcat's stderr"

for p in $pid_t $pid_q $pid_s $pid_m; do wait $p || fail "creating topics"; done

# ---- -Q: offsets for times. TQ partition 0: three batches (timestamps read back below);
# partition 1 stays empty; partition 2: one record.
for b in 1 2 3; do
  seq 1 5 | sed "s/^/b$b-/" | kcat -P -b "$B" -t "$TQ" -p 0 || fail "kcat -P $TQ"
  sleep 0.05 # distinct timestamps per batch (the expectations are computed from the data)
done
echo only | kcat -P -b "$B" -t "$TQ" -p 2 || fail "kcat -P $TQ p2"
kcat -C -b "$B" -t "$TQ" -p 0 -o beginning -e -q -f '%o %T\n' >"$tmp/q.ts"
[ "$(wc -l <"$tmp/q.ts")" -eq 15 ] || fail "-Q data: $(wc -l <"$tmp/q.ts") records"
ts_first=$(awk 'NR==1 {print $2}' "$tmp/q.ts")
ts_mid=$(awk 'NR==8 {print $2}' "$tmp/q.ts")
ts_last=$(awk 'END {print $2}' "$tmp/q.ts")
ts_past=$((ts_last + 3600000))
ts_p2=$(kcat -C -b "$B" -t "$TQ" -p 2 -o beginning -e -q -f '%T')
first_at() { awk -v ts="$1" '$2 >= ts {print $1; exit}' "$tmp/q.ts"; } # what ListOffsets must answer
same_query() { # name, expected stdout (or "" to skip), args... (both must exit 0)
  local name=$1 want=$2 rc1=0 rc2=0
  shift 2
  timeout 30 "$kwcat" -b "$B" -Q "$@" >"$tmp/$name.kwcat" 2>"$tmp/$name.kwcat.err" || rc1=$?
  timeout 30 kcat -b "$B" -Q "$@" >"$tmp/$name.kcat" 2>"$tmp/$name.kcat.err" || rc2=$?
  [ $rc1 -eq 0 ] || fail "-Q $name ($*): kwcat exit $rc1: $(cat "$tmp/$name.kwcat.err")"
  [ $rc2 -eq 0 ] || fail "-Q $name ($*): kcat exit $rc2, the reference changed: $(cat "$tmp/$name.kcat.err")"
  cmp -s "$tmp/$name.kwcat" "$tmp/$name.kcat" ||
    fail "-Q $name ($*): stdout differs: [$(cat "$tmp/$name.kwcat")] vs kcat [$(cat "$tmp/$name.kcat")]"
  [ -z "$want" ] || printf '%s' "$want" | cmp -s - "$tmp/$name.kwcat" || fail "-Q $name: [$(cat "$tmp/$name.kwcat")], want [$want]"
}
same_query first "$TQ [0] offset 0
$TQ [1] offset -1
$TQ [2] offset 0
" -t "$TQ:2:$ts_p2" -t "$TQ:0:$ts_first" -t "$TQ:1:0"
same_query mid "$TQ [0] offset $(first_at "$ts_mid")
$TQ [1] offset 0
$TQ [2] offset 0
" -t "$TQ:0:$ts_mid" -t "$TQ:1:-1" -t "$TQ:2:-2"
same_query past "$TQ [0] offset -1
$TQ [1] offset -1
$TQ [2] offset -1
" -t "$TQ:1:$ts_past" -t "$TQ:0:$ts_past" -t "$TQ:2:$ts_past"
same_query ends "$TQ [0] offset 15
$TQ [2] offset 1
" -t "$TQ:0:-1" -t "$TQ:2:-1"
same_query begin "$TQ [0] offset 0
" -t "$TQ:0:-2"
same_query mid1 "$TQ [0] offset $(first_at $((ts_mid + 1)))
" -t "$TQ:0:$((ts_mid + 1))"
same_query two_topics "" -t "$TQ:0:-1" -t "$T:3:-1" -t "$T:0:0"
same_query json "" -J -t "$TQ:0:$ts_mid" -t "$TQ:1:-1" -t "$TQ:2:$ts_past"
same_query json_two "" -J -t "$TQ:2:-2" -t "$T:1:-1"
same_query no_partition "" -t "$TQ:7:0" -t "$TQ:0:-1"
same_query no_partition_json "" -J -t "$TQ:7:0" -t "$TQ:1:-1"
same_query no_topic "" -t "$run-nosuch:0:5" -t "$TQ:0:-2"
same_query no_topic_json "" -J -t "$run-nosuch:0:5" -t "$TQ:0:-2"
# None of the partitions exists: the lookup fails (librdkafka's rule)
same_error "-Q of a partition that does not exist" -b "$B" -Q -t "$TQ:9:-1"
same_error "-Q of topics that do not exist" -b "$B" -Q -t "$run-nosuch:0:5" -t "$run-nosuch2:1:-1"
echo "ok: -Q first/inside/past-the-end timestamps, -1, -2, empty partition, unknown partition and topic, two topics, -J: same as kcat"

# ---- -G -e, one member: the data of T (partition 3 stays empty), read by kwcat and kcat
# in their own groups from the beginning.
seq 1 10 | awk '{printf "k%d:p0-%d\n", $1, $1}' | kcat -P -b "$B" -t "$T" -p 0 -K: -H h1=a -H h2 || fail "kcat -P p0"
seq 1 11 | awk '{printf "k%d:p1-%d\n", $1, $1}' | kcat -P -b "$B" -t "$T" -p 1 -K: || fail "kcat -P p1"
seq 1 12 | awk '{printf "k%d:p2-%d\n", $1, $1}' | kcat -P -b "$B" -t "$T" -p 2 -K: || fail "kcat -P p2"
total=33

group_both() { # name, args... (kwcat in group $run-<name>-w, kcat in $run-<name>-k)
  local name=$1 rc1=0 rc2=0
  shift
  timeout 60 "$kwcat" -b "$B" -G "$run-$name-w" "$@" >"$tmp/$name.kwcat" 2>"$tmp/$name.kwcat.err" || rc1=$?
  timeout 60 kcat -b "$B" -G "$run-$name-k" "$@" >"$tmp/$name.kcat" 2>"$tmp/$name.kcat.raw" || rc2=$?
  grep -v '^%[0-9]|' "$tmp/$name.kcat.raw" >"$tmp/$name.kcat.err" || true
  [ $rc1 -eq 0 ] || fail "-G $name ($*): kwcat exit $rc1: $(tail -3 "$tmp/$name.kwcat.err")"
  [ $rc2 -eq 0 ] || fail "-G $name ($*): kcat exit $rc2, the reference changed"
}
same_group_output() { # name, args...: stdout the same per partition ("%p|" formats), in order
  group_both "$@"
  cmp -s <(sort -s -t'|' -k1,1 "$tmp/$1.kwcat") <(sort -s -t'|' -k1,1 "$tmp/$1.kcat") ||
    fail "-G $1 (${*:2}): output differs: $(diff <(sort -s -t'|' -k1,1 "$tmp/$1.kwcat") <(sort -s -t'|' -k1,1 "$tmp/$1.kcat") | head -5)"
}
# stderr as kcat writes it (waiting, assigned, and revoked when it leaves), with the
# group name and member id taken out and the partitions of each rebalance line in order;
# the "Reached end" lines as a set, the last one ending in ": exiting".
norm_err() { # file, group
  sed -e "s/$2/GROUP/" -e 's/memberid [^)]*)/memberid M)/' "$1" | grep -v '^% Reached end' |
    perl -pe 's/(: (?:assigned|revoked): )(.*)$/$1 . join(", ", sort split(m{, }, $2))/e'
}
same_stderr() { # name
  cmp -s <(norm_err "$tmp/$1.kwcat.err" "$run-$1-w") <(norm_err "$tmp/$1.kcat.err" "$run-$1-k") ||
    fail "-G $1: stderr differs: $(diff <(norm_err "$tmp/$1.kwcat.err" "$run-$1-w") <(norm_err "$tmp/$1.kcat.err" "$run-$1-k"))"
  cmp -s <(grep '^% Reached end' "$tmp/$1.kwcat.err" | sed 's/: exiting$//' | sort) \
    <(grep '^% Reached end' "$tmp/$1.kcat.err" | sed 's/: exiting$//' | sort) ||
    fail "-G $1: end lines differ: $(grep '^% Reached' "$tmp/$1.kwcat.err") vs $(grep '^% Reached' "$tmp/$1.kcat.err")"
  [ "$(grep -c ': exiting$' "$tmp/$1.kwcat.err")" -eq 1 ] && grep '^% Reached end' "$tmp/$1.kwcat.err" | tail -1 | grep -q ': exiting$' ||
    fail "-G $1: want one last ': exiting' end line: $(cat "$tmp/$1.kwcat.err")"
}

ALL='%p|%o|%k|%s|%K|%S|%h|%T|%t\n'
same_group_output all -e -o beginning -f "$ALL" "$T"
[ "$(wc -l <"$tmp/all.kwcat")" -eq $total ] || fail "-G -e: $(wc -l <"$tmp/all.kwcat") lines, want $total"
same_stderr all
grep -qx "% Group $run-all-w rebalanced (memberid [^)]*): assigned: .*" "$tmp/all.kwcat.err" || fail "-G: no assignment line"
grep -qx "% Reached end of topic $T \[3\] at offset 0\(: exiting\)\?" "$tmp/all.kwcat.err" || fail "-G: empty partition end"
same_group_output tail -e -o -3 -f '%p|%o|%s\n' "$T"
[ "$(wc -l <"$tmp/tail.kwcat")" -eq 9 ] || fail "-G -o -3: $(wc -l <"$tmp/tail.kwcat") lines"
same_group_output abs -e -o 10 -f '%p|%o|%s\n' "$T"
[ "$(wc -l <"$tmp/abs.kwcat")" -eq 3 ] || fail "-G -o 10: $(wc -l <"$tmp/abs.kwcat") lines"
same_group_output end -e -o end -f '%p|%o|%s\n' "$T"
[ ! -s "$tmp/end.kwcat" ] || fail "-G -o end printed: $(head -3 "$tmp/end.kwcat")"
same_stderr end
same_group_output coop -e -o beginning -X partition.assignment.strategy=cooperative-sticky -f '%p|%o|%s\n' "$T"
same_stderr coop
grep -q 'rebalanced: incremental assignment of 4 partition(s) (memberid [^,]*, COOPERATIVE rebalance protocol): ' \
  "$tmp/coop.kwcat.err" || fail "-G cooperative: $(cat "$tmp/coop.kwcat.err")"
same_error "-G of a topic that does not exist" -b "$B" -G "$run-g0" -e "$run-nosuch"
same_group_output two_topics -e -o beginning -f '%t/%p|%o|%s\n' "$T" "$TQ"
[ "$(wc -l <"$tmp/two_topics.kwcat")" -eq $((total + 16)) ] || fail "-G two topics: $(wc -l <"$tmp/two_topics.kwcat") lines"
group_both json -e -q -o beginning -J "$T"
if command -v python3 >/dev/null; then
  python3 - "$tmp/json.kwcat" "$tmp/json.kcat" "$total" <<'EOF' || fail "-G -J: objects differ"
import json, sys
def load(path):
    with open(path, "rb") as f:
        objs = [json.loads(l) for l in f.read().split(b"\n") if l]
    return sorted(objs, key=lambda o: (o["partition"], o["offset"]))
a, b = load(sys.argv[1]), load(sys.argv[2])
assert len(a) == len(b) == int(sys.argv[3]), (len(a), len(b))
for x, y in zip(a, b):
    assert x == y, (x, y)
EOF
fi
echo "ok: -G -e from the beginning, -o -3/10/end, two topics, every -f token, -J, cooperative: same output and stderr as kcat; a topic that does not exist fails as in kcat"

# ---- commits, as kcat's: each goes on where the other stopped, in the other's group
P='%p|%o|%s\n'
consume_group() { # tool, group, output file, args...: one -G -e run of T
  local tool=$1 group=$2 out=$3 rc=0
  shift 3
  timeout 60 "$tool" -b "$B" -G "$group" -e -q "$@" "$T" >"$tmp/$out" 2>"$tmp/$out.err" || rc=$?
  [ $rc -eq 0 ] || fail "$tool -G $group $*: exit $rc: $(tail -3 "$tmp/$out.err")"
}
expect_none() { # tool, group
  consume_group "$1" "$2" none -f "$P"
  [ ! -s "$tmp/none" ] || fail "$1 in group $2 read again: $(head -3 "$tmp/none")"
}
expect_new() { # tool, group
  consume_group "$1" "$2" new -f "$P"
  sort "$tmp/new" | cmp -s - <(printf '1|11|n1\n1|12|n2\n2|12|n3\n') || fail "$1 in group $2: $(cat "$tmp/new")"
}
expect_none "$kwcat" "$run-all-w" # kwcat's own commits
expect_none kcat "$run-all-w"     # kcat reads kwcat's commits
expect_none "$kwcat" "$run-all-k" # kwcat reads kcat's commits
printf 'n1\nn2\n' | kcat -P -b "$B" -t "$T" -p 1 || fail "kcat -P more"
printf 'n3\n' | kcat -P -b "$B" -t "$T" -p 2 || fail "kcat -P more"
expect_new "$kwcat" "$run-all-w"
expect_none kcat "$run-all-w"
expect_new "$kwcat" "$run-all-k"
expect_none kcat "$run-all-k"
total=$((total + 3))
# -c: only what was printed is committed. kwcat prints 7 and stops; kcat (and in another
# group kwcat) goes on from there: together every record exactly once.
for second in kcat "$kwcat"; do
  g=$run-count-$RANDOM
  timeout 60 "$kwcat" -b "$B" -G "$g" -q -c 7 -o beginning -f "$P" "$T" >"$tmp/c1" || fail "-G -c 7: exit $?"
  [ "$(wc -l <"$tmp/c1")" -eq 7 ] || fail "-G -c 7: $(wc -l <"$tmp/c1") lines"
  consume_group "$second" "$g" c2 -X auto.offset.reset=earliest -f "$P"
  [ "$(sort "$tmp/c1" "$tmp/c2" | uniq -d | wc -l)" -eq 0 ] || fail "-G -c then $second: repeated: $(sort "$tmp/c1" "$tmp/c2" | uniq -d | head -3)"
  [ "$(sort -u "$tmp/c1" "$tmp/c2" | wc -l)" -eq $total ] || fail "-G -c then $second: $(sort -u "$tmp/c1" "$tmp/c2" | wc -l) records, want $total"
done
echo "ok: -G commits as kcat's: kcat and kwcat go on in each other's groups; -c commits only what it printed"

# ---- two members in one group split the partitions: each record printed exactly once
# Each member's latest assignment: the partitions of its last "assigned:" line.
assigned() { grep 'rebalanced.*assigned: ' "$1" 2>/dev/null | tail -1 | sed 's/.*assigned: //' | tr ',' '\n' | sed -n 's/.*\[\([0-9]*\)\]/\1/p' | sort; }
split_run() { # topic, group, tool of member A, tool of member B
  local topic=$1 group=$2 a=$3 b=$4 n=0 pa pb
  "$a" -b "$B" -G "$group" -o beginning -u -f '%p|%o|%s\n' "$topic" >"$tmp/a.out" 2>"$tmp/a.err" & pa=$!
  bg_pids+=("$pa")
  for _ in $(seq 300); do [ -n "$(assigned "$tmp/a.err")" ] && break; sleep 0.1; done
  [ "$(assigned "$tmp/a.err" | wc -l)" -eq 4 ] || fail "$group: first member not assigned: $(cat "$tmp/a.err")"
  "$b" -b "$B" -G "$group" -o beginning -u -f '%p|%o|%s\n' "$topic" >"$tmp/b.out" 2>"$tmp/b.err" & pb=$!
  bg_pids+=("$pb")
  # Stable when the two latest assignments are disjoint and cover the 4 partitions.
  for _ in $(seq 600); do
    [ -n "$(assigned "$tmp/b.err")" ] && [ "$(sort -u <(assigned "$tmp/a.err") <(assigned "$tmp/b.err") | wc -l)" -eq 4 ] &&
      [ "$(sort <(assigned "$tmp/a.err") <(assigned "$tmp/b.err") | wc -l)" -eq 4 ] && break
    sleep 0.1
  done
  [ "$(sort <(assigned "$tmp/a.err") <(assigned "$tmp/b.err") | uniq | wc -l)" -eq 4 ] && [ "$(assigned "$tmp/b.err" | wc -l)" -ge 1 ] &&
    [ "$(assigned "$tmp/a.err" | wc -l)" -ge 1 ] || fail "$group: no split: $(cat "$tmp/a.err" "$tmp/b.err")"
  for p in 0 1 2 3; do seq 1 25 | sed "s/^/s$p-/" | kcat -P -b "$B" -t "$topic" -p $p || fail "kcat -P $topic"; done
  for _ in $(seq 600); do
    n=$(cat "$tmp/a.out" "$tmp/b.out" | wc -l)
    [ "$n" -ge 100 ] && break
    sleep 0.1
  done
  kill -INT "$pa" "$pb"
  local rca=0 rcb=0
  wait "$pa" || rca=$?
  wait "$pb" || rcb=$?
  [ $rca -eq 0 ] && [ $rcb -eq 0 ] || fail "$group: SIGINT exits $rca $rcb"
  [ "$(cat "$tmp/a.out" "$tmp/b.out" | sort | uniq -d | wc -l)" -eq 0 ] || fail "$group: records printed twice"
  [ "$(cat "$tmp/a.out" "$tmp/b.out" | wc -l)" -eq 100 ] || fail "$group: $(cat "$tmp/a.out" "$tmp/b.out" | wc -l) records, want 100"
  for m in a b; do
    [ -s "$tmp/$m.out" ] || fail "$group: member $m printed nothing"
    cut -d'|' -f1 "$tmp/$m.out" | sort -u | cmp -s - <(assigned "$tmp/$m.err") ||
      fail "$group: member $m printed partitions $(cut -d'|' -f1 "$tmp/$m.out" | sort -u | tr '\n' ' ') but owns $(assigned "$tmp/$m.err" | tr '\n' ' ')"
  done
  # Both committed what they printed when they stopped: nothing left for the group.
  timeout 60 "$kwcat" -b "$B" -G "$group" -e -q "$topic" >"$tmp/again" || fail "$group: read again: exit $?"
  [ ! -s "$tmp/again" ] || fail "$group: read again after the members' commits: $(head -3 "$tmp/again")"
}
split_run "$TS" "$run-split" "$kwcat" "$kwcat"
echo "ok: two kwcat members split 4 partitions 2+2, 100 records printed exactly once, committed on SIGINT"
split_run "$TM" "$run-mixed" kcat "$kwcat"
echo "ok: a kcat and a kwcat member in one group split the partitions, every record exactly once"

echo "PASS: it_kwcat_group ($(($(now_ms) - started)) ms)"
