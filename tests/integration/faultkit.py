"""Shared helpers of the adversarial, fault and bad-input integration tests (test-plan.md).

Nothing here mocks the system under test: these helpers build requests exactly as the SDK does,
read a node's own OpenBao with its root token, and check gRPC statuses and ErrorInfo reasons.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import grpc
from nacl.signing import VerifyKey
from xrpl.models.transactions import Payment

from harness import health, vault
from warifu.client import KeyInfo
from warifu.client import cluster as local
from warifu.core.chains import xrpl
from warifu.node.errors import error_info
from warifu.v1 import signer_pb2

CLIENT_CN = local.CLIENT_CN
DESTINATION = "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe"


def payment(key: KeyInfo, seq: int = 1, drops: str = "1000000") -> dict[str, Any]:
    """An unsigned XRP payment from the key's own account, Fee and Sequence set."""
    return Payment(
        account=key.xrp_address, destination=DESTINATION, amount=drops, fee="12", sequence=seq
    ).to_xrpl()


def sign_request(
    key: KeyInfo, tx: dict[str, Any] | str, *, request_id: bytes | None = None
) -> signer_pb2.SignRequest:
    """The SignRequest the SDK sends for ``tx``."""
    tx_json = tx if isinstance(tx, str) else json.dumps(tx)
    return signer_pb2.SignRequest(
        request_id=request_id or secrets.token_bytes(16),
        key_id=key.key_id,
        xrp=signer_pb2.XrpTransaction(tx_json=tx_json),
    )


def signing_message(key: KeyInfo, tx: dict[str, Any]) -> bytes:
    """The exact bytes the threshold key signs for ``tx`` (what a member rebuilds)."""
    spk = xrpl.signing_pub_key_hex("ed25519", key.public_key)
    canonical = xrpl.parse_transaction(json.dumps(tx), spk)
    return xrpl.signing_bytes(canonical, spk)


def verify_xrp(key: KeyInfo, tx_blob: str, signature: bytes) -> None:
    """The released signature verifies (libsodium) over the signed blob's signing bytes."""
    from xrpl.core.binarycodec import decode, encode_for_signing

    tx = decode(tx_blob)
    VerifyKey(key.public_key).verify(bytes.fromhex(encode_for_signing(tx)), signature)
    assert bytes.fromhex(tx["TxnSignature"]) == signature


def rpc_fail(
    method: Callable[..., Any], request: Any, timeout: float = 10.0
) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """Make a raw gRPC call that must fail: (code, ErrorInfo reason, ErrorInfo metadata)."""
    try:
        method(request, timeout=timeout)
    except grpc.RpcError as err:
        reason, meta = error_info(err)
        return err.code(), reason, meta
    raise AssertionError("the call succeeded but was expected to fail")


# -- the node's own OpenBao (read with its root token) ------------------------------------------


def prefix(node: str) -> str:
    """KV path prefix of ``node`` (node/storage.py: ``warifu/<node>``)."""
    return f"warifu/{node}"


def vault_key_ids(info: local.ClusterInfo, node: str) -> set[str]:
    """Key ids that have any record under the node's prefix in its own OpenBao."""
    code, body = vault(info, node, "GET", f"kv/metadata/{prefix(node)}/keys?list=true")
    if code == 404:
        return set()
    assert code == 200, (code, body)
    return {k.rstrip("/") for k in body["data"]["keys"]}


def vault_record(
    info: local.ClusterInfo, node: str, key_id: str, leaf: str
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``keys/<key_id>/<leaf>`` (e.g. ``epoch/1``, ``state``)."""
    code, body = vault(info, node, "GET", f"kv/data/{prefix(node)}/keys/{key_id}/{leaf}")
    return code, body


def wait_health(info: local.ClusterInfo, node: str, want: str, timeout: float = 10.0) -> float:
    """Wait until the node's gRPC health is ``want``; returns the seconds it took."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        last = health(info, node)
        if last == want:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"{node} health is {last}, not {want}, after {timeout}s")
