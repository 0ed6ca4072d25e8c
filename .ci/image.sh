#!/usr/bin/env bash
# Builds the container image (Containerfile, FROM scratch: nothing is
# pulled) with podman from binaries built here, and runs it the way
# deploy/k8s/base/deployment.yaml runs the worker: read-only root
# filesystem, uid 65532, all capabilities dropped, no new privileges, the
# Deployment's memory and CPU limits and drain timeout, writable only on
# tmpfs mounts, TLS files mounted read-only at /etc/skattekonto/tls.
#
# The checks: two builds of the same commit give the same digest; the
# image runs as 65532 and carries its OCI labels; the simulator entry point
# (/skvsim) serves the API over mutual TLS; the worker (/worker) answers
# /healthz and /readyz (NATS, streams, and an access token fetched over
# mTLS); one fetch round trip through the CLI entry point (/skattekonto
# fetch -wait) against the worker's embedded NATS; SIGTERM drains the
# worker, logged, with exit status 0 within terminationGracePeriodSeconds.
# On any failure it prints the containers' logs and exits non-zero.
#
# Usage: bash .ci/image.sh          build twice, compare, run the checks
#        bash .ci/image.sh build    build once; print the reference and digest
# Environment: IMAGE (default ghcr.io/skattekonto-events/worker), GOARCH
# (default the host's; another one is built, not run), SOURCE_DATE_EPOCH
# (default the commit time). Installs podman and runc from Debian when
# missing (needs root). See docs/container.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
start=$SECONDS
mode=${1:-check}
case $mode in check | build) ;; *)
	echo "usage: bash .ci/image.sh [build]" >&2
	exit 2
	;;
esac

say() { printf 'image.sh: %s\n' "$*"; }
tmp=$(mktemp -d)
containers=()
failed=1
on_exit() {
	local status=$?
	if [[ $failed == 1 ]]; then
		for c in "${containers[@]}"; do
			printf '\n----- log of container %s -----\n' "$c" >&2
			podman logs "$c" >&2 2>&1 || true
		done
		printf '\nimage.sh: FAILED (exit %s) after %ss\n' "$status" "$((SECONDS - start))" >&2
	fi
	for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
	rm -rf "$tmp"
}
trap on_exit EXIT
die() {
	echo "image.sh: FAILED: $*" >&2
	exit 1
}

# --- tools -----------------------------------------------------------------
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
	say "installing podman and runc from Debian"
	[[ $(id -u) == 0 ]] || die "podman and runc are missing: apt-get install podman runc (as root)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
fi
say "$(podman --version), $(runc --version | head -n1)"

# --- version, tag and timestamps from git ------------------------------------
revision=$(git rev-parse HEAD)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
if version=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null); then
	: # a release: vX.Y.Z
else
	base=$(git describe --tags --abbrev=0 --match 'v[0-9]*' HEAD 2>/dev/null || echo v0.0.0)
	version=$base-$(date -u -d "@$epoch" +%Y%m%d%H%M%S)-$(git rev-parse --short=12 HEAD)
fi
if [[ -n $(git status --porcelain) ]]; then
	version=$version-dirty
fi
image=${IMAGE:-ghcr.io/skattekonto-events/worker}
ref=$image:$version
hostarch=$(go env GOARCH)
arch=${GOARCH:-$hostarch}

# --- binaries ----------------------------------------------------------------
# Static, no paths or build ids of this machine: the same commit and Go
# version give the same bytes. -buildvcs=auto stamps the commit into the
# build info (go version -m) where .git is a directory (a clone, not a
# worktree), overriding a GOFLAGS=-buildvcs=false.
say "building the binaries for linux/$arch ($(go env GOVERSION))"
out=bin/image/linux-$arch
rm -rf bin/image
mkdir -p "$out" bin/image/data
chmod 0755 bin/image bin/image/data
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -buildvcs=auto -trimpath \
	-ldflags='-s -w -buildid=' -o "$out/" ./cmd/worker ./cmd/skattekonto ./cmd/skvsim
ls -l "$out"

# --- image -------------------------------------------------------------------
# build FILE [podman build args...]: writes the image id to FILE.
build() {
	local iid=$1
	shift
	podman build --quiet --pull=never --no-cache --platform "linux/$arch" \
		--timestamp "$epoch" --identity-label=false \
		--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created" \
		--iidfile "$iid" -f Containerfile "$@" . >/dev/null
}
# digest ID NAME: the manifest digest as `podman push` writes it (gzip
# layers, OCI format): what a registry stores and a Deployment pins.
digest() {
	podman push --quiet --digestfile "$tmp/$2.digest" "$1" "oci:$tmp/$2:latest" >/dev/null
	cat "$tmp/$2.digest"
}
build "$tmp/id1" -t "$ref"
id1=$(<"$tmp/id1")
digest1=$(digest "$id1" oci1)
say "built $ref"
say "  image id $id1"
say "  digest   $digest1"

raw=$(podman image inspect --format '{{.Size}}' "$id1")
pushed=$(find "$tmp/oci1/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB (%d bytes)", b / 1048576, b}'; }
say "  size     $(mib "$raw") unpacked, $(mib "$pushed") pushed (gzip layers)"

if [[ $mode == build ]]; then
	failed=0
	if [[ $version == *-dirty ]]; then
		say "built from uncommitted changes: commit, then build again to push"
	else
		say "push with: podman push --digestfile digest $ref docker://$ref"
	fi
	exit 0
fi

say "building again from scratch (reproducibility)"
build "$tmp/id2"
id2=$(<"$tmp/id2")
digest2=$(digest "$id2" oci2)
say "  image id $id2"
say "  digest   $digest2"
[[ $id1 == "$id2" && $digest1 == "$digest2" ]] || die "two builds of $revision differ: $id1 $digest1 vs $id2 $digest2"
say "reproducible: two builds, one digest"

inspect() { podman image inspect --format "$1" "$id1"; }
[[ $(inspect '{{.Config.User}}') == 65532:65532 ]] || die "image user is $(inspect '{{.Config.User}}'), want 65532:65532"
[[ $(inspect '{{json .Config.Entrypoint}}') == '["/worker"]' ]] || die "entry point is $(inspect '{{json .Config.Entrypoint}}')"
for l in source version revision created; do
	v=$(inspect "{{index .Config.Labels \"org.opencontainers.image.$l\"}}")
	[[ -n $v ]] || die "label org.opencontainers.image.$l is missing"
done
[[ $(inspect '{{index .Config.Labels "org.opencontainers.image.revision"}}') == "$revision" ]] || die "revision label is not $revision"
say "image: user 65532:65532, entry point /worker, OCI labels source/version/revision/created"

if [[ $arch != "$hostarch" ]]; then
	failed=0
	say "built for $arch on $hostarch: not running it"
	exit 0
fi

# --- the Deployment's constraints ----------------------------------------------
deploy=deploy/k8s/base/deployment.yaml
grace=$(sed -n 's/^ *terminationGracePeriodSeconds: *\([0-9]*\).*/\1/p' $deploy)
user=$(sed -n 's/^ *runAsUser: *\([0-9]*\).*/\1/p' $deploy | head -n1)
mem=$(awk '/^ *limits:/ {l = 1; next} l && /^ *memory:/ {print $2; exit}' $deploy)
cpu=$(awk '/^ *limits:/ {l = 1; next} l && /^ *cpu:/ {gsub(/"/, "", $2); print $2; exit}' $deploy)
drain=$(sed -n 's/^ *WORKER_DRAIN_TIMEOUT: *\([0-9a-z]*\).*/\1/p' deploy/k8s/base/configmap.yaml)
[[ $grace && $user && $mem =~ ^[0-9]+Mi$ && $cpu =~ ^[0-9]+$ && $drain ]] ||
	die "cannot read the constraints from $deploy: grace=$grace user=$user memory=$mem cpu=$cpu drain=$drain"
mib=${mem%Mi}
say "constraints from $deploy: uid $user, read-only root, cap-drop ALL, no-new-privileges, memory ${mem}, cpu $cpu, grace ${grace}s, drain $drain"

# runc (crun fails on cgroup v1 hosts like these), host network, and
# explicit limits that do not exceed this shell's hard limits.
nofile=$(ulimit -Hn)
[[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
nproc=$(ulimit -Hu)
[[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096
run=(podman run --runtime runc --network host
	--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc"
	--read-only --user "$user:$user" --cap-drop=ALL --security-opt no-new-privileges
	--memory "${mib}m" --cpus "$cpu" -e "GOMEMLIMIT=$((mib * 1024 * 1024))" -e "GOMAXPROCS=$cpu"
	--tmpfs "/tmp:rw,size=64m")

# Free loopback ports (host network), away from the defaults tests use.
taken=" "
port() { # port VAR: sets VAR to a port nothing listens on
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 20000))
		[[ $taken == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken+="$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "no free port"
}
http_port='' nats_port='' sim_port=''
port http_port
port nats_port
port sim_port

# get PORT PATH: prints the HTTP status code (bash only; curl may be absent).
get() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3 && head -n1 <&3' _ "$1" "$2" 2>/dev/null |
		awk '{print $2}' || true
}
running() { [[ $(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# --- the simulator entry point, over mTLS ---------------------------------------
# It writes throwaway certificates to the TLS directory, which the worker
# then mounts read-only where the Deployment mounts its Secret.
mkdir "$tmp/tls"
sim=skvsim-image-$$
containers+=("$sim")
"${run[@]}" -d --name "$sim" -v "$tmp/tls:/etc/skattekonto/tls:U" --entrypoint /skvsim "$id1" \
	-addr "127.0.0.1:$sim_port" -certs-dir /etc/skattekonto/tls >/dev/null
for _ in $(seq 100); do
	podman logs "$sim" 2>/dev/null | grep -q '^export SKV_KEY_FILE=' && break
	running "$sim" || die "the simulator exited"
	sleep 0.2
done
podman logs "$sim" 2>/dev/null | sed -n 's/^export \(SKV_[A-Z_]*=.*\)$/\1/p' >"$tmp/worker.env"
grep -q '^SKV_BASE_URL=https://' "$tmp/worker.env" || die "the simulator printed no https SKV_BASE_URL"
say "simulator (/skvsim) serving https://127.0.0.1:$sim_port with client certificates"

# --- the worker ------------------------------------------------------------------
worker=worker-image-$$
containers+=("$worker")
"${run[@]}" -d --name "$worker" --tmpfs "/data:rw,size=64m,mode=0700,U" \
	-v "$tmp/tls:/etc/skattekonto/tls:ro" --env-file "$tmp/worker.env" \
	-e "HTTP_ADDR=127.0.0.1:$http_port" -e "EMBEDDED_NATS_ADDR=127.0.0.1:$nats_port" \
	-e "WORKER_DRAIN_TIMEOUT=$drain" -e LOG_FORMAT=json "$id1" >/dev/null
ready=
for _ in $(seq 120); do
	running "$worker" || die "the worker exited"
	if [[ $(get "$http_port" /readyz) == 200 ]]; then
		ready=1
		break
	fi
	sleep 0.5
done
[[ $ready ]] || die "/readyz did not answer 200 within 60s"
[[ $(get "$http_port" /healthz) == 200 ]] || die "/healthz did not answer 200"
say "worker (/worker): /healthz and /readyz 200 on 127.0.0.1:$http_port"

# --- one fetch round trip through the CLI entry point ------------------------------
account=165781006662 # a demo account of the simulator (README)
fetch_out=$("${run[@]}" --rm -e "NATS_URL=nats://127.0.0.1:$nats_port" --entrypoint /skattekonto "$id1" \
	fetch -wait -timeout 60s "$account" 2>&1) || die "skattekonto fetch failed: $fetch_out"
grep -q FetchCompleted <<<"$fetch_out" || die "no FetchCompleted in the CLI's output: $fetch_out"
say "fetch round trip (/skattekonto fetch -wait $account): $(grep -c . <<<"$fetch_out") event lines, FetchCompleted among them"

# --- SIGTERM: drain, logged, within the grace period ---------------------------------
t0=$(date +%s%N)
podman stop -t "$grace" "$worker" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
code=$(podman inspect --format '{{.State.ExitCode}}' "$worker")
[[ $code == 0 ]] || die "the worker exited with status $code after SIGTERM (137: killed after the ${grace}s grace)"
((ms < grace * 1000)) || die "the worker took ${ms}ms to stop, grace is ${grace}s"
log=$(podman logs "$worker" 2>&1)
grep -qi '"message":"[^"]*drained' <<<"$log" || die "no drain in the worker's log"
! grep -qi 'drain timed out' <<<"$log" || die "the drain timed out"
if grep -q '"level":"\(error\|fatal\|panic\)"' <<<"$log"; then
	die "errors in the worker's log"
fi
say "SIGTERM: drained and exited 0 in ${ms}ms (grace ${grace}s)"
podman stop -t 10 "$sim" >/dev/null
podman logs "$sim" 2>&1 | grep -q 'skvsim stopped' || die "the simulator did not stop cleanly"

failed=0
say "ok in $((SECONDS - start))s: $ref $digest1"
