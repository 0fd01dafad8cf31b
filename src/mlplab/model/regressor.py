"""The tutorial's training, cut into Lightning's hooks: the net, the loss, one step, and the metrics."""

from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from mlplab.model.losses import LossName, build_loss
from mlplab.model.mlp_module import CompileMode, MLPModule, OptimizerFactory, SchedulerFactory
from mlplab.rules import Positive, checked


class Regressor(MLPModule):
    """Fits ``net`` to ``(x, y)`` batches; optimizer and scheduler arrive as partials from Hydra.

    The loop itself (``zero_grad -> forward -> loss -> backward -> step``) is Lightning's; ``train/loss``
    is averaged and logged by :class:`mlplab.callbacks.train_loss.TrainLoss`. With ``standardize``, the net
    trains on standardized features and targets; ``val/*``, ``test/*`` and predictions are in raw units.
    """

    scales_targets = True

    @checked("model")
    def __init__(
        self,
        in_dim: Positive | None = 4,
        hidden_dim: Positive = 10,
        out_dim: Positive | None = 4,
        loss: LossName = "mse",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        standardize: bool = False,
        compile: CompileMode | None = None,
    ) -> None:
        super().__init__()
        # Partials are code, not data: keeping them out of the checkpoint lets it load weights-only.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self._parts(optimizer, scheduler)
        self.loss_fn = build_loss(loss)
        self.set_metrics(
            MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError()}),
            scale_free=MetricCollection({"r2": R2Score(multioutput="uniform_average")}),
        )
