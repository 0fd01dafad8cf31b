"""Checks a ``_target_`` config node against the signature of what it instantiates: names, types, rules."""

import difflib
import inspect
from collections.abc import Collection, Mapping
from typing import Any

from hydra.utils import get_object

from mlplab.errors import UserError
from mlplab.rules import invalid, type_hints

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# Classes whose **kwargs go on to another's signature, which then says what they take.
KWARGS_OF = {"lightning.pytorch.loggers.TensorBoardLogger": "torch.utils.tensorboard.SummaryWriter"}


def accepted_params(target: Any) -> tuple[dict[str, Any], bool]:
    """Parameter name -> type hint (Any where none resolves), following ``**kwargs`` up a class's bases;
    and "takes any"."""
    out: dict[str, Any] = {}
    for fn in (
        [c.__dict__["__init__"] for c in target.__mro__ if "__init__" in c.__dict__]
        if inspect.isclass(target)
        else [target]
    ):
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            continue
        hints = type_hints(fn)
        for p in params:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self":
                out.setdefault(p.name, hints.get(p.name, Any))
        if all(p.kind != p.VAR_KEYWORD for p in params):
            return out, False
    return out, True


def check_target_node(key: str, node: Mapping[str, Any], declared: Collection[str] = ()) -> None:
    """``node`` is resolved plain data; raises UserError naming the first key or value that does not fit.
    Values of the ``declared`` keys have been checked by the project's own rules, which take precedence; a
    missing extra has been named before (:func:`mlplab.config.schema.validate_config`)."""
    path = str(node["_target_"])
    try:
        target = get_object(path)
    except Exception as e:
        raise UserError(f"{key}._target_={path}: cannot be imported ({type(e).__name__})") from None
    params, takes_any = accepted_params(target)
    if takes_any and path in KWARGS_OF:  # imported only for such a config, whose class needs it anyway
        params, takes_any = {**accepted_params(get_object(KWARGS_OF[path]))[0], **params}, False
    for name, value in node.items():
        if name not in params and not takes_any and name not in HYDRA_KEYS:
            close = difflib.get_close_matches(name, params, n=1)
            hint = f"did you mean {key}.{close[0]}? " if close else ""
            raise UserError(
                f"{key}.{name}={value!r}: not a setting of {path}; {hint}allowed: {', '.join(sorted(params))} "
                f"(or leave it out: ~{key}.{name})"
            )
        if name in declared or _instantiated(value):
            continue
        if name in params and (error := invalid(f"{key}.{name}", value, params[name])):
            raise error


def _instantiated(value: Any) -> bool:
    """A ``_target_`` node or a list of them: Hydra makes it first, and names its key if that fails."""
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(isinstance(item, dict) and "_target_" in item for item in items)
