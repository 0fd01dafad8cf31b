"""The command line's overrides, composed before Hydra does: a typo ends in one line and exit 2.

Hydra reports an unknown key (``trainer.max_epoch=5``), an unknown group option (``optimizer=foo``), a
``+`` on an existing key or bad syntax in several lines and exits 1. Composing once up front (about 0.1 s, torch-free)
turns those into the project's one-line errors. Runs that only show config (``--help``, ``--cfg``, …) and
``HYDRA_FULL_ERROR=1`` go straight to Hydra.
"""

import difflib
import os
import re
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf import DictConfig, Node
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from mlplab.errors import EXIT_USER_ERROR

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
        overrides = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])
        message = composition_error(conf_dir, config_name, [v for v in map(_first_value, overrides) if v])
    except HydraException as e:  # bad syntax: Hydra's message names the override and the character
        message = _one_line(e)
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _first_value(override: Override) -> str | None:
    """A sweep (``-m lr=0.1,0.2``) is checked with its first value; one that can't be listed, not at all."""
    if not override.is_sweep_override():
        return override.input_line
    try:
        first = next(iter(override.sweep_string_iterator()))
    except (HydraException, StopIteration):
        return None
    return f"{override.get_key_element()}={first}"


def _compose(conf_dir: Path, config_name: str, overrides: list[str], with_hydra: bool = False) -> DictConfig:
    with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=with_hydra)


def composition_error(conf_dir: Path, config_name: str, overrides: list[str]) -> str | None:
    """What is wrong with ``overrides``, in one line, or None if they compose."""
    try:
        _compose(conf_dir, config_name, overrides)
    except MissingConfigException as e:
        group, _, option = (e.missing_cfg_file or "").rpartition("/")
        allowed = ", ".join(e.options or [])
        return f"{group or 'config'}={option}: no such option; allowed: {allowed}" if allowed else _one_line(e)
    except ConfigCompositionException as e:
        if isinstance(e.__cause__, ConfigAttributeError | ConfigKeyError):
            key = re.search(r"override '([^']+)'", str(e))
            if key:
                return _unknown_key(conf_dir, config_name, overrides, key.group(1))
        return _one_line(e)
    return None


def _unknown_key(conf_dir: Path, config_name: str, overrides: list[str], key: str) -> str:
    line = next((o for o in overrides if o.split("=", 1)[0] == key), key)
    try:
        cfg = _compose(conf_dir, config_name, [o for o in overrides if o != line], with_hydra=True)
    except HydraException:
        return f"{line}: no such key; a new key needs a +: +{line}"
    # Walk the key without resolving anything: an interpolation like ${hydra:...} cannot resolve here.
    parts = key.split(".")
    node: DictConfig = cfg
    for depth, part in enumerate(parts[:-1]):
        child = node._get_node(part, validate_access=False)
        if child is None:
            break
        if not isinstance(child, DictConfig) or child._is_interpolation() or child._is_none():
            return _not_a_group(line, key, ".".join(parts[: depth + 1]), child, ".".join(parts[depth + 1 :]))
        node = child
    else:
        depth = len(parts) - 1
    parent, missing = ".".join(parts[:depth]), parts[depth]
    prefix = f"{parent}." if parent else ""
    keys = [str(k) for k in node if not str(k).startswith("_")]
    close = difflib.get_close_matches(missing, keys, n=1)
    if close:
        known = f"did you mean {prefix}{close[0]}?"
    else:
        known = f"allowed: {', '.join(keys)}" if keys else f"{parent or 'the config'} has no keys to set"
    return f"{line}: no such key {prefix}{missing}; {known} (a new key needs a +: +{line})"


def _not_a_group(line: str, key: str, where: str, node: object, rest: str) -> str:
    """The key goes through ``where``, which holds a value or an interpolation, not keys."""
    raw = node._value() if isinstance(node, Node) else node
    reference = re.fullmatch(r"\$\{([\w.]+)\}", str(raw))
    if reference:  # model.optimizer is ${optimizer}: the key to set is optimizer.lr
        return f"{line}: {where} is {raw}; set the key there: {reference.group(1)}.{rest}={line.partition('=')[2]}"
    return f"{line}: no such key {key}; {where} holds {'null' if raw is None else raw}, not keys"


def _one_line(error: Exception) -> str:
    text = str(error).split("Config search path:")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
