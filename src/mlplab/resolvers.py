"""OmegaConf resolvers the configs use; registered by the entry scripts before Hydra composes.

Torch-free on purpose: it is imported for ``--help`` and ``--cfg job``.
"""

import os
import secrets
import time
from pathlib import Path

from omegaconf import OmegaConf

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


def run_id() -> str:
    """A run directory name, unique even for two runs started in the same second.

    Under torchrun every rank composes its own config, so the name comes from what the ranks of one
    launch share: their parent agent's pid and start time.
    """
    if os.environ.get("TORCHELASTIC_RUN_ID") is not None:
        parent = os.getppid()
        started = _process_start(parent)
        if started is not None:
            return f"{time.strftime(STAMP, time.localtime(started))}_torchrun{parent}"
    return f"{time.strftime(STAMP)}_{secrets.token_hex(3)}"


def register() -> None:
    """Idempotent: scripts and tests may both call it."""
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_id, use_cache=True)
