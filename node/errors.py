"""The one place where warifu errors become gRPC status codes (DESIGN §5, STYLE habit 4).

Every error leaves the node as a gRPC status with a ``google.rpc.ErrorInfo`` detail whose
``reason`` is stable (clients branch on it) and whose metadata carries the culprits of a
protocol abort. An idempotent replay carries the original response as a second detail.
Messages never contain secrets.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from warifu.core.errors import (
    AlreadyConsumed,
    FailedPrecondition,
    InvalidArguments,
    InvalidKeyShare,
    InvariantViolation,
    NotFound,
    PermissionDenied,
    ProtocolAbort,
    ResourceExhausted,
    RngFailure,
    StorageError,
    TransportError,
    WarifuError,
)

DOMAIN = "warifu.v1"


class AlreadyExists(WarifuError):
    """A request id was seen before; ``original`` is the first result."""

    reason = "DUPLICATE_REQUEST"

    def __init__(self, original: Message) -> None:
        super().__init__("request id already used; returning the original result")
        self.original = original


class Unauthenticated(WarifuError):
    """The channel has no acceptable client identity."""

    reason = "UNAUTHENTICATED"


_UNAVAILABLE_STORAGE = {"VAULT_UNAVAILABLE", "VAULT_SEALED"}


def status_code(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status for ``exc`` (the complete table of DESIGN §5)."""
    match exc:
        case AlreadyExists():
            return grpc.StatusCode.ALREADY_EXISTS
        case Unauthenticated():
            return grpc.StatusCode.UNAUTHENTICATED
        case InvalidArguments():
            return grpc.StatusCode.INVALID_ARGUMENT
        case NotFound():
            return grpc.StatusCode.NOT_FOUND
        case PermissionDenied():
            return grpc.StatusCode.PERMISSION_DENIED
        case ResourceExhausted():
            return grpc.StatusCode.RESOURCE_EXHAUSTED
        case FailedPrecondition() | InvalidKeyShare() | AlreadyConsumed():
            return grpc.StatusCode.FAILED_PRECONDITION
        case ProtocolAbort():
            return grpc.StatusCode.ABORTED
        case TransportError():
            if exc.reason == "DEADLINE_EXCEEDED":
                return grpc.StatusCode.DEADLINE_EXCEEDED
            return grpc.StatusCode.UNAVAILABLE
        case StorageError():
            if exc.reason in _UNAVAILABLE_STORAGE:
                return grpc.StatusCode.UNAVAILABLE
            return grpc.StatusCode.FAILED_PRECONDITION
        case RngFailure():
            return grpc.StatusCode.UNAVAILABLE
        case InvariantViolation():
            return grpc.StatusCode.INTERNAL
        case _:
            return grpc.StatusCode.INTERNAL


def wire_reason(exc: BaseException) -> str:
    """The stable reason string for ``exc``."""
    if isinstance(exc, ProtocolAbort):
        # A refusal by a member (bad signing package, consumed nonce) is the member's own
        # verdict on the request, not a peer's cheat.
        if exc.abort_reason.value in {
            "INVALID_SIGNING_PACKAGE",
            "NONCE_CONSUMED",
            "STALE_EPOCH",
            "WRONG_SESSION",
        }:
            return exc.abort_reason.value
        return exc.abort_reason.wire_reason
    if isinstance(exc, WarifuError):
        return exc.reason
    return "INTERNAL"


def to_status(exc: BaseException, *, culprit_names: dict[int, str] | None = None) -> grpc.Status:
    """A ``grpc.Status`` (with ErrorInfo) for ``exc``."""
    code = status_code(exc)
    metadata: dict[str, str] = {}
    if isinstance(exc, ProtocolAbort) and exc.culprits:
        metadata["culprits"] = ",".join(str(c) for c in sorted(exc.culprits))
        if culprit_names:
            metadata["culprit_nodes"] = ",".join(
                culprit_names.get(c, "?") for c in sorted(exc.culprits)
            )
    info = error_details_pb2.ErrorInfo(reason=wire_reason(exc), domain=DOMAIN, metadata=metadata)
    details = [any_pb2.Any()]
    details[0].Pack(info)
    if isinstance(exc, AlreadyExists):
        extra = any_pb2.Any()
        extra.Pack(exc.original)
        details.append(extra)
    message = str(exc) if isinstance(exc, WarifuError) else "internal error"
    st = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return rpc_status.to_status(st)


def error_info(err: grpc.RpcError) -> tuple[str, dict[str, str]]:
    """(reason, metadata) from a failed call's ErrorInfo, or ("", {}) when it has none."""
    try:
        st = rpc_status.from_call(err)
    except Exception:
        st = None
    if st is None:
        return "", {}
    for d in st.details:
        if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            d.Unpack(info)
            return info.reason, dict(info.metadata)
    return "", {}


_REASON_CLASSES: dict[grpc.StatusCode, type[WarifuError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArguments,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def from_peer_error(err: grpc.RpcError, peer: str) -> WarifuError:
    """Turn a failed node-to-node call into the WarifuError the coordinator raises."""
    code = err.code()
    reason, _ = error_info(err)
    text = f"peer {peer}: {err.details()}"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return TransportError(text, reason=reason or "PEER_UNAVAILABLE")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TransportError(text, reason="DEADLINE_EXCEEDED")
    cls = _REASON_CLASSES.get(code)
    if cls is not None:
        return cls(text, reason=reason or None)
    if code == grpc.StatusCode.ABORTED:
        return FailedPrecondition(text, reason=reason or "PEER_ABORTED")
    return InvariantViolation(text, reason=reason or "PEER_INTERNAL")
