"""The configs and resolvers behind distributed runs, checked in-process (no process group needed)."""

import os
import sys
from datetime import timedelta
from pathlib import Path

import lightning as L
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import DictConfig

from conftest import CONF, assert_error_line, assert_names, run_script, whole
from mlplab.config import resolvers
from mlplab.config.devices import check_devices
from mlplab.errors import UserError
from mlplab.run.ddp_child import rank_log_files
from mlplab.run.ddp_job import describe_exit
from mlplab.run.hydra_callbacks import slurm_missing

LAUNCH_ENV = ("TORCHELASTIC_RUN_ID", "GROUP_WORLD_SIZE", "RANK", "SLURM_PROCID", "SLURM_JOB_ID", "SLURM_STEP_ID")


@pytest.fixture(autouse=True)
def no_launcher_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (*LAUNCH_ENV, "SLURM_NTASKS", "SLURM_JOB_START_TIME"):
        monkeypatch.delenv(key, raising=False)


def compose_with_hydra(*overrides: str) -> DictConfig:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_ddp_trainer_config_builds_a_ddp_trainer_with_a_timeout(make_cfg) -> None:
    cfg = make_cfg("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.num_nodes=1")
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    assert isinstance(trainer, L.Trainer) and isinstance(trainer.strategy, DDPStrategy)
    assert trainer.num_devices == 2 and trainer.num_nodes == 1
    assert trainer.strategy._timeout == timedelta(seconds=600)
    # The strategy is a plain string away for those who want Lightning's own names.
    assert make_cfg("trainer=ddp", "trainer.strategy=ddp_spawn").trainer.strategy == "ddp_spawn"
    assert make_cfg("trainer=ddp", "trainer.num_nodes=2").trainer.num_nodes == 2


@pytest.mark.parametrize(("option", "accelerator"), [("cpu", "cpu"), ("gpu", "gpu")])
def test_single_device_trainer_configs(make_cfg, option: str, accelerator: str) -> None:
    cfg = make_cfg(f"trainer={option}")
    assert cfg.trainer.accelerator == accelerator and cfg.trainer.devices == 1


def test_slurm_launcher_takes_tasks_and_nodes_from_the_trainer() -> None:
    cfg = compose_with_hydra("hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.nodes, launcher.gpus_per_node) == (4, 2, 4)
    local = compose_with_hydra("hydra/launcher=slurm_local", "trainer=ddp").hydra.launcher
    assert local._target_.endswith("LocalLauncher") and local.tasks_per_node == 1


def test_a_slurm_sweep_off_a_cluster_stops_in_one_line_before_its_sweep_dir(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    no_srun = {"PATH": str(Path(sys.executable).parent)}  # this interpreter's dir only: no srun in sight
    proc = run_script(
        "train.py",
        *["-m", "hydra/launcher=slurm", "trainer=ddp", "trainer.devices=8", "trainer.num_nodes=2"],
        *["hydra.launcher.partition=gpu", "optimizer.lr=0.01,0.1", f"hydra.sweep.dir={sweep_dir}"],
        env=no_srun,
        check=False,
    )
    assert proc.returncode == 2
    # What is missing, and the stand-in that runs here.
    assert_error_line(proc.stderr, "hydra/launcher=slurm", "srun", "hydra/launcher=slurm_local")
    assert not sweep_dir.exists()
    cfg = compose_with_hydra("hydra/launcher=slurm_local")
    assert slurm_missing(cfg) is None  # the local stand-in needs no cluster


def test_only_rank_zero_saves_the_hydra_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compose_with_hydra().hydra.output_subdir == ".hydra"
    monkeypatch.setenv("RANK", "1")
    assert compose_with_hydra().hydra.output_subdir is None
    assert resolvers.rank_suffix() == "_rank1"


def test_srun_tasks_share_a_run_id_and_know_their_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_STEP_ID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "16")
    monkeypatch.setenv("SLURM_PROCID", "5")
    assert resolvers.run_id() == resolvers.run_id() == "slurm4242.3"
    monkeypatch.setenv("SLURM_JOB_START_TIME", "1700000000")
    assert resolvers.run_id().endswith("_slurm4242.3")
    assert (resolvers.global_rank(), resolvers.rank_suffix(), resolvers.on_rank_zero(".hydra")) == (5, "_rank5", None)
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one task in an allocation: runs stay distinct
    assert resolvers.run_id() != resolvers.run_id()


def test_torchrun_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolvers.run_id() != resolvers.run_id()  # plain runs: unique names
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    # One node: named after the shared torchrun agent (here: this process's parent).
    assert resolvers.run_id() == resolvers.run_id()
    monkeypatch.setenv("GROUP_WORLD_SIZE", "2")
    with pytest.raises(UserError, match="--rdzv-id"):
        resolvers.run_id()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job77")
    assert resolvers.run_id() == "torchrun_job77"


def test_child_ranks_log_beside_rank_zero(tmp_path: Path) -> None:
    logging_cfg = {"handlers": {"console": {"class": "x"}, "file": {"filename": str(tmp_path / "train.log")}}}
    assert rank_log_files(logging_cfg, 3)["handlers"]["file"]["filename"] == str(tmp_path / "train_rank3.log")
    assert "SIGKILL" in describe_exit(-9) and whole("1").search(describe_exit(1))


def test_under_torchrun_the_config_asks_for_the_processes_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchrun --nproc_per_node=2 without trainer.devices=2: each process would train alone in one run dir."""
    for key, value in {"TORCHELASTIC_RUN_ID": "x", "LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(UserError) as devices:
        check_devices({"accelerator": "cpu", "devices": 1, "num_nodes": 1})
    assert_names(str(devices.value), "trainer.devices=1", "torchrun", "devices=2")  # what torchrun started
    with pytest.raises(UserError) as nodes:
        check_devices({"accelerator": "cpu", "devices": 2, "num_nodes": 2})
    assert_names(str(nodes.value), "trainer.num_nodes=2", "torchrun", "1 node")
    check_devices({"accelerator": "cpu", "devices": 2, "num_nodes": 1})  # what torchrun started: fine


def test_several_nodes_need_a_launcher_that_starts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without torchrun, SLURM or Lightning's own variables, the first process would wait for 10 minutes."""
    for key in ("TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "NODE_RANK", "MASTER_ADDR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(UserError) as nodes:
        check_devices({"accelerator": "cpu", "devices": 2, "num_nodes": 2})
    assert_names(str(nodes.value), "trainer.num_nodes=2", "allowed", "torchrun --nnodes=2", "SLURM")
    monkeypatch.setenv("SLURM_NTASKS", "4")  # srun started them
    check_devices({"accelerator": "cpu", "devices": 2, "num_nodes": 2})
