"""The command line's overrides, composed before Hydra does: a typo ends in one line and exit 2.

Hydra reports an unknown key (``trainer.max_epoch=5``), an unknown group option (``optimizer=foo``), a
``+`` on an existing key or bad syntax in several lines and exits 1. Composing once up front (about 0.1 s, torch-free)
turns those into the project's one-line errors. Runs that only show config (``--help``, ``--cfg``, …) and
``HYDRA_FULL_ERROR=1`` go straight to Hydra.
"""

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf import DictConfig, Node
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from mlplab.errors import EXIT_USER_ERROR
from mlplab.override_keys import blocked_at, through_a_value, unknown_key

# Flags after which Hydra shows something instead of running the task, or composes another config.
_NOT_A_RUN = {
    *("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc"),
    "--experimental-rerun",  # reruns a saved config; its path is the next argument, not an override
}
_OTHER_CONFIG = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")


def check_overrides(conf_dir: Path, config_name: str, argv: list[str] | None = None) -> None:
    """Exits with one line on stderr (code 2) if ``argv``'s overrides do not compose with ``config_name``."""
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(a in _NOT_A_RUN or a.startswith(_OTHER_CONFIG) for a in args):
        return
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])
        errors = (
            (job, composition_error(conf_dir, config_name, overrides)) for job, overrides in _jobs(conf_dir, parsed)
        )
        message = next((f"{job}{error}" for job, error in errors if error), None)
    except HydraException as e:  # bad syntax: Hydra's message names the override and the character
        message = _one_line(e)
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _jobs(conf_dir: Path, parsed: list[Override]) -> Iterator[tuple[str, list[str]]]:
    """The overrides of a sweep's jobs worth composing: every sweep at its first value, then each other
    option of a swept config group (``optimizer=sgd,adam``: the options have different keys), one at a
    time. Other swept values (``lr=0.1,0.2``) cannot change what composes. Each comes with how its
    error would start ("" or "in the job with optimizer=adam: ")."""
    listed = [(o, values) for o in parsed if (values := _values(o))]
    base = [_line(o, values[0]) for o, values in listed]
    yield "", base
    for i, (override, values) in enumerate(listed):
        if override.is_sweep_override() and (conf_dir / override.key_or_group).is_dir():
            for value in values[1:]:
                line = _line(override, value)
                yield f"in the job with {line}: ", [*base[:i], line, *base[i + 1 :]]


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


def _compose(conf_dir: Path, config_name: str, overrides: list[str], with_hydra: bool = False) -> DictConfig:
    with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=with_hydra)


def _composes(conf_dir: Path, config_name: str, overrides: list[str]) -> bool:
    try:
        _compose(conf_dir, config_name, overrides)
    except Exception:  # any failure means no
        return False
    return True


def composition_error(conf_dir: Path, config_name: str, overrides: list[str]) -> str | None:
    """What is wrong with ``overrides``, in one line, or None if they compose."""
    try:
        _compose(conf_dir, config_name, overrides)
    except MissingConfigException as e:
        group, _, option = (e.missing_cfg_file or "").rpartition("/")
        allowed = ", ".join(e.options or [])
        return f"{group or 'config'}={option}: no such option; allowed: {allowed}" if allowed else _one_line(e)
    except ConfigCompositionException as e:
        key = re.search(r"override '([^']+)'", str(e))
        if key and isinstance(e.__cause__, ConfigAttributeError | ConfigKeyError):
            return _explain(conf_dir, config_name, overrides, next(o for o in overrides if _key(o) == key.group(1)))
        return _one_line(e)
    except Exception as e:  # OmegaConf's own (a key through a list or null): find the override
        culprit = next((o for o in overrides if not _composes(conf_dir, config_name, [o])), None)
        return _explain(conf_dir, config_name, overrides, culprit) if culprit else _one_line(e)
    return _added_through_a_value(conf_dir, config_name, overrides)


def _key(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~")


def _explain(conf_dir: Path, config_name: str, overrides: list[str], line: str) -> str:
    others = [o for o in overrides if o != line]
    try:
        cfg = _compose(conf_dir, config_name, others, with_hydra=True)
    except HydraException:
        return f"{line}: no such key; a new key needs a +: +{line}"
    return unknown_key(cfg, line, _key(line), others, lambda o: _composes(conf_dir, config_name, o))


def _added_through_a_value(conf_dir: Path, config_name: str, overrides: list[str]) -> str | None:
    """``+``/``++`` compose even through an interpolation or a value, replacing it: ``++model.optimizer.lr=1``
    would swap ``${optimizer}`` for ``{lr: 1}``. Below null is allowed: that makes a new mapping."""
    added = [o for o in overrides if o.startswith("+") and "." in _key(o)]
    if not added:
        return None
    others = [o for o in overrides if o not in added]
    cfg = _compose(conf_dir, config_name, others, with_hydra=True)
    for line in added:
        blocked = blocked_at(cfg, _key(line))
        if blocked and not (isinstance(blocked[1], Node) and blocked[1]._is_none()):
            rest = [o for o in overrides if o != line]
            return through_a_value(line, _key(line), *blocked, rest, lambda o: _composes(conf_dir, config_name, o))
    return None


def _one_line(error: Exception) -> str:
    text = str(error).split("Config search path:")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
