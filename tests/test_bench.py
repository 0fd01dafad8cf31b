"""`make bench` runs end to end and reports every case; the ratios themselves are not asserted here."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from mlplab.bench.floor import GatheredBatches, bare_fit
from mlplab.bench.table import Row, best_of
from mlplab.model.net import Net
from mlplab.model.tutorial_loop import hand_loop


@pytest.mark.slow
def test_bench_quick_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    for header in ("hand µs/step", "project µs/step", "ratio", "samples/s", "peak RSS MB"):
        assert header in proc.stdout
    report = json.loads(out.read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity
    works = [row["work"] for row in report["rows"]]
    assert any(w.startswith("tutorial") for w in works) and any(w.startswith("N=") for w in works)
    floors = [w for w in works if "floor" in w]
    assert len(floors) == 4 and sum("manual" in w for w in floors) == 2  # two under each timed case
    assert all(row["target"] is None for row in report["rows"] if "floor" in row["work"])
    for row in report["rows"]:
        assert row["hand_us_per_step"] > 0 and row["project_us_per_step"] > 0
        assert math.isclose(row["ratio"], row["project_us_per_step"] / row["hand_us_per_step"], rel_tol=1e-6)
    memory = report["memory"]
    assert memory["big_n"] > memory["small_n"] and memory["data_mb"] > 0 and "ratio" in memory
    startup = {case["command"]: case for case in report["startup"]}
    assert set(startup) == {"--help", "--cfg job"}  # each timed against a bare Hydra app over conf/
    assert all(case["project_s"] > 0 and case["bare_s"] > 0 for case in startup.values())


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
# Lightning 2.6 checks torch's deprecated LeafSpec in its own loop; the scripts and the bench silence it too.
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_the_floor_does_the_hand_loops_work(manual: bool) -> None:
    """The floor rows time Lightning over exactly the tutorial's steps: same weights after the same epochs."""
    x, y = torch.randn(64, 4), torch.randn(64, 4)
    hand, floor = Net(), Net()
    floor.load_state_dict(hand.state_dict())
    hand_loop(hand, x, y, epochs=5, lr=0.01)
    bare_fit(floor, GatheredBatches(x, y, None, seed=0), "cpu", epochs=5, manual=manual)
    for a, b in zip(hand.parameters(), floor.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert not torch.equal(hand.fc1.weight, Net().fc1.weight)  # it trained


def test_each_side_counts_its_fastest_run() -> None:
    runs = [
        Row("tutorial", 300.0, 1200.0, 4.0, 2.5, 800_000.0, 400.0),
        Row("tutorial", 250.0, 1300.0, 5.2, 2.5, 750_000.0, 420.0),
    ]
    best = best_of(runs)
    assert (best.hand_us_per_step, best.project_us_per_step) == (250.0, 1200.0)
    assert best.ratio == 1200.0 / 250.0 and best.samples_per_s == 800_000.0 and best.peak_rss_mb == 420.0


def test_a_memory_run_counts_its_own_peak_not_the_bench_process() -> None:
    """A child's ru_maxrss starts at its forking parent's RSS on Linux; the memory case must not read that."""
    ballast = torch.ones(50_000_000)  # 200 MB resident in this (the parent) process
    probe = "from mlplab.bench.rss import own_peak_rss_bytes as o, peak_rss_bytes as p; print(o(), p())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    own, inherited = map(int, out.stdout.split())
    assert inherited - own > 150 * 2**20, (own, inherited)
    del ballast


def test_a_cases_peak_is_its_own_not_the_bench_so_far() -> None:
    """Each row's peak RSS starts afresh: an earlier, larger case does not show in a later one's."""
    probe = (
        "from mlplab.bench.rss import own_peak_rss_bytes as o, reset_peak_rss as r\n"
        "ballast = bytearray(200 * 2**20); del ballast\n"  # an earlier case's peak, since freed
        "before = o(); assert r(); print(before, o())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    before, after = map(int, out.stdout.split())
    assert before - after > 150 * 2**20, (before, after)
