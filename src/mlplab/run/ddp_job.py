"""Lightning DDP inside Hydra jobs: the ranks Lightning starts itself rerun *this job*, in its run dir.

Lightning's launcher restarts the script for ranks 1..N-1 from ``sys.argv`` plus ``hydra.run.dir``
(lightning.fabric.strategies.launchers.subprocess_script._hydra_subprocess_cmd). That breaks in a
multirun (``sys.argv`` still holds ``-m`` and the sweep lists, so every child runs a sweep of its own:
lightning-hydra-template#393, Lightning PR #18175) and wherever ``sys.argv`` is not the script
(hydra-submitit-launcher jobs run inside submitit's own entry point). While :func:`ddp_job` is active
the children instead run ``python -m mlplab.run.ddp_child`` on this job's *resolved* config: they
compose nothing, so they cannot pick another run dir, and they write no ``.hydra/`` of their own.

It also keeps one multirun job from leaking into the next (the process group and the rendezvous
environment are reset) and, when a rank dies, says which one before the job exits non-zero.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from mlplab.compat.lightning import Launcher, check_can_spawn_children, children_started_by
from mlplab.run.ddp_child import JOB_ENV
from mlplab.run.exit_codes import JobFailed, in_multirun

log = logging.getLogger(__name__)

# Environment Lightning's launcher sets in the main process; the next job of a multirun needs it unset.
RENDEZVOUS_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# How long finished children may take to exit after rank 0 is done (they end with the same last step).
CHILD_EXIT_WAIT_S = 60.0
# After a failure, how long to wait for a dying child's exit status so the report can name it.
DEATH_NOTICE_WAIT_S = 2.0


def job_payload(cfg: DictConfig, task: str) -> str:
    """This job for the children: its config with every interpolation resolved here, where Hydra is set
    up, and Hydra's logging setup so their log files land beside rank 0's."""
    config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    logging_cfg = None
    if HydraConfig.initialized():
        logging_cfg = OmegaConf.to_container(HydraConfig.get().job_logging, resolve=True)
    return json.dumps({"task": task, "config": config, "logging": logging_cfg, "parent": os.getpid()})


@contextmanager
def ddp_job(cfg: DictConfig, task: str) -> Iterator[None]:
    """Runs the body as one job whose Lightning-started ranks run ``task`` (``"module:function"``) on
    ``cfg``. Under torchrun or srun (ranks started by the launcher) only the clean-up and the failure
    report apply."""
    job = _Job(cfg, task)
    saved_env = {key: os.environ.get(key) for key in RENDEZVOUS_ENV}
    try:
        with children_started_by(job.start_children):
            yield
    except Exception as error:
        message = job.report_failure(error)
        job.stop(grace_s=0.0)
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        # The line above says what happened; this rank's traceback (a broken collective) adds nothing.
        if in_multirun():
            raise JobFailed(message) from error  # the sweep goes on; Hydra shows this line at its end
        sys.exit(1)
    except BaseException:  # SystemExit (already reported), Ctrl-C, SIGTERM: the children stop too
        job.stop(grace_s=5.0)
        raise
    else:
        job.stop(grace_s=CHILD_EXIT_WAIT_S)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class _Job:
    """The children of one job: how they start, and what happens to them when it ends."""

    def __init__(self, cfg: DictConfig, task: str) -> None:
        self.cfg, self.task = cfg, task
        self.children: list[tuple[int, subprocess.Popen]] = []
        self.observed: list[subprocess.Popen] = []  # the list Lightning's process observer polls

    def start_children(self, launcher: Launcher) -> None:
        """Stands in for ``Launcher._call_children_scripts``: same environment, our command."""
        check_can_spawn_children(launcher)
        cluster = launcher.cluster_environment
        os.environ["MASTER_ADDR"] = cluster.main_address
        os.environ["MASTER_PORT"] = str(cluster.main_port)
        os.environ["NODE_RANK"] = str(cluster.node_rank())
        os.environ["LOCAL_RANK"] = str(cluster.local_rank())
        os.environ["WORLD_SIZE"] = str(launcher.num_processes * launcher.num_nodes)
        # Resolved now, inside the task: a config error is reported like any other (see mlplab.run.exit_codes).
        payload = job_payload(self.cfg, self.task)
        launcher.procs = self.observed
        for local_rank in range(1, launcher.num_processes):
            rank = cluster.node_rank() * launcher.num_processes + local_rank
            env = {**os.environ, "LOCAL_RANK": str(local_rank), JOB_ENV: payload}
            command = [sys.executable, "-m", "mlplab.run.ddp_child", str(rank)]
            proc = subprocess.Popen(command, env=env, cwd=os.getcwd())
            self.observed.append(proc)
            self.children.append((rank, proc))

    def report_failure(self, error: BaseException) -> str | None:
        """Logs and returns one line naming the rank(s) that died, and this rank's own error."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not self.children:
            return None  # not distributed: the error speaks for itself
        # A killed child breaks this rank's collective as it dies: give its exit status a moment to show.
        deadline = time.monotonic() + (DEATH_NOTICE_WAIT_S if self.children else 0.0)
        dead = self._dead()
        while not dead and time.monotonic() < deadline:
            time.sleep(0.05)
            dead = self._dead()
        parts = [f"rank {rank} (pid {proc.pid}) {describe_exit(proc.returncode)}" for rank, proc in dead]
        first_line = (str(error).strip().splitlines() or [""])[0]
        parts.append(f"rank {getattr(rank_zero_only, 'rank', 0)} stopped on {type(error).__name__}: {first_line}")
        message = f"error: distributed job failed: {'; '.join(parts)}"
        log.error(message)
        return message

    def _dead(self) -> list[tuple[int, subprocess.Popen]]:
        return [(rank, proc) for rank, proc in self.children if proc.poll() not in (None, 0)]

    def stop(self, grace_s: float) -> None:
        """Waits up to ``grace_s`` for the children to exit, then kills the rest (SIGKILL: a rank stuck
        in a collective may ignore SIGTERM, as Lightning's own observer knows)."""
        deadline = time.monotonic() + grace_s
        for rank, proc in self.children:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                if grace_s:
                    log.warning("rank %d (pid %d) still running after rank 0 finished; killing it", rank, proc.pid)
                proc.kill()
                proc.wait()
        # Exit codes are settled (and reported): Lightning's observer must not kill this process for them,
        # which in a multirun would end the whole sweep.
        self.observed.clear()
        self.children.clear()
