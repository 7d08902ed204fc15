"""Injective, length-prefixed encoding and the domain-separated hash functions.

Spec: ``specs/dkls23.md`` §2.1–§2.3 (normative for every warifu protocol).

- ``LP(b) = u64be(len(b)) ‖ b``
- ``ENC(tag, f_1, …, f_k) = LP(tag) ‖ LP(f_1) ‖ … ‖ LP(f_k)``
- ``LIST(e_1..e_m) = u32be(m) ‖ LP(e_1) ‖ … ‖ LP(e_m)`` (a list is one argument)
- ``H(tag, …) = SHA-256(ENC(tag, …))``; ``XOF(tag, L; …) = SHAKE-256(ENC(tag, …))[:L]``;
  ``HS(tag, …) = int(XOF(tag, 64; …), 'big') mod order``.

Every tag is a member of :data:`TAGS` (a test asserts that the code uses no other tag and that
all are unique). No delimiters, no ``str()`` of objects, no JSON inside a hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PREFIX = "warifu/v1/"

#: Every domain-separation tag warifu uses, as the suffix after ``warifu/v1/``.
TAG_SUFFIXES: tuple[str, ...] = (
    # common (dkls23.md §2.3)
    "sid",
    "envelope",
    "request",
    # shares.md §2.2
    "committee",
    "pubpkg",
    "dkg/commit",
    "dkg/pok",
    "echo",
    "transcript",
    "ack",
    "share-aad",
    # ceremonies: approvals (DESIGN §8) and the node audit log
    "ceremony/statement",
    "ceremony/approval",
    "audit/entry",
    # FROST signing over the cluster (chains.md §1; our binding of sessions)
    "frost/precommit",
    # DKLs23 (dkls23.md §2.3)
    "dkls23/com-R",
    "dkls23/echo1",
    "dkls23/echo2",
    "dkls23/psid",
    "dkls23/ot-setup",
    "dkls23/vsot-pok",
    "dkls23/vsot-pad",
    "dkls23/vsot-h1",
    "dkls23/vsot-h2",
    "dkls23/ote-prg",
    "dkls23/ote-chi",
    "dkls23/ote-pad",
    "dkls23/rvole-gadget",
    "dkls23/rvole-m1",
    "dkls23/rvole-theta",
    "dkls23/rvole-mu",
    "dkls23/rerand",
    "dkls23/presig-sid",
    "dkls23/state-aad",
)

TAGS: frozenset[bytes] = frozenset((PREFIX + s).encode() for s in TAG_SUFFIXES)


def tag(suffix: str) -> bytes:
    """The full tag ``warifu/v1/<suffix>``; raises KeyError for a tag not in the registry."""
    t = (PREFIX + suffix).encode()
    if t not in TAGS:
        raise KeyError(f"unregistered domain-separation tag: {suffix!r}")
    return t


def u8(n: int) -> bytes:
    """One byte."""
    return n.to_bytes(1, "big")


def u16be(n: int) -> bytes:
    """Two bytes, big-endian."""
    return n.to_bytes(2, "big")


def u32be(n: int) -> bytes:
    """Four bytes, big-endian."""
    return n.to_bytes(4, "big")


def u64be(n: int) -> bytes:
    """Eight bytes, big-endian."""
    return n.to_bytes(8, "big")


def lp(b: bytes) -> bytes:
    """``LP(b) = u64be(len(b)) ‖ b``."""
    return u64be(len(b)) + b


def enc(tag_bytes: bytes, *fields: bytes) -> bytes:
    """``ENC(tag, f_1, …, f_k)``: every field length-prefixed."""
    return lp(tag_bytes) + b"".join(lp(f) for f in fields)


def enc_list(items: Iterable[bytes]) -> bytes:
    """``LIST(e_1..e_m)``: a count, then each element length-prefixed."""
    items = list(items)
    return u32be(len(items)) + b"".join(lp(e) for e in items)


def h(suffix: str, *fields: bytes) -> bytes:
    """``H(tag, …) = SHA-256(ENC(warifu/v1/<suffix>, …))``, 32 bytes."""
    return hashlib.sha256(enc(tag(suffix), *fields)).digest()


def xof(suffix: str, length: int, *fields: bytes) -> bytes:
    """``XOF(tag, L; …) = SHAKE-256(ENC(warifu/v1/<suffix>, …))`` truncated to ``length`` bytes."""
    return hashlib.shake_256(enc(tag(suffix), *fields)).digest(length)


def hs(suffix: str, order: int, *fields: bytes) -> int:
    """``HS(tag, …)``: 64 XOF bytes read big-endian, reduced mod ``order``."""
    return int.from_bytes(xof(suffix, 64, *fields), "big") % order
