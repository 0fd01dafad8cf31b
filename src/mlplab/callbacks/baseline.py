"""A closed-form baseline in the same run: least squares on the training split, scored on the test split."""

import lightning as L
import torch
from torch import Tensor
from torchmetrics.functional import accuracy, r2_score

from mlplab.callbacks.lean import LeanCallback


def least_squares(x: Tensor, y: Tensor) -> Tensor:
    """Weights ``w`` (with a bias row) minimizing ``|[x, 1] w - y|``; float64 for a stable solve."""
    return torch.linalg.lstsq(_with_bias(x), y.double().cpu(), driver="gelsd").solution


class LeastSquaresBaseline(LeanCallback):
    """Logs ``test/r2_least_squares`` (regression, raw units) or ``test/acc_least_squares`` (classification:
    least squares on one-hot labels, argmax): what the net is read against on a real table."""

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = getattr(trainer, "datamodule", None)
        if data is None or not hasattr(data, "training_rows") or "test" not in getattr(data, "splits", {}):
            return
        x, y = data.training_rows()
        test = data.splits["test"]
        classification = getattr(data, "task", "regression") == "classification"
        if classification:
            k = len(data.classes or [])
            w = least_squares(x, torch.nn.functional.one_hot(y, k))
            scores = _apply(w, test.x)
            value = accuracy(scores.argmax(dim=1), test.y.cpu(), task="multiclass", num_classes=k)
        else:
            # R² scored on targets standardized by the training rows, as the net's test/r2 (MLPModule.set_metrics)
            mean, std = y.double().mean(dim=0).cpu(), y.double().std(dim=0, unbiased=False).cpu()
            std = torch.where(std > 0, std, torch.ones_like(std))
            pred = _apply(least_squares(x, y), test.x)
            value = r2_score((pred - mean) / std, (test.y.double().cpu() - mean) / std)
        name = "test/acc_least_squares" if classification else "test/r2_least_squares"
        # Every rank holds the whole split and computes the same value.
        pl_module.log(name, float(value), sync_dist=True)


def _with_bias(x: Tensor) -> Tensor:
    """``[x, 1]`` in float64 on the CPU: the design matrix of the fit and of its predictions."""
    x = x.double().cpu()
    return torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)


def _apply(w: Tensor, x: Tensor) -> Tensor:
    return _with_bias(x) @ w
