"""Allowed config values, declared once where they apply: ``batch_size: Annotated[int | None, POSITIVE]``.

A class's signature is the declaration: the pre-run config check (:mod:`mlplab.config.schema`) reads it
for every ``_target_`` node, and :func:`checked` enforces it when the class is built directly
(``hydra.utils.instantiate(cfg.data)``). The error line comes from the declaration too:
``data.batch_size=0 is invalid; allowed: a positive integer, or null for full batch``.
"""

import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from mlplab.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    """A test of one value and the words for what passes it."""

    test: Callable[[Any], bool]
    allowed: str


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


POSITIVE = Rule(lambda v: is_int(v) and v >= 1, "a positive integer")
NON_NEGATIVE = Rule(lambda v: is_number(v) and v >= 0, "a number >= 0")
FRACTION = Rule(lambda v: is_number(v) and 0 <= v <= 1, "a number from 0 to 1")


def one_of(*values: Any) -> Rule:
    """Exactly these values (``True`` is not ``1``), listed as YAML writes them."""
    shown = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    return Rule(lambda v: any(v == x and type(v) is type(x) for x in values), shown)


Positive = Annotated[int, POSITIVE]


def _rules(hint: Any) -> tuple[Any, list[Rule]]:
    """``Annotated[T, rule, …]`` as ``(T, [rule, …])``; any other hint with no rules."""
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        return base, [r for r in extras if isinstance(r, Rule)]
    return hint, []


def matches(value: Any, hint: Any) -> bool:
    """Whether a plain config value fits ``hint`` and its rules; hints this cannot judge count as a match."""
    hint, rules = _rules(hint)
    if value is None and _allows_none(hint):
        return True
    return _matches_type(value, hint) and all(rule.test(value) for rule in rules)


def _allows_none(hint: Any) -> bool:
    return hint is type(None) or (_is_union(hint) and type(None) in typing.get_args(hint))


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _matches_type(value: Any, hint: Any) -> bool:
    if hint is None or hint is Any:
        return True
    if hint is type(None):
        return value is None
    if _is_union(hint):
        return any(matches(value, h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is typing.Literal:
        return value in typing.get_args(hint)
    checks: dict[Any, Callable[[Any], bool]] = {
        bool: lambda v: isinstance(v, bool),
        int: is_int,
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }
    if hint in checks:
        return checks[hint](value)
    base = typing.get_origin(hint) or hint
    if base in (list, tuple, Sequence) or (inspect.isclass(base) and issubclass(base, Sequence) and base is not str):
        return isinstance(value, Sequence) and not isinstance(value, str)  # OmegaConf's ListConfig too
    if base in (dict, Mapping):
        return isinstance(value, Mapping)
    return True


def describe(hint: Any) -> str:
    """What ``hint`` allows, in words: its rules' own, else its values and types (``'a', 'b' or int or null``)."""
    base, rules = _rules(hint)
    if rules:
        text = " and ".join(r.allowed for r in rules)
        return text if "null" in text or not _allows_none(base) else f"{text}, or null"
    values: list[Any] = []
    kinds: list[str] = []

    def walk(h: Any) -> None:
        h = _rules(h)[0]
        if _is_union(h):
            for arg in typing.get_args(h):
                walk(arg)
        elif typing.get_origin(h) is typing.Literal:
            values.extend(typing.get_args(h))
        else:
            kinds.append("null" if h is type(None) else h.__name__ if inspect.isclass(h) else str(h))

    walk(base)
    parts = [", ".join(repr(v) for v in values)] if values else []
    return " or ".join([*parts, *dict.fromkeys(k.replace("typing.", "") for k in kinds)])


def invalid(key: str, value: Any, hint: Any) -> UserError | None:
    """The error for ``key=value`` where ``hint`` declares what is allowed, or None if it fits."""
    if matches(value, hint):
        return None
    return UserError(f"{key}={value!r} is invalid; allowed: {describe(hint)}")


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s annotations with their rules; empty where they cannot be resolved (names still count)."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # forward references to names this process never imported
        return {}


def checked(group: str) -> Callable[[F], F]:
    """Checks an ``__init__``'s arguments against its annotations, naming each as ``group.name``."""

    def decorate(init: F) -> F:
        signature = inspect.signature(init)

        @functools.wraps(init)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            hints = type_hints(init)
            for name, value in signature.bind(*args, **kwargs).arguments.items():
                error = invalid(f"{group}.{name}", value, hints[name]) if name in hints else None
                if error is not None:
                    raise error
            return init(*args, **kwargs)

        return typing.cast(F, wrapper)

    return decorate
