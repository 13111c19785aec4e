#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for tests (Debian 12's Slurm 22.05: the slurmctld,
# slurmd and slurm-client packages). One controller and N slurmd node daemons on 127.0.0.1, each
# node with 8 GPUs whose "device files" are /dev/tty0..7 (22.05 drops a GPU without a file; Slurm's
# own test suite does the same), no munge (auth/none, cred/none), no accounting, on free ports
# (never 6817-6820, so a test never meets a real cluster), everything in one directory.
#
#   scripts/slurm-test-cluster.sh start DIR   starts it; prints `SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-test-cluster.sh stop DIR    stops every daemon it started there
#   scripts/slurm-test-cluster.sh stop-controller DIR / start-controller DIR
#                                             stops or starts slurmctld alone (jobs keep running)
#
# Environment: SLURM_TEST_NODES (default 3: gpu1..gpuN), SLURM_TEST_TYPES (GPU type per node,
# comma separated, default a100 for all), SLURM_TEST_PARTITION (default gpu).
# Needs root (slurmd starts jobs as their user). The daemons are started under the names slurmctld
# and slurmd: under Debian's alternatives name slurmd-wlm a node silently loses its GPUs.
#
# The scheduler settings are those docs/slurm.md asks of a cluster behind Arbiter: FIFO priority,
# no backfill, no preemption by Slurm. batch_sched_delay=0 starts a submitted job at once.
set -euo pipefail

usage() { echo "usage: $0 start|stop|stop-controller|start-controller DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$2

# Kills a process and everything under it (children first found, then killed top-down).
kill_tree() {
  local pid=$1 child
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill_tree "$child"; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_cluster() {
  local d=$1 f pid p
  # Jobs first, while the controller is there to end them (KillWait=5).
  if [ -f "$d/slurm.conf" ] && [ -f "$d/run/slurmctld.pid" ]; then
    local ids
    ids=$(SLURM_CONF="$d/slurm.conf" timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF="$d/slurm.conf" timeout 10 scancel $ids 2>/dev/null || true
      for _ in $(seq 1 40); do
        [ -z "$(SLURM_CONF="$d/slurm.conf" timeout 10 squeue -h -t running,completing -o %i 2>/dev/null || true)" ] && break
        sleep 0.25
      done
    fi
  fi
  for f in "$d"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do
    local alive=0
    for f in "$d"/run/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for f in "$d"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  # slurmstepd outlives its slurmd and rewrites its environment: this cluster's are those that
  # hold one of its files open (its slurmd log). They go with the job processes under them.
  for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
    if ls -l "/proc/$p/fd" 2>/dev/null | grep -qF -- "$d/"; then kill_tree "$p"; fi
  done
}

sbin() { if [ -x "/usr/sbin/$1" ]; then echo "/usr/sbin/$1"; else command -v "$1"; fi; }

if [ "$action" = stop-controller ]; then
  pid=$(cat "$dir/run/slurmctld.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  exit 0
fi
if [ "$action" = start-controller ]; then
  ( exec -a slurmctld "$(sbin slurmctld)" -f "$dir/slurm.conf" ) </dev/null >>"$dir/log/slurmctld.out" 2>&1
  for _ in $(seq 1 150); do SLURM_CONF="$dir/slurm.conf" scontrol ping 2>/dev/null | grep -q UP && exit 0; sleep 0.2; done
  echo "$0: slurmctld did not answer within 30 s" >&2
  exit 1
fi

if [ "$action" = stop ]; then
  [ -d "$dir" ] || exit 0
  stop_cluster "$dir"
  exit 0
fi
[ "$action" = start ] || usage

for program in slurmctld slurmd scontrol sinfo squeue sbatch; do
  if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
    echo "$0: $program not found: install Debian's slurmctld, slurmd and slurm-client packages (apt-get install slurmctld slurmd slurm-client)" >&2
    exit 1
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: must run as root (slurmd starts each job as the user who submitted it)" >&2
  exit 1
fi

nodes=${SLURM_TEST_NODES:-3}
partition=${SLURM_TEST_PARTITION:-gpu}
IFS=, read -r -a types <<<"${SLURM_TEST_TYPES:-}"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/run" "$dir/state" "$dir/log" "$dir/jobs"
chmod 755 "$dir" "$dir/jobs"
chmod 1777 "$dir/jobs"

# Free TCP ports on 127.0.0.1, above the range a real cluster uses. A port is taken when something
# answers on it or a socket holds it (ss); a few are tried at random.
in_use() { ss -Htan "sport = :$1" 2>/dev/null | grep -q . || (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports=()
while [ "${#ports[@]}" -lt $((nodes + 1)) ]; do
  p=$((20000 + RANDOM % 30000))
  in_use "$p" && continue
  case " ${ports[*]:-} " in *" $p "*) continue ;; esac
  ports+=("$p")
done
ctl_port=${ports[0]}

{
  echo "# Written by scripts/slurm-test-cluster.sh: a test cluster on 127.0.0.1."
  echo "ClusterName=arbitertest"
  echo "SlurmctldHost=localhost(127.0.0.1)"
  echo "SlurmctldPort=$ctl_port"
  echo "SlurmUser=root"
  echo "SlurmdUser=root"
  echo "AuthType=auth/none"
  echo "CredType=cred/none"
  echo "MpiDefault=none"
  echo "ProctrackType=proctrack/linuxproc"
  echo "TaskPlugin=task/none"
  echo "SelectType=select/cons_tres"
  echo "SelectTypeParameters=CR_Core"
  echo "GresTypes=gpu"
  echo "SlurmdParameters=config_overrides"
  echo "ReturnToService=1"
  echo "StateSaveLocation=$dir/state"
  echo "SlurmdSpoolDir=$dir/spool/%n"
  echo "SlurmctldPidFile=$dir/run/slurmctld.pid"
  echo "SlurmdPidFile=$dir/run/slurmd-%n.pid"
  echo "SlurmctldLogFile=$dir/log/slurmctld.log"
  echo "SlurmdLogFile=$dir/log/slurmd-%n.log"
  echo "SlurmctldDebug=info"
  echo "SlurmdDebug=info"
  echo "AccountingStorageType=accounting_storage/none"
  echo "JobCompType=jobcomp/none"
  echo "JobAcctGatherType=jobacct_gather/none"
  # What Arbiter needs of Slurm (docs/slurm.md): Slurm never reorders or preempts on its own.
  echo "SchedulerType=sched/builtin"
  echo "PriorityType=priority/basic"
  echo "PreemptType=preempt/none"
  echo "SchedulerParameters=batch_sched_delay=0"
  echo "KillWait=5"
  echo "MinJobAge=600"
  echo "InactiveLimit=0"
  echo "SlurmdTimeout=30"
  echo "MessageTimeout=20"
  echo "JobRequeue=1"
  for i in $(seq 1 "$nodes"); do
    type=${types[$((i - 1))]:-${types[0]:-a100}}
    echo "NodeName=gpu$i NodeHostName=localhost NodeAddr=127.0.0.1 Port=${ports[$i]} CPUs=8 RealMemory=1000 Gres=gpu:$type:8 State=UNKNOWN"
  done
  echo "PartitionName=$partition Nodes=gpu[1-$nodes] Default=YES MaxTime=INFINITE State=UP"
} >"$dir/slurm.conf"
{
  for i in $(seq 1 "$nodes"); do
    type=${types[$((i - 1))]:-${types[0]:-a100}}
    echo "NodeName=gpu$i Name=gpu Type=$type File=/dev/tty[0-7]"
  done
} >"$dir/gres.conf"

export SLURM_CONF="$dir/slurm.conf"

# Daemonized (no -D): each writes its pid file; exec -a keeps the names slurmctld/slurmd.
( exec -a slurmctld "$(sbin slurmctld)" -f "$SLURM_CONF" -i ) </dev/null >"$dir/log/slurmctld.out" 2>&1
for i in $(seq 1 "$nodes"); do
  mkdir -p "$dir/spool/gpu$i"
  ( exec -a slurmd "$(sbin slurmd)" -N "gpu$i" -f "$SLURM_CONF" ) </dev/null >"$dir/log/slurmd-gpu$i.out" 2>&1
done

# Ready when every node is idle.
for _ in $(seq 1 300); do
  states=$(sinfo -h -N -o '%N %t' 2>/dev/null || true)
  idle=$(printf '%s\n' "$states" | awk '$2 == "idle"' | wc -l)
  if [ "$idle" -ge "$nodes" ]; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "$0: the cluster in $dir did not become ready in 60 s; nodes: ${states:-none}" >&2
tail -n 20 "$dir"/log/*.log >&2 || true
stop_cluster "$dir"
exit 1
