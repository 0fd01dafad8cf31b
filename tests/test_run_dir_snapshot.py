"""A start refused for bad input leaves the run directory as it was, and touches nothing it did not make."""

from pathlib import Path

import pytest

from conftest import assert_names
from mlplab.errors import UserError
from mlplab.run import run_dir_snapshot
from mlplab.run.hydra_callbacks import refuse_taken_run_dir


def test_a_refused_start_takes_back_only_what_a_run_makes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("the run's own config\n")
    (run / "notes.txt").write_text("the user's\n")
    run_dir_snapshot.take(tmp_path / "elsewhere" / ".." / "run")  # the same directory, spelled otherwise
    (run / ".hydra" / "config.yaml").write_text("the refused command's config\n")  # what Hydra does first
    (run / ".hydra" / "extra.yaml").write_text("new\n")
    (run / "train.log").write_text("log\n")
    (run / "tensorboard" / "version_0").mkdir(parents=True)
    (run / "someone_elses.txt").write_text("written meanwhile by another program\n")
    assert run_dir_snapshot.restore(run)
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "notes.txt", "someone_elses.txt"]
    assert [p.name for p in (run / ".hydra").iterdir()] == ["config.yaml"]
    assert (run / ".hydra" / "config.yaml").read_text() == "the run's own config\n"


def test_a_run_that_wrote_a_checkpoint_keeps_its_outputs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_dir_snapshot.take(run)  # not there yet: Hydra makes it
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (run / "train.log").write_text("log\n")
    assert run_dir_snapshot.restore(run)
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "train.log").is_file()
    run_dir_snapshot.take(tmp_path / "fresh")
    (tmp_path / "fresh" / ".hydra").mkdir(parents=True)
    assert run_dir_snapshot.restore(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()  # nothing but what Hydra made: gone again
    run_dir_snapshot.forget()
    (tmp_path / "fresh" / ".hydra").mkdir(parents=True)
    assert not run_dir_snapshot.restore(tmp_path / "fresh")  # after training, nothing is taken back


def test_a_finished_run_is_resumed_only_from_a_checkpoint_it_has(tmp_path: Path) -> None:
    """A run saved without last.ckpt (callbacks.model_checkpoint.save_last=false): ckpt_path=last would start
    from scratch over it, so it is refused and its own checkpoint is named as the way to resume."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "epoch0001-val_loss0.5000.ckpt").write_bytes(b"weights")
    (run / "metrics.json").write_text("{}\n")
    with pytest.raises(UserError) as refused:
        refuse_taken_run_dir(run, "last", can_resume=True)
    assert_names(str(refused.value), f"hydra.run.dir={run}", "checkpoints", "ckpt_path=")
    refuse_taken_run_dir(run, str(run / "checkpoints" / "epoch0001-val_loss0.5000.ckpt"), can_resume=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    refuse_taken_run_dir(run, "last", can_resume=True)  # now there is a last state to resume
    with pytest.raises(UserError):
        refuse_taken_run_dir(run, "last", can_resume=False)  # eval never writes over a run
