"""Classification: the same net gives one logit per class, trained with cross entropy on class indices."""

from collections.abc import Sequence
from typing import Annotated, Literal

from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from mlplab.model.mlp_module import CompileMode, MLPModule, OptimizerFactory, SchedulerFactory
from mlplab.rules import Positive, checked, rule

ClassCount = Annotated[int, rule("an integer >= 2 (the number of classes)", lambda v: v >= 2)]


class Classifier(MLPModule):
    """``out_dim`` logits, one per class; ``classes`` are the data's own labels in index order (saved in the
    checkpoint, so predictions come back as those labels). Metrics: accuracy and macro-F1."""

    @checked("model")
    def __init__(
        self,
        in_dim: Positive | None = None,
        hidden_dim: Positive = 10,
        out_dim: ClassCount | None = None,
        classes: Sequence[int | str] | None = None,
        loss: Literal["cross_entropy"] = "cross_entropy",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        standardize: bool = False,
        compile: CompileMode | None = None,
    ) -> None:
        super().__init__()
        # Plain values, not OmegaConf's list: the checkpoint must load weights-only.
        classes = [c if isinstance(c, str) else int(c) for c in classes] if classes is not None else None
        # Partials are code, not data: keeping them out of the checkpoint lets it load weights-only.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.loss_fn = nn.CrossEntropyLoss()
        self._parts(optimizer, scheduler)

    def build_metrics(self) -> None:
        k = int(self.hparams["out_dim"])
        self.set_metrics(
            MetricCollection(
                {"acc": MulticlassAccuracy(num_classes=k, average="micro"), "f1": MulticlassF1Score(num_classes=k)}
            )
        )
