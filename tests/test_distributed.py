"""DDP on 2 CPU ranks (gloo), started every supported way: Lightning's own launch, torchrun, inside a
Hydra multirun (basic launcher and submitit's local executor). Each run is a real subprocess; the runs
are shared between assertions because DDP start-up dominates the cost."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from conftest import ROOT, assert_names, compose_config
from mlplab.tasks.evaluate import load_model

# Every test here starts 2 ranks (or more).
pytestmark = pytest.mark.ddp

# 90 samples: train 72 (even: batch i of 2 ranks at 8 holds the samples of batch i of 1 process at 16),
# val 9 and test 9 (odd: the ranks' shards differ in size), eval batches of 2 (uneven counts per rank).
COMMON = [
    "data.num_samples=90",
    "data.shuffle=false",
    "data.eval_batch_size=2",
    "trainer.max_epochs=3",
    "optimizer.lr=0.05",
    "trainer.enable_progress_bar=false",
]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
PER_RANK_BATCH = "data.batch_size=8"
# Iris: 120 training rows, standardized: one process at batch 24, or two ranks at 12 (5 batches each).
TABLE = ["experiment=iris", "data.shuffle=false", "trainer.max_epochs=3", "trainer.enable_progress_bar=false"]
EVAL_METRICS = ("val/loss", "val/mae", "val/r2", "test/loss", "test/mae", "test/r2")


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=atol, rtol=0), f"{key} differs between {a} and {b}"


def assert_one_rank0_run(run_dir: Path) -> None:
    """Every rank's output in one dir; checkpoints, metrics and TensorBoard from rank 0 alone."""
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "metrics.json").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert len(list((run_dir / "checkpoints").glob("*.ckpt"))) == 2, "best and last, once"
    assert (run_dir / "train_rank1.log").is_file(), "rank 1 logs beside rank 0"
    # Event file names end in <host>.<pid>.<n>: one writing process.
    writers = {p.name.split(".")[-2] for p in (run_dir / "tensorboard").rglob("events.out.tfevents.*")}
    assert len(writers) == 1, writers


class Run:
    """A script started in the background; its output goes to a file (a pipe could fill and block it)."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.output = cwd.parent / f"{cwd.name}.out"
        with self.output.open("w") as out:
            self.proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

    def finish(self) -> None:
        returncode = self.proc.wait(timeout=300)
        assert returncode == 0, self.output.read_text()[-6000:]


def train_py(*overrides: str) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "train.py"), *overrides]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """All runs start at once (DDP start-up is mostly waiting on imports: they overlap well on 2 cores);
    each test waits for the ones it reads. Every run gets its own empty cwd, where stray dirs would show."""
    base = tmp_path_factory.mktemp("ddp")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    sweep = f"hydra.sweep.dir={base / 'multirun' / 'sweep'}"
    submitit = ["-m", "hydra/launcher=slurm_local", f"hydra.sweep.dir={base / 'submitit' / 'sweep'}"]
    commands = {
        # One process at batch 16, and 2 Lightning-launched ranks at batch 8, on the same data.
        "one": train_py(*COMMON, "trainer.accelerator=cpu", "data.batch_size=16", f"hydra.run.dir={base / 'one'}"),
        "ddp": train_py(*COMMON, *DDP, PER_RANK_BATCH, f"hydra.run.dir={base / 'ddp'}"),
        # No hydra.run.dir: each rank composes its own config and the run_id resolver names the dir.
        "torchrun": [*torchrun, *train_py(*COMMON, *DDP, PER_RANK_BATCH)[1:]],
        "multirun": train_py("-m", *COMMON, *DDP, "data.batch_size=8,4", sweep),
        "submitit": train_py(*submitit, *COMMON, *DDP, PER_RANK_BATCH),
        "table_one": train_py(
            *TABLE, "trainer.accelerator=cpu", "data.batch_size=24", f"hydra.run.dir={base / 'table_one'}"
        ),
        "table_ddp": train_py(*TABLE, *DDP, "data.batch_size=12", f"hydra.run.dir={base / 'table_ddp'}"),
    }
    RUNS.update({name: Run(command, base / f"{name}_cwd") for name, command in commands.items()})
    yield base
    for run in RUNS.values():
        run.proc.kill()
        run.proc.wait()


RUNS: dict[str, Run] = {}


def finished(*names: str) -> None:
    for name in names:
        RUNS[name].finish()


def test_two_ranks_at_batch_b_equal_one_process_at_2b(base: Path) -> None:
    finished("one", "ddp")
    assert_same_weights(base / "one", base / "ddp")
    assert metrics(base / "ddp")["global_step"] == metrics(base / "one")["global_step"] == 3 * 5
    # Each rank's running loss sums are its own (DDP would overwrite buffers with rank 0's): their mean is
    # the one process's train/loss.
    assert metrics(base / "ddp")["train/loss"] == pytest.approx(metrics(base / "one")["train/loss"], rel=1e-5)


def test_a_table_standardized_on_two_ranks_equals_one_process(base: Path) -> None:
    """data=file under DDP: every rank fits the same training-split statistics, so two ranks at batch b train
    the one process's net at 2b, standardization buffers included."""
    finished("table_one", "table_ddp")
    assert_same_weights(base / "table_one", base / "table_ddp")
    data = instantiate(compose_config("train", ["experiment=iris"], base / "compose").data)
    data.setup("fit")
    x, _ = data.training_rows()
    saved = weights(base / "table_ddp")
    torch.testing.assert_close(saved["x_scale.mean"], x.mean(dim=0))
    torch.testing.assert_close(saved["x_scale.std"], x.std(dim=0, unbiased=False))


def test_eval_metrics_cover_the_whole_split_across_ranks(base: Path) -> None:
    finished("one", "ddp")
    one, ddp = metrics(base / "one"), metrics(base / "ddp")
    for key in EVAL_METRICS:
        assert ddp[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key


def test_eval_predictions_under_ddp_hold_the_whole_split_in_order(base: Path) -> None:
    finished("ddp")
    ckpt = base / "ddp" / "checkpoints" / "last.ckpt"
    run = Run(
        [
            sys.executable,
            str(ROOT / "scripts" / "eval.py"),
            f"ckpt_path={ckpt}",
            *COMMON,
            *DDP,
            f"hydra.run.dir={base / 'eval'}",
        ],
        base / "eval_cwd",
    )
    run.finish()
    assert run.output.read_text().count("Run directory:") == 1  # rank 0 reports; rank 1 does not repeat it
    predicted = torch.load(base / "eval" / "predictions.pt", weights_only=True)
    # The same checkpoint's net on the whole test split, in one piece.
    cfg = compose_config("eval", COMMON, base / "eval")
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    model = load_model(cfg, str(ckpt))
    with torch.no_grad():
        expected = model(datamodule.splits["test"].x)
    assert predicted.shape == expected.shape == (9, 4)  # the 9 test samples, though each rank predicted 5 or 4
    assert torch.allclose(predicted, expected, atol=1e-6, rtol=0)


def test_lightning_launch_writes_one_run_dir(base: Path) -> None:
    finished("ddp")
    assert_one_rank0_run(base / "ddp")
    assert list((base / "ddp_cwd").iterdir()) == [], "a child rank composed a config and made a run dir"


def test_torchrun_ranks_share_one_run_dir(base: Path) -> None:
    finished("torchrun", "ddp")
    assert [p.name for p in (base / "torchrun_cwd").iterdir()] == ["logs"]
    (run_dir,) = (base / "torchrun_cwd" / "logs" / "train" / "runs").iterdir()
    assert "torchrun" in run_dir.name
    assert_one_rank0_run(run_dir)
    assert_same_weights(run_dir, base / "ddp")


def test_multirun_jobs_run_their_own_overrides_in_their_own_dirs(base: Path) -> None:
    finished("multirun", "ddp")
    sweep = base / "multirun" / "sweep"
    assert list((base / "multirun_cwd").iterdir()) == []
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["0", "1"]
    for job in ("0", "1"):
        assert_one_rank0_run(sweep / job)
    assert_same_weights(sweep / "0", base / "ddp")
    # Another batch size gives other weights: 1e-5 is a tolerance that tells runs apart.
    diff = (weights(sweep / "0")["net.fc1.weight"] - weights(sweep / "1")["net.fc1.weight"]).abs().max()
    assert diff > 1e-3
    # Job 1: 72 samples / 2 ranks / batch 4 = 9 steps per epoch; the children ran that job too.
    assert "data.batch_size=4" in (sweep / "1" / ".hydra" / "overrides.yaml").read_text()
    assert metrics(sweep / "1")["global_step"] == 3 * 9


def test_submitit_local_launcher_runs_ddp_jobs(base: Path) -> None:
    finished("submitit", "ddp")
    sweep = base / "submitit" / "sweep"
    assert list((base / "submitit_cwd").iterdir()) == []
    assert_one_rank0_run(sweep / "0")
    assert_same_weights(sweep / "0", base / "ddp")


def _child_rank_pid(parent: int) -> int | None:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"mlplab.run.ddp_child" in cmdline:
            return int(stat.parent.name)
    return None


@contextmanager
def ddp_run_under_way(tmp_path: Path) -> Iterator[tuple[Run, int]]:
    """A long DDP run once training is under way (its first checkpoint written), with its rank-1 child's pid;
    killed on the way out, whatever the test did."""
    run_dir = tmp_path / "run"
    overrides = ["data.num_samples=64", "trainer.max_epochs=100000", "trainer.enable_progress_bar=false"]
    run = Run(train_py(*DDP, *overrides, f"hydra.run.dir={run_dir}"), tmp_path / "cwd")
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoints" / "last.ckpt").exists():
            assert run.proc.poll() is None and time.monotonic() < deadline, run.output.read_text()[-3000:]
            time.sleep(0.2)
        child = _child_rank_pid(run.proc.pid)
        assert child is not None
        yield run, child
    finally:
        run.proc.kill()


def test_killed_rank_ends_the_job_with_its_rank_named(tmp_path: Path) -> None:
    with ddp_run_under_way(tmp_path) as (run, child):
        os.kill(child, signal.SIGKILL)
        returncode = run.proc.wait(timeout=120)  # a hang fails here
    output = run.output.read_text()
    assert returncode != 0
    # Either mlplab.run.ddp_job's report or Lightning's process observer, whichever sees it first.
    ours = [line for line in output.splitlines() if line.startswith("error: ")]
    if ours:  # one line naming the rank and how it ended, no traceback after it
        assert len(ours) == 1 and returncode == 1 and "Traceback" not in output, output[-3000:]
        assert_names(ours[0], re.compile(r"rank:? 1\b"), "SIGKILL")
    else:
        assert re.search(r"rank:? 1\b.*terminated with code -9", output), output[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_first_process_alone_stops_every_rank_at_once(tmp_path: Path, signum: int) -> None:
    """What `timeout` or Popen.terminate() does: the other ranks are stopped too, with no hang in a collective."""
    with ddp_run_under_way(tmp_path) as (run, child):
        run.proc.send_signal(signum)
        returncode = run.proc.wait(timeout=60)  # Lightning's own SIGTERM handler hung here for the 10 min timeout
    output = run.output.read_text()
    assert returncode == 128 + signum, output[-3000:]
    # One line says what stopped it and how to resume.
    stopped = [line for line in output.splitlines() if line.startswith("stopped: ")]
    assert stopped, output[-3000:]
    assert_names(stopped[0], signal.Signals(signum).name, "ckpt_path=last")
    assert not Path(f"/proc/{child}").exists() or b"zombie" in Path(f"/proc/{child}/status").read_bytes().lower()
