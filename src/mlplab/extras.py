"""The optional parts of mlplab (pyproject.toml's extras): a feature whose extra is not installed stops in one
line that names the ``pip install`` bringing it, instead of a traceback from deep inside an import.

Torch-free, and it imports none of the packages it checks (``--help`` and the override check use it).
"""

import importlib.util

from mlplab.errors import UserError

# The modules each extra brings, as pyproject.toml's [project.optional-dependencies] lists their packages.
EXTRAS: dict[str, tuple[str, ...]] = {
    "tune": ("optuna", "optuna_integration"),
    "export": ("onnx", "onnxscript", "onnxruntime"),
    "report": ("matplotlib",),
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "submitit"),
    "mlflow": ("mlflow", "sqlalchemy", "alembic"),
}
# Configs that a Hydra plugin of an extra registers: without it they are simply not found.
PLUGIN_CONFIGS = {"hydra/launcher/submitit_": "slurm"}


def missing_module(extra: str) -> str | None:
    """The first module of ``extra`` that is not installed here, or None when all are."""
    for module in EXTRAS[extra]:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:  # its parent package is not there either
            return module
    return None


def not_installed(extra: str, feature: str) -> UserError | None:
    """The one-line error for ``feature`` when ``extra`` is not installed, or None when it is."""
    module = missing_module(extra)
    if module is None:
        return None
    return UserError(f"{feature} needs mlplab[{extra}] ({module} is not installed): pip install 'mlplab[{extra}]'")


def require(extra: str, feature: str) -> None:
    """Raises the one-line UserError naming ``feature`` and ``pip install 'mlplab[extra]'`` if it is missing.

    Call it before the first import of the extra's packages: a check, not an import (about 1 ms).
    """
    error = not_installed(extra, feature)
    if error is not None:
        raise error


def extra_of_target(path: str) -> str | None:
    """The extra whose packages hold ``path`` (a ``_target_`` such as ``optuna.pruners.MedianPruner``), or None."""
    return next((e for e, mods in EXTRAS.items() if any(path == m or path.startswith(f"{m}.") for m in mods)), None)


def extra_of_config(config_path: str) -> str | None:
    """The extra whose Hydra plugin registers ``config_path`` (``hydra/launcher/submitit_slurm``), or None."""
    return next((extra for prefix, extra in PLUGIN_CONFIGS.items() if config_path.startswith(prefix)), None)
