"""Why an override's key does not fit the composed config, said in one line.

The key is walked without resolving anything (an interpolation like ``${hydra:...}`` cannot resolve
outside a run): each part names a key of a mapping, or the walk stops at what it found instead.
"""

import difflib
import re
from collections.abc import Callable

from omegaconf import DictConfig

from mlplab.compat.omegaconf import child_node, holds_keys, raw_value

# Whether a list of overrides composes: a hint is only given if it does.
Composes = Callable[[list[str]], bool]


def _walk(cfg: DictConfig, key: str) -> tuple[int, DictConfig, tuple[str, object] | None]:
    """How many parts of ``key`` (but the last) name mappings, the deepest of them, and what stopped the walk
    if a part holds a value, null or an interpolation instead of keys (``None`` if none did)."""
    parts = key.split(".")
    node: DictConfig = cfg
    for depth, part in enumerate(parts[:-1]):
        child = child_node(node, part)
        if child is None:
            return depth, node, None
        if not holds_keys(child) or not isinstance(child, DictConfig):
            return depth, node, (".".join(parts[: depth + 1]), child)
        node = child
    return len(parts) - 1, node, None


def blocked_at(cfg: DictConfig, key: str) -> tuple[str, object] | None:
    """The first part of ``key`` (but the last) that holds a value, null or an interpolation, not keys."""
    return _walk(cfg, key)[2]


def unknown_key(cfg: DictConfig, line: str, key: str, others: list[str], composes: Composes) -> str:
    """``key`` (of override ``line``) is not in ``cfg``: the nearest key there, or what is in the way."""
    depth, node, blocked = _walk(cfg, key)
    if blocked:
        return through_a_value(line, key, *blocked, others, composes)
    parts = key.split(".")
    parent, missing = ".".join(parts[:depth]), parts[depth]
    prefix = f"{parent}." if parent else ""
    keys = [str(k) for k in node if not str(k).startswith("_")]
    close = difflib.get_close_matches(missing, keys, n=1)
    if close:
        known = f"did you mean {prefix}{close[0]}?"
    else:
        known = f"allowed: {', '.join(keys)}" if keys else f"{parent or 'the config'} has no keys to set"
    return f"{line}: no such key {prefix}{missing}; {known} (a new key needs a +: +{line.lstrip('+')})"


def through_a_value(line: str, key: str, where: str, node: object, others: list[str], composes: Composes) -> str:
    """``key`` goes through ``where``, which holds a value or an interpolation: no keys can be set below it."""
    raw = raw_value(node)
    shown = "null" if raw is None else raw
    reference = re.fullmatch(r"\$\{([\w.]+)\}", str(raw))
    if reference:  # model.optimizer is ${optimizer}: the key to set is optimizer.lr
        plus = line[: len(line) - len(line.lstrip("+"))]
        there = f"{plus}{reference.group(1)}{key[len(where) :]}={line.partition('=')[2]}"
        if composes([*others, there]):
            return f"{line}: {where} is {raw}; set the key there: {there}"
    return f"{line}: no such key {key}; {where} holds {shown}, not keys"
