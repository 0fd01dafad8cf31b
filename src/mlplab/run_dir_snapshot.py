"""What a run directory held before a start, so that a start refused for bad input can put it back.

Hydra writes ``.hydra/`` and the job log before the task runs, and a refused start may have opened its
TensorBoard file too. Left there, they would overwrite a resumed run's saved config, or make a directory
the user gave (``hydra.run.dir``) look like a run that the corrected command then refuses to reuse.
"""

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

HYDRA_SUBDIR = ".hydra"


@dataclass(frozen=True)
class RunDirSnapshot:
    path: Path
    existed: bool
    files: frozenset[Path]  # every file below path, relative to it
    dirs: frozenset[Path]  # every directory below path, relative to it
    hydra_files: dict[Path, bytes]  # what .hydra/ held: Hydra rewrites these in place
    taken_at: float


_taken: RunDirSnapshot | None = None


def take(path: Path) -> None:
    """Called before Hydra writes anything into ``path`` (a single run's start)."""
    global _taken
    entries = list(path.rglob("*")) if path.is_dir() else []
    files = frozenset(p.relative_to(path) for p in entries if p.is_file())
    dirs = frozenset(p.relative_to(path) for p in entries if p.is_dir())
    hydra = {f: (path / f).read_bytes() for f in files if f.parts[0] == HYDRA_SUBDIR}
    _taken = RunDirSnapshot(path, path.is_dir(), files, dirs, hydra, time.time())


def restore(path: Path) -> bool:
    """Puts ``path`` back as :func:`take` found it; False (nothing done) without a snapshot of it, or where
    the run has written a checkpoint since (it had started: its outputs stay)."""
    snap = _taken
    if snap is None or snap.path != path or not path.is_dir():
        return False
    if any(p.stat().st_mtime >= snap.taken_at for p in path.rglob("*.ckpt")):
        return False
    if not snap.existed:
        shutil.rmtree(path, ignore_errors=True)
        return True
    for entry in sorted(path.rglob("*"), reverse=True):  # a directory's files before the directory
        rel = entry.relative_to(path)
        if entry.is_file() and rel not in snap.files:
            entry.unlink()
        elif entry.is_dir() and rel not in snap.dirs and not any(entry.iterdir()):
            entry.rmdir()
    for rel, data in snap.hydra_files.items():
        (path / rel).write_bytes(data)
    return True
