#!/usr/bin/env bash
# Start a one-node SLURM cluster on loopback for testing the Snakemake SLURM profile.
#
#   tests/cluster/start-slurm.sh STATE_DIR    # then: source STATE_DIR/slurm.env
#   tests/cluster/stop-slurm.sh STATE_DIR
#
# Needs root (slurmd launches jobs) and Debian's packages slurmctld, slurmd, slurm-client
# and munge; installs them with apt-get when missing (package scripts start no service).
# Everything lives under STATE_DIR: configuration, munge key and socket, SLURM state, logs
# and pid files. munged, slurmctld and slurmd run in the background, bound to 127.0.0.1;
# stop-slurm.sh stops them by pid. There is no accounting database: check jobs with squeue
# (finished jobs stay listed for MinJobAge = 600 s).
# slurmd runs in a private mount namespace in which STATE_DIR/etc is mounted on /etc/slurm,
# so the srun steps inside jobs (whose environment drops SLURM_CONF) find this cluster's
# configuration while the machine's /etc/slurm stays untouched.
set -euo pipefail

STATE=${1:?usage: start-slurm.sh STATE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
GPU_TYPE=${GPU_TYPE:-a100}
PACKAGES=(slurmctld slurmd slurm-client munge)
DEADLINE_S=${SLURM_START_TIMEOUT:-60}

say() { printf 'start-slurm: %s\n' "$*"; }
die() { printf 'start-slurm: %s\n' "$*" >&2; exit 1; }
seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

[[ $(id -u) -eq 0 ]] || die "must run as root (slurmd launches jobs as their owner)."
unshare --mount --propagation private true 2>/dev/null \
    || die "cannot create a mount namespace (unshare --mount); slurmd needs one here."

POLICY=/usr/sbin/policy-rc.d
restore_policy() {
    rm -f "$POLICY"
    if [[ -e $STATE/policy-rc.d.saved || -L $STATE/policy-rc.d.saved ]]; then
        mv "$STATE/policy-rc.d.saved" "$POLICY"
    fi
}

install_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' \
            || missing+=("$package")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "apt-get is missing; install ${missing[*]} by hand."
    local started
    started=$(seconds)
    say "installing ${missing[*]} with apt-get"
    # Keep package scripts from starting the system's own services: a temporary
    # policy-rc.d that denies every start (an existing one is put back afterwards).
    [[ -e $POLICY || -L $POLICY ]] && mv "$POLICY" "$STATE/policy-rc.d.saved"
    trap restore_policy EXIT
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod 755 "$POLICY"
    local status=0
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"; } >"$STATE/log/apt.log" 2>&1 || status=$?
    restore_policy
    trap - EXIT
    [[ $status -eq 0 ]] || die "apt-get failed (see $STATE/log/apt.log): $(tail -n 3 "$STATE/log/apt.log")"
    say "installed in $(elapsed "$started") s"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

fill() {  # fill TEMPLATE OUTPUT: replace the @NAME@ fields
    sed -e "s|@STATE@|$STATE|g" -e "s|@HOST@|$HOST|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" \
        -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" -e "s|@SRUN_PORTS@|$SRUN_PORTS|g" \
        -e "s|@CPUS@|$CPUS|g" -e "s|@MEM_MB@|$MEM_MB|g" -e "s|@GPU_TYPE@|$GPU_TYPE|g" \
        "$1" >"$2"
}

wait_for() {  # wait_for WHAT COMMAND...: retry COMMAND until it succeeds or the deadline
    local what=$1 deadline=$((SECONDS + DEADLINE_S))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what not ready after $DEADLINE_S s; logs in $STATE/log"
        sleep 0.2
    done
}

start() {  # start NAME COMMAND...: run in the background, remember its pid
    "${@:2}" >"$STATE/log/$1.out" 2>&1 </dev/null &
    echo $! >"$STATE/pids/$1"
}

node_idle() { [[ $(sinfo -h -N -o %T 2>/dev/null) == idle ]]; }

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
[[ -z $(ls -A "$STATE" 2>/dev/null) ]] || die "$STATE is not empty; give a new directory."
mkdir -p "$STATE"/{etc,munge,ctld,slurmd,log,pids,dev}
# munge clients (any user's job) must reach the socket through these directories.
chmod 755 "$STATE" "$STATE/munge"
install_packages

[[ -d /etc/slurm ]] || die "/etc/slurm is missing; reinstall the slurm-client package."
HOST=$(hostname -s)
ADDRESS=$(getent ahostsv4 "$HOST" | awk 'NR == 1 { print $1 }')
[[ $ADDRESS == 127.* ]] \
    || die "host name '$HOST' resolves to '${ADDRESS:-nothing}', not a 127.x address; refusing to start."
started=$(seconds)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
SRUN_FIRST=$(free_port)
SRUN_PORTS="$SRUN_FIRST-$((SRUN_FIRST + 9))"
CPUS=$(nproc)
MEM_MB=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
fill "$HERE/slurm.conf.in" "$STATE/etc/slurm.conf"
fill "$HERE/gres.conf.in" "$STATE/etc/gres.conf"
: >"$STATE/plugstack.conf"
mknod "$STATE/dev/gpu0" c 1 3
export SLURM_CONF=$STATE/etc/slurm.conf
printf 'export SLURM_CONF=%q\n' "$SLURM_CONF" >"$STATE/slurm.env"

# From here on, a failure stops every daemon this script started.
trap 'bash "$HERE/stop-slurm.sh" "$STATE" >&2' EXIT
mungekey --create --keyfile="$STATE/munge/munge.key" 2>/dev/null \
    || dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$STATE/munge/munge.key"
start munged munged --foreground --force --socket="$STATE/munge/munge.socket" \
    --key-file="$STATE/munge/munge.key" --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
wait_for "munged" test -S "$STATE/munge/munge.socket"

start slurmctld slurmctld -D -f "$SLURM_CONF"
start slurmd unshare --mount --propagation private -- sh -c \
    'mount --bind "$1/etc" /etc/slurm && exec slurmd -D -f "$1/etc/slurm.conf"' sh "$STATE"
wait_for "the node" node_idle
python3 "$HERE/listening.py" --loopback-only "$STATE"/pids/* \
    || die "a daemon listens on an address outside loopback; stopped them all."
trap - EXIT
say "SLURM $(sinfo -V | awk '{ print $2 }') up in $(elapsed "$started") s: node $HOST idle," \
    "slurmctld on 127.0.0.1:$CTLD_PORT, slurmd on 127.0.0.1:$SLURMD_PORT"
say "use it with: source $STATE/slurm.env; stop it with: $HERE/stop-slurm.sh $STATE"
