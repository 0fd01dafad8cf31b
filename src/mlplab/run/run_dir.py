"""The layout of one run directory: what Hydra writes into it and what a run leaves there."""

from pathlib import Path

# Hydra's copy of the composed config; the job log (<job name>.log) sits beside it.
HYDRA_SUBDIR = ".hydra"
# What a run leaves in its dir; finding any of these means the dir is taken.
RUN_OUTPUTS = ("checkpoints", "metrics.json", "tensorboard", "csv")
CHECKPOINT_DIR = "checkpoints"
LAST_CKPT = "last.ckpt"


def last_checkpoint(run_dir: Path) -> Path:
    """Where ``ckpt_path=last`` points: the run's final state, saved at every checkpoint and on interrupt."""
    return run_dir / CHECKPOINT_DIR / LAST_CKPT
