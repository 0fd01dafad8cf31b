"""Whole process: ``scripts/train.py experiment=seed_tutorial`` against the seed's code as a plain script.

Both run as subprocesses, start to exit (interpreter start-up, imports, the run, its test and report, and
the interpreter's shutdown), interleaved; each side's median of ``repeats``.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SEED_SCRIPT = Path(__file__).with_name("seed_script.py")
TARGET = 1.6


def _seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def process_case(tmp: Path, repeats: int) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    project, seed = [], []
    for i in range(repeats):
        seed.append(_seconds([sys.executable, str(SEED_SCRIPT)]))
        run_dir = tmp / f"run{i}"  # a fresh run directory each time, outside logs/
        project.append(
            _seconds([sys.executable, "scripts/train.py", "experiment=seed_tutorial", f"hydra.run.dir={run_dir}"])
        )
    project_s, seed_s = statistics.median(project), statistics.median(seed)
    return {
        "command": "scripts/train.py experiment=seed_tutorial",
        "project_s": project_s,
        "seed_s": seed_s,
        "ratio": project_s / seed_s,
        "target": TARGET,
        "repeats": repeats,
        "project_runs_s": project,
        "seed_runs_s": seed,
    }
