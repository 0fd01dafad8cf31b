"""Lightning's hook dispatch, made to cost only the hooks that do something.

Lightning calls every per-batch and per-epoch hook of every callback, each inside a profiler context and with
the callback's ``state_key`` formatted into the action's name: about 2 µs a call here, whether the hook is a
subclass's code or :class:`lightning.Callback`'s empty default. With nine callbacks that is ~15 calls a
step and as many an epoch. Lightning skips a hook that is not callable (``_call_callback_hooks``, Lightning
2.4 - 2.6; checked by tests/test_bench.py), so a :class:`LeanCallback` sets, on each instance, the hot hooks
its class leaves at the empty default to ``None``.
"""

from contextlib import nullcontext
from typing import Any

import lightning as L
from lightning.pytorch.profilers import PassThroughProfiler

# Called per batch or per epoch (the once-a-run hooks are not worth it). Not on_save_checkpoint,
# on_load_checkpoint, state_dict, load_state_dict: Lightning calls those directly.
HOT_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_start",
    "on_validation_end",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
)


_IDLE: dict[type, tuple[str, ...]] = {}


def idle_hooks(cls: type) -> tuple[str, ...]:
    """The hot hooks ``cls`` leaves at :class:`lightning.Callback`'s empty default."""
    if cls not in _IDLE:
        _IDLE[cls] = tuple(name for name in HOT_HOOKS if getattr(cls, name, None) is getattr(L.Callback, name))
    return _IDLE[cls]


class LeanCallback(L.Callback):
    """A callback whose hooks left at the empty default are never called (first base of a subclass).

    A subclass can also switch off, per instance, a hook it overrides but that has nothing to do in a given
    configuration: ``self.on_train_batch_end = None`` (see :meth:`skip`).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "LeanCallback":
        self = super().__new__(cls)
        for name in idle_hooks(cls):
            setattr(self, name, None)
        return self

    def skip(self, *hooks: str) -> None:
        """Lightning no longer calls these hooks of this instance (each must be one of :data:`HOT_HOOKS`)."""
        for name in hooks:
            if name not in HOT_HOOKS:
                raise ValueError(f"{name} is not a per-batch or per-epoch hook")
            setattr(self, name, None)

    def wake(self, *hooks: str) -> None:
        """Lightning calls these skipped hooks again, from its next call on."""
        for name in hooks:
            self.__dict__.pop(name, None)


class NoProfiler(PassThroughProfiler):
    """Lightning's default "profiler" (which records nothing), without a generator-based context manager
    per hook call: ``profile`` hands back one shared no-op context. Used when ``trainer.profiler`` is unset."""

    _NULL = nullcontext()

    def profile(self, action_name: str) -> Any:
        return self._NULL
