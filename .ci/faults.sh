#!/usr/bin/env bash
# Burst and fault tests, bounded to a few minutes in all: bursts of fetch
# requests per account on two worker replicas with a SIGKILL every round
# and a NATS restart (ack wait 4 s), on three replicas the same at the
# workers' default ack wait, and on three replicas without faults at an
# ack wait of 2 s; then each fault kind on real connections through
# Toxiproxy (cuts in the middle of commits, latency spikes, a bandwidth
# crawl, API resets, a full JetStream storage) on one server, a
# partition of the events stream's leader on a three-node cluster, and
# the same fault kinds again on the cluster. After
# each run every event, request and balance is checked from the stream.
#
# Always asserted: no event stored twice, no NewTransaction missing, every
# final balance right, and (the loadtest flag -strict-answers) every
# request answered exactly once: none never answered, none answered
# twice. FAULTS_STRICT_ANSWERS=0 prints those figures without asserting
# them.
set -euo pipefail
cd "$(dirname "$0")/.."

seed="${FAULTS_SEED:-$(date +%s)}"
strict=()
if [ "${FAULTS_STRICT_ANSWERS:-1}" = 1 ]; then
	strict=(-strict-answers)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "faults.sh: seed $seed (FAULTS_SEED=$seed to repeat), strict answers: ${FAULTS_STRICT_ANSWERS:-1}"
go build -o "$work/loadtest" ./cmd/loadtest
go build -o "$work/worker" ./cmd/worker

run() {
	local name="$1" limit="$2"
	shift 2
	local start=$SECONDS
	if ! timeout --kill-after=10s "$limit" "$work/loadtest" -burst -seed "$seed" -worker-bin "$work/worker" \
		-dir "$work/$name" -quiet -json "$work/$name.json" -ack-wait 4s -quiet-timeout 60s "${strict[@]}" "$@" \
		>/dev/null 2>"$work/$name.log"; then
		# The workers' last lines first, the verdict last: a reader of
		# the end of the output sees what failed.
		echo "faults.sh: $name FAILED (seed $seed); last worker log lines:" >&2
		for f in "$work/$name"/*/worker-*.log; do
			echo "==> $f <==" >&2
			grep '^{' "$f" | tail -n 20 >&2 || true
			if grep -q '^goroutine ' "$f"; then
				echo "(goroutine dump: the frames in this project's code)" >&2
				grep -E -A1 '^goroutine |^github.com/skattekonto-events/' "$f" | head -n 120 >&2 || true
			fi
		done
		echo "faults.sh: the load tool's output:" >&2
		grep -v '^[[:space:]]*"' "$work/$name.log" | tail -n 40 >&2 || true
		echo "faults.sh: $name FAILED (seed $seed, FAULTS_SEED=$seed to repeat)" >&2
		exit 1
	fi
	cat "$work/$name.log"
	echo "faults.sh: $name passed in $((SECONDS - start))s"
}

run burst 120s -rounds 10 -workers 2 -kill-each-round -nats-restart
run burst-3-default 120s -rounds 10 -workers 3 -kill-each-round -nats-restart -ack-wait 0
run burst-3-short 120s -rounds 10 -workers 3 -ack-wait 2s
run faults 240s -rounds 8 -fault nats-cut,latency,bandwidth,api-reset,storage-full
run partition 150s -cluster -rounds 10 -fault partition -fault-hold 12s
run cluster-faults 300s -cluster -rounds 6 -fault nats-cut,latency,bandwidth,api-reset,storage-full
