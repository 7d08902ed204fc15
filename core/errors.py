"""Errors that say who is at fault and carry the culprits as data.

One base class, :class:`WarifuError`, and one subclass per kind of fault (STYLE.md habit 4):

=====================  ==================  ===================================
class                  fault               gRPC status (mapped in node/errors)
=====================  ==================  ===================================
InvalidArguments       caller              INVALID_ARGUMENT
InvalidKeyShare        local data          FAILED_PRECONDITION (SHARE_INTEGRITY)
ProtocolAbort          a peer              ABORTED (culprits + evidence)
TransportError         the network         UNAVAILABLE / DEADLINE_EXCEEDED
StorageError           the node's Vault    UNAVAILABLE / FAILED_PRECONDITION
InvariantViolation     our own bug         INTERNAL
=====================  ==================  ===================================

Every error carries a stable ``reason`` string (the ``google.rpc.ErrorInfo.reason`` on the
wire). Verification failures *raise*; they never return ``False``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class AbortReason(enum.Enum):
    """Why a protocol run aborted; the values are stable wire reasons (``shares.md`` §11)."""

    INVALID_ENCODING = "INVALID_ENCODING"
    INVALID_DATA_SIZE = "INVALID_DATA_SIZE"
    INVALID_PARTY = "INVALID_PARTY"
    WRONG_SESSION = "WRONG_SESSION"
    BAD_ENVELOPE = "BAD_ENVELOPE"
    SENDER_MISMATCH = "SENDER_MISMATCH"
    ECHO_MISMATCH = "ECHO_MISMATCH"
    EQUIVOCATION = "EQUIVOCATION"
    COMMITMENT_MISMATCH = "COMMITMENT_MISMATCH"
    INVALID_POK = "INVALID_POK"
    FELDMAN_VERIFICATION_FAILED = "FELDMAN_VERIFICATION_FAILED"
    FALSE_COMPLAINT = "FALSE_COMPLAINT"
    ZERO_PUBLIC_KEY = "ZERO_PUBLIC_KEY"
    INVALID_SIGNATURE_SHARE = "INVALID_SIGNATURE_SHARE"
    INVALID_SIGNING_PACKAGE = "INVALID_SIGNING_PACKAGE"
    NONCE_CONSUMED = "NONCE_CONSUMED"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    STALE_EPOCH = "STALE_EPOCH"
    RNG_FAILURE = "RNG_FAILURE"
    # DKLs23 (specs/dkls23.md §10.1)
    BAD_LENGTH = "BAD_LENGTH"
    VSOT_VERIFY_FAILED = "VSOT_VERIFY_FAILED"
    VSOT_POK_INVALID = "VSOT_POK_INVALID"
    OT_CONSISTENCY_FAILED = "OT_CONSISTENCY_FAILED"
    RVOLE_CONSISTENCY_FAILED = "RVOLE_CONSISTENCY_FAILED"
    GAMMA_U_FAILED = "GAMMA_U_FAILED"
    GAMMA_V_FAILED = "GAMMA_V_FAILED"
    MESSAGE_MISMATCH = "MESSAGE_MISMATCH"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    ZERO_DENOMINATOR = "ZERO_DENOMINATOR"
    S_ZERO = "S_ZERO"
    R_IDENTITY = "R_IDENTITY"
    R_X_ZERO = "R_X_ZERO"
    PRESIG_UNKNOWN_OR_CONSUMED = "PRESIG_UNKNOWN_OR_CONSUMED"
    UNSUPPORTED_RECID = "UNSUPPORTED_RECID"
    PAIR_BANNED = "PAIR_BANNED"
    # share-rotation ceremonies (specs/shares.md §6, §7, §11)
    RESHARE_CONSTANT_MISMATCH = "RESHARE_CONSTANT_MISMATCH"
    RESHARE_KEY_MISMATCH = "RESHARE_KEY_MISMATCH"
    REPAIR_SPLIT_MISMATCH = "REPAIR_SPLIT_MISMATCH"
    REPAIR_SIGMA_MISMATCH = "REPAIR_SIGMA_MISMATCH"
    REPAIR_RESULT_MISMATCH = "REPAIR_RESULT_MISMATCH"
    #: a participant works from another public key package than ours (repair P1 echo of
    #: ``pkg_digest(e)``); no culprit: either side may hold the stale or wrong package
    PACKAGE_MISMATCH = "PACKAGE_MISMATCH"
    #: an aggregate commitment ``C'_m`` (``m ≥ 1``) of a new epoch is the identity: the new
    #: polynomial would have a lower degree than announced and ``pkg(e+1)`` has no encoding.
    #: Negligible unless the dealers collude as a whole; no culprit can be proven
    DEGENERATE_SHARING = "DEGENERATE_SHARING"

    @property
    def wire_reason(self) -> str:
        """The reason as it goes on the wire for a peer's fault (``PEER_<REASON>``)."""
        return f"PEER_{self.value}"


class WarifuError(Exception):
    """Base of every error warifu raises on purpose."""

    reason: str = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        """The human-readable text (never contains a secret)."""
        return str(self.args[0]) if self.args else ""


class InvalidArguments(WarifuError):
    """The caller gave bad input; nothing was started or changed."""

    reason = "INVALID_ARGUMENT"


class NotFound(WarifuError):
    """The named object (key, session) does not exist."""

    reason = "NOT_FOUND"


class FailedPrecondition(WarifuError):
    """The object exists but cannot be used now (quarantined, rotating, stale epoch)."""

    reason = "FAILED_PRECONDITION"


class ResourceExhausted(WarifuError):
    """A size, rate or concurrency limit was hit."""

    reason = "RESOURCE_EXHAUSTED"


class PermissionDenied(WarifuError):
    """The caller is authenticated but not allowed to do this."""

    reason = "PERMISSION_DENIED"


class InvalidKeyShare(WarifuError):
    """Local key material failed an integrity check (e.g. ``x_i·G != X_i``)."""

    reason = "SHARE_INTEGRITY"


class ProtocolAbort(WarifuError):
    """A protocol run was aborted because of a peer; terminal for that session.

    ``culprits`` are the party ids proven at fault (may be empty for a liveness or ambiguous
    abort); ``evidence`` maps a culprit to the signed bytes that prove it, when there are any.
    """

    def __init__(
        self,
        reason: AbortReason,
        culprits: Iterable[int] = (),
        message: str = "",
        *,
        evidence: dict[int, bytes] | None = None,
    ) -> None:
        self.abort_reason = reason
        self.culprits: frozenset[int] = frozenset(culprits)
        self.evidence: dict[int, bytes] = dict(evidence or {})
        text = message or reason.value
        if self.culprits:
            text += f" (culprits: {sorted(self.culprits)})"
        super().__init__(text, reason=reason.value)


class TransportError(WarifuError):
    """A peer could not be reached or did not answer in time (liveness, never blame)."""

    reason = "PEER_UNAVAILABLE"


class StorageError(WarifuError):
    """The node's Vault is unreachable, sealed or denying access."""

    reason = "VAULT_UNAVAILABLE"


class InvariantViolation(WarifuError):
    """Something that cannot happen did: a bug in warifu."""

    reason = "INTERNAL"


class AlreadyConsumed(WarifuError):
    """A use-once object (nonce, presignature) was used a second time."""

    reason = "NONCE_CONSUMED"


class RngFailure(WarifuError):
    """The injected random number generator failed; fail closed, blame nobody."""

    reason = "RNG_FAILURE"


class AuditChainBroken(WarifuError):
    """An audit log does not verify; ``seq`` is the first position at which it fails."""

    reason = "AUDIT_CHAIN_BROKEN"

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(message)
        self.seq = seq
