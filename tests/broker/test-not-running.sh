#!/usr/bin/env bash
# test-not-running.sh SCRIPT: with a fresh (not yet existing) state directory, and with a
# stale one, `SCRIPT bootstrap` and `SCRIPT status` must fail and say that no broker is
# running (rather than print a stale address or nothing). Starts no broker, so it may run
# beside anything else.
set -euo pipefail

script=${1:?usage: test-not-running.sh PATH/TO/tests/broker/kafka}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kwire-not-running.XXXXXX")
trap 'rm -rf "$dir"' EXIT
failed=0

# expect_not_running DIR CMD: CMD fails and says so.
expect_not_running() {
  local rc=0 out
  out=$(KW_BROKER_DIR=$1 "$script" "$2" 2>&1) || rc=$?
  if ((rc == 0)); then
    echo "FAIL: '$2' exited 0 with no broker running in $1; it printed: $out"
    failed=1
  elif ! grep -qi 'no broker running' <<<"$out"; then
    echo "FAIL: '$2' exited $rc but did not say 'no broker running'; it printed: $out"
    failed=1
  else
    echo "ok: '$2' exited $rc: $out"
  fi
}

expect_not_running "$dir/fresh" bootstrap
expect_not_running "$dir/fresh" status

# Stale state: a bootstrap file and a pid file naming a live process that is not a
# broker (this shell), as after a crash and pid reuse.
mkdir -p "$dir/stale/node-1"
echo 127.0.0.1:1 >"$dir/stale/bootstrap"
echo $$ >"$dir/stale/node-1/pid"
echo advertised.listeners=PLAINTEXT://127.0.0.1:1 >"$dir/stale/node-1/server.properties"
expect_not_running "$dir/stale" bootstrap
expect_not_running "$dir/stale" status

# Asking must not create broker state.
if [[ -e $dir/fresh ]]; then
  echo "FAIL: asking created $dir/fresh"
  failed=1
fi
exit "$failed"
