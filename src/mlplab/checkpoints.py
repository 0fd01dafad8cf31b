"""Finding and safely reading checkpoints: weights-only, never code from the file."""

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from mlplab.errors import UserError


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``last`` means this run dir's ``checkpoints/last.ckpt``: resume it, or start fresh if there is none."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            print(f"ckpt_path=last: no {last} yet, starting from scratch", flush=True)
            return None
        return str(last)
    path = Path(ckpt_path)
    if not path.is_file():
        raise UserError(f"ckpt_path={ckpt_path}: no such file (use a .ckpt path, 'last', or null)")
    return str(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, loaded weights-only; a clear error for files that are not that."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UserError(
            f"ckpt_path={path}: refused, it needs more than weights to load (it could run code): "
            f"{str(e).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise UserError(f"ckpt_path={path}: not a readable checkpoint (corrupt or truncated?): {e}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"ckpt_path={path}: not a Lightning checkpoint (no 'state_dict' inside)")
    return ckpt


def checkpoint_step(path: str) -> int:
    return int(load_checkpoint(path).get("global_step", 0))
