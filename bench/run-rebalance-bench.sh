#!/usr/bin/env bash
# bench/run-rebalance-bench.sh: rebalance time of a 3-member consumer group, kwire
# (tools/kwperf rebalance) against librdkafka (bench/rdkafka_perf rebalance), same broker.
# Starts its own single-node broker (tests/broker/kafka), with the KIP-848 heartbeat set to
# 3000 ms like the classic clients' heartbeat.interval.ms (group.consumer.heartbeat.interval.ms,
# broker default 5000, appended to the node's server.properties and the node restarted), and
# creates an empty 12-partition topic. Each run is one process with the 3 members of one
# client in a fresh group (perf_rebalance_run in tools/kwperf/perf_common.c):
#   setup  members 1 and 2 subscribe and settle on 6 partitions each
#   join   SETTLE ms later member 3 subscribes (t0); done when each member owns exactly 4
#          and every partition has one owner, as the rebalance callbacks tell
#   leave  SETTLE ms later member 3 closes (t1, a clean leave); done when members 1 and 2
#          own 6 each again
# SETTLE takes the values of SETTLES in turn (one per run, the same for every scenario), so
# that the runs meet the members' 3 s heartbeat cycle at different phases.
# Scenarios (SCENARIOS picks, by name):
#   kwire-range        group.protocol=classic, partition.assignment.strategy=range (eager)
#   kwire-coop         classic, cooperative-sticky
#   kwire-848          group.protocol=consumer (KIP-848, server-side assignor)
#   librdkafka-range   librdkafka's high-level consumer, range (eager)
#   librdkafka-coop    librdkafka, cooperative-sticky (2.0.2 has no KIP-848)
# kwire runs twice per scenario unless LOOPS says otherwise: "turns" (each member's
# kw_consumer_poll(…, 2 ms) in turn, the way the librdkafka members are polled) and "fds"
# (one poll() over every member's sockets, kw_client_fds/kw_client_step). Prints a table
# with ranges over the runs; every JSON line goes to $OUT, the programs' output to $LOG.
# The broker is stopped on exit.
#
#   bench/run-rebalance-bench.sh                     # build dir: $KW_BUILD_DIR or ./build-perf
#   RUNS=1 SCENARIOS="kwire-coop librdkafka-coop" bench/run-rebalance-bench.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KW_BUILD_DIR:-$ROOT/build-perf}
RUNS=${RUNS:-3}
PARTS=${PARTS:-12}
SETTLES=${SETTLES:-1500 2500 3500}
HB_848=${HB_848:-3000}
LOOPS=${LOOPS:-turns fds}
SCENARIOS=${SCENARIOS:-kwire-range kwire-coop kwire-848 librdkafka-range librdkafka-coop}
OUT=${OUT:-${TMPDIR:-/tmp}/kwire-rebalance-bench-$(id -u).jsonl}
LOG=${LOG:-${OUT%.jsonl}.log}
export KW_BROKER_DIR=${KW_BROKER_DIR:-${TMPDIR:-/tmp}/kwire-rbperf-broker-$(id -u)}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
build_perf_clients

# ---- broker (KIP-848 heartbeat like the classic one), topic
"$BROKER" start >/dev/null
trap '"$BROKER" stop || true' EXIT
for NODE in "$KW_BROKER_DIR"/node-*; do break; done
NODE=${NODE##*/node-}
printf 'group.consumer.heartbeat.interval.ms=%s\ngroup.consumer.min.heartbeat.interval.ms=%s\n' "$HB_848" \
  "$((HB_848 < 5000 ? HB_848 : 5000))" >>"$KW_BROKER_DIR/node-$NODE/server.properties"
"$BROKER" restart "$NODE" >/dev/null
BOOT=$("$BROKER" bootstrap)
TOPIC=kwperf-rebalance-$(date +%s)
say "broker $BOOT (group.consumer.heartbeat.interval.ms=$HB_848), creating topic $TOPIC with $PARTS partitions"
create_topic "$BOOT" "$TOPIC" "$PARTS"

# ---- runs
: >"$OUT"
: >"$LOG"
run() { # SCENARIO RUN SETTLE LOOP: one process, its JSON line tagged
  local sc=$1 r=$2 settle=$3 loop=$4 prog args line name=$1
  case $sc in
    kwire-range) prog=$KWPERF args=(--protocol classic --strategy range) ;;
    kwire-coop) prog=$KWPERF args=(--protocol classic --strategy cooperative-sticky) ;;
    kwire-848) prog=$KWPERF args=(--protocol consumer) ;;
    librdkafka-range) prog=$RDPERF args=(--strategy range) ;;
    librdkafka-coop) prog=$RDPERF args=(--strategy cooperative-sticky) ;;
    *) die "unknown scenario $sc" ;;
  esac
  [[ $sc == kwire-* ]] && name="$sc/$loop"
  say "$name, run $r: ${prog##*/} rebalance ${args[*]} --loop $loop --settle $settle"
  printf '\n==== %s run %s\n' "$name" "$r" >>"$LOG"
  line=$("$prog" rebalance -b "$BOOT" -t "$TOPIC" "${args[@]}" --loop "$loop" --settle "$settle" --trace \
    2>>"$LOG" | tee -a "$LOG" | tail -n 1) || true
  [[ $line == '{'* ]] || die "$name: ${prog##*/} printed no JSON line (see $LOG)"
  [[ $line == *'"ok":true'* ]] || say "$name run $r: NOT OK: $(grep -m1 -o '"failed":"[^"]*"' <<<"$line")"
  printf '{"scenario":"%s","run":%s,%s\n' "$name" "$r" "${line#\{}" >>"$OUT"
}
read -r -a settles <<<"$SETTLES"
say "---- warm-up run (discarded): the topic's leaders settle, the broker's group code gets compiled"
for try in 1 2 3 4 5; do
  "$KWPERF" rebalance -b "$BOOT" -t "$TOPIC" --settle 500 >/dev/null 2>&1 && break
  ((try < 5)) || die "the warm-up run failed 5 times"
  sleep 2
done
for ((r = 1; r <= RUNS; r++)); do
  settle=${settles[$(((r - 1) % ${#settles[@]}))]}
  say "---- run $r of $RUNS (member 3 joins and leaves $settle ms after a stable group)"
  for sc in $SCENARIOS; do
    if [[ $sc == kwire-* ]]; then
      for loop in $LOOPS; do run "$sc" "$r" "$settle" "$loop"; done
    else
      run "$sc" "$r" "$settle" turns
    fi
  done
done

# ---- table
python3 - "$OUT" "$RUNS" "$HB_848" "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs, hb848, commit = sys.argv[2], sys.argv[3], sys.argv[4]
def rng(vals, fmt):
    vals = [v for v in vals if v is not None and v >= 0]
    if not vals:
        return "–"
    lo, hi = fmt.format(min(vals)), fmt.format(max(vals))
    return lo if lo == hi else lo + "–" + hi
by = {}
for r in rows:
    by.setdefault(r["scenario"], []).append(r)
first = rows[0]
print(f"\nRebalance of a {first['members']}-member group, {first['partitions']} partitions (empty topic), "
      f"ranges over {runs} runs; member 3 joins/leaves {', '.join(sorted({str(r['settle_ms']) for r in rows}))} ms "
      f"after a stable group; heartbeat 3000 ms (KIP-848: broker's group.consumer.heartbeat.interval.ms={hb848}); "
      f"kwire at {commit}\n")
print("| client | protocol / assignor | loop | join ms (median) | member 3's first partitions ms | "
      "max unowned | unowned partition-s | leave ms (median) | close ms | callbacks join/leave | ok |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for sc, rs in by.items():
    r0 = rs[0]
    proto = "KIP-848 (server)" if r0["protocol"] == "consumer" else f"classic {r0['strategy']}"
    j = [r["join_ms"] for r in rs]
    l = [r["leave_ms"] for r in rs]
    jm = statistics.median([x for x in j if x >= 0]) if any(x >= 0 for x in j) else -1
    lm = statistics.median([x for x in l if x >= 0]) if any(x >= 0 for x in l) else -1
    print(f"| {r0['client']} {r0['version']} | {proto} | {r0['loop'] if r0['client'] == 'kwire' else 'turns'} | "
          f"{rng(j, '{:.0f}')} ({jm:.0f}) | {rng([r['join_first_ms'] for r in rs], '{:.0f}')} | "
          f"{rng([r['join_max_unowned'] for r in rs], '{}')} / {rng([r['leave_max_unowned'] for r in rs], '{}')} | "
          f"{rng([r['join_unowned_part_s'] for r in rs], '{:.1f}')} / {rng([r['leave_unowned_part_s'] for r in rs], '{:.1f}')} | "
          f"{rng(l, '{:.0f}')} ({lm:.0f}) | {rng([r['close_ms'] for r in rs], '{:.0f}')} | "
          f"{rng([r['join_callbacks'] for r in rs], '{}')}/{rng([r['leave_callbacks'] for r in rs], '{}')} | "
          f"{sum(r['ok'] for r in rs)}/{len(rs)} |")
print("\nmax unowned, unowned partition-s: join / leave. Per run (settle ms: join ms, leave ms):")
for sc, rs in by.items():
    print(f"  {sc:22s} " + "  ".join(f"{r['settle_ms']}: {r['join_ms']:.0f}, {r['leave_ms']:.0f}" for r in rs))
bad = [f"{r['scenario']} run {r['run']}: {r['failed'] or 'checks'}" for r in rows if not r["ok"]]
print(f"checks: {len(rows)} runs, {len(bad)} not ok" + (": " + "; ".join(bad) if bad else
      " (every phase converged; no partition owned twice, no inconsistent or lost callback, none after a stable group)"))
EOF
say "JSON lines in $OUT, program output (with --trace timelines) in $LOG"
