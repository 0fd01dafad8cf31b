"""Private node access of OmegaConf 2.3: walking a config without resolving it.

Outside a run, ``${hydra:...}`` interpolations cannot resolve, so the public ``OmegaConf.select`` fails on
them; the override checks must still say what a key runs into. OmegaConf has no public API for an
unresolved node: omegaconf issue #1081 asked for one and was closed without it.
"""

from typing import Any

from omegaconf import DictConfig, Node


def child_node(cfg: DictConfig, key: str) -> Node | None:
    """The node under ``key``, unresolved; None when there is none."""
    node = cfg._get_node(key, validate_access=False)
    return node if isinstance(node, Node) else None


def holds_keys(node: Node) -> bool:
    """A mapping one can set keys below: not a value, null, or an interpolation."""
    return isinstance(node, DictConfig) and not node._is_interpolation() and not node._is_none()


def is_null(node: object) -> bool:
    return isinstance(node, Node) and node._is_none()


def raw_value(node: object) -> Any:
    """What the node holds as written (``${optimizer}``, not what it resolves to)."""
    return node._value() if isinstance(node, Node) else node
