"""Private parts of Lightning 2.4 - 2.6 that mlplab relies on (pinned by ``lightning<2.7`` in pyproject)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.callbacks.progress.rich_progress import _RefreshThread
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

Launcher = _SubprocessScriptLauncher


@contextmanager
def children_started_by(start: Callable[[Launcher], None]) -> Iterator[None]:
    """While active, Lightning's DDP launcher calls ``start(launcher)`` instead of re-running ``sys.argv``.

    Lightning rebuilds the children's command from ``sys.argv``, which inside a Hydra multirun still holds
    ``-m`` and the sweep (every child would run a sweep of its own): Lightning PR #18175,
    lightning-hydra-template#393. No public hook exists to change the command.
    """
    original = _SubprocessScriptLauncher._call_children_scripts

    def call_children_scripts(self: Launcher) -> None:  # becomes a method of the launcher
        start(self)

    _SubprocessScriptLauncher._call_children_scripts = call_children_scripts  # type: ignore[method-assign]
    try:
        yield
    finally:
        _SubprocessScriptLauncher._call_children_scripts = original  # type: ignore[method-assign]


def check_can_spawn_children(launcher: Launcher) -> None:
    """Lightning's own refusal to start ranks twice (e.g. a second ``fit`` in one process)."""
    launcher._check_can_spawn_children()


def uses_distributed_sampler(trainer: L.Trainer) -> bool:
    """``Trainer(use_distributed_sampler=...)`` as the Trainer resolved it; the Trainer has no public getter."""
    return bool(trainer._accelerator_connector.use_distributed_sampler)


def finish_epoch_on_last_batch(loops: dict[str, Any]) -> None:
    """A checkpoint from an epoch's last batch (its validation end, typically) becomes an end-of-epoch one.

    Lightning 2.6 resumes such a checkpoint as "mid-epoch", finds the epoch done, and starts the next one
    without counting it (nor calling ``on_train_epoch_start``): every checkpoint of that next epoch then
    claims a finished epoch, and resuming from one of those replays batches (no upstream issue found; seen in
    ``_TrainingEpochLoop``'s restart logic of Lightning 2.6, tested in tests/test_resume.py).
    Edits the private loop-progress dicts of ``checkpoint["loops"]`` before Lightning restores them.
    """
    fit = loops.get("fit_loop", {})
    batches, epochs = fit.get("epoch_loop.batch_progress"), fit.get("epoch_progress")
    if not batches or not epochs or not batches.get("is_last_batch"):
        return
    cur, ep = batches["current"], epochs["current"]
    saved_after_last_batch = cur["ready"] == cur["started"] == cur["processed"] == cur["completed"] + 1
    if not (saved_after_last_batch and ep["ready"] == ep["started"] == ep["processed"] + 1):
        return
    for progress in (batches["current"], batches["total"]):
        progress["completed"] += 1
    for progress in (epochs["current"], epochs["total"]):
        progress["processed"] += 1
        progress["completed"] += 1
    # Lightning adds this step itself only on its own "mid-epoch" path; the logger's step must continue.
    fit["epoch_loop.state_dict"]["_batches_that_stepped"] += 1


def saves_on_train_epoch_end(callback: ModelCheckpoint, trainer: L.Trainer) -> bool:
    """Whether Lightning's ModelCheckpoint saves at the train epoch's end rather than after validation."""
    return bool(callback._should_save_on_train_epoch_end(trainer))


def save_last_now(callback: ModelCheckpoint, trainer: L.Trainer) -> bool:
    """Writes ``last.ckpt`` of the current state, unless Lightning would skip saving now (sanity check,
    fast_dev_run, a save at this step already). Lightning's ``on_train_end`` saves only a run that never
    saved (Lightning 2.6 ``ModelCheckpoint.on_train_end``), so a run could end steps after its last save."""
    if callback._should_skip_saving_checkpoint(trainer):
        return False
    callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))
    return True


class WakefulRefreshThread(_RefreshThread):
    """Lightning's refresh thread (it draws the bar when a hook asked for it), waiting on its stop event
    between draws as rich's own does, instead of in ``time.sleep``.

    Stopping the bar joins this thread. Lightning's sleeps out its whole interval first: every stop of the bar
    (once per fit, once per test) waited half a ``1 / refresh_rate`` on average, 50 ms at 10 draws a second,
    ~40 µs a step of a 977-step epoch (``make bench``)."""

    def run(self) -> None:
        while not self.done.wait(1 / self.refresh_per_second):
            if self.refresh_cond:
                with self.live._lock:
                    self.live.refresh()
                self.refresh_cond = False


def wake_refresh_thread_on_stop(progress: Any) -> None:
    """Swaps the running refresh thread of a just-started bar for a :class:`WakefulRefreshThread`.

    Lightning 2.4 - 2.6 and rich 13 - 15 keep it in ``progress.live._refresh_thread`` (tests/test_bench.py checks
    that the swap happens); where they do not, the bar stays as Lightning makes it.
    """
    live = getattr(progress, "live", None)
    old = getattr(live, "_refresh_thread", None)
    if not isinstance(old, _RefreshThread) or isinstance(old, WakefulRefreshThread) or not old.is_alive():
        return
    old.stop()  # it ends after its current sleep; nothing waits for it (a daemon thread)
    new = WakefulRefreshThread(old.live, old.refresh_per_second)
    live._refresh_thread = new  # type: ignore[union-attr]
    new.start()


class PlainHookName(L.LightningModule):
    """A LightningModule whose ``_current_fx_name`` is a plain attribute.

    Lightning sets that private attribute before and after every hook it calls on the module (46 times per
    step of a batch-1024 epoch with validation, 55 per tutorial epoch; ``trainer/call.py``, Lightning 2.4 -
    2.6). ``nn.Module.__setattr__`` first looks for a parameter, buffer or submodule of that name: 1.3 µs a
    time against 0.13 µs for ``object.__setattr__``, about 55 µs of a 850 µs step. torch takes the same short
    cut for its own plain attributes (pytorch/pytorch#77098). A hook name is never a parameter, buffer or
    submodule, so nothing else changes; tests/test_compat.py fails if Lightning stops setting it.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
