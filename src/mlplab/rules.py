"""Allowed config values, declared once in a signature with pydantic's types (``batch_size: Positive | None``),
checked before a run (:mod:`mlplab.config.schema`) and as a class is made (:func:`checked`). The error line's
"allowed" is pydantic's own words for the type, or the words a :func:`rule` gives."""

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from omegaconf import Container, OmegaConf
from pydantic import ConfigDict, TypeAdapter, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import ErrorDetails

from mlplab.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])
# A config value is what YAML wrote: no "5" for 5, no true for 1, no inf. A class (torch's Tensor) means isinstance.
STRICT = ConfigDict(strict=True, allow_inf_nan=False, arbitrary_types_allowed=True)


def rule(allowed: str, test: Callable[[Any], bool] = lambda v: True) -> WrapValidator:
    """What a value must be beyond its type (``test``), in words that also stand for the type's own
    (pydantic's "a valid integer")."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            value = handler(value)
        except ValidationError:
            raise ValueError(allowed) from None
        if not test(value):
            raise ValueError(allowed)
        return value

    return WrapValidator(check)


Positive = Annotated[int, rule("a positive integer", lambda v: v >= 1)]
NonNegative = Annotated[float, rule("a number >= 0", lambda v: v >= 0)]
Fraction = Annotated[float, rule("a number from 0 to 1", lambda v: 0 <= v <= 1)]


def invalid(key: str, value: Any, hint: Any) -> UserError | None:
    """The error for ``key=value`` where ``hint`` declares what is allowed, or None if it fits."""
    plain = OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value
    try:
        adapter = TypeAdapter(hint, config=STRICT)
    except Exception:  # a hint pydantic cannot build a check for (RichProgressBar's theme): it takes anything
        return None
    errors = _errors(adapter, plain)
    if isinstance(plain, list) and any(d["type"] == "tuple_type" for d in errors):
        errors = _errors(adapter, tuple(plain))  # YAML has no tuples: Adam's betas=[0.9,0.99] stands for one
    if not errors:
        return None
    # Of a union's members, those whose type the value has say more than the others' "a valid string".
    near = [d for d in errors if not d["type"].endswith(("_type", "instance_of", "literal_error"))] or errors
    words = " or ".join(dict.fromkeys(_words(d) for d in near))
    null = value is not None and "null" not in words and not invalid(key, None, hint)
    return UserError(f"{key}={value!r} is invalid; allowed: {words}{', or null' * null}")


def _words(error: ErrorDetails) -> str:
    """pydantic's words for what it wanted, and where in a list: ``a valid number at [1]``."""
    said = {"missing": "an item", "sequence_str": "a list"}.get(error["type"], error["msg"])
    said = said.removeprefix("Value error, ").removeprefix("Input should be ")
    items = [part for part in error["loc"] if isinstance(part, int)]
    return f"{said} at [{items[-1]}]" if items else said


def _errors(adapter: TypeAdapter[Any], value: Any) -> list[ErrorDetails]:
    try:
        adapter.validate_python(value)
    except ValidationError as e:
        return e.errors()
    return []


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
