#!/usr/bin/env bash
# The harness's 3-node cluster: all three brokers appear in a Metadata answer, seen by
# kcat (librdkafka) and by kwcat, and `stop` leaves no Java process behind.
# Usage: test-three-nodes.sh KAFKA_SCRIPT KWCAT
set -euo pipefail
kafka=$1
kwcat=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/kwire-3nodes.XXXXXX")
export KW_BROKER_DIR=$dir
trap '"$kafka" stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

bootstrap=$("$kafka" start --nodes 3)
echo "bootstrap: $bootstrap"

kcat_brokers=$(kcat -L -b "$bootstrap" -m 15 | grep -c '^  broker [0-9]* at ')
echo "kcat -L sees $kcat_brokers brokers"
[ "$kcat_brokers" -eq 3 ] || fail "kcat -L lists $kcat_brokers brokers, want 3"

kw_brokers=$("$kwcat" -L -b "$bootstrap" -m 15 | grep -c '^  broker [0-9]* at ')
echo "kwcat -L sees $kw_brokers brokers"
[ "$kw_brokers" -eq 3 ] || fail "kwcat -L lists $kw_brokers brokers, want 3"

"$kafka" stop
if pgrep -f -- "$dir" >/dev/null; then
  pgrep -af -- "$dir" >&2
  fail "Java processes of $dir are left after stop"
fi
echo "PASS: 3 brokers listed by kcat and kwcat; nothing left after stop"
