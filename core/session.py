"""Session ids and request digests.

Spec: ``specs/dkls23.md`` §2.5 (session id), erratum 10 (``request_digest`` hashes the exact
authenticated request bytes as received, never a re-serialisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warifu.core.encoding import enc_list, h, u16be, u64be
from warifu.core.errors import InvalidArguments


def request_digest(request_bytes: bytes) -> bytes:
    """``H("warifu/v1/request", request bytes as received)``."""
    return h("request", request_bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionParams:
    """Everything a session id binds (``dkls23.md`` §2.5)."""

    protocol: str
    curve: str
    key_id: bytes
    epoch_from: int
    epoch_to: int
    pkg_digest: bytes
    set_a: tuple[int, ...]
    set_b: tuple[int, ...]
    t_a: int
    t_b: int
    request_id: bytes
    coord_nonce: bytes
    request_digest: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != 16 or len(self.request_id) != 16:
            raise InvalidArguments("key id and request id must be 16 bytes")
        if (
            len(self.coord_nonce) != 32
            or len(self.pkg_digest) != 32
            or len(self.request_digest) != 32
        ):
            raise InvalidArguments("coordinator nonce and digests must be 32 bytes")

    def sid(self) -> bytes:
        """The 32-byte session id."""
        return session_id(self)


def _ids(ids: Sequence[int]) -> bytes:
    return enc_list(u16be(i) for i in sorted(ids))


def session_id(p: SessionParams) -> bytes:
    """``sid = H("warifu/v1/sid", protocol, curve, key_id, …, request_digest)``."""
    return h(
        "sid",
        p.protocol.encode(),
        p.curve.encode(),
        p.key_id,
        u64be(p.epoch_from),
        u64be(p.epoch_to),
        p.pkg_digest,
        _ids(p.set_a),
        _ids(p.set_b),
        u16be(p.t_a),
        u16be(p.t_b),
        p.request_id,
        p.coord_nonce,
        p.request_digest,
    )
