"""Adversarial integration tests for threshold ECDSA (DKLs23) on real nodes and real OpenBao.

Three real nodes run in this process (one event-loop thread each) with a real OpenBao server
per node; every protocol message crosses real mutual-TLS gRPC. A *Byzantine* node is a real node
whose core :class:`~warifu.core.dkls23.SignSession` (or round-3 function, or VSOT party) is
replaced, for that node's calls only, by a subclass whose outgoing messages are wrong but
correctly signed with its own node key — so every envelope check passes and only the protocol
check that the test targets can catch it. The node code under test is the production code.

Each test is named after its ``specs/test-plan.md`` ID and asserts the gRPC status, the stable
reason (``PEER_<REASON>`` for cheats), the culprit (party id and node name), that no honest
party released or kept anything, and — for CHEAT-OT (``dkls23.md`` §10.1) — that the pair is
BANNED durably in the honest node's own OpenBao and that the next signature excludes the
culprit. The FROST-side adversarial tests are in ``test_adversarial.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
import pytest
from coincurve import PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from faultkit import rpc_fail, vault_key_ids, vault_record
from harness import InProcessCluster, inprocess_cluster, node_channel
from warifu.client import DigestSignature, KeyInfo, WarifuRpcError
from warifu.core.dkls23 import SignSession
from warifu.core.dkls23.wire import GROUP, MSG_R1_COM, MSG_R1_OTE, Q, Round3Message
from warifu.core.envelope import Envelope, NodeSigner
from warifu.core.errors import RngFailure, WarifuError
from warifu.core.ot.vsot import VsotAlice, VsotBob
from warifu.node import dkg as node_dkg
from warifu.node import ecdsa as node_ecdsa
from warifu.node.transport import envelope_to_pb
from warifu.v1 import peer_pb2_grpc

RT = 2.0  # round_timeout_s of the cluster (NET-1)
SLACK = 3.0  # TLS handshakes, Vault round trips and thread scheduling on a loaded CI machine
NODES = ("node-1", "node-2", "node-3")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessCluster]:
    with inprocess_cluster(tmp_path_factory.mktemp("ecadv"), round_timeout_s=RT) as c:
        yield c


@pytest.fixture(autouse=True)
def _fresh_liveness(cluster: InProcessCluster) -> None:
    """Forget the liveness back-off a previous test left (a peer marked down for 5 s)."""
    for name in NODES:
        cluster.node(name).liveness._down.clear()


# -- helpers ------------------------------------------------------------------------------------


def entry(cluster: InProcessCluster, name: str) -> Any:
    """A client that talks to node ``name`` only (``name`` coordinates)."""
    return cluster.client(endpoints=[cluster.info.node(name).endpoint])


def new_key(cluster: InProcessCluster, threshold: int = 2) -> KeyInfo:
    with entry(cluster, "node-1") as c:
        key: KeyInfo = c.create_key("ecdsa-secp256k1", threshold=threshold, allow_raw_digest=True)
    return key


def digest_of(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def verify(key: KeyInfo, sig: DigestSignature, digest: bytes) -> None:
    """libsecp256k1: the signature verifies (low s) and recovers the group key."""
    r = int.from_bytes(sig.signature[:32], "big")
    s = int.from_bytes(sig.signature[32:], "big")
    assert 0 < s <= Q // 2
    assert PublicKey(key.public_key).verify(encode_dss_signature(r, s), digest, hasher=None)
    recovered = PublicKey.from_signature_and_message(
        sig.signature + bytes([sig.recovery_id]), digest, hasher=None
    )
    assert recovered.format() == key.public_key


def sign(cluster: InProcessCluster, at: str, key: KeyInfo, label: str) -> DigestSignature:
    with entry(cluster, at) as c:
        sig: DigestSignature = c.sign_digest(key.key_id, digest_of(label))
    verify(key, sig, digest_of(label))
    return sig


def sign_fails(cluster: InProcessCluster, at: str, key: KeyInfo, label: str) -> WarifuRpcError:
    with entry(cluster, at) as c, pytest.raises(WarifuRpcError) as err:
        c.sign_digest(key.key_id, digest_of(label))
    return err.value


def key_state(cluster: InProcessCluster, node: str, key_id: str) -> tuple[int, dict[str, Any]]:
    """(KV version, data) of ``keys/<id>/state`` in ``node``'s own OpenBao."""
    code, body = vault_record(cluster.info, node, key_id, "state")
    assert code == 200, (code, body)
    return int(body["data"]["metadata"]["version"]), body["data"]["data"]


def resign(signer: NodeSigner, env: Envelope, payload: bytes) -> Envelope:
    """``env`` with another payload, correctly signed with the sender's own node key."""
    return signer.sign(dataclasses.replace(env, payload=payload, signature=b""))


def random_point_bytes() -> bytes:
    return GROUP.encode_point(GROUP.base_mul(secrets.randbelow(Q - 1) + 1))


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def reconnect(cluster: InProcessCluster, name: str, key: KeyInfo, timeout: float = 10.0) -> None:
    """Wait until every other node reaches ``name`` again (their channels back off after it was
    down: node/transport.py max reconnect back-off)."""
    for other in NODES:
        if other == name:
            continue
        node = cluster.node(other)

        def reachable(node: Any = node, other: str = other) -> bool:
            try:
                cluster.run(other, node.transport.key_status(name, key.key_id, timeout=1.0))
            except WarifuError:
                return False
            return True

        wait_until(reachable, timeout, f"{other} to reach {name}")


@contextlib.contextmanager
def byzantine(
    cluster: InProcessCluster, classes: Mapping[str, type[SignSession]]
) -> Iterator[dict[str, list[SignSession]]]:
    """Record every SignSession each node creates; the nodes in ``classes`` get that class.

    ``node.ecdsa.run_presign`` builds ``SignSession(..., signer=<the node's NodeSigner>, ...)``;
    all in-process nodes share that module, so the factory dispatches on the signer's public key
    and every other node keeps the production class.
    """
    by_pub = {bytes.fromhex(cluster.info.node(n).sign_pub): n for n in NODES}
    honest = SignSession
    made: dict[str, list[SignSession]] = {n: [] for n in NODES}

    def factory(**kw: Any) -> SignSession:
        name = by_pub[kw["signer"].public_key]
        s = classes.get(name, honest)(**kw)
        made[name].append(s)
        return s

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(node_ecdsa, "SignSession", factory)
        yield made


@contextlib.contextmanager
def bad_round3(cluster: InProcessCluster, name: str, field: str = "w") -> Iterator[list[bytes]]:
    """SIG-4: ``name``'s R3 carries ``w + 1`` (or ``u' + 1``), correctly signed.

    ``node.ecdsa.run_online`` calls ``round3(presig, digest, signer=…)``; the wrapper changes the
    outgoing envelope and the node's own copy. Yields the session ids it cheated in.
    """
    pub = bytes.fromhex(cluster.info.node(name).sign_pub)
    honest = getattr(node_ecdsa, "round3")  # noqa: B009 (the name the node calls)
    cheated: list[bytes] = []

    def round3(presig: Any, digest: bytes, *, signer: NodeSigner, **kw: Any) -> Any:
        env, partial = honest(presig, digest, signer=signer, **kw)
        if signer.public_key != pub:
            return env, partial
        m = Round3Message.parse(presig.me, env)
        if field == "w":
            m = dataclasses.replace(m, w=(m.w + 1) % Q)
        else:
            m = dataclasses.replace(m, u_prime=(m.u_prime + 1) % Q)
        bad = resign(signer, env, m.encode())
        cheated.append(env.sid)
        return bad, dataclasses.replace(partial, envelope=bad)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(node_ecdsa, "round3", round3)
        yield cheated


def assert_honest_released_nothing(
    cluster: InProcessCluster, made: dict[str, list[SignSession]], honest: list[str]
) -> None:
    """Every honest node's session of the aborted run holds no secret and ended aborted."""
    for name in honest:
        assert made[name], f"{name} took no part"
        s = made[name][-1]
        assert not s.holds_secrets, name
        mesh = cluster.node(name).sessions.get(s.sid)
        assert mesh is not None and mesh.aborted is not None and not mesh.done, name


# -- Byzantine SignSessions ---------------------------------------------------------------------


class FlipsOteU(SignSession):
    """SIG-1: one byte of ``U`` in every ``R1_OTE`` flipped, the envelope re-signed."""

    def round1(self) -> tuple[Envelope, dict[int, Envelope]]:
        com, otes = super().round1()
        out = {}
        for j, env in otes.items():
            p = bytearray(env.payload)
            p[32 + 96 * 7 + 5] ^= 0x01  # row 7 of U (ν_B is the first 32 bytes)
            out[j] = resign(self._signer, env, bytes(p))
        return com, out


class RandomGammaU(SignSession):
    """SIG-2: a random ``Γu`` in R2 (its RVOLE input is not the ``r_j`` of ``R_j``)."""

    def _gammas(self, j: int, cu: int, cv: int) -> tuple[Any, Any]:
        _, gv = super()._gammas(j, cu, cv)
        return GROUP.decode_point(random_point_bytes()), gv


class RandomGammaV(SignSession):
    """SIG-2: a random ``Γv`` in R2 (its RVOLE input is not ``λ_j·x_j``)."""

    def _gammas(self, j: int, cu: int, cv: int) -> tuple[Any, Any]:
        gu, _ = super()._gammas(j, cu, cv)
        return gu, GROUP.decode_point(random_point_bytes())


class OpensAnotherR(SignSession):
    """SIG-3: R2 opens ``R_j + G`` instead of the ``R_j`` committed to in round 1."""

    def round2(self, r1_com: Any, r1_ote: Any = None) -> dict[int, Envelope]:
        out = super().round2(r1_com, r1_ote)
        bad = {}
        for j, env in out.items():
            other = GROUP.decode_point(env.payload[:33]) + GROUP.base_mul(1)
            bad[j] = resign(self._signer, env, GROUP.encode_point(other) + env.payload[33:])
        return bad


def stalling(at: str, release: threading.Event) -> type[SignSession]:
    """NET-1: a member that goes silent between two rounds (like a SIGSTOP/SIGKILL there).

    ``at="r1"``: after sending round 1, before its OT checks and R2; ``at="r2"``: after sending
    R2, before round 3. It blocks one executor thread of that node until ``release`` is set.
    """

    class Stalls(SignSession):
        def ot_checks(self, *a: Any, **kw: Any) -> Any:
            if at == "r1":
                release.wait(30)
            return super().ot_checks(*a, **kw)

        def finish(self, *a: Any, **kw: Any) -> Any:
            if at == "r2":
                release.wait(30)
            return super().finish(*a, **kw)

    return Stalls


def assert_banned(cluster: InProcessCluster, at: str, key: KeyInfo, culprit: int, v0: int) -> None:
    """CHEAT-OT (§10.1): the pair is BANNED and the culprit quarantined, durably, in one write."""
    version, state = key_state(cluster, at, key.key_id)
    assert state["banned_ot_pairs"] == [culprit]
    assert state["quarantined_peers"] == [culprit]
    assert version == v0 + 1, "exactly one durable ban record"
    node = cluster.node(at)
    assert node.registry.get(key.key_id).quarantined == {culprit}
    # Durable: a fresh read of the key from the node's Vault (what a restart does) keeps it, and
    # the OT state with the culprit (both directions: one record per peer) is never decrypted.
    rec = cluster.run(at, node.registry.reload(key.key_id))
    assert rec is not None and rec.quarantined == {culprit}
    with pytest.raises(WarifuError) as err:
        cluster.run(at, node.registry.pair_states(rec, [culprit]))
    assert err.value.reason == "PAIR_BANNED"


# -- SIG-1 --------------------------------------------------------------------------------------


def test_sig_1_wrong_ot_extension_message_bans_the_pair(cluster: InProcessCluster) -> None:
    """SIG-1: node-2 flips one byte of U in its R1_OTE (re-signed with its node key) ->
    ABORTED PEER_OT_CONSISTENCY_FAILED naming node-2; node-1 bans the pair durably; the next
    signature is [1, 3]; node-1 never runs another session with node-2 on that OT state."""
    key = new_key(cluster)
    v0, state = key_state(cluster, "node-1", key.key_id)
    assert not state.get("banned_ot_pairs") and not state.get("quarantined_peers")
    with byzantine(cluster, {"node-2": FlipsOteU}) as made:
        e = sign_fails(cluster, "node-1", key, "sig-1")
        assert (e.code, e.reason) == (grpc.StatusCode.ABORTED, "PEER_OT_CONSISTENCY_FAILED")
        assert e.culprits == [2] and e.culprit_nodes == ["node-2"]
        assert [len(made[n]) for n in NODES] == [1, 1, 0]
        assert_honest_released_nothing(cluster, made, ["node-1"])
        assert_banned(cluster, "node-1", key, 2, v0)

        # The culprit is still cheating: the next request picks the other quorum.
        assert sign(cluster, "node-1", key, "sig-1 next").signers == [1, 3]
        # No retry with the same state: node-1 refuses any session with node-2 (here node-2
        # coordinates and asks node-1 first).
        e = sign_fails(cluster, "node-2", key, "sig-1 via node-2")
        assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PEER_QUARANTINED")
        assert [len(made[n]) for n in NODES] == [2, 1, 1]  # node-1: only the [1, 3] session
        assert made["node-1"][1].signers == (1, 3)


# -- SIG-2 / SIG-3 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cheat", "reason"),
    [
        (RandomGammaU, "PEER_GAMMA_U_FAILED"),
        (RandomGammaV, "PEER_GAMMA_V_FAILED"),
        (OpensAnotherR, "PEER_COMMITMENT_MISMATCH"),
    ],
    ids=["SIG-2-gamma-u", "SIG-2-gamma-v", "SIG-3-opening"],
)
def test_sig_2_sig_3_round_2_cheat_is_named_and_quarantined(
    cluster: InProcessCluster, cheat: type[SignSession], reason: str
) -> None:
    """SIG-2: a random Γu or Γv in R2 fails check e or f; SIG-3: R2 opens another R_j than the
    committed one (check c). ABORTED with the reason, culprit node-2, pair banned (CHEAT-OT),
    the next signature excludes node-2."""
    key = new_key(cluster)
    v0, _ = key_state(cluster, "node-1", key.key_id)
    with byzantine(cluster, {"node-2": cheat}) as made:
        e = sign_fails(cluster, "node-1", key, reason)
        assert (e.code, e.reason) == (grpc.StatusCode.ABORTED, reason)
        assert e.culprits == [2] and e.culprit_nodes == ["node-2"]
        assert_honest_released_nothing(cluster, made, ["node-1"])
        assert_banned(cluster, "node-1", key, 2, v0)
        assert sign(cluster, "node-1", key, reason + " next").signers == [1, 3]
        assert len(made["node-2"]) == 1


# -- SIG-4 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["w", "u'"])
def test_sig_4_wrong_round_3_share_two_signers_names_the_peer(
    cluster: InProcessCluster, field: str
) -> None:
    """SIG-4 (ECDSA, |S| = 2): node-2's R3 carries a wrong w (or u') -> the combined signature
    does not verify; node-1 releases nothing: ABORTED PEER_SIGNATURE_INVALID naming node-2, who
    is quarantined for the key (a proven culprit, DESIGN §3), so the next signature is [1, 3]."""
    key = new_key(cluster)
    with byzantine(cluster, {}) as made, bad_round3(cluster, "node-2", field) as cheated:
        e = sign_fails(cluster, "node-1", key, "sig-4 two " + field)
        assert (e.code, e.reason) == (grpc.StatusCode.ABORTED, "PEER_SIGNATURE_INVALID")
        assert e.culprits == [2] and e.culprit_nodes == ["node-2"]
        assert len(cheated) == 1
        assert_honest_released_nothing(cluster, made, ["node-1"])
        assert cluster.node("node-1").registry.get(key.key_id).quarantined == {2}
        assert key_state(cluster, "node-1", key.key_id)[1]["quarantined_peers"] == [2]
        assert sign(cluster, "node-1", key, "sig-4 two next " + field).signers == [1, 3]
        assert len(cheated) == 1


def test_sig_4_wrong_round_3_share_three_signers_is_ambiguous(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIG-4 (ECDSA, |S| = 3, a 3-of-3 key): a wrong w from node-2 cannot be attributed
    (dkls23.md §10): ABORTED PEER_SIGNATURE_INVALID with no culprit, the suspects listed,
    nothing released by either honest node, nobody quarantined, no automatic retry."""
    key = new_key(cluster, threshold=3)
    # node-2's R3 reaches node-3 a little late, so that node-1 (the coordinator) computes the
    # verdict itself rather than learning of the abort from node-3's notice.
    node2 = cluster.node("node-2")
    honest_deliver = node2.transport.deliver

    async def deliver(name: str, env: Envelope, timeout: float) -> None:
        if name == "node-3" and env.round == 3:
            await asyncio.sleep(0.3)
        await honest_deliver(name, env, timeout)

    monkeypatch.setattr(node2.transport, "deliver", deliver)
    with byzantine(cluster, {}) as made, bad_round3(cluster, "node-2") as cheated:
        e = sign_fails(cluster, "node-1", key, "sig-4 three")
        wait_until(
            lambda: (
                cluster.node("node-3").sessions.get(made["node-3"][-1].sid) is not None
                and cluster.node("node-3").sessions[made["node-3"][-1].sid].aborted is not None
            ),
            what="node-3 to end its session",
        )
    assert (e.code, e.reason) == (grpc.StatusCode.ABORTED, "PEER_SIGNATURE_INVALID")
    assert e.culprits == [] and e.culprit_nodes == [] and "culprits" not in e.metadata
    assert "suspects: [2, 3]" in e.message
    assert len(cheated) == 1  # one run only: no automatic retry
    assert [len(made[n]) for n in NODES] == [1, 1, 1]
    assert_honest_released_nothing(cluster, made, ["node-1", "node-3"])
    for name in ("node-1", "node-3"):
        assert cluster.node(name).registry.get(key.key_id).quarantined == set()
        assert not key_state(cluster, name, key.key_id)[1].get("quarantined_peers")
    monkeypatch.undo()
    # Nobody was blamed: with node-2 honest again the same three sign.
    assert sign(cluster, "node-1", key, "sig-4 three, honest").signers == [1, 2, 3]


# -- SIG-5 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cheat", ["gamma-u", "round-3"])
def test_sig_5_persistent_cheater_takes_part_in_exactly_one_run(
    cluster: InProcessCluster, cheat: str
) -> None:
    """SIG-5 (2-of-3, 8 requests): node-2 cheats in every session it is in (a random Γu, or a
    wrong w in round 3). It takes part in exactly one run; the other 7 sign with [1, 3]; the
    quarantine is recorded once."""
    key = new_key(cluster)
    v0, _ = key_state(cluster, "node-1", key.key_id)
    classes = {"node-2": RandomGammaU} if cheat == "gamma-u" else {}
    results: list[DigestSignature | WarifuRpcError] = []
    with contextlib.ExitStack() as stack:
        made = stack.enter_context(byzantine(cluster, classes))
        if cheat == "round-3":
            stack.enter_context(bad_round3(cluster, "node-2"))
        with entry(cluster, "node-1") as c:
            for i in range(8):
                try:
                    results.append(c.sign_digest(key.key_id, digest_of(f"sig-5 {cheat} {i}")))
                except WarifuRpcError as exc:
                    results.append(exc)
    first, rest = results[0], results[1:]
    assert isinstance(first, WarifuRpcError) and first.code == grpc.StatusCode.ABORTED
    assert first.culprit_nodes == ["node-2"]
    assert len(made["node-2"]) == 1
    for i, r in enumerate(rest, start=1):
        assert isinstance(r, DigestSignature), r
        assert r.signers == [1, 3]
        verify(key, r, digest_of(f"sig-5 {cheat} {i}"))
    assert len({r.signature[:32] for r in rest if isinstance(r, DigestSignature)}) == 7
    version, state = key_state(cluster, "node-1", key.key_id)
    assert state["quarantined_peers"] == [2] and version == v0 + 1


# -- SIG-8 --------------------------------------------------------------------------------------


def test_sig_8_cross_session_replay_dropped_duplicates_are_no_ops(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIG-8: node-2 replays each of its validly signed envelopes of session S1 while S2 runs
    (node-1 answers FAILED_PRECONDITION WRONG_SESSION, nothing else happens) and delivers every
    S2 envelope twice (a no-op: no conflict kept). S2 completes with a valid signature and
    nobody is blamed; a replay after S2 is refused the same way."""
    key = new_key(cluster)
    node2 = cluster.node("node-2")
    honest_deliver = node2.transport.deliver
    sent: list[tuple[str, Envelope]] = []
    replay: dict[tuple[str, str], Envelope] = {}
    refused: list[str] = []
    mode = {"duplicate": False}

    async def deliver(name: str, env: Envelope, timeout: float) -> None:
        sent.append((name, env))
        old = replay.pop((name, env.msg_type), None)
        if old is not None:
            try:
                await honest_deliver(name, old, timeout)
            except WarifuError as exc:
                refused.append(exc.reason)
        await honest_deliver(name, env, timeout)
        if mode["duplicate"]:
            await honest_deliver(name, env, timeout)

    monkeypatch.setattr(node2.transport, "deliver", deliver)
    with byzantine(cluster, {}) as made:
        s1 = sign(cluster, "node-1", key, "sig-8 S1")
        assert s1.signers == [1, 2]
        s1_envs = [(n, e) for n, e in sent if n == "node-1"]
        assert {e.msg_type for _, e in s1_envs} == {
            MSG_R1_COM,
            MSG_R1_OTE,
            "dkls23/r2",
            "dkls23/r3",
        }
        replay.update({(n, e.msg_type): e for n, e in s1_envs})
        mode["duplicate"] = True
        s2 = sign(cluster, "node-1", key, "sig-8 S2")
    assert s2.signers == [1, 2]
    assert refused == ["WRONG_SESSION"] * 4
    assert not replay
    sid1, sid2 = made["node-1"][0].sid, made["node-1"][1].sid
    assert sid1 != sid2
    mesh2 = cluster.node("node-1").sessions[sid2]
    assert mesh2.done and mesh2.aborted is None and mesh2.conflicts == []
    assert cluster.node("node-1").registry.get(key.key_id).quarantined == set()
    # A replay after the end (here by the test, with node-2's own certificate) is refused too.
    with node_channel(cluster.info, "node-1", as_node="node-2") as ch:
        stub = peer_pb2_grpc.PeerStub(ch)  # type: ignore[no-untyped-call]
        for _, env in s1_envs[:1] + [(n, e) for n, e in sent if e.sid == sid2][:1]:
            code, reason, meta = rpc_fail(stub.Deliver, envelope_to_pb(env))
            assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "WRONG_SESSION")
            assert "culprits" not in meta


# -- SIG-10 -------------------------------------------------------------------------------------


class BrokenRng:
    def __init__(self) -> None:
        self.calls = 0

    def random_bytes(self, n: int) -> bytes:
        self.calls += 1
        raise RngFailure("injected RNG failure")


def test_sig_10_rng_failure_refuses_without_blame(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIG-10: node-2's RNG raises. As coordinator it refuses (UNAVAILABLE RNG_FAILURE); asked
    to join, it refuses the start (RNG_FAILURE) and node-1 signs with node-3; nobody is blamed
    or quarantined."""
    key = new_key(cluster)
    v0, _ = key_state(cluster, "node-1", key.key_id)
    broken = BrokenRng()
    monkeypatch.setattr(cluster.node("node-2").rng, "random_bytes", broken.random_bytes)
    with byzantine(cluster, {}) as made:
        e = sign_fails(cluster, "node-2", key, "sig-10 at node-2")
        assert (e.code, e.reason) == (grpc.StatusCode.UNAVAILABLE, "RNG_FAILURE")
        assert not e.culprits
        calls = broken.calls
        assert calls >= 1
        sig = sign(cluster, "node-1", key, "sig-10")
    assert sig.signers == [1, 3]
    assert broken.calls > calls  # node-2 was asked to join and its RNG failed
    assert made["node-2"] == []  # it never started a session
    assert cluster.node("node-1").registry.get(key.key_id).quarantined == set()
    version, state = key_state(cluster, "node-1", key.key_id)
    assert version == v0 and not state.get("quarantined_peers")


def test_sig_10_rng_failure_inside_round_1_is_liveness(cluster: InProcessCluster) -> None:
    """SIG-10, later failure: node-2 joined, then its RNG fails in round 1. The session ends as
    a liveness fault (UNAVAILABLE, no culprit, no quarantine), and the live quorum signs."""
    key = new_key(cluster)

    class RngFailsInRound1(SignSession):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**{**kw, "rng": BrokenRng()})

    with byzantine(cluster, {"node-2": RngFailsInRound1}) as made:
        e = sign_fails(cluster, "node-1", key, "sig-10 round 1")
        assert e.code == grpc.StatusCode.UNAVAILABLE and not e.culprits
        assert len(made["node-2"]) == 1
        assert cluster.node("node-1").registry.get(key.key_id).quarantined == set()
        assert not key_state(cluster, "node-1", key.key_id)[1].get("quarantined_peers")
        assert sign(cluster, "node-3", key, "sig-10 round 1, live quorum").signers == [1, 3]


# -- DKG-7 --------------------------------------------------------------------------------------


class BadPok(VsotBob):
    """V1 with a wrong Schnorr response z."""

    def v1(self) -> bytes:
        out = super().v1()
        return out[:-1] + bytes([out[-1] ^ 0x01])


class AEqualsB(VsotAlice):
    """V2 with A_0 = B."""

    def v2(self, v1: bytes) -> bytes:
        return v1[:33] + super().v2(v1)[33:]


class BadV5ToNode1(VsotBob):
    """V5 with one opening flipped, to party 1 only: node-3 completes and writes PENDING."""

    def v5(self, v4: bytes) -> bytes:
        out = super().v5(v4)
        if self._peer == 1:
            out = bytes([out[0] ^ 0x01]) + out[1:]
        return out


@pytest.mark.parametrize(
    ("role", "cheat", "reason"),
    [
        ("VsotBob", BadPok, "PEER_VSOT_POK_INVALID"),
        ("VsotAlice", AEqualsB, "PEER_VSOT_VERIFY_FAILED"),
        ("VsotBob", BadV5ToNode1, "PEER_VSOT_VERIFY_FAILED"),
    ],
    ids=["V1-pok", "V2-A=B", "V5-to-node-1"],
)
def test_dkg_7_vsot_cheat_aborts_the_secp256k1_dkg(
    cluster: InProcessCluster,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
    cheat: type[Any],
    reason: str,
) -> None:
    """DKG-7: node-2 misbehaves in the pairwise base-OT setup of a secp256k1 DKG ->
    CreateKey ABORTED with the VSOT reason naming node-2; no key becomes ACTIVE anywhere and
    every pending epoch record (node-3 writes one in the V5 case) is destroyed."""
    before = {n: vault_key_ids(cluster.info, n) for n in NODES}
    listed = {}
    for n in NODES:
        with entry(cluster, n) as c:
            listed[n] = {k.key_id for k in c.list_keys()}
    sids = {n: set(cluster.node(n).sessions) for n in NODES}
    byz_rng = cluster.node("node-2").rng
    honest = getattr(node_dkg, role)

    def factory(**kw: Any) -> Any:
        return (cheat if kw["rng"] is byz_rng else honest)(**kw)

    monkeypatch.setattr(node_dkg, role, factory)
    with entry(cluster, "node-1") as c, pytest.raises(WarifuRpcError) as err:
        c.create_key("ecdsa-secp256k1", threshold=2)
    e = err.value
    assert (e.code, e.reason) == (grpc.StatusCode.ABORTED, reason)
    assert e.culprits == [2] and e.culprit_nodes == ["node-2"]
    wait_until(
        lambda: all(
            s.aborted is not None or s.done
            for n in NODES
            for sid, s in cluster.node(n).sessions.items()
            if sid not in sids[n]
        ),
        what="every node to end its part of the DKG",
    )
    wait_until(
        lambda: {n: vault_key_ids(cluster.info, n) for n in NODES} == before,
        what="pending epoch records to be destroyed",
    )
    for n in NODES:
        with entry(cluster, n) as c:
            assert {k.key_id for k in c.list_keys()} == listed[n]


# -- NET-1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["r1", "r2"], ids=["between-rounds-1-2", "between-rounds-2-3"])
def test_net_1_member_silent_between_rounds(cluster: InProcessCluster, at: str) -> None:
    """NET-1 (ECDSA): node-2 goes silent after round 1 (or 2) -> the request ends within one
    round deadline with DEADLINE_EXCEEDED, no output, no blame; the live quorum signs."""
    key = new_key(cluster)
    release = threading.Event()
    try:
        with byzantine(cluster, {"node-2": stalling(at, release)}) as made:
            t0 = time.monotonic()
            e = sign_fails(cluster, "node-1", key, f"net-1 {at}")
            took = time.monotonic() - t0
            assert (e.code, e.reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")
            assert not e.culprits
            assert RT * 0.9 < took < RT + SLACK
            assert_honest_released_nothing(cluster, made, ["node-1"])
            assert cluster.node("node-1").registry.get(key.key_id).quarantined == set()
            sig = sign(cluster, "node-3", key, f"net-1 {at} live quorum")
            assert sig.signers == [1, 3]
            if at == "r2":
                # Now node-2 is gone for good (its server stops, as after a SIGKILL): node-1's
                # next request finds it unreachable at the start and signs with node-3.
                cluster.stop("node-2")
                t0 = time.monotonic()
                sig = sign(cluster, "node-1", key, "net-1 node-2 down")
                assert sig.signers == [1, 3] and time.monotonic() - t0 < RT + SLACK
    finally:
        release.set()
        if cluster.threads["node-2"].node is None:
            cluster.start("node-2")
            reconnect(cluster, "node-2", key)


def test_net_1_three_signers_whoever_times_out_first(
    cluster: InProcessCluster,
) -> None:
    """NET-1 (ECDSA, 3-of-3): node-2 goes silent after round 1; node-3 reaches its deadline
    first and tells the others. The coordinator still ends with DEADLINE_EXCEEDED (a liveness
    fault, retryable), not a precondition failure; once node-2 is back the three sign."""
    key = new_key(cluster, threshold=3)
    release = threading.Event()

    class SlowCoordinator(SignSession):
        def ot_checks(self, *a: Any, **kw: Any) -> Any:
            time.sleep(0.5)
            return super().ot_checks(*a, **kw)

    try:
        with byzantine(
            cluster, {"node-1": SlowCoordinator, "node-2": stalling("r1", release)}
        ) as made:
            t0 = time.monotonic()
            e = sign_fails(cluster, "node-1", key, "net-1 three")
            took = time.monotonic() - t0
            assert (e.code, e.reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")
            assert not e.culprits
            assert took < RT + SLACK
            assert_honest_released_nothing(cluster, made, ["node-1", "node-3"])
    finally:
        release.set()
    assert sign(cluster, "node-1", key, "net-1 three, back").signers == [1, 2, 3]
