"""Serialized pairwise OT state of one peer, as stored (encrypted) in the epoch record.

Layout: ``u32be(len(bob)) ‖ bob ‖ alice`` where ``bob`` is this node's BobSeeds of ``(me←j)``
and ``alice`` its AliceSeeds of ``(j←me)`` (``dkls23.md`` §7.3), each in its own fixed layout.
"""

from __future__ import annotations

from warifu.core.encoding import u32be
from warifu.core.errors import InvalidKeyShare
from warifu.core.ot.vsot import AliceSeeds, BobSeeds


def encode_pair_state(bob: BobSeeds, alice: AliceSeeds) -> bytes:
    """Both directions of the OT state with one peer, as bytes."""
    b = bob.to_bytes()
    return u32be(len(b)) + b + alice.to_bytes()


def decode_pair_state(data: bytes) -> tuple[BobSeeds, AliceSeeds]:
    """Inverse of :func:`encode_pair_state`; a malformed blob is SHARE_INTEGRITY."""
    try:
        n = int.from_bytes(data[:4], "big")
        return BobSeeds.from_bytes(data[4 : 4 + n]), AliceSeeds.from_bytes(data[4 + n :])
    except Exception as exc:
        raise InvalidKeyShare("stored OT state is malformed") from exc
