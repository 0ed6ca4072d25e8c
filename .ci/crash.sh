#!/usr/bin/env bash
# Crash tests: workers killed with SIGKILL at random moments and a NATS
# server restarted mid-run, then every event, request and balance checked
# against the simulator. First on one NATS server, then on a three-node
# JetStream cluster (R3 streams, two workers, the stream leader stopped).
# Each run is bounded to about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

seed="${CRASH_SEED:-$(date +%s)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "crash.sh: seed $seed (CRASH_SEED=$seed to repeat)"
go build -o "$work/loadtest" ./cmd/loadtest
go build -o "$work/worker" ./cmd/worker

run() {
	local name="$1"
	shift
	local start=$SECONDS
	if ! timeout --kill-after=10s 150s "$work/loadtest" -crash -seed "$seed" -worker-bin "$work/worker" \
		-dir "$work/$name" -quiet -json "$work/$name.json" "$@" >/dev/null 2>"$work/$name.log"; then
		cat "$work/$name.log" >&2
		echo "crash.sh: $name FAILED (seed $seed); last worker log lines:" >&2
		tail -n 20 "$work/$name"/worker-*.log >&2 || true
		exit 1
	fi
	cat "$work/$name.log"
	echo "crash.sh: $name passed in $((SECONDS - start))s"
}

run single -accounts 300 -transactions 20 -duration 40s -quiet-timeout 60s
run cluster -cluster -accounts 300 -transactions 20 -duration 40s -quiet-timeout 60s
