"""What a run dir held before a start, so that a start refused for bad input puts it back as it was (a resumed
run's saved config, a dir of the user's): only what a run makes is ever removed."""

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
    existed: bool  # held anything but Hydra's files
    names: frozenset[str]  # what the directory held, top level
    hydra_files: dict[str, bytes]  # what .hydra/ held: Hydra rewrites these in place
    taken_at: float


_taken: RunDirSnapshot | None = None


def _made_by_a_run(name: str) -> bool:
    return name == HYDRA_SUBDIR or name in RUN_OUTPUTS or name.endswith(".log")


def take(path: Path, hydra_wrote: bool = False) -> None:
    """Before Hydra writes into ``path`` (a single run), or just after (``hydra_wrote``: a multirun job's new
    dir). Rank 0 only: under torchrun every rank starts, and only rank 0 writes ``.hydra/``."""
    global _taken
    if global_rank() != 0:
        return
    path, hydra = Path(os.path.abspath(path)), Path(os.path.abspath(path)) / HYDRA_SUBDIR
    files = (
        {f.name: f.read_bytes() for f in hydra.iterdir() if f.is_file()} if hydra.is_dir() and not hydra_wrote else {}
    )
    names = frozenset(e.name for e in path.iterdir()) if path.is_dir() else frozenset()
    existed = path.is_dir() and not (hydra_wrote and all(n == HYDRA_SUBDIR or n.endswith(".log") for n in names))
    _taken = RunDirSnapshot(path, existed, names, files, time.time())


def forget() -> None:
    """The run has trained: what is in its directory is its own from here on."""
    global _taken
    _taken = None


def restore(path: Path) -> bool:
    """Puts ``path`` back as :func:`take` found it, unless the run wrote a checkpoint or metrics since; False
    (nothing done) without a snapshot of it, or where it failed (the caller is reporting an error already)."""
    snap = _taken
    if snap is None or snap.path != Path(os.path.abspath(path)) or not snap.path.is_dir():
        return False
    written = [*(snap.path / "checkpoints").glob("*.ckpt"), snap.path / "metrics.json"]
    try:
        made = [e for e in snap.path.iterdir() if e.name not in snap.names and _made_by_a_run(e.name)]
        if any(p.exists() and p.lstat().st_mtime >= snap.taken_at for p in written):
            return True  # the run got somewhere: its outputs stay
        if not snap.existed and all(_made_by_a_run(e.name) for e in snap.path.iterdir()):
            shutil.rmtree(snap.path)
        for entry in made if snap.existed else []:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for name, data in snap.hydra_files.items():
            (snap.path / HYDRA_SUBDIR / name).write_bytes(data)
        for extra in (snap.path / HYDRA_SUBDIR).iterdir() if snap.hydra_files else []:
            if extra.name not in snap.hydra_files and extra.is_file():
                extra.unlink()
    except OSError:
        return False
    return True
