"""Adversarial integration tests: Byzantine members and coordinators against real nodes.

Real nodes (in this process, one event loop thread each, real gRPC over mTLS) and a real OpenBao
per node. A Byzantine *member* is a real node whose ``frost_member.sign`` is wrapped to return a
correctly signed envelope with a wrong ``z``; a Byzantine *coordinator* is this test process
calling a node's Peer service with another node's own certificate. IDs: specs/test-plan.md.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from faultkit import CLIENT_CN, payment, rpc_fail, sign_request, signing_message, verify_xrp
from harness import InProcessCluster, inprocess_cluster, node_channel
from warifu.client import KeyInfo, WarifuRpcError
from warifu.client.tls import issue_cert, make_ca
from warifu.core import frost
from warifu.core.curves import ED25519
from warifu.core.envelope import Envelope
from warifu.node.transport import envelope_from_pb, envelope_to_pb
from warifu.v1 import common_pb2, peer_pb2, peer_pb2_grpc, signer_pb2, signer_pb2_grpc

SUITE = frost.FROST_ED25519_SHA512
ROUND_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessCluster]:
    with inprocess_cluster(tmp_path_factory.mktemp("adv"), round_timeout_s=ROUND_TIMEOUT_S) as c:
        yield c


def new_key(cluster: InProcessCluster) -> KeyInfo:
    with cluster.client(endpoints=[cluster.info.node("node-1").endpoint]) as c:
        return c.create_key("eddsa-ed25519", threshold=2)


@pytest.fixture(scope="module")
def key(cluster: InProcessCluster) -> KeyInfo:
    return new_key(cluster)


def entry(cluster: InProcessCluster, name: str, **kw: Any) -> Any:
    """A client that talks to node ``name`` only (coordinator = ``name``)."""
    return cluster.client(endpoints=[cluster.info.node(name).endpoint], **kw)


@contextlib.contextmanager
def wrong_share(cluster: InProcessCluster, name: str) -> Iterator[dict[str, int]]:
    """Make ``name`` a Byzantine member: its FrostSign answer carries ``z + 1``, correctly signed
    with its own node key (so the envelope checks pass and only per-share verification can
    catch it). Counts the FrostCommit and FrostSign calls it serves."""
    node = cluster.node(name)
    member = node.frost_member
    honest_sign, honest_commit = member.sign, member.commit
    calls = {"commit": 0, "sign": 0}

    async def commit(*args: Any, **kw: Any) -> Any:
        calls["commit"] += 1
        return await honest_commit(*args, **kw)

    async def sign(req: peer_pb2.FrostSignRequest, coordinator: str) -> common_pb2.Envelope:
        calls["sign"] += 1
        env = envelope_from_pb(await honest_sign(req, coordinator))
        share = frost.SignatureShare.decode(SUITE, env.payload)
        bad = frost.SignatureShare(identifier=share.identifier, z=(share.z + 1) % ED25519.order)
        forged = Envelope(
            sid=env.sid,
            round=env.round,
            sender=env.sender,
            to=env.to,
            msg_type=env.msg_type,
            payload=bad.encode(),
        )
        return envelope_to_pb(node.signer.sign(forged))

    member.sign, member.commit = sign, commit  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        member.sign, member.commit = honest_sign, honest_commit  # type: ignore[method-assign]


def test_sig_4_wrong_share_names_the_culprit(cluster: InProcessCluster) -> None:
    """SIG-4 (FROST): a wrong z_i -> ABORTED PEER_INVALID_SIGNATURE_SHARE naming node-2 only; no
    signature released; the coordinator quarantines node-2 for the key and signs without it."""
    key = new_key(cluster)
    coordinator = cluster.node("node-1")
    with wrong_share(cluster, "node-2") as calls, entry(cluster, "node-1") as c:
        with pytest.raises(WarifuRpcError) as err:
            c.sign_xrp_transaction(key.key_id, payment(key, seq=1))
        e = err.value
        assert e.code == grpc.StatusCode.ABORTED
        assert e.reason == "PEER_INVALID_SIGNATURE_SHARE"
        assert e.culprits == [2]
        assert e.culprit_nodes == ["node-2"]
        assert calls["sign"] == 1  # node-2 was asked once and answered with the bad share
        assert coordinator.registry.get(key.key_id).quarantined == {2}

        signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=2))
    assert signed.signers == [1, 3]
    assert not signed.replayed
    verify_xrp(key, signed.tx_blob, signed.signature)
    assert calls == {"commit": 1, "sign": 1}  # never asked again after the abort


def test_sig_5_persistent_cheater_takes_part_in_exactly_one_run(
    cluster: InProcessCluster,
) -> None:
    """SIG-5 (lite, 20 requests): the cheater is in one run only; the rest sign without it."""
    key = new_key(cluster)
    results: list[Any] = []
    with wrong_share(cluster, "node-2") as calls, entry(cluster, "node-1") as c:
        for seq in range(1, 21):
            try:
                results.append(c.sign_xrp_transaction(key.key_id, payment(key, seq=seq)))
            except WarifuRpcError as exc:
                results.append(exc)
    aborts = [r for r in results if isinstance(r, WarifuRpcError)]
    assert len(aborts) == 1 and results[0] is aborts[0]
    assert aborts[0].code == grpc.StatusCode.ABORTED and aborts[0].culprit_nodes == ["node-2"]
    assert calls == {"commit": 1, "sign": 1}
    for r in results[1:]:
        assert r.signers == [1, 3]
        verify_xrp(key, r.tx_blob, r.signature)
    assert len({r.signature[:32] for r in results[1:]}) == 19  # fresh R every time


# -- SIG-7 / SIG-8: a malicious coordinator, with node-1's own certificate --------------------


def random_commitments(identifier: int) -> frost.SigningCommitments:
    g = ED25519
    return frost.SigningCommitments(
        identifier=identifier,
        hiding=g.base_mul(secrets.randbelow(g.order - 1) + 1),
        binding=g.base_mul(secrets.randbelow(g.order - 1) + 1),
    )


class FakeCoordinator:
    """This test process acting as node-1 towards node-2's Peer service."""

    def __init__(self, cluster: InProcessCluster, key: KeyInfo) -> None:
        self.key = key
        self.channel = node_channel(cluster.info, "node-2", as_node="node-1")
        self.peer = peer_pb2_grpc.PeerStub(self.channel)
        self.member = cluster.node("node-2").frost_member

    def commit(self, count: int = 1) -> list[tuple[bytes, frost.SigningCommitments]]:
        resp = self.peer.FrostCommit(
            peer_pb2.FrostCommitRequest(key_id=self.key.key_id, epoch=self.key.epoch, count=count),
            timeout=5,
        )
        out = []
        for pb in resp.envelopes:
            env = envelope_from_pb(pb)
            assert env.sender == 2 and env.msg_type == "frost/commit"
            out.append((env.payload[:16], frost.SigningCommitments.decode(SUITE, env.payload[16:])))
        return out

    def sign(
        self,
        raw: bytes,
        package: frost.SigningPackage,
        cid: bytes,
        *,
        signers: list[int] | None = None,
        coord_nonce: bytes | None = None,
    ) -> peer_pb2.FrostSignRequest:
        return peer_pb2.FrostSignRequest(
            key_id=self.key.key_id,
            epoch=self.key.epoch,
            request=raw,
            client_identity=CLIENT_CN,
            coord_nonce=coord_nonce or secrets.token_bytes(32),
            signing_package=package.encode(),
            commitment_id=cid,
            signers=sorted(package.identifiers) if signers is None else signers,
        )

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def fake(cluster: InProcessCluster, key: KeyInfo) -> Iterator[FakeCoordinator]:
    f = FakeCoordinator(cluster, key)
    try:
        yield f
    finally:
        f.close()


def test_sig_7_member_refuses_a_bad_signing_package(fake: FakeCoordinator, key: KeyInfo) -> None:
    """SIG-7 at the node: node-2 refuses to emit a share for a doctored signing package
    (ABORTED, INVALID_SIGNING_PACKAGE: node/errors.py maps the member's ProtocolAbort to
    ABORTED with the un-prefixed reason); the nonce is destroyed by the refusal, so offering its
    commitment again gives NONCE_CONSUMED; a used commitment cannot sign a second message."""
    tx = payment(key, seq=7)
    raw = sign_request(key, tx).SerializeToString()
    msg = signing_message(key, tx)
    other_msg = signing_message(key, payment(key, seq=7, drops="999999999"))
    c1, c3 = random_commitments(1), random_commitments(3)
    commits = fake.commit(8)
    assert len(fake.member.nonces) >= 8

    def package(*cs: frost.SigningCommitments, message: bytes = msg) -> frost.SigningPackage:
        return frost.SigningPackage(commitments=cs, message=message)

    (cid_a, c2_a), (cid_b, c2_b), (cid_c, _), (cid_d, c2_d) = commits[:4]
    (cid_e1, c2_e1), (cid_e2, c2_e2), (cid_e3, c2_e3), (cid_ok, c2_ok) = commits[4:]
    altered = frost.SigningCommitments(identifier=2, hiding=c2_b.binding, binding=c2_b.hiding)
    cases = {
        "(a) package message differs from the request": (
            package(c1, c2_a, message=other_msg),
            cid_a,
            None,
        ),
        "(b) own commitment altered": (package(c1, altered), cid_b, None),
        "(c) own commitment dropped": (package(c1, c3), cid_c, [1, 3]),
        "(d) unknown id added": (package(c1, c2_d, random_commitments(9)), cid_d, None),
        "(e) duplicate ids": (package(c1, c2_e1, c2_e1), cid_e1, [1, 2, 2]),
        "(e) unsorted ids": (package(c2_e2, c1), cid_e2, [1, 2]),
        "(e) signers list differs from the package": (package(c1, c2_e3), cid_e3, [1, 2, 3]),
    }
    for what, (pkg, cid, signers) in cases.items():
        before = len(fake.member.nonces)
        bad = fake.sign(raw, pkg, cid, signers=signers)
        code, reason, meta = rpc_fail(fake.peer.FrostSign, bad)
        assert (code, reason) == (grpc.StatusCode.ABORTED, "INVALID_SIGNING_PACKAGE"), what
        assert "culprits" not in meta, what
        assert len(fake.member.nonces) == before - 1, f"{what}: the refused nonce must be gone"

    # The commitment of a refused request is never offered again, even with a good package.
    good_a = package(c1, c2_a)
    code, reason, _ = rpc_fail(fake.peer.FrostSign, fake.sign(raw, good_a, cid_a))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NONCE_CONSUMED")

    # A good package is signed once; the same commitment for a second message is refused.
    first = fake.peer.FrostSign(fake.sign(raw, package(c1, c2_ok), cid_ok), timeout=5)
    assert envelope_from_pb(first).msg_type == "frost/share"
    tx2 = payment(key, seq=8)
    raw2 = sign_request(key, tx2).SerializeToString()
    pkg2 = package(c1, c2_ok, message=signing_message(key, tx2))
    code, reason, _ = rpc_fail(fake.peer.FrostSign, fake.sign(raw2, pkg2, cid_ok))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NONCE_CONSUMED")


def test_sig_8_replays_and_unknown_sessions(
    cluster: InProcessCluster, fake: FakeCoordinator, key: KeyInfo
) -> None:
    """SIG-8: an in-session duplicate FrostSign (same sid) returns the identical share envelope
    and uses no second nonce; a mesh envelope for a session the node does not have is refused
    with FAILED_PRECONDITION UNKNOWN_SESSION."""
    tx = payment(key, seq=9)
    raw = sign_request(key, tx).SerializeToString()
    (cid, c2), (cid_spare, c2_spare) = fake.commit(2)
    package = frost.SigningPackage(
        commitments=(random_commitments(1), c2), message=signing_message(key, tx)
    )
    req = fake.sign(raw, package, cid)
    first = fake.peer.FrostSign(req, timeout=5)
    held = len(fake.member.nonces)
    again = fake.peer.FrostSign(req, timeout=5)
    assert again.SerializeToString() == first.SerializeToString()
    assert len(fake.member.nonces) == held  # the duplicate used no nonce
    # ... and the share is a valid one for that package, signed by node-2's node key.
    env = envelope_from_pb(first)
    env.verify(bytes.fromhex(cluster.info.node("node-2").sign_pub))
    rec = cluster.node("node-2").registry.get(key.key_id)
    frost.verify_signature_share(
        SUITE, rec.pkg, package, frost.SignatureShare.decode(SUITE, env.payload)
    )
    # The spare commitment is untouched by the replay: it still signs (once).
    package2 = frost.SigningPackage(
        commitments=(random_commitments(1), c2_spare), message=package.message
    )
    fake.peer.FrostSign(fake.sign(raw, package2, cid_spare), timeout=5)

    stray = common_pb2.Envelope(
        sid=secrets.token_bytes(32), round=0, sender=1, to=0, msg_type="dkg/d0", payload=b"x"
    )
    code, reason, _ = rpc_fail(fake.peer.Deliver, stray)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNKNOWN_SESSION")


# -- NET-4: who may talk to a node --------------------------------------------------------------


def node_state(cluster: InProcessCluster) -> dict[str, tuple[int, int]]:
    """(open sessions, held nonces) per node."""
    return {
        n.id: (len(cluster.node(n.id).sessions), len(cluster.node(n.id).frost_member.nonces))
        for n in cluster.info.nodes
    }


def open_dkg_session_at(cluster: InProcessCluster, target: str, *, as_node: str) -> bytes:
    """Ask ``target`` (with ``as_node``'s certificate) to join a DKG; returns the session id."""
    req = signer_pb2.CreateKeyRequest(
        request_id=secrets.token_bytes(16), scheme=common_pb2.EDDSA_ED25519, threshold=2
    )
    start = peer_pb2.StartSession(
        protocol="dkg",
        key_id=str(uuid.uuid4()),
        coord_nonce=secrets.token_bytes(32),
        request=req.SerializeToString(),
        request_type="CreateKeyRequest",
        committee=[
            common_pb2.Party(id=i, node=n.id) for i, n in enumerate(cluster.info.nodes, start=1)
        ],
        threshold=2,
        client_identity=CLIENT_CN,
    )
    with node_channel(cluster.info, target, as_node=as_node) as ch:
        ack = peer_pb2_grpc.PeerStub(ch).Start(start, timeout=5)
    assert ack.sid in cluster.node(target).sessions
    return ack.sid


def test_net_4_mtls_identities(
    cluster: InProcessCluster, key: KeyInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """NET-4: no client certificate and a certificate from another CA are refused in the TLS
    handshake (UNAVAILABLE at the client: nothing reaches a handler, nothing starts); the wallet
    client certificate on the Peer service is UNAUTHENTICATED NOT_A_PEER (and logged); node-1's
    own certificate delivering an envelope that claims to be party 3 is SENDER_MISMATCH."""
    info = cluster.info
    target = info.node("node-1").endpoint
    req = sign_request(key, payment(key, seq=11))
    before = node_state(cluster)
    caplog.set_level(logging.INFO, logger="warifu.node")

    ca = info.ca.read_bytes()
    other_ca, other_ca_key = make_ca("not the warifu CA")
    rogue_cert, rogue_key = issue_cert(other_ca, other_ca_key, CLIENT_CN, server=False, client=True)
    creds = {
        "no client certificate": grpc.ssl_channel_credentials(root_certificates=ca),
        "certificate from another CA": grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=rogue_key, certificate_chain=rogue_cert
        ),
    }
    for what, cred in creds.items():
        with grpc.secure_channel(target, cred) as ch:
            signer = signer_pb2_grpc.SignerStub(ch)
            code, reason, _ = rpc_fail(signer.Sign, req)
            assert code == grpc.StatusCode.UNAVAILABLE and reason == "", what
            peer = peer_pb2_grpc.PeerStub(ch)
            fc = peer_pb2.FrostCommitRequest(key_id=key.key_id, epoch=key.epoch, count=1)
            code, reason, _ = rpc_fail(peer.FrostCommit, fc)
            assert code == grpc.StatusCode.UNAVAILABLE and reason == "", what
    assert node_state(cluster) == before
    assert not [r for r in caplog.records if "refused" in r.getMessage()]

    # The wallet's own (valid) client certificate is not a node.
    with grpc.secure_channel(target, info.client_credentials()) as ch:
        peer = peer_pb2_grpc.PeerStub(ch)
        fc = peer_pb2.FrostCommitRequest(key_id=key.key_id, epoch=key.epoch, count=1)
        code, reason, _ = rpc_fail(peer.FrostCommit, fc)
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "NOT_A_PEER")
        stray = common_pb2.Envelope(sid=b"\0" * 32, round=0, sender=1, to=0, msg_type="x")
        code, reason, _ = rpc_fail(peer.Deliver, stray)
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "NOT_A_PEER")
    assert node_state(cluster) == before
    assert [r for r in caplog.records if "NOT_A_PEER" in r.getMessage()]

    # node-1's certificate, claiming to be party 3 in a session node-2 has.
    sid = open_dkg_session_at(cluster, "node-2", as_node="node-1")
    forged = common_pb2.Envelope(
        sid=sid, round=0, sender=3, to=0, msg_type="dkg/d0", payload=b"\0" * 32
    )
    with node_channel(info, "node-2", as_node="node-1") as ch:
        code, reason, _ = rpc_fail(peer_pb2_grpc.PeerStub(ch).Deliver, forged)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "SENDER_MISMATCH")
    assert not cluster.node("node-2").sessions[sid].conflicts
