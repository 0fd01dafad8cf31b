"""A search space of conf/hparams_search/: config key -> one Optuna distribution, and a trial's overrides."""

from collections.abc import Mapping
from typing import Any

import optuna

from mlplab.errors import UserError

ALLOWED = "{choices: [...]} or {low: L, high: H} (with optional log: true, step: S)"


def search_space(space: Mapping[str, Any], fixed: set[str]) -> dict[str, Mapping[str, Any]]:
    """The entries of ``space`` to search (those not ``fixed`` by a command-line override), checked."""
    searched = {}
    for key, spec in space.items():
        if str(key) in fixed:
            continue
        where = f"hparams_search.{key}"
        if not isinstance(spec, Mapping) or not ("choices" in spec or {"low", "high"} <= set(spec)):
            raise UserError(f"{where}={spec}: not a distribution; allowed: {ALLOWED}")
        if "choices" in spec and not (isinstance(spec["choices"], list) and spec["choices"]):
            raise UserError(f"{where}.choices={spec['choices']}: needs a non-empty list, e.g. [8, 16, 32]")
        if "low" in spec and not spec["low"] < spec["high"]:
            raise UserError(f"{where}: low={spec['low']} must be below high={spec['high']}")
        searched[str(key)] = spec
    if not searched:
        raise UserError("hparams_search: nothing left to search (every key is fixed on the command line)")
    return searched


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Draws one value per key; returns them as Hydra overrides (``optimizer=adam``, ``optimizer.lr=0.003``)."""
    overrides = []
    for key, spec in space.items():
        value: Any
        log = bool(spec.get("log", False))
        if "choices" in spec:
            value = trial.suggest_categorical(key, list(spec["choices"]))
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            value = trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1), log=log)
        else:
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), step=spec.get("step"), log=log)
        overrides.append(f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}")
    return overrides
