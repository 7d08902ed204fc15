"""Ceremony approvals: the canonical statement of what will happen, and M-of-K approver signatures.

Spec: ``DESIGN.md`` §8 (a ceremony runs only with approvals; every node checks the quorum
itself), issue 4 (statement fields; production approvals are made separately and attached as
files), ``specs/shares.md`` §2.3 and errata 10 / 16 (the request digest in the session id MUST
cover the new committee record and ``t_new``), ``specs/test-plan.md`` REF-7.

The statement
=============

:class:`CeremonyStatement` says exactly what will happen:

==============  ==============================================================================
``kind``        ``dkg`` / ``refresh`` / ``reshare`` / ``repair`` / ``import``
``curve``       ``ed25519`` / ``secp256k1``
``key_id``      16-byte key UUID
``epoch``       the key's *current* epoch ``e`` (0 for ``dkg`` and ``import``)
``committee``   the committee record of the resulting epoch: ``(id, node name, node signing key)``
                for every member, ascending id (for ``repair``: the current committee, with the
                re-bound record of ``r`` if the operator re-bound it, erratum 15)
``threshold``   the threshold of the resulting epoch
``targets``     ``repair``: exactly ``(r,)``, the party whose share is rebuilt; otherwise empty
``expires_at``  unix seconds; the approval is void from this second on (core has no clock: the
                verifier passes ``now``)
``nonce``       32 random bytes; a node refuses a statement whose nonce it has already used
==============  ==============================================================================

Canonical bytes (the *only* form that is signed, hashed or forwarded; never re-serialised)::

    statement_bytes = ENC("warifu/v1/ceremony/statement", kind, curve, key_id, u64be(epoch),
                          LIST(u16be(id) ‖ LP(node) ‖ sign_pub(32) for each member ascending),
                          u16be(threshold), LIST(u16be(target) …), u64be(expires_at), nonce)
    approval_digest = H("warifu/v1/ceremony/approval", statement_bytes)      # what approvers sign
    request_digest  = H("warifu/v1/request", statement_bytes)               # goes into the sid

:meth:`CeremonyStatement.decode` is strict (``encode(decode(b)) == b`` for every accepted ``b``),
so "the exact authenticated request bytes" of erratum 10 and the canonical encoding coincide:
the ceremony's ``request_digest`` is :meth:`CeremonyStatement.request_digest`, and the ceremony
modules (``shares/refresh.py``, ``reshare.py``, ``repair.py``) derive their ``sid`` from it. The
new committee record and threshold are therefore bound into every envelope of the ceremony.

Approvals
=========

An :class:`Approval` is ``(approver name, approval_digest, Ed25519 signature over
approval_digest)`` by a registered approver key. The digest travels with the signature only so
that an approval over *other* parameters gets a precise reason instead of "bad signature".

Call sequence at every node (before it takes part in anything)::

    stmt = CeremonyStatement.decode(request.statement)           # InvalidArguments if malformed
    approvals = [Approval.decode(b) for b in request.approvals]
    verify_quorum(stmt, approvals, registry, m, now=int(time.time()), seen_nonces=nonces)
    stmt.check_parameters(kind=..., curve=..., key_id=..., epoch=<own active epoch>, ...)
    # ... run the ceremony with request=stmt; record stmt.nonce durably when it commits (or, for
    # repair, completes). An aborted attempt may be retried under the same approval until it
    # expires: each retry is a new sid with fresh randomness; the approved action is the same.

Every refusal is :class:`~warifu.core.errors.PermissionDenied` with one of these reasons:

==============================  ==============================================================
``APPROVAL_EXPIRED``            ``now ≥ expires_at``
``APPROVAL_NONCE_REUSED``       ``nonce`` in ``seen_nonces``
``APPROVER_UNKNOWN``            the approver name is not in the registry
``APPROVER_DUPLICATED``         the same approver twice, or two names with the same public key
``APPROVAL_SIGNATURE_INVALID``  the signature does not verify over the digest it names
``APPROVAL_PARAMETERS_MISMATCH`` a valid approval over another statement; or (``check_parameters``)
                                the statement does not describe what this node would do
``APPROVAL_QUORUM_NOT_MET``     fewer than ``m`` distinct valid approvals
==============================  ==============================================================

Any single bad approval refuses the request (fail closed, and the reason names the defect), even
if the others would reach the quorum.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from warifu.core.curves import GROUPS
from warifu.core.encoding import enc, enc_list, h, lp, tag, u16be, u64be
from warifu.core.errors import InvalidArguments, PermissionDenied
from warifu.core.session import request_digest
from warifu.core.shares.package import Committee, Member, check_party_ids

NONCE_LEN = 32
DIGEST_LEN = 32
SIG_LEN = 64
KEY_ID_LEN = 16
MAX_NAME_LEN = 255
MAX_STATEMENT_LEN = 64 * 1024

APPROVAL_QUORUM_NOT_MET = "APPROVAL_QUORUM_NOT_MET"
APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
APPROVER_UNKNOWN = "APPROVER_UNKNOWN"
APPROVER_DUPLICATED = "APPROVER_DUPLICATED"
APPROVAL_SIGNATURE_INVALID = "APPROVAL_SIGNATURE_INVALID"
APPROVAL_PARAMETERS_MISMATCH = "APPROVAL_PARAMETERS_MISMATCH"
APPROVAL_NONCE_REUSED = "APPROVAL_NONCE_REUSED"
INVALID_STATEMENT = "INVALID_STATEMENT"


class CeremonyKind(enum.Enum):
    """What the ceremony does (``shares.md`` §0)."""

    DKG = "dkg"
    REFRESH = "refresh"
    RESHARE = "reshare"
    REPAIR = "repair"
    IMPORT = "import"


def _bad(message: str) -> InvalidArguments:
    return InvalidArguments(message, reason=INVALID_STATEMENT)


def _split_fields(data: bytes, count: int) -> list[bytes]:
    """Inverse of ``enc``/``LIST`` framing: ``count`` LP fields, nothing left over (strict)."""
    out, pos = [], 0
    for _ in range(count):
        if pos + 8 > len(data):
            raise _bad("statement truncated")
        n = int.from_bytes(data[pos : pos + 8], "big")
        pos += 8
        if pos + n > len(data):
            raise _bad("statement truncated")
        out.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise _bad("trailing bytes in statement")
    return out


def _split_list(data: bytes, max_items: int) -> list[bytes]:
    if len(data) < 4:
        raise _bad("list truncated")
    count = int.from_bytes(data[:4], "big")
    if count > max_items:
        raise _bad("list too long")
    return _split_fields(data[4:], count)


def _committee_bytes(committee: Committee) -> bytes:
    return enc_list(u16be(m.id) + lp(m.node.encode()) + m.sign_pub for m in committee.members)


def _decode_committee(data: bytes) -> Committee:
    members = []
    for item in _split_list(data, 65535):
        if len(item) < 2 + 8 + 32:
            raise _bad("committee entry truncated")
        party = int.from_bytes(item[:2], "big")
        (node,) = _split_fields(item[2:-32], 1)
        try:
            name = node.decode()
        except UnicodeDecodeError as exc:
            raise _bad("node name is not UTF-8") from exc
        members.append(Member(id=party, node=name, sign_pub=item[-32:]))
    return Committee(members=tuple(members))


def _u(data: bytes, size: int, what: str) -> int:
    if len(data) != size:
        raise _bad(f"{what} must be {size} bytes")
    return int.from_bytes(data, "big")


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyStatement:
    """The canonical statement approvers sign (module docstring). Validated at construction."""

    kind: CeremonyKind
    curve: str
    key_id: bytes
    epoch: int
    committee: Committee
    threshold: int
    targets: tuple[int, ...] = ()
    expires_at: int
    nonce: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CeremonyKind):
            raise _bad("unknown ceremony kind")
        if self.curve not in GROUPS:
            raise _bad(f"unknown curve {self.curve!r}")
        if len(self.key_id) != KEY_ID_LEN:
            raise _bad("key id must be 16 bytes")
        if not 0 <= self.epoch < 2**64 or not 0 <= self.expires_at < 2**63:
            raise _bad("epoch or expiry out of range")
        n = len(self.committee.members)
        if not 2 <= self.threshold <= n:
            raise InvalidArguments(
                f"threshold must be 2..{n}, got {self.threshold}", reason="INVALID_THRESHOLD"
            )
        if len(self.nonce) != NONCE_LEN:
            raise _bad("nonce must be 32 bytes")
        check_party_ids(self.targets)
        if list(self.targets) != sorted(self.targets):
            raise _bad("targets must be ascending")
        if self.kind is CeremonyKind.REPAIR:
            if len(self.targets) != 1:
                raise _bad("a repair names exactly one target party")
            if self.targets[0] not in self.committee.ids:
                raise InvalidArguments(
                    "the repaired party must be in the committee record", reason="INVALID_PARTY"
                )
        elif self.targets:
            raise _bad(f"a {self.kind.value} statement has no targets")
        if self.kind in (CeremonyKind.DKG, CeremonyKind.IMPORT) and self.epoch != 0:
            raise _bad("a new key starts from epoch 0")

    # -- encodings ------------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The canonical statement bytes (module docstring)."""
        return enc(
            tag("ceremony/statement"),
            self.kind.value.encode(),
            self.curve.encode(),
            self.key_id,
            u64be(self.epoch),
            _committee_bytes(self.committee),
            u16be(self.threshold),
            enc_list(u16be(i) for i in self.targets),
            u64be(self.expires_at),
            self.nonce,
        )

    @classmethod
    def decode(cls, data: bytes) -> CeremonyStatement:
        """Strict inverse of :meth:`encode`; raises InvalidArguments(INVALID_STATEMENT)."""
        if len(data) > MAX_STATEMENT_LEN:
            raise _bad("statement too long")
        fields = _split_fields(data, 10)
        if fields[0] != tag("ceremony/statement"):
            raise _bad("not a ceremony statement")
        try:
            kind = CeremonyKind(fields[1].decode("ascii"))
            curve = fields[2].decode("ascii")
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad("unknown ceremony kind or curve") from exc
        targets = []
        for item in _split_list(fields[7], 65535):
            targets.append(_u(item, 2, "target"))
        stmt = cls(
            kind=kind,
            curve=curve,
            key_id=fields[3],
            epoch=_u(fields[4], 8, "epoch"),
            committee=_decode_committee(fields[5]),
            threshold=_u(fields[6], 2, "threshold"),
            targets=tuple(targets),
            expires_at=_u(fields[8], 8, "expires_at"),
            nonce=fields[9],
        )
        if stmt.encode() != data:
            raise _bad("statement is not in canonical form")
        return stmt

    def digest(self) -> bytes:
        """``approval_digest``: what an approver signs."""
        return h("ceremony/approval", self.encode())

    def request_digest(self) -> bytes:
        """``request_digest`` of the ceremony's session id (``dkls23.md`` §2.5, erratum 10)."""
        return request_digest(self.encode())

    # -- checks ---------------------------------------------------------------------------------

    def check_parameters(
        self,
        *,
        kind: CeremonyKind,
        curve: str,
        key_id: bytes,
        epoch: int,
        committee: Committee | None = None,
        threshold: int | None = None,
        targets: Sequence[int] | None = None,
    ) -> None:
        """Refuse (``APPROVAL_PARAMETERS_MISMATCH``) unless the statement describes exactly this.

        The node passes what it would do from its *own* state (its active epoch, the requested
        committee and threshold); ``None`` skips a field the caller takes from the statement.
        """
        wrong = []
        if self.kind is not kind:
            wrong.append("kind")
        if self.curve != curve:
            wrong.append("curve")
        if self.key_id != key_id:
            wrong.append("key")
        if self.epoch != epoch:
            wrong.append("epoch")
        if committee is not None and self.committee != committee:
            wrong.append("committee")
        if threshold is not None and self.threshold != threshold:
            wrong.append("threshold")
        if targets is not None and self.targets != tuple(sorted(targets)):
            wrong.append("targets")
        if wrong:
            raise PermissionDenied(
                f"the approved statement differs in: {', '.join(wrong)}",
                reason=APPROVAL_PARAMETERS_MISMATCH,
            )

    def describe(
        self, *, previous: Committee | None = None, t_old: int | None = None
    ) -> dict[str, Any]:
        """A JSON-friendly summary for the CLI and the audit log (public data only).

        With the current committee and threshold, it also flags the changes that reduce security
        (``shares.md`` §6 notes: lowering ``t`` or adding members MUST be shown).
        """
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "curve": self.curve,
            "key_id": self.key_id.hex(),
            "epoch": self.epoch,
            "committee": self.committee.to_dict(),
            "threshold": self.threshold,
            "targets": list(self.targets),
            "expires_at": self.expires_at,
            "statement_digest": self.digest().hex(),
        }
        if previous is not None:
            old_ids, new_ids = set(previous.ids), set(self.committee.ids)
            out["added"] = sorted(new_ids - old_ids)
            out["removed"] = sorted(old_ids - new_ids)
            out["rotated_node_keys"] = sorted(
                i
                for i in old_ids & new_ids
                if previous.member(i).sign_pub != self.committee.member(i).sign_pub
            )
        if t_old is not None:
            out["threshold_lowered"] = self.threshold < t_old
        if previous is not None:
            out["reduces_security"] = bool(out["added"]) or bool(out.get("threshold_lowered"))
        return out


# --------------------------------------------------------------------------------------------
# approvals
# --------------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or len(name.encode()) > MAX_NAME_LEN:
        raise InvalidArguments("approver name must be 1..255 bytes", reason="INVALID_APPROVAL")


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """One approver's signature over ``approval_digest`` of a statement.

    Wire form (for files and requests)::

        approval = ENC("warifu/v1/ceremony/approval", approver (UTF-8), digest(32), sig(64))
    """

    approver: str
    statement_digest: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_name(self.approver)
        if len(self.statement_digest) != DIGEST_LEN or len(self.signature) != SIG_LEN:
            raise InvalidArguments(
                "approval digest/signature must be 32/64 bytes", reason="INVALID_APPROVAL"
            )

    def encode(self) -> bytes:
        """The wire form."""
        return enc(
            tag("ceremony/approval"),
            self.approver.encode(),
            self.statement_digest,
            self.signature,
        )

    @classmethod
    def decode(cls, data: bytes) -> Approval:
        """Strict inverse of :meth:`encode` (does not verify)."""
        try:
            fields = _split_fields(data, 4)
            name = fields[1].decode()
        except (InvalidArguments, UnicodeDecodeError) as exc:
            raise InvalidArguments("malformed approval", reason="INVALID_APPROVAL") from exc
        if fields[0] != tag("ceremony/approval"):
            raise InvalidArguments("not an approval", reason="INVALID_APPROVAL")
        return cls(approver=name, statement_digest=fields[2], signature=fields[3])

    def to_dict(self) -> dict[str, str]:
        """JSON form (for approval files)."""
        return {
            "approver": self.approver,
            "statement_digest": self.statement_digest.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Approval:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                approver=str(data["approver"]),
                statement_digest=bytes.fromhex(str(data["statement_digest"])),
                signature=bytes.fromhex(str(data["signature"])),
            )
        except (KeyError, ValueError) as exc:
            raise InvalidArguments("malformed approval", reason="INVALID_APPROVAL") from exc


class ApproverKey:
    """A security engineer's Ed25519 approval key. Repr is redacted; never logged."""

    __slots__ = ("_key", "name")

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise InvalidArguments("approver key seed must be 32 bytes")
        self.name = name
        self._key = SigningKey(seed)

    @property
    def public_key(self) -> bytes:
        """The 32-byte key to register."""
        return bytes(self._key.verify_key)

    def approve(self, statement: CeremonyStatement) -> Approval:
        """Sign ``statement``."""
        digest = statement.digest()
        return Approval(
            approver=self.name,
            statement_digest=digest,
            signature=self._key.sign(digest).signature,
        )

    def __repr__(self) -> str:
        return f"ApproverKey({self.name!r}, <redacted>)"


def _deny(message: str, reason: str) -> PermissionDenied:
    return PermissionDenied(message, reason=reason)


def verify_quorum(
    statement: CeremonyStatement,
    approvals: Iterable[Approval],
    registry: Mapping[str, bytes],
    m: int,
    now: int,
    seen_nonces: Container[bytes],
) -> None:
    """Require ``m`` distinct registered approvers over exactly ``statement``, unexpired, fresh.

    ``registry`` maps approver name -> 32-byte Ed25519 public key; ``now`` is unix seconds from
    the caller's clock; ``seen_nonces`` holds the nonces of statements this node already used.
    Raises PermissionDenied with the reasons of the module docstring; returns None on success.
    """
    if not 1 <= m <= len(registry):
        raise InvalidArguments(
            f"approval policy needs 1 <= m <= {len(registry)}, got {m}",
            reason="INVALID_APPROVAL_POLICY",
        )
    if now >= statement.expires_at:
        raise _deny(f"the approval expired at {statement.expires_at} (now {now})", APPROVAL_EXPIRED)
    if statement.nonce in seen_nonces:
        raise _deny("this statement's nonce was already used", APPROVAL_NONCE_REUSED)
    digest = statement.digest()
    names: set[str] = set()
    keys: set[bytes] = set()
    for approval in approvals:
        if not isinstance(approval, Approval):
            raise InvalidArguments("approvals must be Approval objects")
        pub = registry.get(approval.approver)
        if pub is None:
            raise _deny(f"approver {approval.approver!r} is not registered", APPROVER_UNKNOWN)
        if approval.approver in names or pub in keys:
            raise _deny(f"approver {approval.approver!r} counted twice", APPROVER_DUPLICATED)
        try:
            VerifyKey(pub).verify(approval.statement_digest, approval.signature)
        except (BadSignatureError, ValueError, TypeError) as exc:
            raise _deny(
                f"approval of {approval.approver!r} has an invalid signature",
                APPROVAL_SIGNATURE_INVALID,
            ) from exc
        if approval.statement_digest != digest:
            raise _deny(
                f"approval of {approval.approver!r} is over other parameters",
                APPROVAL_PARAMETERS_MISMATCH,
            )
        names.add(approval.approver)
        keys.add(pub)
    if len(names) < m:
        raise _deny(f"{len(names)} valid approvals, the policy needs {m}", APPROVAL_QUORUM_NOT_MET)
