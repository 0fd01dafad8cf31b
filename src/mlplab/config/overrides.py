"""The command line's overrides, composed before Hydra does (about 0.1 s, torch-free): a typo, an unknown group
option, a ``+`` on an existing key or bad syntax ends in one line naming the override and exit 2, not Hydra's
several lines and exit 1. Runs that only show config (``--help``, ``--cfg``) and HYDRA_FULL_ERROR=1 skip it."""

import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import NoReturn

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, ListConfig, OmegaConf

from mlplab.compat.omegaconf import child_node, holds_keys, is_null, raw_value
from mlplab.errors import EXIT_USER_ERROR
from mlplab.extras import extra_of_config, not_installed

Compose = Callable[[list[str]], DictConfig | None]  # the config a list of overrides makes, None if it fails


def check_overrides(conf_dir: Path, config_name: str, argv: list[str] | None = None, searches: bool = False) -> None:
    """Exits with one line on stderr (code 2) if ``argv``'s overrides do not compose (``searches``: tune.py's)."""
    args = sys.argv[1:] if argv is None else argv
    # Other flags show something instead of running (--cfg, --help), compose another config (-cn) or rerun one.
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(
        a.startswith("-") and a not in ("-m", "--multirun") for a in args
    ):
        return
    try:  # bad syntax: Hydra's message names the override and the character
        parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])
    except HydraException as e:
        _exit(_one_line(e) + _quoted(args))
    multirun = any(a in ("-m", "--multirun") for a in args)
    if (sweep := next((o for o in parsed if o.is_sweep_override()), None)) and not multirun:
        more = "the search's values are in hparams_search" if searches else "or -m to run a job for each"
        _exit(f"{sweep.input_line}: several values; allowed: one value, {more}")
    if sweep and sweep.value_type == ValueType.INTERVAL_SWEEP and _basic_sweeper(conf_dir, config_name):
        _exit(f"{sweep.input_line}: interval() is for a search (scripts/tune.py); allowed: a,b,c, range() or choice()")
    searches = searches or multirun
    params = (lambda lines: _searched(_compose(conf_dir, config_name, lines))) if searches else (lambda _: {})
    for job, lines in jobs(conf_dir, parsed, params):
        if error := composition_error(conf_dir, config_name, lines):
            _exit(f"{job}{error}")


def _basic_sweeper(conf_dir: Path, config_name: str) -> bool:
    """Hydra's own sweeper, which lists values: an interval needs a search (another sweeper, or tune.py)."""
    cfg = _compose(conf_dir, config_name, [])
    return cfg is not None and str(OmegaConf.select(cfg, "hydra.sweeper._target_")).endswith("BasicSweeper")


def _quoted(args: list[str]) -> str:
    """Hydra's grammar takes unquoted values of ASCII without '=' (Lightning's epoch=3-step=20.ckpt has two):
    the first other one, quoted as it needs."""
    key, _, value = next((a for a in args if not a.isascii() or "=" in a.partition("=")[2]), "=").partition("=")
    if not key:
        return ""
    if value.startswith("["):
        quoted = f"[{','.join(json.dumps(v.strip(), ensure_ascii=False) for v in value.strip('[]').split(','))}]"
    else:
        quoted = json.dumps(value, ensure_ascii=False)
    return f"; allowed: quoted, '{key}={quoted}'"


def _exit(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USER_ERROR)


def jobs(
    conf_dir: Path, parsed: list[Override], params: Callable[[list[str]], dict[str, str]]
) -> Iterator[tuple[str, list[str]]]:
    """(error prefix, overrides): sweeps at their first value, then each other option of a swept or searched group."""
    listed = [(o, lines) for o in parsed if (lines := _lines(o))]
    base = [lines[0] for _, lines in listed]
    yield "", base
    for i, (override, lines) in enumerate(listed):
        if override.is_sweep_override() and group_options(conf_dir, override.key_or_group):
            for line in lines[1:]:
                yield f"in the job with {line}: ", [*base[:i], line, *base[i + 1 :]]
    given = {o.key_or_group for o in parsed}
    for key, search in params(base).items():
        if key not in given and group_options(conf_dir, key):
            try:
                [searched] = OverridesParser.create().parse_overrides([f"{key}={search}"])
            except HydraException:
                continue
            for line in _lines(searched):
                yield f"in the trials with {line}: ", [*base, line]


def group_options(conf_dir: Path, key: str) -> list[str]:
    """The options of config group ``key`` (``optimizer``, ``hydra/launcher``), or [] if it is not one."""
    group = conf_dir / key.replace(".", "/")
    return sorted(p.stem for p in group.glob("*.yaml")) if group.is_dir() else []


def _searched(cfg: DictConfig | None) -> dict[str, str]:
    """Hydra's ``hydra.sweeper.params`` and the choices of tune.py's ``hparams_search``, as sweep text."""
    found = {str(k): str(v) for k, v in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items()} if cfg else {}
    for key, spec in (cfg.get("hparams_search") or {}).items() if cfg else ():
        if isinstance(spec, DictConfig) and isinstance(spec.get("choices"), ListConfig):
            found[str(key)] = f"choice({','.join(str(c) for c in spec.choices)})"
    return found


def _lines(override: Override) -> list[str]:
    """The override, a sweep's once per value (key=value); [] for one that can't be listed (a range without end)."""
    try:
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else None
    except HydraException:
        return []
    return [str(override.input_line)] if values is None else [f"{override.get_key_element()}={v}" for v in values]


def _compose(conf_dir: Path, config_name: str, overrides: list[str], strict: bool = False) -> DictConfig | None:
    """The config ``overrides`` make; None where they do not compose (``strict``: Hydra's error)."""
    try:
        with initialize_config_dir(str(conf_dir.resolve()), version_base="1.3"):
            return compose(config_name, overrides=overrides, return_hydra_config=True)
    except Exception:
        if strict:
            raise
        return None


def composition_error(conf_dir: Path, config_name: str, overrides: list[str]) -> str | None:
    """What is wrong with ``overrides``, in one line, or None if they compose."""
    composed: Compose = partial(_compose, conf_dir, config_name)
    try:
        _compose(conf_dir, config_name, overrides, strict=True)
    except MissingConfigException as e:
        # An extra's Hydra plugin provides it: "In 'hydra/launcher/slurm': Could not load 'hydra/launcher/submitit_…'".
        extra, asking = extra_of_config(e.missing_cfg_file or ""), re.match(r"In '([^']+)'", str(e))
        group, _, option = (asking[1] if asking and extra else e.missing_cfg_file or "").rpartition("/")
        if missing := extra and not_installed(extra, f"{group}={option}"):
            return str(missing)
        return (
            f"{group or 'config'}={option}: no such option; allowed: {', '.join(e.options)}"
            if e.options
            else _one_line(e)
        )
    except Exception as e:  # Hydra's or OmegaConf's: find the override to blame, and say what it runs into
        named = re.search(r"(?:override|An item is already at) '([^']+)'", str(e))
        culprit = next((o for o in overrides if named and _key(o) == named[1]), None) or next(
            (o for o in overrides if composed([o]) is None), None
        )
        if culprit is None:
            return _one_line(e)
        if options := group_options(conf_dir, _key(culprit)):  # scheduler=null: a group takes an option's name
            if culprit.partition("=")[2] in options:  # tune/pruner=median in train.py, whose defaults lack it
                return f"{culprit}: this config does not use the group {_key(culprit)}; allowed: +{culprit} to add it"
            return f"{culprit}: {_key(culprit)} is a config group; allowed: {', '.join(options)}"
        others = [o for o in overrides if o != culprit and composed([o]) is not None]
        cfg = composed(others)  # None: the others need each other, nothing better to say than Hydra
        return (_explain(cfg, culprit, others, composed) if cfg is not None else None) or f"{culprit}: {_one_line(e)}"
    # + and ++ compose through an interpolation by replacing it: the model would get {lr: 7} as its optimizer.
    for i, line in enumerate(overrides):
        if line.startswith("+") and "." in _key(line) and (cfg := composed(overrides[:i])) is not None:
            blocked = _walk(cfg, _key(line))[2]
            if blocked and not is_null(blocked[1]):
                return _through(line, *blocked, [*overrides[:i], *overrides[i + 1 :]], composed)
    return None


def _key(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~")


def _walk(cfg: DictConfig, key: str) -> tuple[int, DictConfig, tuple[str, object] | None]:
    """Mapping parts of ``key`` (but the last): how many, the deepest, and (key, node) of a value in the way."""
    parts, node = key.split("."), cfg
    for depth, part in enumerate(parts[:-1]):
        child = child_node(node, part)
        if child is None:
            return depth, node, None
        if not holds_keys(child) or not isinstance(child, DictConfig):
            return depth, node, (".".join(parts[: depth + 1]), child)
        node = child
    return len(parts) - 1, node, None


def _explain(cfg: DictConfig, line: str, others: list[str], composed: Compose) -> str | None:
    """``line``'s key is not in ``cfg``: the nearest key there, or what is in the way; None if it is there."""
    key = _key(line)
    depth, node, blocked = _walk(cfg, key)
    if blocked:
        return _through(line, *blocked, others, composed)
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
    plus = "" if line.startswith("~") else f" (a new key needs a +: +{line.lstrip('+')})"
    return f"{line}: no such key {prefix}{missing}; {known}{plus}"


def _through(line: str, where: str, node: object, others: list[str], composed: Compose) -> str:
    """``line``'s key goes through ``where``, which holds a value or an interpolation: no keys below it."""
    raw = raw_value(node)
    if reference := re.fullmatch(r"\$\{([\w.]+)\}", str(raw)):  # model.optimizer is ${optimizer}: set optimizer.lr
        rest = f"{reference[1]}{_key(line)[len(where) :]}={line.partition('=')[2]}"
        plus = line[: len(line) - len(line.lstrip("+"))]
        for there in (f"{plus}{rest}", rest):  # a + on a key that exists there is refused: then without it
            if composed([*others, there]) is not None:
                return f"{line}: {where} is {raw}; set the key there: {there}"
    return f"{line}: no such key {_key(line)}; {where} holds {'null' if raw is None else raw}, not keys"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split("Config search path:")[0].split())
