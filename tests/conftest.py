"""Shared test helpers: compose configs like the scripts do, run the scripts as users do, and check
the errors they print."""

import os
import re
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
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

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


# What an error must say. A refused input is one line that names what is at fault (the key=value, file or
# checkpoint) and, where there is a choice, "allowed" and one value that would do; the sentence around
# them is free to change, so the tests pin those names and not the wording.
Named = str | re.Pattern[str]


def whole(name: str) -> re.Pattern[str]:
    """``name`` on its own, not inside a longer key: whole("seed") is in "did you mean seed?", not in "seeed"."""
    return re.compile(rf"(?<![\w.+]){re.escape(name)}(?!\w)", re.IGNORECASE)


def assert_names(message: str, *names: Named) -> None:
    """``message`` is one line holding each of ``names`` (text, any case; or a pattern)."""
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    for name in names:
        found = name.search(message) if isinstance(name, re.Pattern) else name.lower() in message.lower()
        assert found, f"{getattr(name, 'pattern', name)!r} is not named in {message!r}"


def assert_error_line(stderr: str, *names: Named) -> str:
    """A refused command's stderr: exactly one line, "error: ...", no traceback, naming each of ``names``."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line:\n{stderr[-3000:]}"
    assert_names(lines[0], *names)
    return lines[0]


def tool_cfg(name: str, *overrides: str) -> DictConfig:
    """The config of a tool that writes no run dir (predict, export), as its script would get it."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The config a script would get, with the run directory pinned to ``output_dir``."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(
            config_name,
            overrides=[f"paths.root_dir={output_dir}", f"paths.output_dir={output_dir}", *overrides],
        )


# Seconds each module took under `make test` on the 2-core machine (2026-12-06). With one module per worker,
# the longest go out first (longest-processing-time order), so that no worker is left with a long one at the
# end while the other idles; a module not listed is short. Stale numbers only cost balance, never a test.
MODULE_SECONDS = {
    "test_distributed": 71,
    "test_tune": 67,
    "test_bench": 54,
    "test_tables": 52,
    "test_docs": 43,
    "test_config_validation": 41,
    "test_resume": 28,
    "test_checkpoints": 25,
    "test_train_run": 23,
    "test_extras": 21,
    "test_reliability": 14,
    "test_config": 13,
    "test_workflow_model_io": 11,
    "test_workflow_sweep": 10,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers (make test: one module per worker) the longest modules go out first; each keeps its
    own order. Tests marked ``gpu`` run where CUDA is, and are skipped, saying why, where it is not."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a stable sort: every worker collects the same order
        items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.stem, 0))
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    for item in gpu_tests:
        item.add_marker(skip)


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


def hparams_session(run_dir: Path) -> tuple[dict[str, object], list[str]]:
    """The HParams plugin's hyperparameters and declared metric names, read from the event files."""
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    params: dict[str, object] = {}
    metrics: list[str] = []
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            for key, value in data.session_start_info.hparams.items():
                params[key] = value.number_value if value.HasField("number_value") else value.string_value
        if data.HasField("experiment"):
            metrics = [m.name.tag for m in data.experiment.metric_infos]
    return params, metrics
