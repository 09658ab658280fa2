#!/usr/bin/env bash
# `make test-cluster`: stand up a real single-node SLURM on this machine (munged, slurmctld, slurmd from
# the Debian packages), run the phantom DAG through `--profile workflow/profiles/slurm`, and check that
#   1. every job ran inside a SLURM allocation (sbatch submissions in the log, numeric SLURM_JOB_ID
#      written by the jobs themselves, one SLURM log per submitted job),
#   2. the results equal those of a local run of the same DAG (tests/cluster/compare_results.py),
#   3. a failing job is reported as failed, and is retried once with more memory (attempt scaling).
# Needs root and apt (it says so and exits 2 elsewhere). Every step is bounded by a timeout and the
# daemons it started are stopped by PID on exit, so it cannot hang CI.
#
# Environment: N_SUBJECTS (16), RUN_TIMEOUT (seconds per snakemake run, 1500: the local run took 1040 s
# on 2 cores shared with a load average of ~18), KEEP_WORKDIR=1 (keep the temp dir), CLUSTER_TEST_TARGETS
# (snakemake targets; default: rule all).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${VENV_BIN:-$ROOT/.venv/bin}
N_SUBJECTS=${N_SUBJECTS:-16} # 2 folds of 16: every training split holds both classes
RUN_TIMEOUT=${RUN_TIMEOUT:-1500}
TARGETS=${CLUSTER_TEST_TARGETS:-}
T0=$SECONDS

say() { printf '[test-cluster %4ds] %s\n' $((SECONDS - T0)) "$*"; }
fail() {
    say "FAILED: $*"
    exit 1
}

# ---- preconditions ----------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "test-cluster: needs root: it installs SLURM and munge with apt and starts munged, slurmctld and" \
        "slurmd on this machine. Run it as root (as CI does), e.g. 'sudo make test-cluster'." >&2
    exit 2
fi
if ! command -v apt-get >/dev/null; then
    echo "test-cluster: needs apt-get (Debian/Ubuntu) to install slurmctld, slurmd, slurm-client and munge." >&2
    exit 2
fi
[ -x "$BIN/snakemake" ] || fail "$BIN/snakemake not found: run 'make test' (or pip install -e '.[slurm,test]') first"
"$BIN/python" -c "import snakemake_executor_plugin_slurm" 2>/dev/null ||
    fail "the SLURM executor plugin is missing: $BIN/pip install -e '.[slurm]'"

missing=()
for exe in munged slurmctld slurmd sbatch; do command -v "$exe" >/dev/null || missing+=("$exe"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq || fail "apt-get update"
    timeout 300 apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null ||
        fail "apt-get install slurmctld slurmd slurm-client munge"
fi

# ---- the cluster, in a temp dir, stopped by PID on exit ------------------------------------------------
WORK=$(mktemp -d /tmp/mrisynth-cluster.XXXXXX)
OURS="# written by mrisynth tests/cluster/run_cluster_test.sh"
export SLURM_CONF=/etc/slurm/slurm.conf
chmod 755 "$WORK"
S=$WORK/slurm
M=$WORK/munge
mkdir -p "$S/state" "$S/spool"
install -d -o munge -g munge -m 755 "$M"

stop_pidfile() { # stop the daemon whose pid file is $1; SIGKILL after 10 s
    local pid
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        case $(ps -o stat= -p "$pid" 2>/dev/null) in
        "" | Z*) return 0 ;; # gone, or a zombie waiting for init to reap it
        esac
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
}
BACKGROUND=() # snakemake runs started in the background (their `timeout` PIDs)
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -s "$S/slurmctld.pid" ]; then
        timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
    fi
    for pid in "${BACKGROUND[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        kill "$pid" 2>/dev/null # timeout passes SIGTERM on and SIGKILLs 15 s later
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    done
    stop_pidfile "$S/slurmd.pid"
    stop_pidfile "$S/slurmctld.pid"
    stop_pidfile "$M/munged.pid"
    if head -n 1 "$SLURM_CONF" 2>/dev/null | grep -qF "$OURS"; then rm -f "$SLURM_CONF"; fi
    if [ "$rc" -ne 0 ] || [ "${KEEP_WORKDIR:-0}" = 1 ]; then
        echo "test-cluster: work dir kept for inspection: $WORK (daemon logs in $S)" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$BIN/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

# munged with its own key, socket and pid file, so nothing outside $WORK is touched
timeout 20 mungekey --create --keyfile="$M/munge.key" || fail "mungekey"
chown munge:munge "$M/munge.key" && chmod 400 "$M/munge.key"
timeout 20 runuser -u munge -- munged --key-file="$M/munge.key" --socket="$M/munge.socket" \
    --pid-file="$M/munged.pid" --log-file="$M/munged.log" --seed-file="$M/munged.seed" || fail "munged did not start"
timeout 10 bash -c "munge -n -S '$M/munge.socket' | unmunge -S '$M/munge.socket' >/dev/null" || fail "munge round trip"

# slurm.conf: this machine as the node 'localhost' with the CPUs and memory slurmd detects. It must sit
# at the default path: the plugin's job step strips SLURM_* (SLURM_CONF too) before the inner srun.
if [ -e "$SLURM_CONF" ] && ! head -n 1 "$SLURM_CONF" | grep -qF "$OURS"; then
    echo "test-cluster: $SLURM_CONF exists and is not ours: this machine has its own SLURM; not touching it" >&2
    exit 2
fi
mkdir -p /etc/slurm
read -r CPUS MEM < <(slurmd -C | awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}}
                                     /^NodeName/ {print v["CPUs"], int(v["RealMemory"] * 0.9)}')
cat >"$SLURM_CONF" <<EOF
$OURS (removed on exit)
ClusterName=mrisynthtest
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$M/munge.socket
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
timeout 30 slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start (see $S/slurmctld.log)"
timeout 30 slurmd -f "$SLURM_CONF" -N localhost || fail "slurmd did not start (see $S/slurmd.log)"
for _ in $(seq 60); do
    state=$(timeout 5 sinfo -h -N -n localhost -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || fail "node not idle after 60 s (state '$state'; see $S/slurmctld.log)"
say "SLURM up: node localhost idle, $CPUS CPUs, $MEM MB"

export PATH=$BIN:$PATH # jobs inherit it through sbatch, so `mrisynth` resolves inside the allocation
export OMP_NUM_THREADS=1

# ---- a failing job: reported as failed, retried once with twice the memory ------------------------------
mkdir -p "$WORK/fail"
timeout --kill-after=15 "$RUN_TIMEOUT" "$BIN/snakemake" --snakefile "$ROOT/tests/cluster/failing.smk" \
    --profile "$ROOT/workflow/profiles/slurm" --directory "$WORK/fail" >"$WORK/fail.log" 2>&1 &
FAIL_PID=$!
BACKGROUND+=("$FAIL_PID")

# ---- the same DAG, locally and through SLURM, on the same phantom data ---------------------------------
mkdir -p "$WORK/data" "$WORK/local" "$WORK/cluster"
CONFIG=$WORK/config.yaml
"$BIN/python" - "$ROOT/configs/demo.yaml" "$ROOT/tests/cluster/overrides.yaml" "$CONFIG" \
    "$WORK/data/data_manifest.csv" <<'EOF'
import sys, yaml
demo, overrides, dst, manifest = sys.argv[1:]

def merge(base, extra):
    for key, value in extra.items():
        base[key] = merge(base.get(key) or {}, value) if isinstance(value, dict) else value
    return base

extra = yaml.safe_load(open(overrides)) or {}
cfg = merge(yaml.safe_load(open(demo)), extra)
# synthesis models: exactly those the overrides list (each merged over the demo's section)
cfg["synthesis"]["models"] = {m: cfg["synthesis"]["models"][m] for m in extra["synthesis"]["models"]}
merge(cfg, {"manifest": manifest, "results": "results"})
yaml.safe_dump(cfg, open(dst, "w"), sort_keys=False)
EOF
# the data are made after the config file, so neither run sees a reason to rebuild them
timeout 300 "$BIN/mrisynth" phantom --config "$CONFIG" --n-subjects "$N_SUBJECTS" \
    --manifest "$WORK/data/data_manifest.csv" >"$WORK/phantom.log" 2>&1 ||
    fail "mrisynth phantom (see $WORK/phantom.log)"
say "phantom cohort of $N_SUBJECTS subjects built"

# --cores: a grouped job must fit on this one node
# shellcheck disable=SC2086 # TARGETS is a word list
timeout --kill-after=15 "$RUN_TIMEOUT" "$BIN/snakemake" --snakefile "$ROOT/Snakefile" \
    --profile "$ROOT/workflow/profiles/slurm" --configfile "$CONFIG" --directory "$WORK/cluster" \
    --cores "$CPUS" $TARGETS >"$WORK/cluster.log" 2>&1 &
CLUSTER_PID=$!
BACKGROUND+=("$CLUSTER_PID")
# shellcheck disable=SC2086
timeout --kill-after=15 "$RUN_TIMEOUT" "$BIN/snakemake" --snakefile "$ROOT/Snakefile" \
    --profile "$ROOT/workflow/profiles/local" --configfile "$CONFIG" --directory "$WORK/local" \
    $TARGETS >"$WORK/local.log" 2>&1 || {
    tail -n 30 "$WORK/local.log"
    fail "local run (see $WORK/local.log)"
}
say "local run done"
wait "$CLUSTER_PID" || {
    tail -n 40 "$WORK/cluster.log"
    fail "SLURM run (see $WORK/cluster.log)"
}
say "SLURM run done"
wait "$FAIL_PID" && fail "the failing workflow succeeded on SLURM" || true
say "failing workflow returned non-zero as it should"

# ---- checks ----------------------------------------------------------------------------------------
"$BIN/python" "$ROOT/tests/cluster/check_cluster_run.py" --work "$WORK" || fail "checks (see above)"
say "PASSED in $((SECONDS - T0)) s"
