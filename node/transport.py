"""Node-to-node transport: one mutual-TLS gRPC channel per peer, reused for every call.

The peer's identity is its certificate's CN (checked by the server side of every call); here
we only dial. Failures become :class:`~warifu.core.errors.TransportError` (liveness, never
blame) or the WarifuError the peer reported (its own verdict on the request).
"""

from __future__ import annotations

import grpc

from warifu.core.envelope import Envelope
from warifu.node.config import NodeConfig, PeerConfig
from warifu.node.errors import from_peer_error
from warifu.v1 import common_pb2, peer_pb2, peer_pb2_grpc

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    # Fail fast on a dead peer instead of waiting for reconnect back-off.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def envelope_to_pb(env: Envelope) -> common_pb2.Envelope:
    """Core envelope -> wire."""
    return common_pb2.Envelope(
        sid=env.sid,
        round=env.round,
        sender=env.sender,
        to=env.to,
        msg_type=env.msg_type,
        payload=env.payload,
        signature=env.signature,
    )


def envelope_from_pb(pb: common_pb2.Envelope) -> Envelope:
    """Wire -> core envelope (the signature is checked by whoever consumes it)."""
    return Envelope(
        sid=pb.sid,
        round=pb.round,
        sender=pb.sender,
        to=pb.to,
        msg_type=pb.msg_type,
        payload=pb.payload,
        signature=pb.signature,
    )


class PeerTransport:
    """Clients for every peer of this node."""

    def __init__(self, cfg: NodeConfig) -> None:
        self._cfg = cfg
        self._creds = grpc.ssl_channel_credentials(
            root_certificates=cfg.tls_ca, private_key=cfg.tls_key, certificate_chain=cfg.tls_cert
        )
        self._peers: dict[str, PeerConfig] = {p.name: p for p in cfg.peers}
        self._stubs: dict[str, peer_pb2_grpc.PeerStub] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    @property
    def peers(self) -> dict[str, PeerConfig]:
        """Peers by node name."""
        return self._peers

    def _stub(self, name: str) -> peer_pb2_grpc.PeerStub:
        stub = self._stubs.get(name)
        if stub is None:
            peer = self._peers[name]
            ch = grpc.aio.secure_channel(
                peer.endpoint,
                self._creds,
                options=[*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", name)],
            )
            self._channels[name] = ch
            stub = self._stubs[name] = peer_pb2_grpc.PeerStub(ch)
        return stub

    async def _call(
        self, name: str, method: str, request: object, timeout: float, wait: bool = False
    ) -> object:
        stub = self._stub(name)
        try:
            return await getattr(stub, method)(request, timeout=timeout, wait_for_ready=wait)
        except grpc.RpcError as err:
            raise from_peer_error(err, name) from None

    async def start(
        self, name: str, req: peer_pb2.StartSession, timeout: float, *, wait: bool = False
    ) -> peer_pb2.StartAck:
        """Ask ``name`` to join a mesh session.

        ``wait``: wait (up to ``timeout``) for a channel that is still reconnecting, e.g. to a
        peer that just restarted, instead of failing fast; for ceremonies, which need every
        member and are not latency-critical.
        """
        out = await self._call(name, "Start", req, timeout, wait)
        assert isinstance(out, peer_pb2.StartAck)
        return out

    async def deliver(self, name: str, env: Envelope, timeout: float) -> None:
        """Deliver one envelope to ``name``, waiting (up to ``timeout``) for a reconnecting channel.

        A session's round is bounded by its deadline anyway, so a peer that just restarted is
        reached as soon as its channel is back, instead of failing the session at once.
        """
        await self._call(name, "Deliver", envelope_to_pb(env), timeout, True)

    async def abort(self, name: str, sid: bytes, reason: str, timeout: float) -> None:
        """Tell ``name`` that session ``sid`` aborted (best effort)."""
        await self._call(name, "Abort", peer_pb2.AbortNotice(sid=sid, reason=reason), timeout)

    async def frost_commit(
        self, name: str, req: peer_pb2.FrostCommitRequest, timeout: float
    ) -> peer_pb2.FrostCommitResponse:
        """FROST round 1 at ``name``."""
        out = await self._call(name, "FrostCommit", req, timeout)
        assert isinstance(out, peer_pb2.FrostCommitResponse)
        return out

    async def frost_sign(
        self, name: str, req: peer_pb2.FrostSignRequest, timeout: float
    ) -> common_pb2.Envelope:
        """FROST round 2 at ``name``."""
        out = await self._call(name, "FrostSign", req, timeout)
        assert isinstance(out, common_pb2.Envelope)
        return out

    async def key_status(
        self, name: str, key_id: str, timeout: float
    ) -> peer_pb2.KeyStatusResponse:
        """``name``'s view of a key."""
        out = await self._call(name, "KeyStatus", peer_pb2.KeyStatusRequest(key_id=key_id), timeout)
        assert isinstance(out, peer_pb2.KeyStatusResponse)
        return out

    async def close(self) -> None:
        """Close every channel."""
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()
        self._stubs.clear()
