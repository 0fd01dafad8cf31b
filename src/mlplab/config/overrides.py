"""The command line's overrides, composed before Hydra does: a typo ends in one line and exit 2.

Hydra reports an unknown key (``trainer.max_epoch=5``), an unknown group option (``optimizer=foo``), a
``+`` on an existing key or bad syntax in several lines and exits 1. Composing once up front (about 0.1 s,
torch-free) turns those into one line naming the override and what is allowed. Runs that only show config
(``--help``, ``--cfg``, …) and ``HYDRA_FULL_ERROR=1`` go straight to Hydra.
"""

import difflib
import os
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig

from mlplab.compat.omegaconf import child_node, holds_keys, is_null, raw_value
from mlplab.config.sweep_overrides import Params, group_options, jobs, params_of
from mlplab.errors import EXIT_USER_ERROR
from mlplab.extras import extra_of_config, not_installed

# Flags after which Hydra shows something instead of running the task, or composes another config.
_NOT_A_RUN = {
    *("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc"),
    "--experimental-rerun",  # reruns a saved config; its path is the next argument, not an override
}
_OTHER_CONFIG = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")
# Whether a list of overrides composes: a hint is only given if it does.
Composes = Callable[[list[str]], bool]


def check_overrides(conf_dir: Path, config_name: str, argv: list[str] | None = None, searches: bool = False) -> None:
    """Exits with one line on stderr (code 2) if ``argv``'s overrides do not compose with ``config_name``;
    ``searches``: the config searches (scripts/tune.py), so each option of a searched group must compose too."""
    args = sys.argv[1:] if argv is None else argv
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(a in _NOT_A_RUN or a.startswith(_OTHER_CONFIG) for a in args):
        return
    message = _first_error(conf_dir, config_name, args, searches)
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _first_error(conf_dir: Path, config_name: str, args: list[str], searches: bool = False) -> str | None:
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])
    except HydraException as e:  # bad syntax: Hydra's message names the override and the character
        return _one_line(e)
    searches = searches or any(a in ("-m", "--multirun") for a in args)
    params: Params = partial(_sweeper_params, conf_dir, config_name) if searches else lambda _: {}
    for job, lines in jobs(conf_dir, parsed, params):
        error = composition_error(conf_dir, config_name, lines)
        if error:
            return f"{job}{error}"
    return None


def _sweeper_params(conf_dir: Path, config_name: str, overrides: list[str]) -> dict[str, str]:
    try:
        return params_of(_compose(conf_dir, config_name, overrides))
    except Exception:  # the job's own error is reported first
        return {}


def _compose(conf_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=True)


def composition_error(conf_dir: Path, config_name: str, overrides: list[str]) -> str | None:
    """What is wrong with ``overrides``, in one line, or None if they compose."""

    def composes(lines: list[str]) -> bool:
        try:
            _compose(conf_dir, config_name, lines)
        except Exception:  # any failure means no
            return False
        return True

    try:
        _compose(conf_dir, config_name, overrides)
    except MissingConfigException as e:
        if error := _extra_not_installed(e):
            return error
        group, _, option = (e.missing_cfg_file or "").rpartition("/")
        allowed = ", ".join(e.options or [])
        return f"{group or 'config'}={option}: no such option; allowed: {allowed}" if allowed else _one_line(e)
    except Exception as e:  # Hydra's or OmegaConf's: find the override to blame, and say what it runs into
        named = re.search(r"(?:override|An item is already at) '([^']+)'", str(e))
        culprit = next((o for o in overrides if named and _key(o) == named[1]), None) or next(
            (o for o in overrides if not composes([o])), None
        )
        if culprit is None:
            return _one_line(e)
        if options := group_options(conf_dir, _key(culprit)):  # scheduler=null: a group takes an option's name
            return f"{culprit}: {_key(culprit)} is a config group; allowed: {', '.join(options)}"
        others = [o for o in overrides if o != culprit and composes([o])]
        try:
            cfg = _compose(conf_dir, config_name, others)
        except Exception:  # the others need each other: nothing better to say than Hydra
            return f"{culprit}: {_one_line(e)}"
        return _explain(cfg, culprit, others, composes) or _one_line(e)
    # + and ++ compose through an interpolation by replacing it: the model would get {lr: 7} as its optimizer.
    for i, line in enumerate(overrides):
        if line.startswith("+") and "." in _key(line):
            try:  # the config as this override finds it: what comes before it, in Hydra's order
                cfg = _compose(conf_dir, config_name, overrides[:i])
            except Exception:  # an earlier override needs a later one: nothing to tell
                continue
            blocked = _walk(cfg, _key(line))[2]
            if blocked and not is_null(blocked[1]):
                return _through(line, *blocked, [*overrides[:i], *overrides[i + 1 :]], composes)
    return None


def _extra_not_installed(error: MissingConfigException) -> str | None:
    """A config that only an extra's Hydra plugin provides (hydra/launcher=slurm needs submitit's launcher)."""
    missing = error.missing_cfg_file or ""
    extra = extra_of_config(missing)
    # Hydra names the config whose defaults list asked for it: "In 'hydra/launcher/slurm': Could not load ...".
    asking = re.match(r"In '([^']+)'", str(error))
    group, _, option = (asking[1] if asking else missing).rpartition("/")
    found = not_installed(extra, f"{group}={option}") if extra else None
    return str(found) if found else None


def _key(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~")


def _walk(cfg: DictConfig, key: str) -> tuple[int, DictConfig, tuple[str, object] | None]:
    """How many parts of ``key`` (but the last) name mappings, the deepest of them, and what stopped the walk
    where a part holds a value, null or an interpolation instead of keys. Resolves nothing: ``${hydra:…}``
    cannot resolve outside a run."""
    parts = key.split(".")
    node = cfg
    for depth, part in enumerate(parts[:-1]):
        child = child_node(node, part)
        if child is None:
            return depth, node, None
        if not holds_keys(child) or not isinstance(child, DictConfig):
            return depth, node, (".".join(parts[: depth + 1]), child)
        node = child
    return len(parts) - 1, node, None


def _explain(cfg: DictConfig, line: str, others: list[str], composes: Composes) -> str | None:
    """``line``'s key is not in ``cfg``: the nearest key there, or what is in the way; None if it is there."""
    key = _key(line)
    depth, node, blocked = _walk(cfg, key)
    if blocked:
        return _through(line, *blocked, others, composes)
    parts = key.split(".")
    parent, missing = ".".join(parts[:depth]), parts[depth]
    keys = [str(k) for k in node if not str(k).startswith("_")]
    if missing in keys and depth == len(parts) - 1:
        return None  # it exists: Hydra's own line says what to do about the +
    prefix = f"{parent}." if parent else ""
    if close := difflib.get_close_matches(missing, keys, n=1):
        known = f"did you mean {prefix}{close[0]}?"
    else:
        known = f"allowed: {', '.join(keys)}" if keys else f"{parent or 'the config'} has no keys to set"
    return f"{line}: no such key {prefix}{missing}; {known} (a new key needs a +: +{line.lstrip('+')})"


def _through(line: str, where: str, node: object, others: list[str], composes: Composes) -> str:
    """``line``'s key goes through ``where``, which holds a value or an interpolation: no keys below it."""
    raw = raw_value(node)
    reference = re.fullmatch(r"\$\{([\w.]+)\}", str(raw))
    if reference:  # model.optimizer is ${optimizer}: the key to set is optimizer.lr
        plus = line[: len(line) - len(line.lstrip("+"))]
        rest = f"{reference[1]}{_key(line)[len(where) :]}={line.partition('=')[2]}"
        for there in (f"{plus}{rest}", rest):  # a + on a key that exists there is refused: then without it
            if composes([*others, there]):
                return f"{line}: {where} is {raw}; set the key there: {there}"
    shown = "null" if raw is None else raw
    return f"{line}: no such key {_key(line)}; {where} holds {shown}, not keys"


def _one_line(error: Exception) -> str:
    text = str(error).split("Config search path:")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
