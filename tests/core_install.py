"""``pip install mlplab`` without any extra, emulated from the dev venv: a folder of links to the
site-packages entries of mlplab's core requirements (recursively), seen by a Python started with ``-S``.

The dev venv holds every extra, and some dependencies change what they import by what is installed
(torchmetrics imports scipy and matplotlib whenever they are there). A core install is what
``pip install mlplab`` gives; building a real one would download torch, so its files are borrowed.
"""

import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

from conftest import ROOT

SRC = ROOT / "src"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def core_closure(root: str = "mlplab") -> set[str]:
    """The distributions ``pip install mlplab`` brings: its requirements without extras, recursively."""
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = f"{_normalized(name)}{sorted(extras)}"
        if key in seen:
            continue
        seen.add(key)
        for line in md.requires(name) or []:
            req = Requirement(line)
            # A requirement applies if it has no marker, or its marker holds here for no extra or a requested one.
            wanted = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras))
            if wanted:
                todo.append((req.name, frozenset(req.extras)))
    return {key.split("[", 1)[0] for key in seen} - {_normalized(root)}


def _top_entries(dist: md.Distribution) -> set[Path]:
    """What ``dist`` put into site-packages, as paths relative to it: top-level packages and modules, its
    dist-info; inside a namespace package (no ``__init__.py``, shared with others) the entries one level down."""
    site = Path(str(dist.locate_file("")))
    entries = set()
    for file in dist.files or []:
        parts = Path(file).parts
        if parts[0] == ".." or parts[0].endswith(".pth") or parts[0] == "__pycache__":
            continue  # scripts in bin/, .pth hooks, byte code
        top = site / parts[0]
        namespace = top.is_dir() and not (top / "__init__.py").exists() and not parts[0].endswith(".dist-info")
        entries.add(Path(*parts[:2]) if namespace and len(parts) > 1 else Path(parts[0]))
    return entries


def make_core_site(folder: Path) -> Path:
    """``folder`` filled with links to the core distributions' files; returns it."""
    for name in sorted(core_closure()):
        dist = md.distribution(name)
        site = Path(str(dist.locate_file("")))
        for entry in _top_entries(dist):
            link = folder / entry
            if link.exists() or not (site / entry).exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(site / entry)
    return folder


def run_core(
    core_site: Path, args: list[str], cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -S args...`` seeing only the standard library, ``core_site`` and mlplab's ``src/``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(core_site), str(SRC)])
    return subprocess.run(
        [sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
