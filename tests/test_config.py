"""Every config option composes and builds what it names; overrides change what they should."""

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import CONF, ROOT, run_script
from mlplab.tasks.components import build_callbacks, build_loggers
from mlplab.tasks.train import build_model, make_trainer

GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "logger", "callbacks", "experiment", "debug"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def group_choices() -> list[tuple[str, str]]:
    return [(g, o) for g in GROUPS for o in options(g)]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    rows = torch.randn(40, 8)
    path.write_text("\n".join(",".join(f"{v:.5f}" for v in row.tolist()) for row in rows) + "\n")
    return path


@pytest.mark.parametrize(("group", "option"), group_choices())
def test_every_option_composes_and_instantiates(group: str, option: str, make_cfg, csv_file: Path) -> None:
    overrides = [f"{group}={option}"]
    if group == "data" and option == "file":
        overrides.append(f"data.path={csv_file}")
    cfg = make_cfg(*overrides)
    OmegaConf.resolve(cfg)  # every interpolation resolves

    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, L.LightningDataModule)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    sizes = datamodule.sizes  # type: ignore[attr-defined]  # a file's sizes are read from it (data.in_dim/out_dim null)
    assert x.dtype == torch.float32 and x.shape[1] == (cfg.data.in_dim or sizes["in_dim"])
    if cfg.task.name == "classification":  # class indices, one per sample
        assert y.dtype == torch.int64 and y.ndim == 1
    else:
        assert y.dtype == torch.float32 and y.shape[1] == (cfg.data.out_dim or sizes["out_dim"])

    model = build_model(cfg, datamodule)  # instantiate(cfg.model), with the sizes the config left null
    assert isinstance(model, L.LightningModule)
    assert [type(m).__name__ for m in (model.net.fc1, model.net.relu, model.net.fc2)] == ["Linear", "ReLU", "Linear"]
    assert model(x).shape == ((len(x), sizes["out_dim"]) if y.ndim == 1 else y.shape)

    loggers = build_loggers(cfg.logger)
    callbacks = build_callbacks(cfg.callbacks, has_logger=bool(loggers))
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(Exception, match=r"(?i)gpu|cuda"):
            instantiate(cfg.trainer, logger=False, callbacks=[])
        return
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    assert isinstance(trainer, L.Trainer)


def test_defaults_are_the_tutorials(make_cfg) -> None:
    cfg = make_cfg()
    model = instantiate(cfg.model)
    assert (model.net.fc1.in_features, model.net.fc1.out_features, model.net.fc2.out_features) == (4, 10, 4)
    assert isinstance(model.loss_fn, torch.nn.MSELoss)
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["lr"] == 0.01


def test_overrides_change_what_they_name(make_cfg) -> None:
    cfg = make_cfg(
        "optimizer=adam",
        "optimizer.lr=0.5",
        "model.hidden_dim=7",
        "model.loss=huber",
        "data.batch_size=5",
        "data.in_dim=3",
        "data.out_dim=2",
        "trainer.max_epochs=3",
        "scheduler=step",
        "seed=0",
    )
    model = instantiate(cfg.model)
    assert model.net.fc1.out_features == 7 and model.net.fc1.in_features == 3 and model.net.fc2.out_features == 2
    assert isinstance(model.loss_fn, torch.nn.HuberLoss)
    config = model.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.Adam) and config["optimizer"].param_groups[0]["lr"] == 0.5
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (5, 3) and y.shape == (5, 2)
    assert instantiate(cfg.trainer, logger=False, callbacks=[]).max_epochs == 3
    assert cfg.seed == 0


@pytest.mark.parametrize(
    ("overrides", "bar"),
    [
        ([], "RichProgressBar"),
        (["callbacks.progress_bar=null"], None),  # dropped means gone, not Lightning's default bar instead
        (["callbacks=none"], None),
        (["trainer.enable_progress_bar=false"], None),
    ],
)
def test_the_progress_bar_is_the_configured_one_or_none(overrides: list[str], bar: str | None, make_cfg) -> None:
    cfg = make_cfg(*overrides)
    callbacks = build_callbacks(cfg.callbacks, has_logger=False, progress_bar=cfg.trainer.enable_progress_bar)
    trainer = make_trainer(cfg, Path(cfg.paths.output_dir), [], callbacks)
    assert type(trainer.progress_bar_callback).__name__ == (bar or "NoneType")


def test_seed_tutorial_experiment_is_the_notebooks_run(make_cfg) -> None:
    cfg = make_cfg("experiment=seed_tutorial")
    assert cfg.trainer.max_epochs == 1000
    assert cfg.data.batch_size is None and cfg.data.shuffle is False  # full batch, in order
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == 0.01
    assert cfg.model.loss == "mse" and cfg.model.hidden_dim == 10
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    batches = list(datamodule.train_dataloader())
    assert len(batches) == 1 and len(batches[0][0]) == len(datamodule.splits["train"])


def _imports_torch(*args: str) -> tuple[bool, str]:
    probe = (
        "import atexit, runpy, sys;"
        "atexit.register(lambda: print('TORCH_IMPORTED' if 'torch' in sys.modules else 'TORCH_FREE'));"
        f"sys.argv = ['scripts/train.py', *{list(args)!r}];"
        "runpy.run_path('scripts/train.py', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return "TORCH_IMPORTED" in proc.stdout, proc.stdout


@pytest.mark.parametrize("args", [("--help",), ("--cfg", "job"), ("experiment=seed_tutorial", "--cfg", "job")])
def test_config_work_does_not_import_torch(args: tuple[str, ...]) -> None:
    imported, out = _imports_torch(*args)
    assert not imported, out
    assert "data" in out


def test_cfg_job_resolve_shows_the_run_dir_a_run_would_get() -> None:
    """Hydra's --resolve: no job runs, so there is no output dir yet; paths.output_dir shows the run dir."""
    proc = run_script("train.py", "hydra.run.dir=logs/shown", "--cfg", "job", "--resolve")
    assert "output_dir: logs/shown" in proc.stdout and not proc.stderr


@pytest.mark.parametrize("experiment", [[], ["experiment=iris"], ["experiment=seed_tutorial"]])
def test_eval_runs_go_under_logs_eval_whatever_the_experiment(experiment: list[str]) -> None:
    """An experiment names its training runs' folder (logs/iris/); its eval runs stay out of it."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("eval", overrides=["ckpt_path=x.ckpt", *experiment], return_hydra_config=True)
    logs = Path(cfg.paths.log_dir)
    assert Path(cfg.hydra.run.dir).parent == logs / "eval" / "runs"
    assert Path(cfg.hydra.sweep.dir).parent == logs / "eval" / "multiruns"


@pytest.mark.slow
def test_a_config_from_hydras_compose_api_instantiates_everything(tmp_path: Path) -> None:
    """Outside scripts/train.py (a notebook, another program): no Hydra app runs and nothing of mlplab is
    imported before Hydra composes; the run's paths fall back to the working directory, as Lightning's do."""
    probe = f"""
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
import lightning as L
with initialize_config_dir({str(CONF)!r}, version_base="1.3"):
    cfg = compose("train")
trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
assert isinstance(trainer, L.Trainer) and trainer.default_root_dir == {str(tmp_path)!r}, trainer.default_root_dir
callbacks = [instantiate(c) for c in cfg.callbacks.values()]
loggers = [instantiate(c) for c in cfg.logger.values()]
assert callbacks[0].dirpath == {str(tmp_path / "checkpoints")!r} and loggers[0].save_dir == {str(tmp_path)!r}
print("OK", len(callbacks), len(loggers))
"""
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("OK 3 1"), proc.stderr[-2000:]
