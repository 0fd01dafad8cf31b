"""Shared test helpers: compose configs like the scripts do, and run the scripts as users do."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

# Tests train tiny nets: one intra-op thread each is fastest, and leaves the other core to a parallel
# test worker or the second rank of a DDP test. Set before anything imports torch; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mlplab.config import resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
resolvers.register()

# A run small enough for tests: 2 epochs of 64 samples (4 steps each), train/loss every 2 steps, no bar.
TINY = [
    "trainer.max_epochs=2",
    "data.num_samples=64",
    "data.batch_size=16",
    "trainer.log_every_n_steps=2",
    "trainer.enable_progress_bar=false",
]


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The config a script would get, with the run directory pinned to ``output_dir``."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(
            config_name,
            overrides=[f"paths.root_dir={output_dir}", f"paths.output_dir={output_dir}", *overrides],
        )


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def make(*overrides: str, config_name: str = "train") -> DictConfig:
        return compose_config(config_name, list(overrides), tmp_path)

    return make


def run_script(
    script: str,
    *overrides: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``python scripts/<script> overrides...`` in a subprocess; output captured as text."""
    full_env = {**os.environ, "PYTHONWARNINGS": "default", **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *overrides],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory to pass as hydra.run.dir."""
    yield tmp_path / "run"
