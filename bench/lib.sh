# shellcheck shell=bash
# Shared by bench/run-*-bench.sh (sourced after ROOT, BUILD and KW_BROKER_DIR are set):
# messages, building kwperf and the librdkafka baseline, and topic creation.
BROKER=$ROOT/tests/broker/kafka

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Builds both clients in $BUILD (RelWithDebInfo: the figures in docs/performance.md are
# -O2) and sets KWPERF and RDPERF.
build_perf_clients() {
  if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$BUILD" --target kwperf -j 2 >/dev/null
  cmake --build "$BUILD" --target rdkafka_perf -j 2 >/dev/null ||
    die "no rdkafka_perf target: install librdkafka-dev (apt-get install librdkafka-dev) and reconfigure $BUILD"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  KWPERF=$BUILD/tools/kwperf
  # shellcheck disable=SC2034
  RDPERF=$BUILD/bench/rdkafka_perf
}

# create_topic BOOTSTRAP TOPIC PARTITIONS: with Kafka's own TopicCommand, replication 1.
create_topic() {
  local libs
  libs=$("$BROKER" fetch)
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KW_BROKER_DIR/log4j2.properties" -Dkwire.log="$KW_BROKER_DIR/tools.log" \
    -cp "$libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" \
    --create --topic "$2" --partitions "$3" --replication-factor 1 >&2
}
