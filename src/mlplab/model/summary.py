"""The model's layer table, printed once at the start of a run.

Printed directly rather than by Lightning's ModelSummary callback: a callback is dispatched on every hook
of every step, and at the tutorial's size (one step per epoch) each one costs a visible share of a step.
"""

import lightning as L
from lightning.pytorch.utilities.model_summary import ModelSummary


def print_model_summary(model: L.LightningModule, max_depth: int = 2) -> None:
    if max_depth != 0:
        print(ModelSummary(model, max_depth=max_depth), flush=True)
