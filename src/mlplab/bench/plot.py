"""The scaling table as a picture: each side's time per step over the hand loop's, as the work grows."""

import re
from pathlib import Path

from mlplab.bench.table import Row


def plot_scaling(rows: list[Row], path: Path) -> Path | None:
    """Writes ``path`` (PNG); None where matplotlib (``pip install 'mlplab[report]'``) is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    hand = [r.hand_us_per_step / 1e3 for r in rows]
    for attr, label, marker in (
        ("project_vs_hand", "project (default callbacks, TensorBoard)", "o"),
        ("barebones_vs_hand", "Lightning Trainer(barebones=True)", "s"),
    ):
        ax.plot(hand, [getattr(r, attr) for r in rows], marker, label=label)
    for r, x in zip(rows, hand, strict=True):
        sizes = re.search(r"hidden (\d+) batch (\d+)", r.work)
        name = f"h{sizes[1]} b{sizes[2]}" if sizes else r.work
        ax.annotate(name, (x, r.project_vs_hand), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("hand-written loop, ms per step (one epoch + validation)")
    ax.set_ylabel("time per step / hand loop's")
    ax.set_title("Overhead over the hand loop falls as the work per step grows")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
