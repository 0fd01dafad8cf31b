"""The command line's overrides, composed before Hydra does: a typo ends in one line and exit 2.

Hydra reports an unknown key (``trainer.max_epoch=5``), an unknown group option (``optimizer=foo``), a
``+`` on an existing key or bad syntax in several lines and exits 1. Composing once up front (about 0.1 s, torch-free)
turns those into the project's one-line errors. Runs that only show config (``--help``, ``--cfg``, …) and
``HYDRA_FULL_ERROR=1`` go straight to Hydra.
"""

import os
import re
import sys
from functools import partial
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from mlplab.compat.omegaconf import is_null
from mlplab.config.override_keys import blocked_at, through_a_value, unknown_key
from mlplab.config.sweep_overrides import Params, group_options, jobs, params_of
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
    message = _first_error(conf_dir, config_name, args)
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _first_error(conf_dir: Path, config_name: str, args: list[str]) -> str | None:
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])
    except HydraException as e:  # bad syntax: Hydra's message names the override and the character
        return _one_line(e)
    multirun = any(a in ("-m", "--multirun") for a in args)
    params: Params = partial(_sweeper_params, conf_dir, config_name) if multirun else lambda _: {}
    for job, lines in jobs(conf_dir, parsed, params):
        error = composition_error(conf_dir, config_name, lines)
        if error:
            return f"{job}{error}"
    return None


def _sweeper_params(conf_dir: Path, config_name: str, overrides: list[str]) -> dict[str, str]:
    try:
        return params_of(_compose(conf_dir, config_name, overrides, with_hydra=True))
    except Exception:  # the job's own error is reported first
        return {}


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
        appended = re.search(r"An item is already at '([^']+)'", str(e))
        return (appended and _appended_through_a_value(conf_dir, config_name, overrides, appended[1])) or _one_line(e)
    except Exception as e:  # OmegaConf's own (a key through a list or null), Hydra's group=null: find the override
        culprit = next((o for o in overrides if not _composes(conf_dir, config_name, [o])), None)
        if culprit is None:
            return _one_line(e)
        options = group_options(conf_dir, _key(culprit))
        if options:  # scheduler=null: a group takes an option's name
            return f"{culprit}: {_key(culprit)} is a config group; allowed: {', '.join(options)}"
        return _explain(conf_dir, config_name, overrides, culprit)
    return _added_through_a_value(conf_dir, config_name, overrides)


def _key(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~")


def _explain(conf_dir: Path, config_name: str, overrides: list[str], line: str) -> str:
    others = [o for o in overrides if o != line]
    try:
        cfg = _compose(conf_dir, config_name, others, with_hydra=True)
    except HydraException:  # another override is wrong too (foo=1 bar=2): the config without those
        others = [o for o in others if _composes(conf_dir, config_name, [o])]
        try:
            cfg = _compose(conf_dir, config_name, others, with_hydra=True)
        except HydraException:
            return f"{line}: no such key; a new key needs a +: +{line}"
    return unknown_key(cfg, line, _key(line), others, lambda o: _composes(conf_dir, config_name, o))


def _added_through_a_value(conf_dir: Path, config_name: str, overrides: list[str]) -> str | None:
    """``+``/``++`` compose even through an interpolation or a value, replacing it: ``++model.optimizer.lr=1``
    would swap ``${optimizer}`` for ``{lr: 1}``. Below null is allowed: that makes a new mapping."""
    for i, line in enumerate(overrides):
        if not (line.startswith("+") and "." in _key(line)):
            continue
        try:  # the config as this override finds it: what comes before it, in Hydra's order
            cfg = _compose(conf_dir, config_name, overrides[:i], with_hydra=True)
        except Exception:  # an earlier override needs a later one (a key a later + adds): nothing to tell
            continue
        blocked = blocked_at(cfg, _key(line))
        if blocked and not is_null(blocked[1]):
            rest = [o for o in overrides if o != line]
            return through_a_value(line, _key(line), *blocked, rest, lambda o: _composes(conf_dir, config_name, o))
    return None


def _appended_through_a_value(conf_dir: Path, config_name: str, overrides: list[str], key: str) -> str | None:
    """``+model.optimizer.lr=1``: Hydra refuses to add a key that exists, here through ``${optimizer}``; the
    hint points to the key to set (``optimizer.lr=1``) rather than to ``++``, which would replace the reference."""
    line = next((o for o in overrides if o.startswith("+") and _key(o) == key), None)
    if line is None:
        return None
    others = [o for o in overrides if o != line]
    try:
        cfg = _compose(conf_dir, config_name, others, with_hydra=True)
    except Exception:  # another override's error is reported instead
        return None
    blocked = blocked_at(cfg, key)
    if blocked is None:  # a plain existing key: Hydra's own message says to drop the +
        return None
    bare = line.lstrip("+")
    message = through_a_value(bare, key, *blocked, others, lambda o: _composes(conf_dir, config_name, o))
    return line + message[len(bare) :]


def _one_line(error: Exception) -> str:
    text = str(error).split("Config search path:")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
