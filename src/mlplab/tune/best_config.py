"""The best trial's config as an experiment that scripts/train.py takes, and the study's summary."""

import json
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from mlplab.run.run_dir import HYDRA_SUBDIR
from mlplab.tune.trial import TRIAL_FILE

# Groups whose values the saved config already holds in full (or that only say where files go).
NOT_REPEATED = ("experiment", "debug", "hparams_search", "paths", "hydra")


def write_best_config(study: optuna.Study, study_dir: Path) -> Path | None:
    """``<study dir>/experiment/best.yaml``: the best trial's whole config, its config groups chosen as the trial
    chose them. ``python scripts/train.py --config-dir <study dir> experiment=best`` trains it again."""
    try:
        best = study.best_trial
    except ValueError:  # no trial completed
        return None
    run_dir = Path(best.user_attrs["run_dir"])
    record = json.loads((run_dir / TRIAL_FILE).read_text())
    config = OmegaConf.load(run_dir / HYDRA_SUBDIR / "config.yaml")
    values = OmegaConf.to_container(config, resolve=False)
    assert isinstance(values, dict)
    values.pop("paths", None)
    groups = [
        {f"override /{group}": choice}
        for group, choice in record["choices"].items()
        if choice is not None and not group.startswith(NOT_REPEATED)
    ]
    body: dict[str, Any] = {"defaults": groups, **{str(k): v for k, v in values.items()}}
    path = study_dir / "experiment" / "best.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# @package _global_\n"
        f"# Study {study.study_name!r}, trial {best.number}: {study.direction.name.lower()}d to {best.value!r}.\n"
        f"# Its overrides: {' '.join(record['overrides'])}\n"
        f"# Train it again: python scripts/train.py --config-dir {study_dir} experiment=best\n"
    )
    path.write_text(header + OmegaConf.to_yaml(OmegaConf.create(body)))
    return path


def summary(study: optuna.Study, metric: str) -> str:
    counts = {state.name.lower(): 0 for state in optuna.trial.TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    states = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    line = f"Study {study.study_name!r}: {states}."
    try:
        best = study.best_trial
    except ValueError:
        return line
    return f"{line} Best: trial {best.number}, {metric}={best.value:.6g}, {best.params} ({best.user_attrs['run_dir']})"
