"""Start-up: ``scripts/train.py --help`` and ``--cfg job`` against a bare Hydra app over the same ``conf/``."""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BARE_APP = """import hydra

@hydra.main(version_base="1.3", config_path={conf!r}, config_name="train")
def main(cfg):
    pass

if __name__ == "__main__":
    main()
"""


def _median_seconds(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_case(tmp: Path, repeats: int) -> list[dict[str, float | str]]:
    """Median wall seconds of each command, the project's script against the bare app (target ≤ 1.5x)."""
    tmp.mkdir(parents=True, exist_ok=True)
    bare = tmp / "bare_hydra_app.py"
    bare.write_text(BARE_APP.format(conf=str(ROOT / "conf")))
    results: list[dict[str, float | str]] = []
    for flags in (["--help"], ["--cfg", "job"]):
        project = _median_seconds([sys.executable, "scripts/train.py", *flags], repeats)
        plain = _median_seconds([sys.executable, str(bare), *flags], repeats)
        results.append(
            {"command": " ".join(flags), "project_s": project, "bare_s": plain, "ratio": project / plain, "target": 1.5}
        )
    return results
