#!/usr/bin/env bash
# bench/run-consumer-bench.sh: kwire's consumer (tools/kwperf consume) against
# librdkafka's (bench/rdkafka_perf consume), same broker, same topic, back to back.
# Starts its own single-node broker (tests/broker/kafka), creates a 6-partition topic and
# fills it once with N x SIZE B (kwperf produce, acks=all, idempotent), then, after a
# discarded warm-up round (the broker's JIT and page cache), RUNS rounds with the clients
# alternating who goes first. Each run assigns all partitions from the beginning (no
# group, for either client: the fetch path alone) and reads all N messages:
#   kwire                    kw_consumer_poll(), one message per call
#   librdkafka               rd_kafka_consume_start_queue + rd_kafka_consume_batch_queue
#                            (--api batch: its fastest way, the one the ratios use)
#   librdkafka (poll)        rd_kafka_assign + rd_kafka_consumer_poll (--api poll), for
#                            reference; RD_POLL=0 leaves it out
# isolation.level=read_uncommitted for both (the topic has no transactions). Prints a
# table with ranges over the runs and kwire/librdkafka ratios; every JSON line goes to
# $OUT. The broker is stopped on exit.
#
#   bench/run-consumer-bench.sh                 # build dir: $KW_BUILD_DIR or ./build-perf
#   N=200000 RUNS=1 bench/run-consumer-bench.sh # a quick look
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KW_BUILD_DIR:-$ROOT/build-perf}
N=${N:-1000000}
RUNS=${RUNS:-3}
SIZE=${SIZE:-100}
PARTS=${PARTS:-6}
RD_POLL=${RD_POLL:-1}
OUT=${OUT:-${TMPDIR:-/tmp}/kwire-consumer-bench-$(id -u).jsonl}
export KW_BROKER_DIR=${KW_BROKER_DIR:-${TMPDIR:-/tmp}/kwire-cperf-broker-$(id -u)}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
build_perf_clients

# ---- broker, topic, data
BOOT=$("$BROKER" start | tail -n 1)
trap '"$BROKER" stop || true' EXIT
TOPIC=kwperf-consume-$(date +%s)
say "broker $BOOT, creating topic $TOPIC with $PARTS partitions"
create_topic "$BOOT" "$TOPIC" "$PARTS"
say "filling it with $N x $SIZE B (kwperf produce, acks=all, idempotent, no warm-up messages)"
fill=$("$KWPERF" produce -b "$BOOT" -t "$TOPIC" -n "$N" -s "$SIZE" --acks all --linger 5 --warmup 0 | tail -n 1)
[[ $fill == *"\"delivered\":$N,"* ]] || die "filling the topic failed: $fill"

# ---- runs
: >"$OUT"
run() { # NAME PROGRAM ARGS...: one consumer run, its JSON line tagged with NAME
  local name=$1 prog=$2 line
  shift 2
  say "$name: ${prog##*/} $*"
  line=$("$prog" consume -b "$BOOT" -t "$TOPIC" -n "$N" "$@" | tail -n 1)
  [[ $line == '{'* ]] || die "$name: ${prog##*/} printed no JSON line"
  printf '{"scenario":"%s",%s\n' "$name" "${line#\{}" >>"$OUT"
}
say "---- warm-up round (discarded): the broker's JIT compiles its fetch path, the log is in the page cache"
"$KWPERF" consume -b "$BOOT" -t "$TOPIC" -n "$N" >/dev/null
"$RDPERF" consume -b "$BOOT" -t "$TOPIC" -n "$N" >/dev/null
for ((r = 1; r <= RUNS; r++)); do
  say "---- run $r of $RUNS"
  if ((r % 2)); then
    run kwire "$KWPERF"
    run librdkafka "$RDPERF" --api batch
  else
    run librdkafka "$RDPERF" --api batch
    run kwire "$KWPERF"
  fi
  if ((RD_POLL)); then run "librdkafka (poll)" "$RDPERF" --api poll; fi
done

# ---- table
python3 - "$OUT" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sys.argv[2]
def rng(vals, fmt):
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else fmt.format(lo) + "–" + fmt.format(hi)
col = lambda rs, key: [r[key] for r in rs]
med = lambda rs, key: statistics.median(col(rs, key))
by = {}
for r in rows:
    by.setdefault(r["scenario"], []).append(r)
first = rows[0]
print(f"\nConsumer benchmark: {first['msgs']:,} messages x {round(first['bytes'] / max(first['consumed'], 1))} B, "
      f"{first['partitions']} partitions, ranges over {runs} runs\n")
print("| client | API | msgs/s from client start | MB/s | msgs/s from first message | first message after ms | "
      "client CPU µs/msg | M msgs per CPU-second | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
for sc, rs in by.items():
    print(f"| {sc} {rs[0]['version']} | {rs[0]['api']} | {rng(col(rs,'msgs_per_s'),'{:,.0f}')} | "
          f"{rng(col(rs,'mb_per_s'),'{:.0f}')} | {rng(col(rs,'msgs_per_s_first'),'{:,.0f}')} | "
          f"{rng([x*1000 for x in col(rs,'first_msg_s')],'{:.0f}')} | "
          f"{rng(col(rs,'cpu_us_per_msg'),'{:.3f}')} | {rng([x/1e6 for x in col(rs,'msgs_per_cpu_s')],'{:.2f}')} | "
          f"{rng([x/1024 for x in col(rs,'peak_rss_kb')],'{:.1f}')} |")
k, l = by.get("kwire"), by.get("librdkafka")
if k and l:
    pair = lambda key: [a[key] / b[key] for a, b in zip(k, l) if b[key]]
    t = med(k, "msgs_per_s") / med(l, "msgs_per_s")
    tf = med(k, "msgs_per_s_first") / med(l, "msgs_per_s_first")
    c = med(k, "msgs_per_cpu_s") / med(l, "msgs_per_cpu_s")
    print(f"| **kwire / librdkafka** | medians (pairs) | **{t:.2f}×** ({rng(pair('msgs_per_s'),'{:.2f}')}) | | "
          f"{tf:.2f}× ({rng(pair('msgs_per_s_first'),'{:.2f}')}) | | "
          f"{med(k,'cpu_us_per_msg')/med(l,'cpu_us_per_msg'):.2f}× | **{c:.2f}×** ({rng(pair('msgs_per_cpu_s'),'{:.2f}')}) | |")
    print()
    print(f"goal: msgs/s per core ≥ 2× librdkafka's: {c:.2f}× (median msgs per CPU-second) → {'met' if c >= 2 else 'MISSED'}")
    print(f"      msgs/s from client start: {t:.2f}× (medians)")
bad = [r for r in rows if r["errors"] or r["order_errors"] or r["consumed"] != r["msgs"]]
sums = {r["checksum"] for r in rows}
print(f"checks: {len(rows)} runs, {len(bad)} with errors, offsets out of order or messages missing; "
      f"value checksums {'all equal' if len(sums) == 1 else 'DIFFER: ' + ' '.join(sorted(sums))}")
print("rebalance time of a 3-member group: not measured here (assign mode only)")
EOF
say "JSON lines in $OUT"
