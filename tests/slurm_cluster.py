"""A real single-node SLURM cluster (Debian slurm-wlm) in a temporary folder, for the SLURM backend tests.

slurmctld and slurmd run in the foreground as the current user with auth/none, proctrack/linuxproc and
task/none (no cgroups, no munge), one GPU GRES backed by /dev/null so ``--gres=gpu:1`` schedules, and
``kill_invalid_depend`` so a failed job cancels its dependents.  Everything lives under the folder.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd")
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE")


def missing() -> str | None:
    """Why no cluster can start here, or None."""
    absent = [d for d in (*DAEMONS, "sbatch", "scontrol") if shutil.which(d) is None]
    if absent:
        return f"slurm-wlm is not installed (no {', '.join(absent)}): apt-get install slurm-wlm"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(root: Path, host: str) -> str:
    user = getpass.getuser()
    return f"""ClusterName=em2exmtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/none
CredType=cred/none
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
DependencyParameters=kill_invalid_depend
MinJobAge=3600
ReturnToService=2
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs=16 RealMemory=131072 Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Cluster:
    """A running cluster: ``env`` points SLURM commands at it."""

    root: Path
    env: dict[str, str]

    def state(self, job_id: str) -> list[str]:
        """The states of a job (one per array task)."""
        out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, env=self.env, check=True).stdout
        return re.findall(r"JobState=(\S+)", out)

    def wait(self, job_ids: list[str], timeout: float) -> dict[str, list[str]]:
        """Wait until every job has finished; return their states."""
        deadline = time.monotonic() + timeout
        while True:
            states = {job: self.state(job) for job in job_ids}
            if all(s and all(x in FINISHED for x in s) for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still running after {timeout} s: {states}")
            time.sleep(1)


@contextmanager
def cluster(root: Path, timeout: float = 60) -> Iterator[Cluster]:
    """Start slurmctld and slurmd under ``root``; stop them (by their own pids) on exit."""
    host = socket.gethostname().split(".")[0]
    for folder in ("state", "spool"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "slurm.conf").write_text(_config(root, host))
    (root / "gres.conf").write_text(f"AutoDetect=off\nNodeName={host} Name=gpu File=/dev/null\n")
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    processes = []
    try:
        for daemon in DAEMONS:
            log = (root / f"{daemon}.out").open("w")
            processes.append(subprocess.Popen([daemon, "-D", "-f", str(root / "slurm.conf")], stdout=log, stderr=subprocess.STDOUT, env=env))
            time.sleep(1)
        deadline = time.monotonic() + timeout
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env).stdout:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                logs = "".join((root / f"{d}.out").read_text()[-1500:] for d in DAEMONS)
                raise RuntimeError(f"the SLURM node did not come up:\n{logs}")
            time.sleep(0.5)
        yield Cluster(root, env)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
