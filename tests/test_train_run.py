"""Train as a user does (scripts/train.py in a subprocess) and check everything a run leaves behind."""

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY, assert_error_line, assert_names, compose_config, hparams_session, run_script
from mlplab.errors import UserError
from mlplab.tasks.evaluate import evaluate
from mlplab.tasks.train import train


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series under run_dir/tensorboard, as TensorBoard would show it."""
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class BatchLosses(L.Callback):
    """Each training batch's loss, in order."""

    seen: ClassVar[list[float]] = []

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, out: Any, batch: Any, i: int) -> None:
        # Lightning hands back the loss divided by accumulate_grad_batches, as it was backpropagated.
        BatchLosses.seen.append(float(out["loss"]) * trainer.accumulate_grad_batches)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run_dir = tmp_path_factory.mktemp("train") / "run"
    # 8 steps logged every 3: Lightning writes steps 2 and 5, the module the run's last window itself.
    proc = run_script("train.py", *TINY, "trainer.log_every_n_steps=3", "optimizer.lr=0.05", f"hydra.run.dir={run_dir}")
    return run_dir, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_run_leaves_config_checkpoints_events_and_metrics(trained: tuple[Path, str]) -> None:
    run_dir, output = trained
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert "lr: 0.05" in (run_dir / ".hydra" / "config.yaml").read_text()
    ckpts = {p.name for p in (run_dir / "checkpoints").glob("*.ckpt")}
    assert "last.ckpt" in ckpts and len(ckpts) == 2  # last + the best by val/loss
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("train/loss", "val/loss", "val/mse", "val/mae", "val/r2", "test/loss", "test/mse", "val/loss_best"):
        assert isinstance(metrics[key], float), key
    assert metrics["val/noise_floor"] == pytest.approx(0.01)  # noise_std 0.1 squared
    assert metrics["epoch"] == 2 and metrics["global_step"] == 2 * 4  # 64 samples * 0.8 / 16 per batch
    # The script tells the user where things are.
    assert f"Run directory: {run_dir}" in output and "TensorBoard:" in output and "Checkpoints:" in output


@pytest.mark.slow
def test_event_files_hold_curves_lr_and_hparams_with_final_metrics(trained: tuple[Path, str]) -> None:
    run_dir, _ = trained
    series = scalars(run_dir)
    for tag in ("train/loss", "val/loss", "val/mse", "val/mae", "val/r2", "test/loss", "lr-SGD"):
        assert tag in series, f"{tag} missing from {sorted(series)}"
    # The mean of every 3 steps, then of the last 2, at Lightning's 0-based step index.
    assert [step for step, _ in series["train/loss"]] == [2, 5, 7]
    assert series["lr-SGD"][0][1] == pytest.approx(0.05)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert series["train/loss"][-1][1] == pytest.approx(metrics["train/loss"])
    assert series["test/loss"][-1][1] == pytest.approx(metrics["test/loss"])

    params, metric_names = hparams_session(run_dir)
    assert params["optimizer.lr"] == pytest.approx(0.05) and params["model.hidden_dim"] == 10
    assert {"val/loss", "test/loss", "val/loss_best"} <= set(metric_names)
    assert all(name in series for name in metric_names)  # HParams reads each metric from its scalar


@pytest.mark.slow
def test_eval_reports_the_checkpoints_test_metrics(trained: tuple[Path, str], tmp_path: Path) -> None:
    run_dir, _ = trained
    best = next(p for p in (run_dir / "checkpoints").glob("epoch*.ckpt"))
    eval_dir = tmp_path / "eval"
    run_script("eval.py", f"ckpt_path={best}", "data.num_samples=64", f"hydra.run.dir={eval_dir}")
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    trained_metrics = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test/loss"] == pytest.approx(trained_metrics["test/loss"], rel=1e-6)
    predictions = torch.load(eval_dir / "predictions.pt", weights_only=True)
    assert predictions.shape == (64 - round(64 * 0.8) - round(64 * 0.1), 4)  # the test split


@pytest.mark.slow
def test_resume_continues_the_run_without_repeating_steps(trained: tuple[Path, str], tmp_path: Path) -> None:
    run_dir, _ = trained
    resumed = tmp_path / "resumed"

    shutil.copytree(run_dir, resumed)
    args = [*TINY, "optimizer.lr=0.05", f"hydra.run.dir={resumed}", "ckpt_path=last"]
    run_script("train.py", *[a for a in args if a != "trainer.max_epochs=2"], "trainer.max_epochs=4")
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["epoch"] == 4 and metrics["global_step"] == 16
    steps = [step for step, _ in scalars(resumed)["train/loss"]]
    assert steps == [2, 5, 7, 9, 11, 13, 15]  # the first run's (every 3), then every 2: continued, no duplicates


@pytest.mark.slow
def test_a_checkpoint_used_with_another_optimizer_or_data_size_is_refused(
    trained: tuple[Path, str], tmp_path: Path
) -> None:
    run_dir, _ = trained
    last = run_dir / "checkpoints" / "last.ckpt"
    with pytest.raises(UserError) as adam:
        train(compose_config("train", [*TINY, f"ckpt_path={last}", "optimizer=adam"], tmp_path / "a"))
    assert_names(str(adam.value), f"ckpt_path={last}", "Adam", "betas")  # what its optimizer state lacks
    with pytest.raises(UserError) as wide:
        evaluate(compose_config("eval", [f"ckpt_path={last}", "data.in_dim=3"], tmp_path / "e"))
    assert_names(str(wide.value), "data.in_dim=3", "allowed", "data.in_dim=4")


@pytest.mark.slow
def test_a_refused_resume_leaves_the_run_as_it_was(trained: tuple[Path, str], tmp_path: Path) -> None:
    """Hydra rewrites .hydra/ before the task can refuse: the refusal puts the run's own config back."""
    run_dir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.suffix != ".log"}
    proc = run_script("train.py", *TINY, "model.hidden_dim=7", "ckpt_path=last", f"hydra.run.dir={copy}", check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, "net.fc1.weight", "hidden_dim=10")  # the weight that differs, the size it had
    after = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.suffix != ".log"}
    assert after == before  # same files, same bytes: .hydra/config.yaml still says hidden_dim 10


@pytest.mark.parametrize("logger", ["csv", "none"])
def test_other_loggers(logger: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(compose_config("train", [*TINY, f"logger={logger}"], run_dir))  # what a run leaves, as above
    assert json.loads((run_dir / "metrics.json").read_text())["test/loss"] > 0
    assert not (run_dir / "tensorboard").exists()
    if logger == "csv":
        header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0]
        assert "train/loss" in header and "val/loss" in header
    else:
        assert not (run_dir / "csv").exists()


def test_the_last_epoch_is_validated_off_the_validation_cadence(tmp_path: Path) -> None:
    """3 epochs, validation every 2: epoch 2 and the last, so the best checkpoint can be the final weights'."""
    cfg = compose_config("train", [*TINY, "trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2"], tmp_path)
    metrics = train(cfg)
    assert metrics["best_epoch"] == 3 and metrics["val/loss"] == metrics["val/loss_best"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir())[0].startswith("epoch0002-")
    val_steps = [step for step, _ in scalars(tmp_path)["val/loss"]]
    assert len(val_steps) == 2  # epochs 2 and 3 (steps 7 and 11 of 4 batches each), not 1 and 3
    assert val_steps == sorted(val_steps) and val_steps[-1] == metrics["global_step"] - 1


# Runs without hydra.run.dir get distinct directories: test_reliability.py, with two runs started together.


@pytest.mark.slow
def test_multirun_without_sweep_dir_goes_under_logs_of_the_working_directory(tmp_path: Path) -> None:
    run_script("train.py", "-m", *TINY, "trainer.max_epochs=1", "test=false", "optimizer.lr=0.1,0.01", cwd=tmp_path)
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert all((sweep / job / "metrics.json").is_file() for job in ("0", "1"))


def test_train_loss_with_gradient_accumulation_is_the_mean_of_each_window(tmp_path: Path) -> None:
    # 8 batches in 2 accumulated pairs per step: 4 steps, logged every 2, so each point averages 4 batches.
    BatchLosses.seen = []
    accumulate = [
        "trainer.accumulate_grad_batches=2",
        "test=false",
        "+callbacks.losses._target_=test_train_run.BatchLosses",
    ]
    train(compose_config("train", [*TINY, *accumulate], tmp_path))
    losses = BatchLosses.seen
    assert len(losses) == 8
    series = scalars(tmp_path)["train/loss"]
    assert [step for step, _ in series] == [1, 3]
    assert [value for _, value in series] == pytest.approx([sum(losses[:4]) / 4, sum(losses[4:]) / 4])


@pytest.mark.slow
# torch's inductor, imported by the compile, uses torch.jit.script_method itself.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_model_compile_fits_the_same_net_and_saves_the_eager_nets_checkpoints(tmp_path: Path) -> None:
    """model.compile=default: torch.compile in place, so the run's losses and its checkpoint's keys are the
    eager run's, and eval loads that checkpoint with no compile."""
    run = ["experiment=seed_tutorial", "trainer.max_epochs=20", "logger=none"]
    eager = train(compose_config("train", run, tmp_path / "eager"))
    compiled = train(compose_config("train", [*run, "model.compile=default"], tmp_path / "compiled"))
    assert compiled["test/loss"] == pytest.approx(eager["test/loss"], rel=1e-5)
    weights = {
        name: torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for name in ("eager", "compiled")
    }
    assert list(weights["compiled"]) == list(weights["eager"])  # no "_orig_mod." prefix
    ckpt = tmp_path / "compiled" / "checkpoints" / "last.ckpt"
    (tmp_path / "eval").mkdir()  # Hydra makes it for scripts/eval.py
    again = evaluate(compose_config("eval", ["experiment=seed_tutorial", f"ckpt_path={ckpt}"], tmp_path / "eval"))
    assert again["test/loss"] == pytest.approx(compiled["test/loss"], rel=1e-5)


@pytest.mark.gpu
def test_trainer_gpu_trains_on_one_cuda_device(run_dir: Path) -> None:
    """trainer=gpu (conf/trainer/gpu.yaml: accelerator gpu, 1 device): Lightning trains on CUDA, so the
    weights it checkpoints are CUDA tensors."""
    run_script("train.py", *TINY, "trainer=gpu", f"hydra.run.dir={run_dir}")
    assert (run_dir / "metrics.json").is_file()
    assert "GPU available: True (cuda), used: True" in (run_dir / "train.log").read_text()
    weights = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    net = {name: tensor for name, tensor in weights.items() if name.startswith("net.")}
    assert net and all(tensor.is_cuda for tensor in net.values()), {name: t.device for name, t in net.items()}


def test_validation_off_trains_and_tests_the_last_weights(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    """trainer.limit_val_batches=0: nothing to stop early by or to pick a best checkpoint with. Early stopping
    (data=file's) is left out rather than raising, and the checkpoint callback keeps last.ckpt only."""
    overrides = ["experiment=iris", "trainer.limit_val_batches=0", "trainer.max_epochs=2", "logger=none"]
    metrics = train(compose_config("train", overrides, tmp_path))
    assert "test/acc" in metrics and "val/loss" not in metrics
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.ckpt"]
    assert not [w for w in recwarn if "monitor" in str(w.message)]  # Lightning's "could not find" at each save
