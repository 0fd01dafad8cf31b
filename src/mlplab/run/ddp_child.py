"""Entry point of the DDP ranks Lightning starts for a Hydra job: ``python -m mlplab.run.ddp_child RANK``.

Started only by :mod:`mlplab.run.ddp_job`, which hands over the job (task, resolved config, logging
setup) in the environment. Runs the same task as rank 0; Lightning makes it a non-zero rank (LOCAL_RANK
is set), so it writes no checkpoints, metrics or TensorBoard files.

Torch-free at import: logging is set up before Lightning is imported, or Lightning would keep its
messages to a console handler of its own instead of this rank's log file.
"""

import ctypes
import importlib
import json
import logging.config
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mlplab.run.exit_codes import run_reporting_errors

# The job a child runs, as JSON: {"task": "module:function", "config": {...}, "logging": {...} | null,
# "parent": rank 0's pid}.
JOB_ENV = "MLPLAB_DDP_JOB"
PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent(parent: int) -> None:
    """Linux: this rank is killed when rank 0 dies, even by SIGKILL; else it could wait for rank 0 in a
    collective until the process-group timeout (NCCL does not notice a dead peer by itself)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # no prctl here: the process-group timeout still bounds the wait
    if os.getppid() != parent:
        os._exit(1)  # rank 0 died before prctl took effect


def rank_log_files(logging_cfg: dict[str, Any], rank: int) -> dict[str, Any]:
    """Hydra's logging setup with each log file renamed ``<name>_rank<N>.log``, beside rank 0's."""
    for handler in logging_cfg.get("handlers", {}).values():
        if "filename" in handler:
            path = Path(handler["filename"])
            handler["filename"] = str(path.with_name(f"{path.stem}_rank{rank}{path.suffix}"))
    return logging_cfg


def main(argv: list[str]) -> None:
    if len(argv) != 1 or not argv[0].isdigit() or JOB_ENV not in os.environ:
        sys.exit("mlplab.run.ddp_child is started by mlplab.run.ddp_job for DDP ranks, not by hand")
    rank = int(argv[0])
    job = json.loads(os.environ.pop(JOB_ENV))
    die_with_parent(job["parent"])
    if job["logging"]:
        logging.config.dictConfig(rank_log_files(job["logging"], rank))
    module, name = job["task"].split(":")
    task = getattr(importlib.import_module(module), name)
    cfg = OmegaConf.create(job["config"])
    assert isinstance(cfg, DictConfig)
    try:
        run_reporting_errors(lambda: task(cfg))
    except Exception as error:
        traceback.print_exc()
        first_line = (str(error).strip().splitlines() or [""])[0]
        print(f"error: rank {rank} failed: {type(error).__name__}: {first_line}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
