"""Known, harmless console noise from our dependencies, silenced once with the reason for each."""

import logging
import warnings


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Lightning's "💡 Tip: try installing litlogger/litmodels" lines advertise a cloud service.
        return "💡 Tip" not in record.getMessage()


class _DropNewExperiment(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Lightning's MLFlowLogger warns "Experiment with name train not found. Creating it." at the first run
        # of each task_name in a store: nothing is wrong, that is how an MLflow experiment comes to be.
        return "not found. Creating it" not in record.getMessage()


def quiet_dependencies() -> None:
    """Call after Hydra has set up logging (if it does) and Lightning is imported, before it builds a Trainer."""
    root = logging.getLogger()
    for lightning in (logging.getLogger("lightning"), logging.getLogger("lightning.pytorch")):
        for handler in list(lightning.handlers):
            if type(handler) is not logging.StreamHandler:
                continue
            if root.handlers:
                # Lightning's console handler, beside the root ones Hydra set up: every line would print twice.
                # The root handlers (console + the run's .log file) are enough.
                lightning.removeHandler(handler)
            else:  # no Hydra app (the compose API): Lightning's own handler is the console
                handler.addFilter(_DropTips())
    for handler in root.handlers:
        handler.addFilter(_DropTips())
    # lightning 2.6 checks torch's deprecated LeafSpec inside its own code; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    # Lightning warns when an epoch has fewer batches than log_every_n_steps, but the interval counts
    # global steps across epochs (mlplab.callbacks.train_loss.TrainLoss), so short epochs are still logged.
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    # logger=mlflow (mlplab.tasks.mlflow_logging). A new SQLite store announces its table creation and migration
    # in two INFO lines; the run's end says where the store is.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    mlflow_logger = logging.getLogger("lightning.pytorch.loggers.mlflow")
    if not any(isinstance(f, _DropNewExperiment) for f in mlflow_logger.filters):
        mlflow_logger.addFilter(_DropNewExperiment())
    # MLflow's SQL store maps a relationship with lazy="noload", deprecated since SQLAlchemy 2.1 (MLflow 3.18):
    # MLflow's to change, nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*``noload`` loader strategy is deprecated.*")
