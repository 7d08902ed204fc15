"""Signed ceremony statements (ACK / REFUSE / PROMISE-ABORT / DONE) and their certificates.

Spec: ``specs/shares.md`` §10.1 (statements and certificates), erratum 17 (certificate validity).

::

    stmt(decision) = H("warifu/v1/ack", sid, kind, key_id, u64be(e_old), u64be(e_new),
                       pkg_digest_new, transcript_digest, decision)

A node signs the 32-byte ``stmt`` with its Ed25519 node key (a detached signature, so a
certificate is verifiable without the envelopes that carried the signatures).

A certificate is valid only if (erratum 17):

- every signature is over the byte-identical statement (and, for the verifier's own ceremony,
  that statement equals its own PENDING ``sid``, ``pkg_digest_new`` and ``transcript_digest``:
  pass it as ``expected``);
- the signers are exactly the members of the new committee, each once;
- every signature verifies under that member's ``sign_pub``.

Wire layouts (fixed, big-endian)::

    statement   = sid(32) ‖ u8(len kind) ‖ kind ‖ key_id(16) ‖ u64be(e_old) ‖ u64be(e_new)
                  ‖ pkg_digest(32) ‖ transcript_digest(32) ‖ u8(len decision) ‖ decision
    certificate = u16be(len statement) ‖ statement ‖ u16be(m) ‖ m × (u16be(id) ‖ sig(64)),
                  ids strictly ascending
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import ClassVar, Self

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from warifu.core.encoding import h, u8, u16be, u64be
from warifu.core.envelope import NodeSigner
from warifu.core.errors import InvalidArguments
from warifu.core.shares.package import Committee

SIG_LEN = 64
DIGEST_LEN = 32
SID_LEN = 32
KEY_ID_LEN = 16
#: Placeholder for a digest a signer has not computed (REFUSE / PROMISE-ABORT before the end).
ZERO_DIGEST = bytes(DIGEST_LEN)

INVALID_CERTIFICATE = "INVALID_CERTIFICATE"


class Decision(enum.Enum):
    """The four statements of §10.1."""

    ACK = "ACK"
    REFUSE = "REFUSE"
    PROMISE_ABORT = "PROMISE-ABORT"
    DONE = "DONE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """One §10.1 statement. ``digest()`` is what a node key signs."""

    sid: bytes
    kind: str
    key_id: bytes
    e_old: int
    e_new: int
    pkg_digest: bytes
    transcript_digest: bytes
    decision: Decision

    def __post_init__(self) -> None:
        if len(self.sid) != SID_LEN:
            raise InvalidArguments("statement sid must be 32 bytes")
        if len(self.key_id) != KEY_ID_LEN:
            raise InvalidArguments("statement key id must be 16 bytes")
        if len(self.pkg_digest) != DIGEST_LEN or len(self.transcript_digest) != DIGEST_LEN:
            raise InvalidArguments("statement digests must be 32 bytes")
        if not self.kind or not self.kind.isascii() or len(self.kind) > 32:
            raise InvalidArguments("statement kind must be 1..32 ASCII characters")
        if not (0 <= self.e_old < 2**64 and 0 <= self.e_new < 2**64):
            raise InvalidArguments("statement epochs out of range")

    def digest(self) -> bytes:
        """``stmt`` of §10.1 (32 bytes)."""
        return h(
            "ack",
            self.sid,
            self.kind.encode(),
            self.key_id,
            u64be(self.e_old),
            u64be(self.e_new),
            self.pkg_digest,
            self.transcript_digest,
            self.decision.value.encode(),
        )

    def with_decision(self, decision: Decision) -> Statement:
        """The same statement with another decision (e.g. the DONE after an ACK)."""
        return replace(self, decision=decision)

    def sign(self, signer: NodeSigner) -> bytes:
        """A detached Ed25519 signature over :meth:`digest`."""
        return signer.sign_bytes(self.digest())

    def verify_signature(self, sign_pub: bytes, signature: bytes) -> None:
        """Raise InvalidArguments(INVALID_SIGNATURE) unless ``signature`` is valid."""
        try:
            VerifyKey(sign_pub).verify(self.digest(), signature)
        except (BadSignatureError, ValueError, TypeError) as exc:
            raise InvalidArguments(
                "statement signature invalid", reason="INVALID_SIGNATURE"
            ) from exc

    def encode(self) -> bytes:
        """Fixed layout (module docstring)."""
        kind = self.kind.encode()
        decision = self.decision.value.encode()
        return (
            self.sid
            + u8(len(kind))
            + kind
            + self.key_id
            + u64be(self.e_old)
            + u64be(self.e_new)
            + self.pkg_digest
            + self.transcript_digest
            + u8(len(decision))
            + decision
        )

    @classmethod
    def decode(cls, data: bytes) -> Statement:
        """Inverse of :meth:`encode`; strict."""
        try:
            pos = SID_LEN
            sid = data[:pos]
            klen = data[pos]
            kind = data[pos + 1 : pos + 1 + klen].decode("ascii")
            pos += 1 + klen
            key_id = data[pos : pos + KEY_ID_LEN]
            pos += KEY_ID_LEN
            e_old = int.from_bytes(data[pos : pos + 8], "big")
            e_new = int.from_bytes(data[pos + 8 : pos + 16], "big")
            pos += 16
            pkg_digest = data[pos : pos + DIGEST_LEN]
            transcript_digest = data[pos + DIGEST_LEN : pos + 2 * DIGEST_LEN]
            pos += 2 * DIGEST_LEN
            dlen = data[pos]
            decision = Decision(data[pos + 1 : pos + 1 + dlen].decode("ascii"))
            pos += 1 + dlen
        except (IndexError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidArguments("malformed statement", reason=INVALID_CERTIFICATE) from exc
        if pos != len(data) or len(sid) != SID_LEN:
            raise InvalidArguments("malformed statement", reason=INVALID_CERTIFICATE)
        return cls(
            sid=sid,
            kind=kind,
            key_id=key_id,
            e_old=e_old,
            e_new=e_new,
            pkg_digest=pkg_digest,
            transcript_digest=transcript_digest,
            decision=decision,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    """A statement plus one signature per committee member (base of the concrete kinds)."""

    DECISION: ClassVar[Decision | None] = None

    statement: Statement
    signatures: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        if self.DECISION is not None and self.statement.decision is not self.DECISION:
            raise InvalidArguments(
                f"{type(self).__name__} needs {self.DECISION.value} statements",
                reason=INVALID_CERTIFICATE,
            )
        ids = [i for i, _ in self.signatures]
        if ids != sorted(set(ids)):
            raise InvalidArguments(
                "certificate signers must be strictly ascending and unique",
                reason=INVALID_CERTIFICATE,
            )
        if any(len(sig) != SIG_LEN for _, sig in self.signatures):
            raise InvalidArguments(
                "certificate signature must be 64 bytes", reason=INVALID_CERTIFICATE
            )

    @property
    def signers(self) -> tuple[int, ...]:
        """Signer ids, ascending."""
        return tuple(i for i, _ in self.signatures)

    def verify(self, committee: Committee, *, expected: Statement | None = None) -> None:
        """Erratum 17; raise InvalidArguments(INVALID_CERTIFICATE) on any defect."""
        if expected is not None and self.statement != expected:
            raise InvalidArguments(
                "certificate statement differs from our own", reason=INVALID_CERTIFICATE
            )
        if self.signers != committee.ids:
            raise InvalidArguments(
                "certificate signers are not exactly the committee", reason=INVALID_CERTIFICATE
            )
        for party, sig in self.signatures:
            try:
                self.statement.verify_signature(committee.member(party).sign_pub, sig)
            except InvalidArguments as exc:
                raise InvalidArguments(
                    f"certificate signature of party {party} invalid", reason=INVALID_CERTIFICATE
                ) from exc

    def encode(self) -> bytes:
        """Fixed layout (module docstring)."""
        stmt = self.statement.encode()
        return (
            u16be(len(stmt))
            + stmt
            + u16be(len(self.signatures))
            + b"".join(u16be(i) + sig for i, sig in self.signatures)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Inverse of :meth:`encode`; strict on lengths, does **not** verify (call verify)."""
        if len(data) < 2:
            raise InvalidArguments("certificate truncated", reason=INVALID_CERTIFICATE)
        slen = int.from_bytes(data[:2], "big")
        if len(data) < 2 + slen + 2:
            raise InvalidArguments("certificate truncated", reason=INVALID_CERTIFICATE)
        stmt = Statement.decode(data[2 : 2 + slen])
        pos = 2 + slen
        m = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if len(data) != pos + m * (2 + SIG_LEN):
            raise InvalidArguments("certificate length mismatch", reason=INVALID_CERTIFICATE)
        sigs = []
        for _ in range(m):
            sigs.append(
                (int.from_bytes(data[pos : pos + 2], "big"), data[pos + 2 : pos + 2 + SIG_LEN])
            )
            pos += 2 + SIG_LEN
        return cls(statement=stmt, signatures=tuple(sigs))

    @classmethod
    def collect(
        cls, committee: Committee, statement: Statement, signatures: dict[int, bytes]
    ) -> Self:
        """Build and :meth:`verify` a certificate from per-member signatures."""
        cert = cls(statement=statement, signatures=tuple(sorted(signatures.items())))
        cert.verify(committee, expected=statement)
        return cert


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitCertificate(Certificate):
    """ACK from every new member: the ceremony may switch to ``e_new``."""

    DECISION: ClassVar[Decision | None] = Decision.ACK


@dataclass(frozen=True, slots=True, kw_only=True)
class DoneCertificate(Certificate):
    """DONE from every new member: old epochs may be destroyed."""

    DECISION: ClassVar[Decision | None] = Decision.DONE
