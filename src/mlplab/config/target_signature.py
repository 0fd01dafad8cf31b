"""Checks a ``_target_`` config node against the signature of what it instantiates: names and simple types."""

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hydra.utils import get_object

from mlplab.errors import UserError

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
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable forward references: names still count, types are not checked
            hints = {}
        for name in named:
            out.setdefault(name, hints.get(name))
        if not more:
            return out, False
    return out, True


def matches(value: Any, hint: Any) -> bool:
    """Whether a plain config value fits ``hint``; hints this cannot judge count as a match."""
    if hint is None or hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    base = origin or hint
    if base in (list, tuple, Sequence) or (inspect.isclass(base) and issubclass(base, Sequence) and base is not str):
        return isinstance(value, (list, tuple))
    if base in (dict, Mapping):
        return isinstance(value, dict)
    return True


def _describe(hint: Any) -> str:
    """``Optional[Literal["a", "b"] | int]`` as ``'a', 'b' or int or null``."""
    values: list[Any] = []
    kinds: list[str] = []

    def walk(h: Any) -> None:
        origin = typing.get_origin(h)
        if origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(h):
                walk(arg)
        elif origin is typing.Literal:
            values.extend(typing.get_args(h))
        else:
            kinds.append("null" if h is type(None) else h.__name__ if inspect.isclass(h) else str(h))

    walk(hint)
    parts = [", ".join(repr(v) for v in values)] if values else []
    return " or ".join([*parts, *dict.fromkeys(k.replace("typing.", "") for k in kinds)])


def check_target_node(key: str, node: Mapping[str, Any]) -> None:
    """``node`` is resolved plain data; raises UserError naming the first key or value that does not fit."""
    path = str(node["_target_"])
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
        hint = params[name]
        if not matches(value, hint):
            raise UserError(f"{key}.{name}={value!r} is invalid; allowed: {_describe(hint)}")
