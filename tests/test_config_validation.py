"""Bad configs stop before any work: one line naming key, value and what is allowed; exit 2; no run dir."""

import os
from pathlib import Path

import pytest
import torch

from conftest import CONF, TINY, compose_config, run_script
from mlplab.config.overrides import check_overrides, composition_error
from mlplab.config.schema import validate_config
from mlplab.errors import UserError

# override -> what the one-line error must say (key=value ... allowed ...)
BAD = {
    "data.batch_size=0": r"data.batch_size=0 is invalid; allowed: a positive integer, or null",
    "data.batch_size=abc": r"data.batch_size='abc' is invalid; allowed: a positive integer",
    "optimizer.lr=-1": r"optimizer.lr=-1 is invalid; allowed: a positive number",
    "optimizer.momentum=1.5": r"optimizer.momentum=1.5 is invalid; allowed: a number from 0",
    "data.val_fraction=0.3": r"data.train_fraction/val_fraction/test_fraction=\[0.8, 0.3, 0.1\]: sum to 1.2; allowed",
    "trainer.max_epochs=0": r"trainer.max_epochs=0 is invalid; allowed: a positive integer, or -1",
    "trainer.use_distributed_sampler=true": r"trainer.use_distributed_sampler=True is invalid; allowed: false \(mlplab",
    "trainer.precision=17": r"trainer.precision=17 is invalid; allowed: 64, 32, 16, .*'32-true'",
    "trainer.devices=3": r"trainer.devices=3: this machine has 2 CPUs and no GPU; allowed: 1..2, or auto",
    "trainer=gpu": r"trainer.accelerator=gpu: no CUDA GPU is visible on this machine; allowed: cpu or auto",
    "trainer.accelerator=tpu": r"trainer.accelerator=tpu: needs a TPU and torch_xla, which is not installed; "
    r"allowed: cpu, auto$",
    "trainer.accelerator=mps": r"trainer.accelerator=mps: Apple's MPS is not available on this machine",
    "trainer.devices=0": r"trainer.devices=0: allowed: 1..2, or auto$",
    "trainer.devices=-1": r"trainer.devices=-1: allowed: 1..2, or auto$",  # all devices: GPUs only
    "trainer.devices=[0]": r"trainer.devices=\[0\]: allowed: 1..2, or auto$",
    "+data.foo=1": r"data.foo=1: not a setting of mlplab.data.synthetic.SyntheticDataModule; allowed: batch_size",
    "+trainer.max_epoch=3": r"trainer.max_epoch=3: not a setting of lightning.pytorch.Trainer; did you mean "
    r"trainer.max_epochs\?",
    "+callbacks.model_checkpoint.every_n_step=5": r"callbacks.model_checkpoint.every_n_step=5: not a setting of "
    r"mlplab.callbacks.model_checkpoint.ModelCheckpoint",
    "+trainer.strategy=ddp_spawn": r"trainer.strategy='ddp_spawn' is invalid; allowed: a strategy that starts",
    "trainer=ddp +trainer.strategy.start_method=spawn": r"trainer.strategy=\{.*'start_method': 'spawn'\} is invalid",
    "trainer.accumulate_grad_batches=0": r"trainer.accumulate_grad_batches=0 is invalid; allowed: a positive integer",
    "task_name=": r"task_name='' is invalid; allowed: a non-empty name without '/'",
    "seed=-1": r"seed=-1 is invalid; allowed: an integer from 0 to 4294967295, or null",
    "data.val_fraction=0 data.train_fraction=0.9": r"data.val_fraction=0 is invalid for training: validation",
    "data.test_fraction=0 data.train_fraction=0.9": r"data.test_fraction=0: the test split would be empty; allowed",
    "model.in_dim=3": r"model.in_dim=3: the data has data.in_dim=4; allowed: the same size",
    "model.loss=hinge": r"model.loss='hinge': unknown loss; allowed: mse, l1, huber",
    "data=file": r"data.path: needs a value \(it is \?\?\?\)",
    "data.num_samples=5": r"data.num_samples=5: the val split would be empty",
    "data.num_samples=10": r"data.num_samples=10: the val split would have 1 sample, and val/r2 needs at least 2",
    "data.num_samples=16": r"data.num_samples=16: the test split would have 1 sample, and test/r2 needs at least 2",
    "ckpt_path=nowhere.ckpt": r"ckpt_path=nowhere.ckpt: no such file; allowed: null, last, or a path",
}


@pytest.fixture
def two_cpus_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine the messages above describe, whatever this one is."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("override", BAD)
def test_bad_values_name_key_value_and_what_is_allowed(override: str, tmp_path: Path, two_cpus_no_gpu: None) -> None:
    with pytest.raises(UserError, match=BAD[override]):
        validate_config(compose_config("train", override.split(), tmp_path))


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["experiment=seed_tutorial"],
        ["optimizer=adam", "scheduler=cosine", "logger=csv", "trainer=cpu"],
        ["data.batch_size=null", "trainer.devices=auto", "seed=null"],
    ],
)
def test_the_shipped_configs_pass(overrides: list[str], tmp_path: Path, two_cpus_no_gpu: None) -> None:
    validate_config(compose_config("train", overrides, tmp_path))


# Overrides Hydra itself cannot compose -> the one line said instead of Hydra's several.
UNCOMPOSABLE = {
    "trainer.max_epoch=5": "trainer.max_epoch=5: no such key trainer.max_epoch; did you mean trainer.max_epochs? "
    "(a new key needs a +: +trainer.max_epoch=5)",
    "seeed=3": "seeed=3: no such key seeed; did you mean seed? (a new key needs a +: +seeed=3)",
    "hydra.run.dirr=x": "hydra.run.dirr=x: no such key hydra.run.dirr; did you mean hydra.run.dir? "
    "(a new key needs a +: +hydra.run.dirr=x)",
    "optimizer=foo": "optimizer=foo: no such option; allowed: adam, sgd",
    # A key through an interpolation, a value or an empty group: nothing to resolve, no self-contradicting hint.
    "model.optimizer.lr=0.1": "model.optimizer.lr=0.1: model.optimizer is ${optimizer}; set the key there: "
    "optimizer.lr=0.1",
    "paths.output_dir.x=1": "paths.output_dir.x=1: no such key paths.output_dir.x; paths.output_dir holds "
    "${job_output_dir:}, not keys",
    "scheduler.gamma=0.5": "scheduler.gamma=0.5: no such key scheduler.gamma; scheduler holds null, not keys",
    "tags.x=1": "tags.x=1: no such key tags.x; tags holds [], not keys",
    "scheduler=null": "scheduler=null: scheduler is a config group; allowed: cosine, none, step",
    # The hint is given only where it composes: data.in_dim is a number.
    "model.in_dim.x=1": "model.in_dim.x=1: no such key model.in_dim.x; model.in_dim holds ${data.in_dim}, not keys",
    # + and ++ compose through an interpolation by replacing it (the model would get {lr: 7} as optimizer).
    "++model.optimizer.lr=7": "++model.optimizer.lr=7: model.optimizer is ${optimizer}; set the key there: "
    "++optimizer.lr=7",
    # + on a key that exists through the interpolation: Hydra's hint (++) would replace it; drop the +, there.
    "+model.optimizer.lr=7": "+model.optimizer.lr=7: model.optimizer is ${optimizer}; set the key there: "
    "optimizer.lr=7",
    "hydra.launcher.partition=x": "hydra.launcher.partition=x: no such key hydra.launcher.partition; "
    "hydra.launcher has no keys to set (a new key needs a +: +hydra.launcher.partition=x)",
    "+trainer.max_epochs=3": "Could not append to config. An item is already at 'trainer.max_epochs'. "
    "Either remove + prefix: 'trainer.max_epochs=3' Or add a second + to add or override 'trainer.max_epochs': "
    "'++trainer.max_epochs=3'",
}


@pytest.mark.parametrize("override", UNCOMPOSABLE)
def test_overrides_that_do_not_compose_get_one_line(override: str) -> None:
    assert composition_error(CONF, "train", ["optimizer=adam", override]) == UNCOMPOSABLE[override]


def test_an_unknown_top_level_key_lists_what_is_there() -> None:
    message = composition_error(CONF, "train", ["foo.bar=1"]) or ""
    assert message.startswith("foo.bar=1: no such key foo; allowed: hydra, task_name, tags, seed, ckpt_path")
    # Two wrong keys: the first is explained against the config the other overrides that compose make.
    two = composition_error(CONF, "train", ["optimizer=adam", "optimizer.momentum=1", "trainer.max_epoch=3"])
    assert two == (
        "optimizer.momentum=1: no such key optimizer.momentum; allowed: lr, weight_decay "
        "(a new key needs a +: +optimizer.momentum=1)"
    )
    adam = ["optimizer=adam", "optimizer.weight_decay=0.1", "+optimizer.betas=[0.8,0.9]"]
    assert composition_error(CONF, "train", adam) is None  # what composes passes untouched


def test_flags_that_do_not_run_the_composed_config_are_left_to_hydra() -> None:
    for argv in (
        ["--experimental-rerun", "outputs/x/.hydra/config.pickle"],
        ["--cfg", "job", "nope=1"],
        ["-cn", "other"],
    ):
        check_overrides(CONF, "train", argv)  # returns: no exit, Hydra takes these as they are
    with pytest.raises(SystemExit):
        check_overrides(CONF, "train", ["-m", "nope=1"])


def test_each_option_of_a_swept_group_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """SGD has momentum, Adam has not: the sweep stops before its first job, not at its second."""
    with pytest.raises(SystemExit) as stop:
        check_overrides(CONF, "train", ["-m", "optimizer=sgd,adam", "optimizer.momentum=0.9", "optimizer.lr=0.1,0.2"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "error: in the job with optimizer=adam: optimizer.momentum=0.9: no such key optimizer.momentum; "
        "allowed: lr, weight_decay (a new key needs a +: +optimizer.momentum=0.9)\n"
    )
    check_overrides(CONF, "train", ["-m", "optimizer=sgd,adam", "optimizer.lr=0.1,0.2"])  # composes: no exit


def test_the_options_a_sweeper_searches_are_checked_too(capsys: pytest.CaptureFixture[str]) -> None:
    """hparams_search=optuna searches optimizer: choice(sgd, adam); Adam's trials could not compose."""
    with pytest.raises(SystemExit):
        check_overrides(CONF, "train", ["-m", "hparams_search=optuna", "optimizer.momentum=0.9"])
    assert capsys.readouterr().err.startswith(
        "error: in the sweeper's trials with optimizer=adam: optimizer.momentum=0.9: no such key optimizer.momentum"
    )
    check_overrides(CONF, "train", ["-m", "hparams_search=optuna", "optimizer=sgd", "optimizer.momentum=0.9"])


def test_a_key_added_by_a_plus_can_be_set_after_it() -> None:
    """What Hydra composes passes, even where an override needs the key an earlier + adds."""
    stop = "{_target_:lightning.pytorch.callbacks.EarlyStopping,monitor:val/loss,patience:3}"
    early_stop = f"+callbacks.early_stop={stop}"
    assert composition_error(CONF, "train", [early_stop, "callbacks.early_stop.patience=5"]) is None
    check_overrides(CONF, "train", ["-m", early_stop, "callbacks.early_stop.patience=3,5"])


@pytest.mark.parametrize(
    ("script", "args", "line"),
    [
        ("train.py", ["trainer.max_epoch=5"], "did you mean trainer.max_epochs?"),
        ("train.py", ["-m", "optimizer.lr=0.1,0.2", "trainer.max_epohcs=2"], "did you mean trainer.max_epochs?"),
        ("eval.py", ["ckpt_path=x.ckpt", "data.batchsize=8"], "did you mean data.batch_size?"),
        ("predict.py", ["optimizer.lr=("], "Error parsing override 'optimizer.lr=('"),
    ],
)
def test_a_typo_stops_every_script_before_hydra_starts(script: str, args: list[str], line: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_script(script, *args, f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={run_dir}", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and line in proc.stderr and proc.stderr.count("\n") == 1
    assert not run_dir.exists()


def test_a_bad_config_stops_the_script_with_one_line_and_no_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_script("train.py", "optimizer.lr=-1", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2
    assert proc.stderr == "error: optimizer.lr=-1 is invalid; allowed: a positive number, e.g. 0.01\n"
    assert not run_dir.exists()  # checked before Hydra creates it: nothing looks like a run
    full = run_script(
        "train.py", "optimizer.lr=-1", f"hydra.run.dir={run_dir}", env={"HYDRA_FULL_ERROR": "1"}, check=False
    )
    assert full.returncode != 0 and "Traceback" in full.stderr and "schema.py" in full.stderr


def test_a_data_error_found_at_setup_leaves_no_run_dir(tmp_path: Path) -> None:
    table = tmp_path / "seven_columns.csv"
    table.write_text("1,2,3,4,5,6,7\n" * 20)
    run_dir = tmp_path / "run"
    proc = run_script("train.py", *TINY[:1], "data=file", f"data.path={table}", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: data.path={table}: 7 columns, expected in_dim + out_dim = 4 + 4; "
        "set data.feature_columns/target_columns to pick them"
    )
    assert not run_dir.exists()  # Hydra had made it; a failed start takes it away again


def test_a_bad_job_in_a_sweep_fails_alone_in_one_line(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "optimizer.lr=-1,0.05", *TINY, "trainer.max_epochs=1", "test=false", f"hydra.sweep.dir={sweep}"]
    proc = run_script("train.py", *args, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: optimizer.lr=-1 is invalid; allowed: a positive number" in proc.stderr
    assert not (sweep / "0").exists() and (sweep / "1" / "metrics.json").is_file()  # the good job still ran
    # Hydra ends such a sweep by raising, before its end-of-sweep callbacks: the table is there all the same.
    rows = (sweep / "comparison.csv").read_text().splitlines()
    assert len(rows) == 2 and "0.05" in rows[1]


def test_a_setting_lightning_refuses_is_one_line_under_its_key(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_script("train.py", *TINY, "trainer.accelerator=foo", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: trainer: You selected an invalid accelerator name: `accelerator='foo'`"), last
    assert not run_dir.exists()  # nothing was trained: the failed start takes Hydra's run dir away again


FILE_RUN = ["trainer.max_epochs=1", "data.batch_size=16", "trainer.enable_progress_bar=false"]


def test_a_failed_start_in_the_users_own_directory_leaves_only_what_was_there(tmp_path: Path) -> None:
    """hydra.run.dir=<a directory of the user's>: a start refused for bad data takes away what Hydra wrote, so
    the corrected command is not refused as "already holds a run"."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "table.csv").write_text("a,b\nx,y\n")
    proc = run_script(
        "train.py", *FILE_RUN, "data=file", f"data.path={mine / 'table.csv'}", f"hydra.run.dir={mine}", check=False
    )
    assert proc.returncode == 2 and "not a numeric CSV table" in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["table.csv"]  # nothing of a run: the corrected command may use it
