#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (Debian/Ubuntu, run as root), for CI and for
# tests/slurm: installs Debian's slurmctld, slurmd, slurm-client and munge if missing, writes a
# slurm.conf for this host (CPUs and memory detected, no GPUs, no accounting database), starts
# munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle.
#
# Idempotent: with an unchanged slurm.conf and the node answering, nothing is restarted; a
# changed slurm.conf restarts the daemons, missing daemons are started. Exit status 0 when
# the cluster is up; 1 with a message on stderr when it cannot be installed or started.
#
#   bash .ci/slurm-setup.sh            # set up (or confirm) the cluster
#   SLURM_SETUP_TIMEOUT=120 bash ...   # seconds to wait for the node (default 60)
set -euo pipefail

# Partition names match profiles/slurm/profile.yaml: CPU jobs go to "cpu" (the default),
# rules with gpu=1 to "gpu" (the same node here, which has no GPUs).
PARTITION=cpu
GPU_PARTITION=gpu
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
TIMEOUT=${SLURM_SETUP_TIMEOUT:-60}
LOG_DIR=/var/log/slurm

die() {
  echo "slurm-setup: $*" >&2
  exit 1
}

node_state() {
  # The state of this partition's node ("idle", "mix", "down*", ...), empty if none answers.
  timeout 10 sinfo --noheader --partition "$PARTITION" --format=%T 2> /dev/null | head -n 1 || true
}

if [[ $(id -u) -ne 0 ]]; then
  # Without root nothing can be installed or started; a running cluster is still usable.
  if command -v sinfo > /dev/null 2>&1 && [[ "$(node_state)" =~ ^(idle|mixed|allocated)$ ]]; then
    echo "slurm-setup: cluster already up ($(node_state)); not root, configuration not checked"
    exit 0
  fi
  die "must run as root to install and start SLURM (uid $(id -u))"
fi

# ---------------------------------------------------------------- packages
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null ||
  ! command -v sinfo > /dev/null || ! command -v munged > /dev/null; then
  command -v apt-get > /dev/null || die "apt-get not found: install slurmctld slurmd slurm-client munge by hand"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge > /dev/null ||
    die "apt-get install slurmctld slurmd slurm-client munge failed"
fi

# ---------------------------------------------------------------- munge
# Debian's postinst creates the key; create one if an image stripped it.
if [[ ! -s /etc/munge/munge.key ]]; then
  if command -v mungekey > /dev/null; then
    mungekey --create --force
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n > /dev/null 2>&1; then
  runuser -u munge -- munged || die "munged did not start (see /var/log/munge/munged.log)"
  for _ in $(seq 20); do munge -n > /dev/null 2>&1 && break; sleep 0.5; done
  munge -n > /dev/null 2>&1 || die "munged does not answer"
fi

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)
# RealMemory in MB, leaving 10% (at least 512 MB) for the daemons and the workflow itself.
TOTAL_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
RESERVE_MB=$((TOTAL_MB / 10 > 512 ? TOTAL_MB / 10 : 512))
MEMORY_MB=$((TOTAL_MB - RESERVE_MB))

mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /run/slurm
cat > "$CONF.new" << EOF
# One-node test cluster written by .ci/slurm-setup.sh: do not edit, rerun the script.
ClusterName=dmdsurrogate
# Addresses are given so that the host name need not resolve.
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups in containers: track processes by parent id, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No accounting database: snakemake queries job states with squeue, so finished jobs must
# stay visible long enough (MinJobAge seconds).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=900
# Several small jobs share the node, by CPU and memory.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
# A plain srun inside a job starts MPI ranks through PMI-2 (MPICH and Open MPI speak it).
MpiDefault=pmi2
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
# No GPUs on this node (no Gres): GPU rules need gpu=0 here (tests/slurm does that).
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=$GPU_PARTITION Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF

if cmp -s "$CONF.new" "$CONF" && [[ "$(node_state)" =~ ^(idle|mixed|allocated)$ ]]; then
  rm -f "$CONF.new"
  echo "slurm-setup: cluster already up ($(node_state))"
  exit 0
fi

# A changed configuration needs restarted daemons; an unchanged one only missing ones.
RESTART=0
if ! cmp -s "$CONF.new" "$CONF"; then
  mv "$CONF.new" "$CONF"
  RESTART=1
else
  rm -f "$CONF.new"
fi

running() {
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2> /dev/null
}

stop_daemon() {
  local pidfile=$1
  if running "$pidfile"; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 20); do running "$pidfile" || break; sleep 0.5; done
  fi
}

if [[ $RESTART -eq 1 ]]; then
  stop_daemon /run/slurm/slurmd.pid
  stop_daemon /run/slurm/slurmctld.pid
fi
if ! running /run/slurm/slurmctld.pid; then
  # A new configuration starts from a clean state (-c: no jobs or node states saved under
  # an earlier one); a restart under the same one keeps the queue.
  if [[ $RESTART -eq 1 ]]; then
    slurmctld -c || die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
  else
    slurmctld || die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
  fi
fi
if ! running /run/slurm/slurmd.pid; then
  slurmd || die "slurmd did not start (see $LOG_DIR/slurmd.log)"
fi

# ---------------------------------------------------------------- wait for the node
deadline=$((SECONDS + TIMEOUT))
state=""
while ((SECONDS < deadline)); do
  state=$(node_state)
  case $state in
    idle | mixed | allocated)
      echo "slurm-setup: node $HOST $state (CPUs=$CPUS RealMemory=${MEMORY_MB}M, partitions $PARTITION $GPU_PARTITION)"
      exit 0
      ;;
    down* | drain* | fail*)
      scontrol update NodeName="$HOST" State=RESUME > /dev/null 2>&1 || true
      ;;
  esac
  sleep 1
done
die "node $HOST not idle after ${TIMEOUT}s (state '${state}'); see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log"
