"""Finding and safely reading checkpoints: weights-only, never code from the file."""

import math
import pickle
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mlplab.errors import UserError
from mlplab.run.run_dir import last_checkpoint

if TYPE_CHECKING:
    import lightning as L

# torch's weights-only reader warns of a pickle protocol above 2 before it refuses (or reads) a file that was
# not written by torch.save; a refusal is reported in one line (load_weights_only). Data files: data/readers.py.
warnings.filterwarnings("ignore", message=r"Detected pickle protocol", category=UserWarning)


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path, training: bool = False) -> str | None:
    """``last`` means this run dir's ``checkpoints/last.ckpt``: training resumes it, or starts fresh if
    there is none yet; the other tasks need it to exist."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        last = last_checkpoint(output_dir)
        if not last.is_file():
            if not training:  # eval runs in a new run dir, with no last.ckpt of its own
                raise UserError(
                    f"ckpt_path=last: no {last}; allowed: the path of a .ckpt file, "
                    "e.g. ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt"
                )
            print(f"ckpt_path=last: no {last} yet, starting from scratch", flush=True)
            return None
        return str(last)
    path = Path(ckpt_path)
    if not path.is_file():
        allowed = "null, last, or the path of a .ckpt file" if training else "the path of a .ckpt file"
        raise UserError(f"ckpt_path={ckpt_path}: no such file; allowed: {allowed}")
    return str(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, loaded weights-only; a clear error for files that are not that."""
    ckpt = load_weights_only(path)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"ckpt_path={path}: not a Lightning checkpoint (no 'state_dict' inside)")
    return ckpt


_UNREADABLE = "not a readable checkpoint (corrupt, truncated, or not a torch file)"


def load_weights_only(path: str | Path) -> Any:
    """Whatever ``path`` holds, if it loads without running code; a clear error otherwise."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # The weights-only unpickler names the global (class or function) it would have had to call.
        needed = re.search(r"GLOBAL (\S+)", str(e))
        if needed:
            raise UserError(
                f"ckpt_path={path}: refused, it needs more than weights to load ({needed.group(1)}: it could run "
                "code); only load checkpoints you trust, and this one only with your own torch.load"
            ) from None
        raise UserError(f"ckpt_path={path}: {_UNREADABLE}") from None
    except Exception as e:  # any failure to read the user's file means it is no checkpoint
        # RuntimeError/EOFError/BadZipFile for truncated zips; KeyError or struct.error from the legacy
        # loader on a short file of other bytes ("hello").
        known = isinstance(e, (RuntimeError, EOFError, OSError, ValueError)) and str(e)
        # Its first sentence: torch's zip reader goes on about miniz internals. KeyError: 101 would say nothing.
        detail = f": {str(e).splitlines()[0].split('. ')[0]}" if known else ""
        raise UserError(f"ckpt_path={path}: {_UNREADABLE}{detail}") from None


def check_fits(ckpt: dict[str, Any], model: torch.nn.Module, path: str) -> None:
    """``ckpt`` (from :func:`load_checkpoint` of ``path``) has the model's weight names and shapes; else a
    one-line error naming what differs and the sizes it was trained with."""
    trained_as, built = ckpt.get("mlplab_module"), f"{type(model).__module__}.{type(model).__qualname__}"
    if isinstance(trained_as, str) and trained_as.startswith("mlplab.") and trained_as != built:
        task = "classification" if trained_as.endswith("Classifier") else "regression"
        raise UserError(f"ckpt_path={path}: a {trained_as} checkpoint, not {built}; allowed: task={task}")
    saved = ckpt["state_dict"]
    wanted = model.state_dict()
    missing = sorted(set(wanted) - set(saved))
    unexpected = sorted(set(saved) - set(wanted))
    if missing or unexpected:
        raise UserError(
            f"ckpt_path={path}: a different model (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "resume with the config it was trained with"
        )
    for name, tensor in wanted.items():
        if tuple(saved[name].shape) != tuple(tensor.shape):
            hparams = ckpt.get("hyper_parameters", {})
            sizes = ", ".join(f"{k}={v}" for k, v in hparams.items() if k.endswith("_dim"))
            raise UserError(
                f"ckpt_path={path}: a different architecture ({name} is {tuple(saved[name].shape)} in the file, "
                f"{tuple(tensor.shape)} in this config); it was trained with {sizes or 'other sizes'}"
            )


def check_optimizer(ckpt: dict[str, Any], model: "L.LightningModule", path: str) -> None:
    """Resuming restores the checkpoint's optimizer state into this config's optimizer: state of another kind
    (SGD's into Adam) is a one-line error, not a KeyError in the first step. Tried on a fresh optimizer of
    the configured kind, which fills in settings newer than the checkpoint's torch as its own
    ``load_state_dict`` does."""
    if "optimizer_states" not in ckpt:  # Lightning would fail with a KeyError at its restore
        raise UserError(
            f"ckpt_path={path}: weights only (save_weights_only=true), and a resume needs the optimizer's state; "
            "allowed: a checkpoint saved without save_weights_only"
        )
    states = ckpt.get("optimizer_states") or []
    configured = model.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    if not states or not isinstance(optimizer, torch.optim.Optimizer):
        return
    kind = type(optimizer).__name__
    try:
        optimizer.load_state_dict(states[0])
    except (KeyError, ValueError, TypeError) as e:
        raise UserError(
            f"ckpt_path={path}: its optimizer state does not load into {kind} ({type(e).__name__}: {e}); resume "
            "with the optimizer it was trained with"
        ) from None
    missing = sorted(set(optimizer.defaults) - set(optimizer.param_groups[0]))
    if missing:
        raise UserError(
            f"ckpt_path={path}: its optimizer state is not {kind}'s (it lacks {', '.join(missing)}); resume with "
            "the optimizer it was trained with"
        )


def check_epochs_left(ckpt: dict[str, Any], max_epochs: int | None, path: str) -> None:
    """Resuming a checkpoint that is already past ``trainer.max_epochs`` is a one-line error, not Lightning's crash."""
    # The epochs begun: a save at an epoch's end holds that epoch's index (0-based), one at the run's end the
    # count of epochs (Lightning has moved on); both have begun as many as the fit loop's ``ready``.
    progress = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    epoch = int(progress.get("ready", int(ckpt.get("epoch", 0)) + 1))
    if max_epochs is not None and max_epochs != -1 and epoch > max_epochs:
        raise UserError(
            f"ckpt_path={path}: the checkpoint is at epoch {epoch}, past trainer.max_epochs={max_epochs}; "
            f"allowed: trainer.max_epochs={epoch} or more (e.g. trainer.max_epochs={epoch + max_epochs})"
        )


def not_applied_on_resume(ckpt: dict[str, Any], model: "L.LightningModule") -> list[str]:
    """The configured optimizer and scheduler settings that a resume does not apply: Lightning restores the
    checkpoint's optimizer and scheduler states, saved settings included (``optimizer.lr=0.5 (saved: 0.01)``)."""
    groups = [g for state in ckpt.get("optimizer_states") or [] for g in state.get("param_groups", [])]
    schedulers = ckpt.get("lr_schedulers") or []
    saved_by = {"optimizer": groups[0] if groups else {}, "scheduler": schedulers[0] if schedulers else {}}
    factories = {
        "optimizer": getattr(model, "optimizer_factory", None),
        "scheduler": getattr(model, "scheduler_factory", None),
    }
    notes = []
    for group, factory in factories.items():
        saved = saved_by[group]
        for key, value in (getattr(factory, "keywords", None) or {}).items():
            # A scheduler decays lr in place; the lr it started from is its initial_lr.
            old = saved.get("initial_lr" if key == "lr" and "initial_lr" in saved else key)
            if old is not None and not _same(old, value):
                notes.append(f"{group}.{key}={value} (saved: {old})")
    return notes


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return bool(a == b)
