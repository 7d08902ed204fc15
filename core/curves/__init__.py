"""Curve backends behind one :class:`~warifu.core.curves.group.Group` interface."""

from warifu.core.curves.ed25519 import ED25519, Ed25519Group
from warifu.core.curves.group import Group, Point
from warifu.core.curves.secp256k1 import SECP256K1, Secp256k1Group

GROUPS: dict[str, Group] = {ED25519.name: ED25519, SECP256K1.name: SECP256K1}


def group_by_name(name: str) -> Group:
    """The group called ``name`` (``"ed25519"`` or ``"secp256k1"``)."""
    return GROUPS[name]


__all__ = [
    "ED25519",
    "GROUPS",
    "SECP256K1",
    "Ed25519Group",
    "Group",
    "Point",
    "Secp256k1Group",
    "group_by_name",
]
