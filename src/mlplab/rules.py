"""Allowed config values, declared once in a signature (``batch_size: Annotated[int | None, POSITIVE]``),
checked before a run (:mod:`mlplab.config.schema`) and by :func:`checked`; the error line comes from it too."""

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
Positive = Annotated[int, POSITIVE]


def one_of(*values: Any) -> Rule:
    """Exactly these values (``True`` is not ``1``), listed as YAML writes them."""
    shown = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    return Rule(lambda v: any(v == x and type(v) is type(x) for x in values), shown)


# Plain config values per type; a type not here (Path, a class) takes anything.
_TYPES: dict[Any, Callable[[Any], bool]] = {
    type(None): lambda v: v is None,
    bool: lambda v: isinstance(v, bool),
    int: is_int,
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def _split(hint: Any) -> tuple[Any, list[Rule]]:
    """``Annotated[T, rule, …]`` as ``(T, [rule, …])``; any other hint with no rules."""
    if typing.get_origin(hint) is not Annotated:
        return hint, []
    base, *extras = typing.get_args(hint)
    return base, [r for r in extras if isinstance(r, Rule)]


def _union(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()


def matches(value: Any, hint: Any) -> bool:
    """Whether a plain config value fits ``hint``, and its rules unless it is an allowed null."""
    base, rules = _split(hint)
    origin = typing.get_origin(base) or base
    if _union(base):
        fits = any(matches(value, h) for h in _union(base))
    elif origin is typing.Literal:
        fits = value in typing.get_args(base)
    elif origin in _TYPES:
        fits = _TYPES[origin](value)
    elif inspect.isclass(origin) and issubclass(origin, (Sequence, Mapping)):  # OmegaConf's containers too
        fits = isinstance(value, Mapping if issubclass(origin, Mapping) else Sequence) and not isinstance(value, str)
    else:
        fits = True
    return fits and (value is None or all(rule.test(value) for rule in rules))


def describe(hint: Any) -> str:
    """What ``hint`` allows, in words: its rules' own, else its values and types (``'a', 'b' or int or null``)."""
    base, rules = _split(hint)
    if rules:
        text = " and ".join(r.allowed for r in rules)
        return f"{text}, or null" if "null" not in text and type(None) in _union(base) else text
    if _union(base):
        return " or ".join(dict.fromkeys(describe(h) for h in _union(base)))
    if typing.get_origin(base) is typing.Literal:
        return ", ".join(repr(v) for v in typing.get_args(base))
    return "null" if base is type(None) else getattr(base, "__name__", str(base).replace("typing.", ""))


def invalid(key: str, value: Any, hint: Any) -> UserError | None:
    """The error for ``key=value`` where ``hint`` declares what is allowed, or None if it fits."""
    return None if matches(value, hint) else UserError(f"{key}={value!r} is invalid; allowed: {describe(hint)}")


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
                if name in hints and (error := invalid(f"{group}.{name}", value, hints[name])):
                    raise error
            return init(*args, **kwargs)

        return typing.cast(F, wrapper)

    return decorate
