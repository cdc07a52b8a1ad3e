#!/usr/bin/env bash
# bench/run-producer-bench.sh: kwire's producer (tools/kwperf) against librdkafka's
# (bench/rdkafka_perf), same flags, same broker, back to back. Starts its own
# single-node broker (tests/broker/kafka), creates a 6-partition topic, then runs, RUNS
# times with the two clients alternating:
#   1. throughput: N x 100 B, acks=all (idempotent), linger.ms=5, no compression
#   2. the same with lz4
#   3. latency: one message at a time, linger.ms=0, LAT_N messages; before each one a
#      raw Produce round trip (--floor: pre-encoded request, plain socket, no client), so
#      "the client adds" = p50 - floor p50 is measured under the same machine load
# after a discarded warm-up round (the broker's JIT), and prints a side-by-side table with ranges over the runs and kwire/librdkafka ratios.
# Every JSON line goes to $OUT. The broker is stopped on exit.
#
#   bench/run-producer-bench.sh                 # build dir: $KW_BUILD_DIR or ./build-perf
#   N=200000 RUNS=1 bench/run-producer-bench.sh # a quick look
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KW_BUILD_DIR:-$ROOT/build-perf}
N=${N:-1000000}
LAT_N=${LAT_N:-20000}
RUNS=${RUNS:-3}
SIZE=${SIZE:-100}
PARTS=${PARTS:-6}
OUT=${OUT:-${TMPDIR:-/tmp}/kwire-producer-bench-$(id -u).jsonl}
export KW_BROKER_DIR=${KW_BROKER_DIR:-${TMPDIR:-/tmp}/kwire-perf-broker-$(id -u)}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
build_perf_clients

# ---- broker and topic
BOOT=$("$BROKER" start | tail -n 1)
trap '"$BROKER" stop || true' EXIT
TOPIC=kwperf-$(date +%s)
say "broker $BOOT, creating topic $TOPIC with $PARTS partitions"
create_topic "$BOOT" "$TOPIC" "$PARTS"

# ---- runs
: >"$OUT"
run() { # NAME PROGRAM ARGS...: runs one client, keeps its JSON line tagged with NAME
  local name=$1 prog=$2 line
  shift 2
  say "$name: ${prog##*/} $*"
  line=$("$prog" "$@" -b "$BOOT" -t "$TOPIC" | tail -n 1)
  [[ $line == '{'* ]] || die "$name: ${prog##*/} printed no JSON line"
  printf '{"scenario":"%s",%s\n' "$name" "${line#\{}" >>"$OUT"
}
THR=(produce -n "$N" -s "$SIZE" --acks all --linger 5)
LAT=(produce --latency --floor -n "$LAT_N" -s "$SIZE" --acks all --linger 0)
say "---- warm-up round (discarded): the broker's JIT compiles its produce path"
for prog in "$RDPERF" "$KWPERF"; do
  "$prog" "${THR[@]}" -b "$BOOT" -t "$TOPIC" >/dev/null
  "$prog" produce --latency -n 2000 -s "$SIZE" --acks all --linger 0 -b "$BOOT" -t "$TOPIC" >/dev/null
done
for ((r = 1; r <= RUNS; r++)); do
  say "---- run $r of $RUNS"
  pair=("$RDPERF" "$KWPERF")
  ((r % 2)) || pair=("$KWPERF" "$RDPERF") # who goes first alternates between runs
  for prog in "${pair[@]}"; do run "throughput none" "$prog" "${THR[@]}" --codec none; done
  for prog in "${pair[@]}"; do run "throughput lz4" "$prog" "${THR[@]}" --codec lz4; done
  for prog in "${pair[@]}"; do run "latency linger 0" "$prog" "${LAT[@]}"; done
done

# ---- table
python3 - "$OUT" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sys.argv[2]
def rng(vals, fmt):
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else fmt.format(lo) + "–" + fmt.format(hi)
def col(rs, key):
    return [r[key] for r in rs]
print(f"\nProducer benchmark: {rows[0]['msgs']:,} x {rows[0]['size']} B throughput runs, ranges over {runs} runs\n")
print("| scenario | client | msgs/s | MB/s | client CPU µs/msg | CPU s | peak RSS MB | p50 µs | p99 µs | floor p50 µs | client adds at p50 µs |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
goals = []
for sc in dict.fromkeys(r["scenario"] for r in rows):
    by = {}
    for r in rows:
        if r["scenario"] == sc:
            by.setdefault(r["client"], []).append(r)
    for cl, rs in by.items():
        lat = "lat_p50_us" in rs[0]
        rate = "—" if lat else rng(col(rs,'msgs_per_s'),'{:,.0f}')  # latency runs: one at a time, floor in between
        mbs = "—" if lat else rng(col(rs,'mb_per_s'),'{:.1f}')
        print(f"| {sc} | {cl} | {rate} | {mbs} | "
              f"{rng(col(rs,'cpu_us_per_msg'),'{:.2f}')} | {rng(col(rs,'cpu_s'),'{:.2f}')} | "
              f"{rng([x/1024 for x in col(rs,'peak_rss_kb')],'{:.1f}')} | "
              f"{rng(col(rs,'lat_p50_us'),'{:.0f}') if lat else ''} | {rng(col(rs,'lat_p99_us'),'{:.0f}') if lat else ''} | "
              f"{rng(col(rs,'floor_p50_us'),'{:.0f}') if lat else ''} | "
              f"{rng([x['lat_p50_us'] - x['floor_p50_us'] for x in rs],'{:.0f}') if lat else ''} |")
    k, l = by.get("kwire"), by.get("librdkafka")
    if k and l:
        med = lambda rs, key: statistics.median(col(rs, key))
        pair = lambda key: [a[key] / b[key] for a, b in zip(k, l) if b[key]]
        t = med(k, "msgs_per_s") / med(l, "msgs_per_s")
        c = med(k, "cpu_us_per_msg") / med(l, "cpu_us_per_msg")
        tput = "" if "lat_p50_us" in k[0] else f"**{t:.2f}×** (runs {rng(pair('msgs_per_s'),'{:.2f}')})"
        line = (f"| {sc} | **kwire / librdkafka** | {tput} | | "
                f"**{c:.2f}×** (runs {rng(pair('cpu_us_per_msg'),'{:.2f}')}) | | | ")
        if "lat_p50_us" in k[0]:
            add = lambda rs: statistics.median([x['lat_p50_us'] - x['floor_p50_us'] for x in rs])
            line += (f"{med(k,'lat_p50_us')/med(l,'lat_p50_us'):.2f}× | {med(k,'lat_p99_us')/med(l,'lat_p99_us'):.2f}× | | "
                     f"{add(k)/add(l):.2f}× |")
        else:
            line += "| | | |"
        print(line)
        if sc == "throughput none":
            goals.append(f"msgs/s ≥ 1.5× librdkafka (acks=all, {k[0]['size']} B): {t:.2f}× → {'met' if t >= 1.5 else 'MISSED'}")
            goals.append(f"client CPU/msg ≤ 1/3 of librdkafka's: {c:.2f}× → {'met' if c <= 1/3 else 'MISSED'}")
        if "lat_p50_us" in k[0]:
            p = med(k, "lat_p50_us")
            goals.append(f"linger.ms=0 produce→ack p50 ≤ 40 µs: kwire {p:.0f} µs (median of runs) → {'met' if p <= 40 else 'MISSED'}")
            goals.append(f"  under it: the broker's own round trip (floor) p50 {med(k,'floor_p50_us'):.0f} µs; "
                         f"kwire adds {add(k):.0f} µs, librdkafka {add(l):.0f} µs (medians of runs)")
print()
for g in goals:
    print(g)
EOF
say "JSON lines in $OUT"
