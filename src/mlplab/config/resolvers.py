"""OmegaConf resolvers the configs use; registered by the entry scripts before Hydra composes.

Torch-free on purpose: it is imported for ``--help`` and ``--cfg job``.

Under torchrun and ``srun`` every rank is a separate ``python scripts/train.py`` that composes its own
config, so what must be shared by the ranks of one launch (the run directory's name) comes from what
the launcher gives them all, and what only rank 0 should write (``.hydra/``) depends on the rank.
"""

import os
import secrets
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from mlplab.errors import UserError, needs_a_value

STAMP = "%Y-%m-%d_%H-%M-%S"


def _process_start(pid: int) -> float | None:
    """Wall-clock start time of ``pid`` (Linux), or None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5): starttime, in clock ticks since boot
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:6] == "btime "
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _stamp(seconds: float | None = None) -> str:
    return time.strftime(STAMP, time.localtime(seconds))


def _torchrun_run_id() -> str | None:
    """The name all ranks of one torchrun launch agree on, or None outside torchrun."""
    rdzv_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if rdzv_id is None:
        return None
    if int(os.environ.get("GROUP_WORLD_SIZE", "1")) > 1:
        # Several nodes: each has its own agent, so only the rendezvous id is common to all of them.
        if rdzv_id in ("", "none"):
            raise UserError(
                "multi-node torchrun: pass a unique --rdzv-id (e.g. $SLURM_JOB_ID) so all nodes share one "
                "run directory, or set hydra.run.dir=<a directory all nodes see>"
            )
        return f"torchrun_{rdzv_id}"
    # One node: the ranks are children of one agent; its pid and start time name this launch.
    agent = os.getppid()
    started = _process_start(agent)
    return None if started is None else f"{_stamp(started)}_torchrun{agent}"


def _srun_run_id() -> str | None:
    """Under ``srun`` with several tasks, the job and step ids are what all tasks share."""
    job, step = os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_STEP_ID")
    if job is None or step is None or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return None
    start = os.environ.get("SLURM_JOB_START_TIME")  # set by Slurm >= 22.05
    prefix = f"{_stamp(float(start))}_" if start and start.isdigit() else ""
    return f"{prefix}slurm{job}.{step}"


def run_id() -> str:
    """A run directory name, unique even for two runs started in the same second, and the same for
    every rank of one torchrun or ``srun`` launch."""
    return _torchrun_run_id() or _srun_run_id() or f"{_stamp()}_{secrets.token_hex(3)}"


def global_rank() -> int:
    """This process's rank as its launcher told it (torchrun: RANK, srun: SLURM_PROCID); 0 otherwise.

    Processes that Lightning starts itself do not compose a config (see mlplab.run.ddp_job).
    """
    for key in ("RANK", "SLURM_PROCID"):
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 0


def on_rank_zero(value: Any) -> Any:
    """``value`` on rank 0, null on the others: ``hydra.output_subdir: ${on_rank_zero:.hydra}``."""
    return value if global_rank() == 0 else None


def rank_suffix() -> str:
    """``""`` on rank 0, ``_rank<N>`` on the others: each rank's log file gets its own name."""
    rank = global_rank()
    return f"_rank{rank}" if rank else ""


def job_output_dir() -> str:
    """Hydra's output directory for this job; where no Hydra app runs (a config made with Hydra's
    ``compose()``), the working directory, which is Lightning's own ``default_root_dir``."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        try:
            return str(hydra.runtime.output_dir)
        except MissingMandatoryValue:  # --cfg job --resolve shows a config no job runs: the run dir it would be
            return str(hydra.run.dir)
    return os.getcwd()


def datasets_dir() -> str:
    """The public tables shipped with the package (src/mlplab/datasets), wherever it is installed."""
    return str(Path(__file__).resolve().parents[1] / "datasets")


def data_size(name: str, *, _root_: Any) -> Any:
    """``model.in_dim``/``out_dim``: the data config's, or, where it leaves them null, read from ``data.path``
    (the file's columns and classes), so that ``instantiate(cfg.model)`` builds the net without the data."""
    data = _root_.get("data")
    value = data.get(name) if data is not None else None
    if value is not None or data is None or data.get("path") is None:
        return value
    from mlplab.data.file import file_sizes  # numpy and torch: only when a file's sizes are asked for

    return file_sizes(data)[name]


def per_training_row(value: float, *, _root_: Any) -> float:
    """``value`` divided by the training split's rows of ``data.path``. As ``optimizer.weight_decay``: an L2
    pull toward zero weights (a Gaussian prior) whose strength is fixed, so its share of the fit fades as rows
    are added (the mean training loss weighs each row 1/rows)."""
    rows = data_size("train_rows", _root_=_root_)
    if rows is None:  # no file to count: say so, not that a division failed
        raise needs_a_value("data.path")
    return float(value) / int(rows)


def register() -> None:
    """Idempotent: scripts and tests may both call it."""
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_id, use_cache=True)
    if not OmegaConf.has_resolver("on_rank_zero"):
        OmegaConf.register_new_resolver("on_rank_zero", on_rank_zero)
    if not OmegaConf.has_resolver("rank_suffix"):
        OmegaConf.register_new_resolver("rank_suffix", rank_suffix)
    if not OmegaConf.has_resolver("job_output_dir"):
        OmegaConf.register_new_resolver("job_output_dir", job_output_dir)  # not cached: a multirun's jobs differ
    if not OmegaConf.has_resolver("datasets_dir"):
        OmegaConf.register_new_resolver("datasets_dir", datasets_dir, use_cache=True)
    if not OmegaConf.has_resolver("data_size"):
        OmegaConf.register_new_resolver("data_size", data_size)
    if not OmegaConf.has_resolver("per_training_row"):
        OmegaConf.register_new_resolver("per_training_row", per_training_row)
    if not OmegaConf.has_resolver("cwd"):
        # Like ${hydra:runtime.cwd} (runs never chdir), but also resolvable while a multirun sweeper
        # builds hydra.sweep.dir, before Hydra's runtime config exists.
        OmegaConf.register_new_resolver("cwd", os.getcwd, use_cache=True)
