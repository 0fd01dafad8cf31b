"""More workers on one study: processes on this machine, or a SLURM job array through submitit.

Every worker is the same command (``sys.argv``) with ``tune.worker_index=K``: it opens the shared storage and
runs trials until the study's budget is spent.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig

from mlplab.errors import UserError
from mlplab.extras import require


def _command(index: int) -> list[str]:
    return [
        sys.executable,
        sys.argv[0],
        *sys.argv[1:],
        "tune.launcher=local",
        "tune.workers=1",
        f"tune.worker_index={index}",
    ]


def start_local(workers: int, study_dir: Path) -> list[subprocess.Popen[bytes]]:
    """Workers 1..N-1 as child processes (this process is worker 0); their output goes to workers/K.log."""
    logs = study_dir / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    # The cores are shared: each worker's torch gets its part (set before the children import torch).
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers))}
    children = []
    for k in range(1, workers):
        with open(logs / f"{k}.log", "wb") as out:
            children.append(subprocess.Popen(_command(k), stdout=out, stderr=subprocess.STDOUT, env=env))
    return children


def wait_local(children: list[subprocess.Popen[bytes]], study_dir: Path) -> None:
    failed = [k for k, child in enumerate(children, start=1) if child.wait() != 0]
    if failed:
        logs = ", ".join(str(study_dir / "workers" / f"{k}.log") for k in failed)
        print(f"warning: worker(s) {failed} ended with an error; see {logs}", file=sys.stderr, flush=True)


def stop_local(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        child.wait()


def run_on_submitit(tune: DictConfig, study_dir: Path) -> None:
    """``tune.launcher=slurm`` (or ``slurm_local``): a job array of ``tune.workers`` jobs; waits for them all."""
    require("slurm", f"tune.launcher={tune.launcher}")
    import submitit

    if tune.launcher == "slurm" and not shutil.which("srun"):
        raise UserError(
            "tune.launcher=slurm: srun not found, this machine is not part of a SLURM cluster; start it from the "
            "cluster's login node, or try it here with tune.launcher=slurm_local"
        )
    cluster = "local" if tune.launcher == "slurm_local" else "slurm"
    executor = submitit.AutoExecutor(folder=study_dir / "workers" / "%j", cluster=cluster)
    settings = {k: v for k, v in tune.slurm.items() if v is not None} if cluster == "slurm" else {}
    executor.update_parameters(
        slurm_array_parallelism=tune.workers, **{f"slurm_{k}": v for k, v in settings.items() if k != "timeout_min"}
    )
    executor.update_parameters(timeout_min=tune.slurm.timeout_min)
    base = _command(0)[:-1]  # each job adds its own worker index
    jobs = executor.map_array(
        submitit.helpers.CommandFunction(base), [f"tune.worker_index={k}" for k in range(tune.workers)]
    )
    print(f"Submitted {len(jobs)} worker jobs ({jobs[0].job_id.split('_')[0]}); their logs: {study_dir / 'workers'}")
    for job in jobs:
        try:
            job.result()
        except Exception as e:  # a worker that failed: the others' trials still count
            print(f"warning: worker job {job.job_id} failed: {' '.join(str(e).split())[:300]}", file=sys.stderr)
