"""mlplab.compat holds every private API of Lightning, OmegaConf and torch that mlplab uses: these tests fail
as soon as an upgrade renames or reshapes one of them, instead of a run breaking silently."""

import inspect

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter

from mlplab.compat import lightning as compat_lightning
from mlplab.compat import omegaconf as compat_omegaconf
from mlplab.compat.tensorboard import file_writer


def test_lightnings_launcher_still_starts_children_through_the_method_we_replace() -> None:
    assert list(inspect.signature(_SubprocessScriptLauncher._call_children_scripts).parameters) == ["self"]
    assert callable(_SubprocessScriptLauncher._check_can_spawn_children)
    started: list[object] = []
    with compat_lightning.children_started_by(started.append):
        launcher = _SubprocessScriptLauncher.__new__(_SubprocessScriptLauncher)
        launcher._call_children_scripts()
    assert started == [launcher]
    assert _SubprocessScriptLauncher._call_children_scripts is not None  # put back
    with pytest.raises(AttributeError):  # the original is back: it needs a real launcher
        launcher._call_children_scripts()


def test_the_trainer_still_keeps_use_distributed_sampler_on_its_accelerator_connector() -> None:
    trainer = L.Trainer(use_distributed_sampler=False, logger=False, enable_checkpointing=False)
    assert compat_lightning.uses_distributed_sampler(trainer) is False


def fit_two_steps(model: L.LightningModule, tmp_path) -> L.Trainer:
    """One epoch of two one-sample batches through a plain Trainer; the trainer, for what it kept."""
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(2, 1)), batch_size=1))
    return trainer


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")  # Lightning 2.6's own use of torch's deprecated LeafSpec
def test_lightnings_loop_progress_keys_are_the_ones_the_epoch_end_fix_edits(tmp_path) -> None:
    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = fit_two_steps(Tiny(), tmp_path)
    loops = trainer._checkpoint_connector.dump_checkpoint()["loops"]
    fit = loops["fit_loop"]
    for progress in (fit["epoch_loop.batch_progress"], fit["epoch_progress"]):
        assert {"ready", "started", "processed", "completed"} <= set(progress["current"])
        assert {"ready", "started", "processed", "completed"} <= set(progress["total"])
    assert "is_last_batch" in fit["epoch_loop.batch_progress"]
    assert "_batches_that_stepped" in fit["epoch_loop.state_dict"]


def test_model_checkpoint_still_has_the_private_methods_its_subclass_calls() -> None:
    for name in (
        "_should_save_on_train_epoch_end",
        "_should_skip_saving_checkpoint",
        "_save_last_checkpoint",
        "_monitor_candidates",
    ):
        assert callable(getattr(ModelCheckpoint, name)), name


def test_omegaconf_nodes_still_answer_without_resolving() -> None:
    cfg = OmegaConf.create({"model": {"optimizer": "${optimizer}"}, "optimizer": {"lr": 1}, "none": None})
    node = compat_omegaconf.child_node(cfg.model, "optimizer")
    assert node is not None and compat_omegaconf.raw_value(node) == "${optimizer}"
    assert not compat_omegaconf.holds_keys(node)  # an interpolation, whatever it points to
    assert compat_omegaconf.is_null(compat_omegaconf.child_node(cfg, "none"))
    optimizer = compat_omegaconf.child_node(cfg, "optimizer")
    assert optimizer is not None and compat_omegaconf.holds_keys(optimizer)
    assert compat_omegaconf.child_node(cfg, "missing") is None


def test_summary_writer_still_hands_out_its_file_writer(tmp_path) -> None:
    writer = SummaryWriter(tmp_path)
    assert hasattr(file_writer(writer), "add_summary")
    writer.close()


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")  # Lightning 2.6's own use of torch's deprecated LeafSpec
def test_lightning_still_names_the_running_hook_in_current_fx_name(tmp_path) -> None:
    """PlainHookName sets that one attribute past nn.Module's checks: Lightning must still set it (its
    ``self.log`` reads it), and it must stay out of the parameters, buffers and submodules."""
    seen: list[str | None] = []

    class Tiny(compat_lightning.PlainHookName):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            seen.append(self._current_fx_name)
            self.log("loss", 1.0)  # Lightning finds the hook's name to log under
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            seen.append(self._current_fx_name)
            return torch.optim.SGD(self.parameters(), lr=0.1)

    model = Tiny()
    fit_two_steps(model, tmp_path)
    assert seen == ["configure_optimizers", "training_step", "training_step"]
    assert "_current_fx_name" in vars(model) and model._current_fx_name is None  # put back after each hook
    assert list(model.state_dict()) == ["layer.weight", "layer.bias"]
    model.layer = torch.nn.Linear(1, 2)  # every other attribute still goes through nn.Module
    assert model.state_dict()["layer.weight"].shape == (2, 1)
