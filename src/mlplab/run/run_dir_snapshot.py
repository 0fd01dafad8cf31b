"""What a run directory held before a start, so that a start refused for bad input can put it back.

Hydra writes ``.hydra/`` and the job log before the task runs, and a refused start may have opened its
TensorBoard file too. Left there, they would overwrite a resumed run's saved config, or make a directory
the user gave (``hydra.run.dir``) look like a run that the corrected command then refuses to reuse.
Only what a run itself makes is ever removed; anything else in the directory is left alone.
"""

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mlplab.config.resolvers import global_rank
from mlplab.run.run_dir import HYDRA_SUBDIR, RUN_OUTPUTS


@dataclass(frozen=True)
class RunDirSnapshot:
    path: Path
    existed: bool
    names: frozenset[str]  # what the directory held, top level
    hydra_files: dict[str, bytes]  # what .hydra/ held: Hydra rewrites these in place
    taken_at: float


_taken: RunDirSnapshot | None = None


def _made_by_a_run(name: str) -> bool:
    return name == HYDRA_SUBDIR or name in RUN_OUTPUTS or name.endswith(".log")


def take(path: Path) -> None:
    """Called before Hydra writes anything into ``path`` (a single run's start). Rank 0 only: under torchrun
    every rank starts, and only rank 0 writes ``.hydra/``."""
    global _taken
    if global_rank() != 0:
        return
    path = Path(os.path.abspath(path))
    hydra = path / HYDRA_SUBDIR
    files = {f.name: f.read_bytes() for f in hydra.iterdir() if f.is_file()} if hydra.is_dir() else {}
    names = frozenset(e.name for e in path.iterdir()) if path.is_dir() else frozenset()
    _taken = RunDirSnapshot(path, path.is_dir(), names, files, time.time())


def forget() -> None:
    """The run has trained: what is in its directory is its own from here on."""
    global _taken
    _taken = None


def restore(path: Path) -> bool:
    """Puts ``path`` back as :func:`take` found it; False (nothing done) without a snapshot of it, or where
    something went wrong on the way (the caller is reporting an error already)."""
    snap = _taken
    if snap is None or snap.path != Path(os.path.abspath(path)) or not snap.path.is_dir():
        return False
    try:
        _restore(snap)
    except OSError:
        return False
    return True


def _wrote_results(snap: RunDirSnapshot) -> bool:
    """A checkpoint or metrics.json written since the snapshot: the run got somewhere, its outputs stay."""
    written = [*(snap.path / "checkpoints").glob("*.ckpt"), snap.path / "metrics.json"]
    return any(p.exists() and p.lstat().st_mtime >= snap.taken_at for p in written)


def _restore(snap: RunDirSnapshot) -> None:
    if _wrote_results(snap):
        return
    if not snap.existed:
        if all(_made_by_a_run(e.name) for e in snap.path.iterdir()):
            shutil.rmtree(snap.path)
        return
    for entry in snap.path.iterdir():
        if entry.name in snap.names or not _made_by_a_run(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    hydra = snap.path / HYDRA_SUBDIR
    if snap.hydra_files:
        for name, data in snap.hydra_files.items():
            (hydra / name).write_bytes(data)
        for extra in hydra.iterdir():
            if extra.name not in snap.hydra_files and extra.is_file():
                extra.unlink()
