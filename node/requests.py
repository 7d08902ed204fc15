"""Validation of client requests, done independently by the entry node and by every member.

Spec: DESIGN §3 (each member checks the original authenticated request itself), §6 (the node
builds the signing bytes from the transaction; no bare digests). Every check runs before any
session starts; a failure is INVALID_ARGUMENT / NOT_FOUND / PERMISSION_DENIED with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from warifu.core.chains import eth, xrpl
from warifu.core.errors import FailedPrecondition, InvalidArguments, PermissionDenied
from warifu.node.keys import KeyRecord, KeyRegistry
from warifu.v1 import signer_pb2

MAX_TX_JSON_BYTES = 32 * 1024


@dataclass(frozen=True, slots=True)
class PreparedSign:
    """A validated sign request: the key, what to sign and what to build afterwards.

    ``message`` is what the threshold key signs: the full XRPL signing bytes for Ed25519
    (PureEdDSA), the 32-byte digest for secp256k1 (ECDSA never hashes again). ``kind`` is the
    payload (``xrp``, ``eth_transaction``, ``eth_message``, ``eth_typed_data``, ``raw_digest``);
    ``tx`` the parsed transaction the result is assembled from.
    """

    request: signer_pb2.SignRequest
    key: KeyRecord
    message: bytes
    kind: str
    tx: Any = None


def parse_sign_request(raw: bytes) -> signer_pb2.SignRequest:
    """Decode the exact request bytes (members receive them forwarded)."""
    req = signer_pb2.SignRequest()
    try:
        req.ParseFromString(raw)
    except DecodeError as exc:
        raise InvalidArguments("sign request does not decode", reason="MALFORMED_REQUEST") from exc
    return req


def check_request_id(request_id: bytes) -> None:
    """Request ids are 16-byte idempotency keys."""
    if len(request_id) != 16:
        raise InvalidArguments("request_id must be 16 bytes", reason="INVALID_REQUEST_ID")


def check_access(key: KeyRecord, client: str) -> None:
    """The caller's certificate identity must be allowed to use the key (API-4)."""
    if key.allowed_clients and client not in key.allowed_clients:
        raise PermissionDenied(
            f"client {client!r} may not use key {key.key_id}", reason="KEY_ACCESS_DENIED"
        )


def prepare_sign(registry: KeyRegistry, req: signer_pb2.SignRequest, client: str) -> PreparedSign:
    """Validate ``req`` for ``client`` and build the exact bytes the threshold key signs."""
    check_request_id(req.request_id)
    key = registry.get(req.key_id)
    check_access(key, client)
    if key.status != "ACTIVE":
        raise FailedPrecondition(f"key {key.key_id} is {key.status}", reason=f"KEY_{key.status}")
    kind = req.WhichOneof("payload")
    if kind is None:
        raise InvalidArguments("sign request carries nothing to sign", reason="MISSING_PAYLOAD")
    public_key = key.pkg.group.encode_point(key.pkg.public_key)
    if kind == "xrp":
        spk = xrpl.signing_pub_key_hex(key.curve, public_key)
        tx = xrpl.parse_transaction(req.xrp.tx_json, spk, max_bytes=MAX_TX_JSON_BYTES)
        message = xrpl.signing_bytes(tx, spk)
        if key.curve == "secp256k1":
            message = xrpl.secp256k1_digest(message)
        return PreparedSign(request=req, key=key, message=message, kind=kind, tx=tx)
    if key.curve != "secp256k1":
        raise InvalidArguments(
            f"{kind} needs an ecdsa-secp256k1 key; {key.key_id} is {key.scheme}",
            reason="WRONG_KEY_TYPE",
        )
    if kind == "eth_transaction":
        etx = eth.parse_transaction(
            req.eth_transaction.tx_json,
            sender=eth.eth_address(public_key),
            max_bytes=MAX_TX_JSON_BYTES,
        )
        return PreparedSign(request=req, key=key, message=etx.signing_hash(), kind=kind, tx=etx)
    if kind == "eth_message":
        digest = eth.personal_sign_hash(req.eth_message.message, max_bytes=MAX_TX_JSON_BYTES)
        return PreparedSign(request=req, key=key, message=digest, kind=kind)
    if kind == "eth_typed_data":
        digest = eth.typed_data_hash(
            req.eth_typed_data.typed_data_json, max_bytes=MAX_TX_JSON_BYTES
        )
        return PreparedSign(request=req, key=key, message=digest, kind=kind)
    if kind == "raw_digest":
        if not key.allow_raw_digest:
            raise InvalidArguments(
                f"key {key.key_id} was not created to sign bare digests",
                reason="RAW_DIGEST_NOT_ALLOWED",
            )
        digest = eth.check_digest(req.raw_digest.digest)
        return PreparedSign(request=req, key=key, message=digest, kind=kind)
    raise InvalidArguments(f"unsupported payload {kind}", reason="UNSUPPORTED_PAYLOAD")
