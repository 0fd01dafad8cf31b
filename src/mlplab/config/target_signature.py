"""Checks a ``_target_`` config node against the signature of what it instantiates: names, types and the
rules declared there (:mod:`mlplab.rules`)."""

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hydra.utils import get_object

from mlplab.errors import UserError
from mlplab.extras import extra_of_target, not_installed
from mlplab.rules import invalid, type_hints

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def _own_params(fn: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """Named parameters of ``fn`` and whether it also takes ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}, True
    named = {n: p for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "self"}
    return named, any(p.kind == p.VAR_KEYWORD for p in params.values())


def accepted_params(target: Any) -> tuple[dict[str, Any], bool]:
    """Parameter name -> type hint (or None), following ``**kwargs`` up a class's bases; and "takes any"."""
    inits = (
        [c.__dict__["__init__"] for c in target.__mro__ if "__init__" in c.__dict__]
        if inspect.isclass(target)
        else [target]
    )
    out: dict[str, Any] = {}
    for fn in inits:
        if fn is object.__init__:
            return out, True
        named, more = _own_params(fn)
        hints = type_hints(fn)
        for name in named:
            out.setdefault(name, hints.get(name))
        if not more:
            return out, False
    return out, True


def check_target_node(key: str, node: Mapping[str, Any]) -> None:
    """``node`` is resolved plain data; raises UserError naming the first key or value that does not fit."""
    path = str(node["_target_"])
    extra = extra_of_target(path)
    missing = not_installed(extra, f"{key}._target_={path}") if extra else None
    if missing:  # before Hydra tries, and logs its own lines about it
        raise missing
    try:
        target = get_object(path)
    except Exception as e:
        raise UserError(f"{key}._target_={path}: cannot be imported ({type(e).__name__})") from None
    params, takes_any = accepted_params(target)
    for name, value in node.items():
        if name in HYDRA_KEYS:
            continue
        if name not in params:
            if takes_any:
                continue
            close = difflib.get_close_matches(name, params, n=1)
            hint = f"did you mean {key}.{close[0]}? " if close else ""
            raise UserError(
                f"{key}.{name}={value!r}: not a setting of {path}; {hint}allowed: {', '.join(sorted(params))}"
            )
        error = invalid(f"{key}.{name}", value, params[name])
        if error is not None:
            raise error
