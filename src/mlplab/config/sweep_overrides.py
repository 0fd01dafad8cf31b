"""Which jobs of a sweep to compose before it starts: the options of each swept config group.

Options of one group have different keys (SGD has ``momentum``, Adam has not), so an override that fits one
may not fit another; swept values (``lr=0.1,0.2``) cannot change what composes.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig

Job = tuple[str, list[str]]  # how its error would start ("" or "in the job with optimizer=adam: "), overrides
Params = Callable[[list[str]], dict[str, str]]  # the sweeper's search space, given a job's overrides


def jobs(
    conf_dir: Path, parsed: list[Override], sweeper_params: Callable[[list[str]], dict[str, str]]
) -> Iterator[Job]:
    """Every sweep at its first value, then each other option of a swept group, one at a time: those on the
    command line (``-m optimizer=sgd,adam``) and those searched (``hydra.sweeper.params``, or scripts/tune.py's
    ``hparams_search``), read by ``sweeper_params`` from the composed config."""
    listed = [(o, values) for o in parsed if (values := _values(o))]
    base = [_line(o, values[0]) for o, values in listed]
    yield "", base
    for i, (override, values) in enumerate(listed):
        if override.is_sweep_override() and group_options(conf_dir, override.key_or_group):
            for value in values[1:]:
                line = _line(override, value)
                yield f"in the job with {line}: ", [*base[:i], line, *base[i + 1 :]]
    given = {o.key_or_group for o in parsed}
    for key, search in sweeper_params(base).items():
        if key in given or not group_options(conf_dir, key):
            continue
        try:
            [searched] = OverridesParser.create().parse_overrides([f"{key}={search}"])
        except HydraException:
            continue
        for value in _values(searched):
            line = _line(searched, value)
            yield f"in the trials with {line}: ", [*base, line]


def group_options(conf_dir: Path, key: str) -> list[str]:
    """The options of config group ``key`` (``optimizer``, ``hydra/launcher``), or [] if it is not one."""
    group = conf_dir / key.replace(".", "/")
    return sorted(p.stem for p in group.glob("*.yaml")) if group.is_dir() else []


def params_of(cfg: DictConfig) -> dict[str, str]:
    """``hydra.sweeper.params`` (Hydra's basic sweeper's) and the choices of scripts/tune.py's search space
    (``hparams_search``), as sweep text (``choice(sgd,adam)``), or nothing."""
    params = cfg.hydra.sweeper.get("params") if "sweeper" in cfg.hydra else None
    found = {str(k): str(v) for k, v in (params or {}).items()}
    for key, spec in (cfg.get("hparams_search") or {}).items():
        if isinstance(spec, DictConfig) and isinstance(spec.get("choices"), ListConfig):
            found[str(key)] = f"choice({','.join(str(c) for c in spec.choices)})"
    return found


def _line(override: Override, value: str) -> str:
    return f"{override.get_key_element()}={value}" if override.is_sweep_override() else str(override.input_line)


def _values(override: Override) -> list[str]:
    """A sweep's values as override text; [] for one that can't be listed (a range without end, …)."""
    if not override.is_sweep_override():
        return [str(override.input_line)]
    try:
        return list(override.sweep_string_iterator())
    except HydraException:
        return []
