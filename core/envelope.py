"""Signed protocol envelopes.

Spec: ``specs/dkls23.md`` §3 (envelopes), ``specs/shares.md`` §3 (messaging rules).

Every protocol message is wrapped in an envelope signed by the sender's Ed25519 *node* key
(separate from every threshold key). The signature covers
``H("warifu/v1/envelope", sid, u8(round), u16be(from), u16be(to or 0), msg_type, payload)``,
so a detected deviation becomes evidence a third party can verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from warifu.core.encoding import h, u8, u16be
from warifu.core.errors import InvalidArguments

BROADCAST = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One signed protocol message. ``to == 0`` is a broadcast (identical bytes for all)."""

    sid: bytes
    round: int
    sender: int
    to: int
    msg_type: str
    payload: bytes
    signature: bytes = b""

    def signed_digest(self) -> bytes:
        """What the node key signs."""
        return h(
            "envelope",
            self.sid,
            u8(self.round),
            u16be(self.sender),
            u16be(self.to),
            self.msg_type.encode(),
            self.payload,
        )

    def digest(self) -> bytes:
        """Digest of the whole envelope including its signature (for echo and transcripts)."""
        return h("envelope", self.signed_digest(), self.signature)

    def verify(self, sender_pub: bytes) -> None:
        """Raise InvalidArguments(BAD_ENVELOPE) unless signed by ``sender_pub``."""
        try:
            VerifyKey(sender_pub).verify(self.signed_digest(), self.signature)
        except (BadSignatureError, ValueError) as exc:
            raise InvalidArguments("envelope signature invalid", reason="BAD_ENVELOPE") from exc


class NodeSigner:
    """A node's Ed25519 signing key for envelopes and statements. Repr is redacted."""

    __slots__ = ("_key",)

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise InvalidArguments("node key seed must be 32 bytes")
        self._key = SigningKey(seed)

    @property
    def public_key(self) -> bytes:
        """The 32-byte verification key."""
        return bytes(self._key.verify_key)

    def sign(self, env: Envelope) -> Envelope:
        """Return ``env`` with its signature filled in."""
        sig = self._key.sign(env.signed_digest()).signature
        return Envelope(
            sid=env.sid,
            round=env.round,
            sender=env.sender,
            to=env.to,
            msg_type=env.msg_type,
            payload=env.payload,
            signature=sig,
        )

    def sign_bytes(self, message: bytes) -> bytes:
        """A detached signature over ``message`` (statements such as ACK/DONE)."""
        return self._key.sign(message).signature

    def __repr__(self) -> str:
        return "NodeSigner(<redacted>)"
