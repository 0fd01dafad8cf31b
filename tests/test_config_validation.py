"""Bad configs stop before any work: one line naming key, value and what is allowed; exit 2; no run dir."""

import os
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from conftest import CONF, TINY, Named, assert_error_line, assert_names, compose_config, run_script, whole
from mlplab.config.overrides import check_overrides, composition_error
from mlplab.config.schema import validate_config
from mlplab.errors import UserError

# override -> what its one-line error must name: the key and value at fault, and "allowed" with one value that
# would do, where the message says what would. The sentence around them is free to change.
BAD: dict[str, tuple[Named, ...]] = {
    "data.batch_size=0": ("data.batch_size=0", "allowed", "null"),
    "data.batch_size=abc": ("data.batch_size", "abc", "allowed"),
    "optimizer.lr=-1": ("optimizer.lr=-1", "allowed", "positive"),
    "optimizer.momentum=1.5": ("optimizer.momentum=1.5", "allowed"),
    # Any two make the third; all three must sum to 1.
    "data.val_fraction=0.3 data.train_fraction=0.8 data.test_fraction=0.1": ("val_fraction", "1.2", "allowed"),
    "trainer.max_epochs=0": ("trainer.max_epochs=0", "allowed", "-1"),
    "trainer.use_distributed_sampler=true": ("trainer.use_distributed_sampler=true", "allowed", "false"),
    "trainer.precision=17": ("trainer.precision=17", "allowed", "32-true"),
    "trainer.devices=3": ("trainer.devices=3", "2 CPU", "allowed", "1..2"),
    "trainer=gpu": ("trainer.accelerator=gpu", "CUDA", "allowed", "cpu"),
    "trainer.accelerator=tpu": ("trainer.accelerator=tpu", "allowed", "cpu"),
    "trainer.accelerator=mps": ("trainer.accelerator=mps", "allowed", "cpu"),
    "trainer.devices=0": ("trainer.devices=0", "allowed", "1..2"),
    "trainer.devices=-1": ("trainer.devices=-1", "allowed", "1..2"),  # all devices: GPUs only
    "trainer.devices=[0]": ("trainer.devices=[0]", "allowed", "1..2"),
    "+data.foo=1": ("data.foo=1", "mlplab.data.synthetic.SyntheticDataModule", "allowed", "batch_size"),
    "+trainer.max_epoch=3": ("trainer.max_epoch=3", "lightning.pytorch.Trainer", whole("trainer.max_epochs")),
    "+callbacks.model_checkpoint.every_n_step=5": (
        "callbacks.model_checkpoint.every_n_step=5",
        "mlplab.callbacks.model_checkpoint.ModelCheckpoint",
        whole("every_n_train_steps"),
    ),
    "+trainer.strategy=ddp_spawn": ("trainer.strategy", "ddp_spawn", "allowed", whole("ddp")),
    "trainer=ddp +trainer.strategy.start_method=spawn": ("trainer.strategy", "start_method", whole("spawn"), "allowed"),
    "trainer.accumulate_grad_batches=0": ("trainer.accumulate_grad_batches=0", "allowed"),
    "task_name=": ("task_name", "allowed"),
    "seed=-1": ("seed=-1", "allowed", "null"),
    "data.val_fraction=0 data.train_fraction=0.9": ("data.val_fraction=0", "allowed"),
    "data.test_fraction=0 data.train_fraction=0.9": ("data.test_fraction=0", "allowed", "test=false"),
    "model.in_dim=3": ("model.in_dim=3", "data.in_dim=4", "allowed"),
    "model.loss=hinge": ("model.loss", "hinge", "allowed", "mse"),
    "data=file": ("data.path", "???"),  # a value the config leaves to the user: it has none to offer
    "data=file data.path=${paths.datasets_dir}/iris.csv data.target_columns=1.5": (
        "data.target_columns=1.5",
        "allowed",
        "column name",
    ),
    # torch checks none of these: 0 divided by at the first epoch's end, a negative factor climbs the loss.
    "scheduler=step scheduler.step_size=0": ("scheduler.step_size=0", "allowed", "positive"),
    "scheduler=step scheduler.gamma=-1": ("scheduler.gamma=-1", "allowed", "positive"),
    "scheduler=cosine scheduler.T_max=0": ("scheduler.T_max=0", "allowed"),
    "trainer.val_check_interval=0": ("trainer.val_check_interval=0", "allowed", "fraction"),
    "+callbacks.extra=5": ("callbacks.extra=5", "allowed", "_target_"),
    "model_summary_depth=abc": ("model_summary_depth", "allowed"),
    # TensorBoardLogger hands its **kwargs to SummaryWriter: a typo would fail at the first write.
    "+logger.tensorboard.flush_sec=5": ("logger.tensorboard.flush_sec=5", whole("logger.tensorboard.flush_secs")),
    "data.in_dim=0": ("data.in_dim=0", "allowed"),  # what the user set, not the model.in_dim that follows it
    # The experiment's SGD momentum, where Adam takes none: the way to leave it out.
    "experiment=seed_tutorial optimizer=adam": ("optimizer.momentum", "torch.optim.Adam", "~optimizer.momentum"),
    # The run passes its own callbacks, loggers and plugins to the Trainer: these would be dropped silently.
    "+trainer.callbacks=[{_target_:lightning.pytorch.callbacks.Timer}]": (
        "trainer.callbacks",
        "allowed",
        "+callbacks.",
    ),
    "+trainer.logger=false": ("trainer.logger=False", "allowed", "logger=csv"),
    "ckpt_path=5": ("ckpt_path=5", "allowed", "last"),
    "trainer.devices=[a]": ("trainer.devices=['a']", "allowed", "auto"),
    # Inside a list: which item is wrong (YAML's list stands for torch's tuple of betas).
    "optimizer=adam +optimizer.betas=[0.9,a]": ("optimizer.betas", "allowed", "a valid number at [1]"),
    "callbacks.progress_bar.show=[1]": ("callbacks.progress_bar.show=[1]", "allowed", "string at [0]"),
    "callbacks.progress_bar.show=train/loss": ("callbacks.progress_bar.show", "allowed", "a list"),
}
# On a machine without a GPU, what only a GPU allows (accelerator gpu, devices=-1, lists of GPU indices) is not
# among what the message allows.
OFFERS_NO_GPU = [
    "trainer=gpu",
    "trainer.accelerator=tpu",
    "trainer.accelerator=mps",
    "trainer.devices=3",
    "trainer.devices=0",
    "trainer.devices=-1",
    "trainer.devices=[0]",
]


@pytest.fixture
def two_cpus_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine the messages above describe, whatever this one is."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("override", BAD)
def test_bad_values_name_key_value_and_what_is_allowed(override: str, tmp_path: Path, two_cpus_no_gpu: None) -> None:
    with pytest.raises(UserError) as error:
        validate_config(compose_config("train", override.split(), tmp_path))
    message = str(error.value)
    assert_names(message, *BAD[override])
    if override in OFFERS_NO_GPU:
        assert "gpu" not in message.lower().partition("allowed")[2], message


# Splits of 2 are taken from train where rounding leaves fewer (16: 12/2/2), while train keeps 2.
TOO_FEW = {
    "data.num_samples=4": ("data.num_samples=4", "val", "allowed"),
    "data.num_samples=5": ("data.num_samples=5", "test/r2", "allowed"),
}


@pytest.mark.parametrize("override", TOO_FEW)
def test_too_few_samples_for_the_splits_stop_the_data_setup(override: str, tmp_path: Path) -> None:
    """The data's own rules are checked where the data is made (a failed start leaves no run dir behind:
    test_a_data_error_found_at_setup_leaves_no_run_dir)."""
    data = instantiate(compose_config("train", [override], tmp_path).data)
    with pytest.raises(UserError) as error:
        data.setup("fit")
    assert_names(str(error.value), *TOO_FEW[override])


# (key, value as YAML or a Python caller gives it, whether the class that declares the key takes it)
STRICT_VALUES = [
    ("batch_size", 8, True),
    ("batch_size", None, True),  # null: one batch of everything
    ("batch_size", "8", False),  # no "8" for 8
    ("batch_size", True, False),  # no true for 1
    ("batch_size", 0, False),
    ("val_fraction", 1, True),  # an int where a float is declared
    ("val_fraction", float("nan"), False),
    ("on_device", 1, False),
    ("on_device", "auto", True),
    ("task", "regresion", False),
]


@pytest.mark.parametrize(("key", "value", "taken"), STRICT_VALUES, ids=[f"{k}={v!r}" for k, v, _ in STRICT_VALUES])
def test_a_class_takes_only_what_its_signature_declares(key: str, value: object, taken: bool) -> None:
    """The rule is the annotation (mlplab.rules): the same check runs when Hydra builds the class from Python."""
    from mlplab.data.synthetic import SyntheticDataModule

    if taken:
        SyntheticDataModule(**{key: value})  # type: ignore[arg-type]
    else:
        with pytest.raises(UserError) as error:
            SyntheticDataModule(**{key: value})  # type: ignore[arg-type]
        assert_names(str(error.value), f"data.{key}=", "allowed")


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["experiment=seed_tutorial"],
        ["optimizer=adam", "scheduler=cosine", "logger=csv", "trainer=cpu"],
        ["data.batch_size=null", "trainer.devices=auto", "seed=null"],
        # Lightning's time forms, written as its docs write them.
        [
            "+trainer.max_time={minutes:1}",
            "trainer.val_check_interval=00:00:00:30",
            "trainer.check_val_every_n_epoch=null",
        ],
        ["trainer.val_check_interval={seconds:30}"],
        ["+trainer.max_time={minutes:1.5}", "trainer.val_check_interval={minutes:0.5}"],  # timedelta takes floats
        ["optimizer=adam", "+optimizer.betas=[0.9,0.99]"],  # YAML's list where torch's signature says tuple
    ],
)
def test_the_shipped_configs_pass(overrides: list[str], tmp_path: Path, two_cpus_no_gpu: None) -> None:
    cfg = compose_config("train", overrides, tmp_path)
    validate_config(cfg)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False)
    assert trainer.max_epochs == cfg.trainer.max_epochs  # the Trainer takes it: no DictConfig reaches Lightning


# Overrides Hydra itself cannot compose -> what the one line said instead of Hydra's several must name: the
# override, why it cannot be (what the key is or holds), and the override that would work, where there is one.
UNCOMPOSABLE: dict[str, tuple[Named, ...]] = {
    "trainer.max_epoch=5": ("trainer.max_epoch=5", whole("trainer.max_epochs"), "+trainer.max_epoch=5"),
    "seeed=3": ("seeed=3", whole("seed"), "+seeed=3"),
    # A group of scripts/tune.py's config, which train.yaml's defaults do not name.
    "tune/pruner=median": ("tune/pruner=median", "allowed", "+tune/pruner=median"),
    "hydra.run.dirr=x": ("hydra.run.dirr=x", whole("hydra.run.dir"), "+hydra.run.dirr=x"),
    "optimizer=foo": ("optimizer=foo", "allowed", "adam"),
    # A key through an interpolation: set where the interpolation points.
    "model.optimizer.lr=0.1": ("model.optimizer.lr=0.1", "${optimizer}", whole("optimizer.lr=0.1")),
    # A key under a value or an empty group: nothing to resolve (and no hint that would fail too, below).
    "paths.output_dir.x=1": ("paths.output_dir.x=1", "${job_output_dir:}"),
    "scheduler.gamma=0.5": ("scheduler.gamma=0.5", whole("null")),
    "tags.x=1": ("tags.x=1", "[]"),
    "scheduler=null": ("scheduler=null", "allowed", whole("none")),
    "model.in_dim.x=1": ("model.in_dim.x=1", "${data_size:in_dim}"),
    # + and ++ compose through an interpolation by replacing it (the model would get {lr: 7} as optimizer).
    "++model.optimizer.lr=7": ("++model.optimizer.lr=7", "${optimizer}", "++optimizer.lr=7"),
    "+model.optimizer.lr=7": ("+model.optimizer.lr=7", "${optimizer}", whole("optimizer.lr=7")),
    "hydra.launcher.partition=x": ("hydra.launcher.partition=x", "+hydra.launcher.partition=x"),
    # The key exists: Hydra's own line, which says to drop the + or add a second one.
    "+trainer.max_epochs=3": (whole("trainer.max_epochs=3"), "++trainer.max_epochs=3"),
}
# ... and no hint that would not compose either.
NOT_HINTED = {
    "paths.output_dir.x=1": "+paths.output_dir.x=1",
    "scheduler.gamma=0.5": "+scheduler.gamma=0.5",
    "tags.x=1": "+tags.x=1",
    "model.in_dim.x=1": "data.in_dim.x=1",  # data.in_dim is a number: no key to set there either
    "+model.optimizer.lr=7": "+optimizer.lr=7",  # Hydra's hint (++) would replace optimizer: drop the + there
}


@pytest.mark.parametrize("override", UNCOMPOSABLE)
def test_overrides_that_do_not_compose_get_one_line(override: str) -> None:
    message = composition_error(CONF, "train", ["optimizer=adam", override])
    assert message is not None
    assert_names(message, *UNCOMPOSABLE[override])
    if override in NOT_HINTED:
        assert NOT_HINTED[override] not in message, message


def test_an_unknown_top_level_key_lists_what_is_there() -> None:
    message = composition_error(CONF, "train", ["foo.bar=1"]) or ""
    assert_names(message, "foo.bar=1", "allowed", whole("task_name"), whole("seed"), whole("ckpt_path"))
    # Two wrong keys: the first is explained against the config the other overrides that compose make (Adam's,
    # which has no momentum), and only the first is.
    two = composition_error(CONF, "train", ["optimizer=adam", "optimizer.momentum=1", "trainer.max_epoch=3"]) or ""
    assert_names(two, "optimizer.momentum=1", "allowed", whole("weight_decay"), "+optimizer.momentum=1")
    assert "max_epoch" not in two, two
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


def test_a_name_hydra_cannot_take_unquoted_is_shown_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    """Hydra's grammar takes unquoted values of ASCII letters only: a column named in French needs quotes."""
    with pytest.raises(SystemExit) as stop:
        check_overrides(CONF, "train", ["data=file", "data.target_columns=[espèce,âge]"])
    assert stop.value.code == 2
    assert_names(
        capsys.readouterr().err, "data.target_columns=[espèce,âge]", """'data.target_columns=["espèce","âge"]'"""
    )
    # Lightning's own checkpoint names hold '=': the override shown quoted, which then composes.
    with pytest.raises(SystemExit) as stop:
        check_overrides(CONF, "eval", ["ckpt_path=/x/epoch=3-step=20.ckpt"])
    assert stop.value.code == 2
    assert_names(capsys.readouterr().err, """'ckpt_path="/x/epoch=3-step=20.ckpt"'""")
    check_overrides(CONF, "eval", ['ckpt_path="/x/epoch=3-step=20.ckpt"'])


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["trainer.max_epochs=1,2"], ("trainer.max_epochs=1,2", "allowed", "-m")),  # a sweep without -m
        (["-m", "optimizer.lr=interval(0.1,0.3)"], ("interval()", "scripts/tune.py", "allowed", "range()")),
    ],
)
def test_values_that_only_a_sweep_or_a_search_takes(
    argv: list[str], names: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        check_overrides(CONF, "train", argv)
    assert stop.value.code == 2
    assert_names(capsys.readouterr().err, *names)


@pytest.mark.parametrize("override", ["tune.n_trials=0", "tune.workers=0", "tune.launcher=cloud"])
def test_the_search_settings_are_checked_before_a_study(override: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        validate_config(compose_config("tune", ["tune.study_name=t", override], tmp_path))  # no HydraConfig here
    assert_names(str(error.value), override.split("=")[0], "allowed")


def test_each_option_of_a_swept_group_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """SGD has momentum, Adam has not: the sweep stops before its first job, not at its second."""
    with pytest.raises(SystemExit) as stop:
        check_overrides(CONF, "train", ["-m", "optimizer=sgd,adam", "optimizer.momentum=0.9", "optimizer.lr=0.1,0.2"])
    assert stop.value.code == 2
    assert_error_line(capsys.readouterr().err, "optimizer=adam", "optimizer.momentum=0.9", "allowed", whole("lr"))
    check_overrides(CONF, "train", ["-m", "optimizer=sgd,adam", "optimizer.lr=0.1,0.2"])  # composes: no exit


def test_the_options_a_search_space_searches_are_checked_too(capsys: pytest.CaptureFixture[str]) -> None:
    """scripts/tune.py's hparams_search=mlp searches optimizer: [sgd, adam]; Adam's trials could not compose."""
    with pytest.raises(SystemExit) as stop:
        check_overrides(CONF, "tune", ["hparams_search=mlp", "optimizer.momentum=0.9"], searches=True)
    assert stop.value.code == 2
    assert_error_line(capsys.readouterr().err, "optimizer=adam", "optimizer.momentum=0.9")
    # Fixed on the command line, the optimizer is not searched: SGD's momentum composes.
    check_overrides(CONF, "tune", ["hparams_search=mlp", "optimizer=sgd", "optimizer.momentum=0.9"], searches=True)


def test_a_key_added_by_a_plus_can_be_set_after_it() -> None:
    """What Hydra composes passes, even where an override needs the key an earlier + adds."""
    stop = "{_target_:lightning.pytorch.callbacks.EarlyStopping,monitor:val/loss,patience:3}"
    early_stop = f"+callbacks.early_stop={stop}"
    assert composition_error(CONF, "train", [early_stop, "callbacks.early_stop.patience=5"]) is None
    check_overrides(CONF, "train", ["-m", early_stop, "callbacks.early_stop.patience=3,5"])


@pytest.mark.parametrize(
    ("script", "args", "names"),
    [
        ("train.py", ["trainer.max_epoch=5"], ["trainer.max_epoch=5", whole("trainer.max_epochs")]),
        ("train.py", ["-m", "optimizer.lr=0.1,0.2", "trainer.max_epohcs=2"], ["trainer.max_epohcs=2", "max_epochs"]),
        ("eval.py", ["ckpt_path=x.ckpt", "data.batchsize=8"], ["data.batchsize=8", whole("data.batch_size")]),
        ("predict.py", ["optimizer.lr=("], ["optimizer.lr=("]),  # not even an override: Hydra's parser says why
    ],
)
def test_a_typo_stops_every_script_before_hydra_starts(
    script: str, args: list[str], names: list[Named], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    proc = run_script(script, *args, f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={run_dir}", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_error_line(proc.stderr, *names)
    assert not run_dir.exists()


@pytest.mark.slow
def test_a_bad_config_stops_the_script_with_one_line_and_no_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_script("train.py", "optimizer.lr=-1", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, "optimizer.lr=-1", "allowed")
    assert not run_dir.exists()  # checked before Hydra creates it: nothing looks like a run
    # HYDRA_FULL_ERROR=1 asks for the traceback behind the line: it goes down into mlplab's check.
    full = run_script(
        "train.py", "optimizer.lr=-1", f"hydra.run.dir={run_dir}", env={"HYDRA_FULL_ERROR": "1"}, check=False
    )
    assert full.returncode != 0 and "Traceback" in full.stderr and "src/mlplab/" in full.stderr
    assert "optimizer.lr=-1" in full.stderr


@pytest.mark.slow
def test_a_data_error_found_at_setup_leaves_no_run_dir(tmp_path: Path) -> None:
    table = tmp_path / "seven_columns.csv"
    table.write_text("1,2,3,4,5,6,7\n" * 20)
    run_dir = tmp_path / "run"
    no_column = "data.target_columns=[9]"  # found only once the file is read, after Hydra made the run dir
    args = [*TINY[:1], "data=file", f"data.path={table}", no_column, f"hydra.run.dir={run_dir}"]
    proc = run_script("train.py", *args, check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, "data.target_columns", "9", str(table))
    assert not run_dir.exists()  # Hydra had made it; a failed start takes it away again


@pytest.mark.slow
def test_a_bad_job_in_a_sweep_fails_alone_in_one_line(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "optimizer.lr=-1,0.05", *TINY, "trainer.max_epochs=1", "test=false", f"hydra.sweep.dir={sweep}"]
    proc = run_script("train.py", *args, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    # Hydra reports the failed job around it; ours is the one "error: " line among them.
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert_names(error, "optimizer.lr=-1", "allowed")
    assert not (sweep / "0").exists() and (sweep / "1" / "metrics.json").is_file()  # the good job still ran
    # Hydra ends such a sweep by raising, before its end-of-sweep callbacks: the table is there all the same.
    rows = (sweep / "comparison.csv").read_text().splitlines()
    assert len(rows) == 2 and "0.05" in rows[1]


@pytest.mark.slow
def test_a_setting_lightning_refuses_is_one_line_under_its_key(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_script("train.py", *TINY, "trainer.accelerator=foo", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2
    # Lightning's own reason, under the config group that holds the setting.
    assert_error_line(proc.stderr, "trainer", "accelerator", whole("foo"))
    assert not run_dir.exists()  # nothing was trained: the failed start takes Hydra's run dir away again


FILE_RUN = ["trainer.max_epochs=1", "data.batch_size=16", "trainer.enable_progress_bar=false"]


@pytest.mark.slow
def test_a_failed_start_in_the_users_own_directory_leaves_only_what_was_there(tmp_path: Path) -> None:
    """hydra.run.dir=<a directory of the user's>: a start refused for bad data takes away what Hydra wrote, so
    the corrected command is not refused as "already holds a run"."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "table.csv").write_text("a,b\nx,y\n")
    proc = run_script(
        "train.py", *FILE_RUN, "data=file", f"data.path={mine / 'table.csv'}", f"hydra.run.dir={mine}", check=False
    )
    assert proc.returncode == 2
    assert_error_line(proc.stderr, f"data.path={mine / 'table.csv'}")
    assert [p.name for p in mine.iterdir()] == ["table.csv"]  # nothing of a run: the corrected command may use it
