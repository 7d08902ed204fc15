"""The typed SDK for wallet services.

>>> from warifu.client import Client
>>> with Client.from_cluster("./cluster") as c:  # or Client(endpoints, ca=, cert=, key=)
...     key = c.create_key("eddsa-ed25519")
...     signed = c.sign_xrp_transaction(key.key_id, payment.to_xrpl())
...     signed.tx_blob, signed.hash

Any node is an entry point. The client holds one mutual-TLS channel per endpoint and falls over
to the next node when one is down (connection failure, or its Vault is sealed/unreachable).
A request id is generated per call and reused across fail-over, so a retried request cannot
produce two results at the same node. Errors raise :class:`WarifuRpcError` with the gRPC code,
the stable reason and, for a cheating peer, the culprits.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from warifu.core.approvals import Approval, CeremonyKind, CeremonyStatement
from warifu.core.shares.package import Committee, Member
from warifu.v1 import ceremony_pb2, ceremony_pb2_grpc, common_pb2, signer_pb2, signer_pb2_grpc

M = TypeVar("M", bound=Message)

SCHEMES = {"eddsa-ed25519": common_pb2.EDDSA_ED25519, "ecdsa-secp256k1": common_pb2.ECDSA_SECP256K1}
SCHEME_NAMES = {v: k for k, v in SCHEMES.items()}
_FAILOVER_REASONS = {"", "VAULT_SEALED", "VAULT_UNAVAILABLE"}


class WarifuRpcError(Exception):
    """A call failed: ``code`` (grpc.StatusCode), stable ``reason``, ``culprits`` (party ids)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        metadata: Mapping[str, str],
        endpoint: str,
    ) -> None:
        super().__init__(f"{code.name} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata)
        self.endpoint = endpoint

    @property
    def culprits(self) -> list[int]:
        """Party ids a protocol abort named."""
        raw = self.metadata.get("culprits", "")
        return [int(x) for x in raw.split(",") if x]

    @property
    def culprit_nodes(self) -> list[str]:
        """Node names a protocol abort named."""
        raw = self.metadata.get("culprit_nodes", "")
        return [x for x in raw.split(",") if x]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public description of a threshold key."""

    key_id: str
    scheme: str
    threshold: int
    parties: list[dict[str, Any]]
    epoch: int
    public_key: bytes
    xrp_address: str
    eth_address: str
    status: str

    @classmethod
    def from_pb(cls, pb: common_pb2.KeyInfo) -> KeyInfo:
        """From the wire message."""
        return cls(
            key_id=pb.key_id,
            scheme=SCHEME_NAMES.get(pb.scheme, "unknown"),
            threshold=pb.threshold,
            parties=[
                {"id": p.id, "node": p.node, "sign_pub": p.sign_pub.hex()} for p in pb.parties
            ],
            epoch=pb.epoch,
            public_key=pb.public_key,
            xrp_address=pb.xrp_address,
            eth_address=pb.eth_address,
            status=pb.status,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape other tools rely on."""
        out: dict[str, Any] = {
            "key_id": self.key_id,
            "scheme": self.scheme,
            "threshold": self.threshold,
            "parties": self.parties,
            "epoch": self.epoch,
            "public_key": self.public_key.hex(),
            "xrp_address": self.xrp_address,
            "status": self.status,
        }
        if self.scheme == "ecdsa-secp256k1":
            out["eth_address"] = self.eth_address
        return out


@dataclass(frozen=True, slots=True)
class EthSignedTransaction:
    """A signed Ethereum transaction, ready for ``eth_sendRawTransaction``."""

    key_id: str
    raw_transaction: str
    hash: str
    r: str
    s: str
    v: int
    signers: list[int] = field(default_factory=list)
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape other tools rely on."""
        return {
            "key_id": self.key_id,
            "raw_transaction": self.raw_transaction,
            "hash": self.hash,
            "r": self.r,
            "s": self.s,
            "v": self.v,
            "signers": self.signers,
        }


@dataclass(frozen=True, slots=True)
class EthSignedMessage:
    """An EIP-191 or EIP-712 signature: ``signature`` is 0x r‖s‖v with v = 27 + recid."""

    key_id: str
    signature: str
    hash: str
    signers: list[int] = field(default_factory=list)
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape other tools rely on."""
        return {
            "key_id": self.key_id,
            "signature": self.signature,
            "hash": self.hash,
            "signers": self.signers,
        }


@dataclass(frozen=True, slots=True)
class DigestSignature:
    """A signature over a bare digest (keys created with ``allow_raw_digest`` only)."""

    key_id: str
    signature: bytes
    recovery_id: int
    signers: list[int] = field(default_factory=list)
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class XrpSignature:
    """A signed XRP Ledger transaction."""

    key_id: str
    epoch: int
    tx_blob: str
    hash: str
    signature: bytes
    tx_json: dict[str, Any]
    signers: list[int] = field(default_factory=list)
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape other tools rely on."""
        return {
            "key_id": self.key_id,
            "epoch": self.epoch,
            "tx_blob": self.tx_blob,
            "hash": self.hash,
            "signature": self.signature.hex(),
            "signers": self.signers,
            "tx_json": self.tx_json,
        }


def _error(err: grpc.RpcError, endpoint: str) -> WarifuRpcError:
    reason, metadata = "", {}
    st = None
    try:
        st = rpc_status.from_call(err)
    except Exception:
        st = None
    if st is not None:
        for d in st.details:
            if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                d.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
    return WarifuRpcError(err.code(), reason, err.details() or "", metadata, endpoint)


def _original(err: grpc.RpcError, cls: type[M]) -> M | None:
    """The original result carried by an ALREADY_EXISTS status."""
    try:
        st = rpc_status.from_call(err)
    except Exception:
        return None
    if st is None:
        return None
    for d in st.details:
        if d.Is(cls.DESCRIPTOR):
            msg = cls()
            d.Unpack(msg)
            return msg
    return None


class Client:
    """A wallet service's connection to a warifu cluster."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        ca: bytes,
        cert: bytes,
        key: bytes,
        timeout: float = 60.0,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is required")
        self._endpoints = list(endpoints)
        self._creds = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )
        self._timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._current = 0

    @classmethod
    def from_cluster(cls, data_dir: str | Path, **kw: Any) -> Client:
        """Connect to the local cluster in ``data_dir`` (written by ``warifu up``)."""
        from warifu.client.cluster import load_cluster

        info = load_cluster(Path(data_dir))
        return cls(
            [n.endpoint for n in info.nodes],
            ca=info.ca.read_bytes(),
            cert=info.client_cert.read_bytes(),
            key=info.client_key.read_bytes(),
            **kw,
        )

    def _channel(self, endpoint: str) -> grpc.Channel:
        ch = self._channels.get(endpoint)
        if ch is None:
            ch = self._channels[endpoint] = grpc.secure_channel(
                endpoint, self._creds, options=[("grpc.max_reconnect_backoff_ms", 2000)]
            )
        return ch

    def _stub(self, endpoint: str) -> signer_pb2_grpc.SignerStub:
        return signer_pb2_grpc.SignerStub(self._channel(endpoint))

    def _call(self, method: str, request: Message, result: type[M]) -> tuple[M, bool]:
        return self._call_service("Signer", method, request, result)

    def _call_service(
        self,
        service: str,
        method: str,
        request: Message,
        result: type[M],
        *,
        endpoint: str | None = None,
    ) -> tuple[M, bool]:
        errors: list[WarifuRpcError] = []
        endpoints = [endpoint] if endpoint else self._endpoints
        n = len(endpoints)
        for step in range(n):
            idx = (self._current + step) % n if endpoint is None else 0
            endpoint_ = endpoints[idx]
            try:
                stub: Any = (
                    self._stub(endpoint_)
                    if service == "Signer"
                    else ceremony_pb2_grpc.CeremonyStub(self._channel(endpoint_))
                )
                out = getattr(stub, method)(request, timeout=self._timeout)
                if endpoint is None:
                    self._current = idx
                return out, False
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.ALREADY_EXISTS:
                    original = _original(err, result)
                    if original is not None:
                        return original, True
                e = _error(err, endpoint_)
                if e.code == grpc.StatusCode.UNAVAILABLE and e.reason in _FAILOVER_REASONS:
                    errors.append(e)
                    continue
                raise e from None
        raise errors[-1]

    # -- API --------------------------------------------------------------------------------

    def create_key(
        self,
        scheme: str = "eddsa-ed25519",
        *,
        threshold: int = 0,
        committee: Sequence[str] = (),
        allow_raw_digest: bool = False,
        presign_pool: int = 0,
        request_id: bytes | None = None,
    ) -> KeyInfo:
        """Run a DKG and return the new key (``threshold`` 0 = a majority of the committee).

        ``presign_pool`` (ECDSA keys): how many presignatures each coordinating node keeps ready
        in memory, so that a signature needs one round instead of three; 0 = off.
        """
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {sorted(SCHEMES)}")
        req = signer_pb2.CreateKeyRequest(
            request_id=request_id or secrets.token_bytes(16),
            scheme=SCHEMES[scheme],
            threshold=threshold,
            committee=list(committee),
            allow_raw_digest=allow_raw_digest,
            presign_pool=presign_pool,
        )
        out, _ = self._call("CreateKey", req, common_pb2.KeyInfo)
        return KeyInfo.from_pb(out)

    def get_key(self, key_id: str) -> KeyInfo:
        """One key's public description."""
        out, _ = self._call("GetKey", signer_pb2.GetKeyRequest(key_id=key_id), common_pb2.KeyInfo)
        return KeyInfo.from_pb(out)

    def list_keys(self) -> list[KeyInfo]:
        """Every key this client may use."""
        out, _ = self._call("ListKeys", signer_pb2.ListKeysRequest(), signer_pb2.ListKeysResponse)
        return [KeyInfo.from_pb(k) for k in out.keys]

    def _sign(self, req: signer_pb2.SignRequest) -> tuple[signer_pb2.SignResponse, bool]:
        return self._call("Sign", req, signer_pb2.SignResponse)

    def sign_eth_transaction(
        self, key_id: str, tx: Mapping[str, Any] | str, *, request_id: bytes | None = None
    ) -> EthSignedTransaction:
        """Sign an EIP-1559 (type 2) or legacy EIP-155 transaction (eth-account's dict form)."""
        tx_json = tx if isinstance(tx, str) else json.dumps(dict(tx))
        out, replayed = self._sign(
            signer_pb2.SignRequest(
                request_id=request_id or secrets.token_bytes(16),
                key_id=key_id,
                eth_transaction=signer_pb2.EthTransaction(tx_json=tx_json),
            )
        )
        e = out.eth_transaction
        return EthSignedTransaction(
            key_id=out.key_id,
            raw_transaction=e.raw_transaction,
            hash=e.hash,
            r=e.r,
            s=e.s,
            v=e.v,
            signers=list(out.signers),
            replayed=replayed,
        )

    def sign_eth_message(
        self, key_id: str, message: bytes | str, *, request_id: bytes | None = None
    ) -> EthSignedMessage:
        """EIP-191 personal_sign of ``message`` (text is UTF-8 encoded)."""
        data = message.encode() if isinstance(message, str) else bytes(message)
        out, replayed = self._sign(
            signer_pb2.SignRequest(
                request_id=request_id or secrets.token_bytes(16),
                key_id=key_id,
                eth_message=signer_pb2.EthMessage(message=data),
            )
        )
        return EthSignedMessage(
            key_id=out.key_id,
            signature=out.eth_message.signature,
            hash=out.eth_message.hash,
            signers=list(out.signers),
            replayed=replayed,
        )

    def sign_eth_typed_data(
        self, key_id: str, typed_data: Mapping[str, Any] | str, *, request_id: bytes | None = None
    ) -> EthSignedMessage:
        """EIP-712 signature over the full typed data (types, primaryType, domain, message)."""
        doc = typed_data if isinstance(typed_data, str) else json.dumps(dict(typed_data))
        out, replayed = self._sign(
            signer_pb2.SignRequest(
                request_id=request_id or secrets.token_bytes(16),
                key_id=key_id,
                eth_typed_data=signer_pb2.EthTypedData(typed_data_json=doc),
            )
        )
        return EthSignedMessage(
            key_id=out.key_id,
            signature=out.eth_message.signature,
            hash=out.eth_message.hash,
            signers=list(out.signers),
            replayed=replayed,
        )

    def sign_digest(
        self, key_id: str, digest: bytes, *, request_id: bytes | None = None
    ) -> DigestSignature:
        """Sign a bare 32-byte digest; only keys created with ``allow_raw_digest`` accept it."""
        out, replayed = self._sign(
            signer_pb2.SignRequest(
                request_id=request_id or secrets.token_bytes(16),
                key_id=key_id,
                raw_digest=signer_pb2.RawDigest(digest=bytes(digest)),
            )
        )
        return DigestSignature(
            key_id=out.key_id,
            signature=out.signature,
            recovery_id=out.recovery_id,
            signers=list(out.signers),
            replayed=replayed,
        )

    def sign_xrp_transaction(
        self, key_id: str, tx: Mapping[str, Any] | str, *, request_id: bytes | None = None
    ) -> XrpSignature:
        """Sign an XRPL transaction in standard XRPL JSON (``to_xrpl()``), Fee and Sequence set."""
        tx_json = tx if isinstance(tx, str) else json.dumps(tx)
        req = signer_pb2.SignRequest(
            request_id=request_id or secrets.token_bytes(16),
            key_id=key_id,
            xrp=signer_pb2.XrpTransaction(tx_json=tx_json),
        )
        out, replayed = self._sign(req)
        return XrpSignature(
            key_id=out.key_id,
            epoch=out.epoch,
            tx_blob=out.xrp.tx_blob,
            hash=out.xrp.hash,
            signature=out.signature,
            tx_json=json.loads(out.xrp.tx_json) if out.xrp.tx_json else {},
            signers=list(out.signers),
            replayed=replayed,
        )

    # -- ceremonies -------------------------------------------------------------------------

    def refresh_statement(self, key_id: str, *, valid_for_s: int = 600) -> CeremonyStatement:
        """The canonical statement of a refresh of ``key_id`` at its current epoch (to approve)."""
        key = self.get_key(key_id)
        return CeremonyStatement(
            kind=CeremonyKind.REFRESH,
            curve="ed25519" if key.scheme == "eddsa-ed25519" else "secp256k1",
            key_id=uuid.UUID(key.key_id).bytes,
            epoch=key.epoch,
            committee=Committee(
                members=tuple(
                    Member(id=p["id"], node=p["node"], sign_pub=bytes.fromhex(p["sign_pub"]))
                    for p in key.parties
                )
            ),
            threshold=key.threshold,
            expires_at=int(time.time()) + valid_for_s,
            nonce=secrets.token_bytes(32),
        )

    def refresh(
        self,
        statement: CeremonyStatement,
        approvals: Sequence[Approval],
        *,
        request_id: bytes | None = None,
    ) -> dict[str, Any]:
        """Run an approved refresh (every node checks the approvals); returns the report."""
        req = ceremony_pb2.CeremonyRequest(
            request_id=request_id or secrets.token_bytes(16),
            statement=statement.encode(),
            approvals=[a.encode() for a in approvals],
        )
        out, _ = self._call_service("Ceremony", "Refresh", req, ceremony_pb2.CeremonyReport)
        return {
            "key_id": out.key_id,
            "kind": out.kind,
            "epoch_from": out.epoch_from,
            "epoch_to": out.epoch_to,
            "public_key": out.public_key.hex(),
            "threshold": out.threshold,
            "parties": [{"id": p.id, "node": p.node} for p in out.committee],
            "status": out.status,
            "approvers": list(out.approvers),
            "phases": [{"name": p.name, "seconds": round(p.seconds, 4)} for p in out.phases],
        }

    def ceremony_status(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The ceremonies one node (the first reachable, or ``endpoint``) has taken part in."""
        req = ceremony_pb2.CeremonyStatusRequest()
        out, _ = self._call_service(
            "Ceremony", "Status", req, ceremony_pb2.CeremonyStatusResponse, endpoint=endpoint
        )
        return [
            {
                "sid": r.sid,
                "kind": r.kind,
                "key_id": r.key_id,
                "epoch_from": r.epoch_from,
                "epoch_to": r.epoch_to,
                "status": r.status,
                "phase": r.phase,
                "reason": r.reason,
            }
            for r in out.ceremonies
        ]

    def close(self) -> None:
        """Close every channel."""
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
