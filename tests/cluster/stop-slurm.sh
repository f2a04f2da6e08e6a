#!/usr/bin/env bash
# Stop the daemons that start-slurm.sh STATE_DIR started, by their recorded pids.
#
#   tests/cluster/stop-slurm.sh STATE_DIR
#
# Cancels the cluster's jobs and ends the job processes slurmd left behind (those in its
# private mount namespace), then sends SIGTERM to the daemons (slurmd first, munged last), waits until each process is gone or a zombie
# (read from /proc/PID/stat: a stopped daemon can linger as a zombie until it is reaped),
# and sends SIGKILL to whatever is still running after the deadline. Exits 1 if a process
# survives even that. The state directory is left in place for its logs.
set -uo pipefail

STATE=${1:?usage: stop-slurm.sh STATE_DIR}
DEADLINE_S=${SLURM_STOP_TIMEOUT:-20}

say() { printf 'stop-slurm: %s\n' "$*"; }

# alive PID NAME: the process exists, is not a zombie, and is still the daemon we started
# (its command name differs once the pid has been reused).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $stat == *"($2) "* && ${stat##*) } != Z* ]]
}

wait_gone() {  # wait_gone PID NAME SECONDS
    local deadline=$((SECONDS + $3))
    while alive "$1" "$2"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# namespace_members PID: the other processes in PID's mount namespace (the job steps).
namespace_members() {
    local namespace member
    namespace=$(readlink "/proc/$1/ns/mnt" 2>/dev/null) || return 0
    for member in /proc/[0-9]*; do
        member=${member#/proc/}
        [[ $member != "$1" && $(readlink "/proc/$member/ns/mnt" 2>/dev/null) == "$namespace" ]] \
            && ! grep -q ') Z' "/proc/$member/stat" 2>/dev/null && echo "$member"
    done
}

stop_jobs() {
    local slurmd_pid jobs deadline=$((SECONDS + DEADLINE_S))
    export SLURM_CONF=$STATE/etc/slurm.conf
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
    [[ -n $jobs ]] && { say "cancelling jobs $(echo $jobs)"; timeout 10 scancel $jobs; }
    [[ -f $STATE/pids/slurmd ]] || return 0
    slurmd_pid=$(<"$STATE/pids/slurmd")
    alive "$slurmd_pid" slurmd || return 0
    while [[ -n $(namespace_members "$slurmd_pid") ]] && ((SECONDS < deadline)); do
        sleep 0.2
    done
    for pid in $(namespace_members "$slurmd_pid"); do
        say "killing job process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"
        kill -KILL "$pid" 2>/dev/null
    done
}

stop_jobs
status=0
for name in slurmd slurmctld munged; do
    file=$STATE/pids/$name
    [[ -f $file ]] || continue
    pid=$(<"$file")
    if alive "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null
        if ! wait_gone "$pid" "$name" "$DEADLINE_S"; then
            say "$name ($pid) ignored SIGTERM for $DEADLINE_S s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            wait_gone "$pid" "$name" 5 || { say "$name ($pid) is still running"; status=1; }
        fi
    fi
    alive "$pid" "$name" || { rm -f "$file"; say "$name ($pid) stopped"; }
done
exit $status
