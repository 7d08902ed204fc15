"""Evidence bytes: signed envelopes packed so that a third party can re-verify them.

Spec: ``specs/shares.md`` §3 item 4 (evidence and blame). A :class:`ProtocolAbort` carries
``evidence: dict[culprit, bytes]``; for the shares ceremonies those bytes are always
``encode_evidence([env, …])``: one envelope (a bad message signed by the culprit) or two (an
equivocation: two different envelopes, both validly signed by the culprit).

Layout (injective, ``specs/dkls23.md`` §2.1 primitives)::

    envelope = LIST(sid, u8(round), u16be(sender), u16be(to), msg_type, payload, signature)
    evidence = LIST(envelope_1, …, envelope_m)
"""

from __future__ import annotations

from collections.abc import Sequence

from warifu.core.encoding import enc_list, u8, u16be
from warifu.core.envelope import Envelope
from warifu.core.errors import InvalidArguments

_MAX_ITEMS = 16


def _split_list(data: bytes) -> list[bytes]:
    """Inverse of :func:`enc_list`, strict (no trailing bytes)."""
    if len(data) < 4:
        raise InvalidArguments("evidence list truncated", reason="INVALID_DATA_SIZE")
    count = int.from_bytes(data[:4], "big")
    if count > _MAX_ITEMS:
        raise InvalidArguments("evidence list too long", reason="INVALID_DATA_SIZE")
    pos, items = 4, []
    for _ in range(count):
        if pos + 8 > len(data):
            raise InvalidArguments("evidence list truncated", reason="INVALID_DATA_SIZE")
        n = int.from_bytes(data[pos : pos + 8], "big")
        pos += 8
        if pos + n > len(data):
            raise InvalidArguments("evidence list truncated", reason="INVALID_DATA_SIZE")
        items.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise InvalidArguments("trailing bytes after evidence list", reason="INVALID_DATA_SIZE")
    return items


def encode_envelope(env: Envelope) -> bytes:
    """One signed envelope as bytes."""
    return enc_list(
        [
            env.sid,
            u8(env.round),
            u16be(env.sender),
            u16be(env.to),
            env.msg_type.encode(),
            env.payload,
            env.signature,
        ]
    )


def decode_envelope(data: bytes) -> Envelope:
    """Inverse of :func:`encode_envelope` (does not verify the signature)."""
    f = _split_list(data)
    if len(f) != 7 or len(f[1]) != 1 or len(f[2]) != 2 or len(f[3]) != 2:
        raise InvalidArguments("malformed evidence envelope", reason="INVALID_DATA_SIZE")
    try:
        msg_type = f[4].decode("ascii")
    except UnicodeDecodeError as exc:
        raise InvalidArguments("malformed evidence envelope", reason="INVALID_ENCODING") from exc
    return Envelope(
        sid=f[0],
        round=f[1][0],
        sender=int.from_bytes(f[2], "big"),
        to=int.from_bytes(f[3], "big"),
        msg_type=msg_type,
        payload=f[5],
        signature=f[6],
    )


def encode_evidence(envelopes: Sequence[Envelope]) -> bytes:
    """The evidence bytes for one culprit."""
    return enc_list(encode_envelope(e) for e in envelopes)


def decode_evidence(data: bytes) -> list[Envelope]:
    """Inverse of :func:`encode_evidence`."""
    return [decode_envelope(item) for item in _split_list(data)]
