"""How checkpoint files are written and read: atomically, weights-only, and never with NaN weights."""

import os
import socket
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from mlplab.callbacks.divergence import refuse_nonfinite_checkpoint
from mlplab.run.checkpoints import load_weights_only


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temp_files(directory: Path) -> None:
    """Deletes temp files in ``directory`` whose writer on this host is gone (SIGKILL mid-write cannot clean up)."""
    host = socket.gethostname()
    for tmp in directory.glob(f".*.{host}.*.tmp"):
        rest, _, pid = tmp.name.removesuffix(".tmp").rpartition(".")
        # Another host's writer may still be busy on a shared filesystem: only this host's dead writers are known.
        if rest.endswith(f".{host}") and pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def atomic_torch_save(obj: object, path: Path) -> None:
    """Writes ``path`` whole or not at all: a crash mid-write leaves the previous file untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent)
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with atomic writes, a NaN check before each write, and weights-only reads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        refuse_nonfinite_checkpoint(checkpoint, str(path))
        atomic_torch_save(checkpoint, Path(path))

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> Any:
        # Always weights-only, whatever the caller asks: a checkpoint never runs code. Not only Lightning
        # checkpoints pass through here: ddp_spawn hands the fitted weights back to the main process in a bare
        # state_dict file.
        return load_weights_only(path)
