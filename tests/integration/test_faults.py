"""Fault integration tests: stopped and killed nodes, a stalling DKG member, a stopped, sealed or
tampered OpenBao. Real node processes (SIGKILL/SIGSTOP) or real in-process nodes, real OpenBao
per node. IDs: specs/test-plan.md (NET-1, VLT-1, VLT-2, VLT-5).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from faultkit import payment, prefix, vault_key_ids, vault_record, verify_xrp, wait_health
from harness import InProcessCluster, ProcessCluster, inprocess_cluster, process_cluster, vault
from warifu.client import KeyInfo, WarifuRpcError, openbao
from warifu.client import cluster as local
from warifu.node import dkg
from warifu.node.transport import CHANNEL_OPTIONS

RT = 2.0  # round_timeout_s of every cluster here
SLACK = 3.0  # scheduling, TLS handshakes, Vault round trips on a loaded CI machine
# After a peer was down, a node's channel to it fails fast until its next reconnect attempt
# (node/transport.py: max reconnect back-off, plus gRPC's 20 % jitter).
RECONNECT_S = dict(CHANNEL_OPTIONS)["grpc.max_reconnect_backoff_ms"] / 1000 * 1.2 + 0.3


def client_at(c: ProcessCluster | InProcessCluster, name: str, **kw: Any) -> Any:
    return c.client(endpoints=[c.info.node(name).endpoint], **kw)


def key_ids_everywhere(c: ProcessCluster | InProcessCluster) -> dict[str, set[str]]:
    """Key ids recorded in every node's own OpenBao."""
    return {n.id: vault_key_ids(c.info, n.id) for n in c.info.nodes}


def listed_keys(c: ProcessCluster | InProcessCluster, names: list[str]) -> dict[str, set[str]]:
    out = {}
    for name in names:
        with client_at(c, name) as cl:
            out[name] = {k.key_id for k in cl.list_keys()}
    return out


# -- process cluster: SIGSTOP / SIGKILL and OpenBao outages --------------------------------------


@pytest.fixture(scope="module")
def pc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    # frost_precommit: node-1 (which creates the key) pools round-1 commitments, so a member can
    # be stopped *between* its round-1 answer and round 2.
    with process_cluster(
        tmp_path_factory.mktemp("faults"), round_timeout_s=RT, frost_precommit=4
    ) as c:
        yield c


@pytest.fixture(scope="module")
def pkey(pc: ProcessCluster) -> KeyInfo:
    with client_at(pc, "node-1") as c:
        return c.create_key("eddsa-ed25519", threshold=2)


@contextlib.contextmanager
def stopped(pc: ProcessCluster, *names: str) -> Iterator[None]:
    """SIGSTOP the node processes (alive, connections open, but silent); SIGCONT after."""
    pids = [pc.info.node(n).pid for n in names]
    assert all(pids)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)  # type: ignore[arg-type]


def timed_sign(pc: ProcessCluster, entry: str, key: KeyInfo, seq: int) -> tuple[Any, float]:
    with client_at(pc, entry) as c:
        t0 = time.monotonic()
        try:
            out: Any = c.sign_xrp_transaction(key.key_id, payment(key, seq=seq))
        except WarifuRpcError as exc:
            out = exc
        return out, time.monotonic() - t0


def test_net_1_sigstop_member_in_round_1_another_quorum_signs(
    pc: ProcessCluster, pkey: KeyInfo
) -> None:
    """NET-1 (signing, round 1): node-1 stopped; node-3 coordinates, asks node-1 first (no
    pooled commitments at node-3), times out after one round deadline and signs with node-2."""
    with stopped(pc, "node-1"):
        signed, took = timed_sign(pc, "node-3", pkey, seq=1)
    assert not isinstance(signed, Exception), signed
    assert signed.signers == [2, 3]
    verify_xrp(pkey, signed.tx_blob, signed.signature)
    assert RT * 0.9 < took < RT + SLACK


def test_net_1_sigstop_member_in_round_2_another_quorum_signs(
    pc: ProcessCluster, pkey: KeyInfo
) -> None:
    """NET-1 (signing, round 2): node-2 answered round 1 ahead of time (pooled commitments) and
    is stopped before round 2: node-1 retries once without it, within its deadline."""
    with stopped(pc, "node-2"):
        signed, took = timed_sign(pc, "node-1", pkey, seq=2)
    assert not isinstance(signed, Exception), signed
    assert signed.signers == [1, 3]
    verify_xrp(pkey, signed.tx_blob, signed.signature)
    assert RT * 0.9 < took < RT + SLACK


def test_net_1_two_members_stopped_fail_within_the_deadlines(
    pc: ProcessCluster, pkey: KeyInfo
) -> None:
    """NET-1: with two of three stopped no quorum exists: UNAVAILABLE/DEADLINE_EXCEEDED after at
    most one round deadline per other member tried (n - 1 = 2), never a hang."""
    with stopped(pc, "node-2", "node-3"):
        err, took = timed_sign(pc, "node-1", pkey, seq=3)
    assert isinstance(err, WarifuRpcError)
    assert err.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert err.reason in ("NOT_ENOUGH_SIGNERS", "DEADLINE_EXCEEDED")
    assert took < 2 * RT + SLACK
    # ... and once they are back, the cluster signs again.
    signed, _ = timed_sign(pc, "node-1", pkey, seq=4)
    assert not isinstance(signed, Exception), signed
    verify_xrp(pkey, signed.tx_blob, signed.signature)


def test_net_1_sigkill_then_create_key_makes_no_key_anywhere(
    pc: ProcessCluster, pkey: KeyInfo
) -> None:
    """NET-1 (DKG): a member is SIGKILLed; CreateKey fails UNAVAILABLE; no node lists a new key
    and no node's OpenBao holds any record of one. After a restart a DKG succeeds."""
    in_vault = key_ids_everywhere(pc)
    listed = listed_keys(pc, ["node-1", "node-2"])
    pc.kill("node-3")
    try:
        with client_at(pc, "node-1") as c:
            t0 = time.monotonic()
            with pytest.raises(WarifuRpcError) as err:
                c.create_key("eddsa-ed25519", threshold=2)
            assert time.monotonic() - t0 < RT + SLACK
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.UNAVAILABLE,
            "PEER_UNAVAILABLE",
        )
        time.sleep(RT)  # let node-2's half of the session run out
        assert listed_keys(pc, ["node-1", "node-2"]) == listed
        assert key_ids_everywhere(pc) == in_vault  # node-3's OpenBao still runs
    finally:
        pc.restart("node-3")
    time.sleep(RECONNECT_S)
    with client_at(pc, "node-1") as c:
        new = c.create_key("eddsa-ed25519", threshold=2)
    assert new.status == "ACTIVE" and new.key_id not in in_vault["node-1"]


def test_net_1_member_restart_loses_its_nonces_and_signing_still_works(
    pc: ProcessCluster, pkey: KeyInfo
) -> None:
    """NET-1: a member restarts (its in-memory nonces are gone, DESIGN §3) while the coordinator
    still pools its old commitments; with the other member down the coordinator must use the
    restarted one and still sign (fresh commitments), not fail with NONCE_CONSUMED."""
    with client_at(pc, "node-1") as c:
        c.sign_xrp_transaction(pkey.key_id, payment(pkey, seq=5))  # pools are in use
    pc.kill("node-3")
    pc.restart("node-3")
    time.sleep(RECONNECT_S)
    pc.kill("node-2")
    try:
        signed, took = timed_sign(pc, "node-1", pkey, seq=6)
        assert not isinstance(signed, Exception), signed
        assert signed.signers == [1, 3]
        verify_xrp(pkey, signed.tx_blob, signed.signature)
        assert took < RT + SLACK
    finally:
        pc.restart("node-2")


def restart_openbao(pc: ProcessCluster, name: str) -> None:
    """Start the node's OpenBao again from its data dir (unsealed with its stored key)."""
    n = pc.info.node(name)
    port = int(n.vault_addr.rsplit(":", 1)[1])
    server = openbao.start_openbao(n.dir / local.BAO_DIR, port)
    n.vault_pid = server.pid


def test_vlt_1_openbao_down(pc: ProcessCluster, pkey: KeyInfo) -> None:
    """VLT-1: node-2's OpenBao stops -> node-2 NOT_SERVING within seconds; Sign at node-2 is
    UNAVAILABLE VAULT_UNAVAILABLE; node-1 still signs 2-of-3 (with node-3); CreateKey fails
    UNAVAILABLE with no key anywhere; OpenBao back -> node-2 SERVING and signing, no restart."""
    node_pid = pc.info.node("node-2").pid
    in_vault = key_ids_everywhere(pc)
    listed = listed_keys(pc, ["node-1", "node-3"])
    openbao.stop_openbao(pc.info.node("node-2").vault_pid)  # type: ignore[arg-type]
    try:
        assert wait_health(pc.info, "node-2", "NOT_SERVING", timeout=5) < 5
        with client_at(pc, "node-2") as c, pytest.raises(WarifuRpcError) as err:
            c.sign_xrp_transaction(pkey.key_id, payment(pkey, seq=20))
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.UNAVAILABLE,
            "VAULT_UNAVAILABLE",
        )
        signed, _ = timed_sign(pc, "node-1", pkey, seq=21)
        assert not isinstance(signed, Exception), signed
        assert signed.signers == [1, 3]
        verify_xrp(pkey, signed.tx_blob, signed.signature)

        with client_at(pc, "node-1") as c, pytest.raises(WarifuRpcError) as err:
            c.create_key("eddsa-ed25519", threshold=2)
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        assert err.value.reason == "VAULT_UNAVAILABLE"
        time.sleep(RT)  # let node-3's half of the session run out
        assert listed_keys(pc, ["node-1", "node-3"]) == listed
        assert {n: in_vault[n] for n in ("node-1", "node-3")} == {
            n: vault_key_ids(pc.info, n) for n in ("node-1", "node-3")
        }
    finally:
        restart_openbao(pc, "node-2")
    assert wait_health(pc.info, "node-2", "SERVING", timeout=10) < 10
    assert pc.info.node("node-2").pid == node_pid  # the same process: not restarted
    assert key_ids_everywhere(pc) == in_vault
    signed, _ = timed_sign(pc, "node-2", pkey, seq=22)
    assert not isinstance(signed, Exception), signed
    assert 2 in signed.signers
    verify_xrp(pkey, signed.tx_blob, signed.signature)


def test_vlt_2_openbao_sealed(pc: ProcessCluster, pkey: KeyInfo) -> None:
    """VLT-2: node-3's OpenBao sealed -> NOT_SERVING, Sign at node-3 UNAVAILABLE VAULT_SEALED;
    unsealed with the key in its bao-init.json -> serves and signs again without a restart."""
    n = pc.info.node("node-3")
    node_pid = n.pid
    openbao.seal(n.vault_addr, n.vault_token)
    try:
        assert wait_health(pc.info, "node-3", "NOT_SERVING", timeout=5) < 5
        with client_at(pc, "node-3") as c, pytest.raises(WarifuRpcError) as err:
            c.sign_xrp_transaction(pkey.key_id, payment(pkey, seq=30))
        assert (err.value.code, err.value.reason) == (grpc.StatusCode.UNAVAILABLE, "VAULT_SEALED")
    finally:
        init = json.loads((n.dir / local.BAO_DIR / openbao.INIT_FILE).read_text())
        for k in init["unseal_keys"]:
            if not openbao.unseal(n.vault_addr, k):
                break
    assert wait_health(pc.info, "node-3", "SERVING", timeout=10) < 10
    assert pc.info.node("node-3").pid == node_pid
    signed, _ = timed_sign(pc, "node-3", pkey, seq=31)
    assert not isinstance(signed, Exception), signed
    assert 3 in signed.signers
    verify_xrp(pkey, signed.tx_blob, signed.signature)


# -- in-process cluster: a stalling DKG member, tampered shares -----------------------------------


@pytest.fixture(scope="module")
def ipc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessCluster]:
    with inprocess_cluster(
        tmp_path_factory.mktemp("faults-ip"), round_timeout_s=RT, share_cache_ttl_s=0
    ) as c:
        yield c


def test_net_1_dkg_member_stalls_at_ack(ipc: InProcessCluster) -> None:
    """NET-1 (DKG): node-3 stalls in the ACK round (after writing its pending share): the
    coordinator answers DEADLINE_EXCEEDED within the round deadline; no key becomes ACTIVE
    anywhere, and every node that wrote the pending epoch destroys it."""
    stall = 1.5 * RT
    written: dict[str, str] = {}
    originals: dict[str, Any] = {}
    for n in ipc.info.nodes:
        node = ipc.node(n.id)

        def record(orig: Any = node.registry.write_pending, name: str = n.id) -> Any:
            async def write_pending(share: Any, *args: Any, **kw: Any) -> int:
                written[name] = share.pkg.key_uuid
                return int(await orig(share, *args, **kw))

            return write_pending

        originals[n.id] = node.registry.write_pending
        node.registry.write_pending = record()  # type: ignore[method-assign]
    slow = ipc.node("node-3")
    open_dkg = slow._open_dkg

    def open_stalling(*args: Any, **kw: Any) -> Any:
        session, *rest = open_dkg(*args, **kw)
        broadcast = session.broadcast

        async def late_broadcast(env: Any) -> None:
            if env.round == dkg.ROUND_ACK:
                await asyncio.sleep(stall)
            await broadcast(env)

        session.broadcast = late_broadcast
        return (session, *rest)

    slow._open_dkg = open_stalling  # type: ignore[method-assign]
    before = key_ids_everywhere(ipc)
    try:
        with client_at(ipc, "node-1") as c:
            t0 = time.monotonic()
            with pytest.raises(WarifuRpcError) as err:
                c.create_key("eddsa-ed25519", threshold=2)
            took = time.monotonic() - t0
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "DEADLINE_EXCEEDED",
        )
        assert took < RT + SLACK
        assert set(written) == {"node-1", "node-2", "node-3"}  # every node wrote epoch/1 ...
        key_id = written["node-1"]
        deadline = time.monotonic() + stall + RT + SLACK
        while time.monotonic() < deadline:  # ... and every node destroys it (node-3 once awake)
            left = {
                n: vault_record(ipc.info, n, key_id, "epoch/1")[0]
                for n in written
                if vault_record(ipc.info, n, key_id, "epoch/1")[0] != 404
            }
            if not left and key_ids_everywhere(ipc) == before:
                break
            time.sleep(0.2)
        for n in ipc.info.nodes:
            assert vault_record(ipc.info, n.id, key_id, "epoch/1")[0] == 404, n.id
            assert vault_record(ipc.info, n.id, key_id, "state")[0] == 404, n.id
            with client_at(ipc, n.id) as c:
                assert key_id not in {k.key_id for k in c.list_keys()}
        assert key_ids_everywhere(ipc) == before
    finally:
        del slow._open_dkg
        for name, orig in originals.items():
            ipc.node(name).registry.write_pending = orig  # type: ignore[method-assign]
    with client_at(ipc, "node-1") as c:  # the cluster still makes keys
        assert c.create_key("eddsa-ed25519", threshold=2).status == "ACTIVE"


def flip_bit(ct: str) -> str:
    """``vault:vN:<base64>`` with one bit of the ciphertext body flipped."""
    head, _, b64 = ct.rpartition(":")
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}:{base64.b64encode(bytes(raw)).decode()}"


def put_epoch(
    ipc: InProcessCluster, node: str, key_id: str, record: dict[str, Any], *, as_version_1: bool
) -> None:
    """Write node's ``keys/<id>/epoch/1``: as a new KV version (cas) or, after deleting the
    metadata, as version 1 again (so only the cryptographic checks can notice)."""
    path = f"{prefix(node)}/keys/{key_id}/epoch/1"
    if as_version_1:
        code, body = vault(ipc.info, node, "DELETE", f"kv/metadata/{path}")
        assert code in (200, 204), body
        cas = 0
    else:
        cas = vault_record(ipc.info, node, key_id, "epoch/1")[1]["data"]["metadata"]["version"]
    code, body = vault(
        ipc.info, node, "POST", f"kv/data/{path}", {"options": {"cas": cas}, "data": record}
    )
    assert code == 200, body


def test_vlt_5_tampered_share_at_rest(ipc: InProcessCluster) -> None:
    """VLT-5 at the node (no share cache): node-3's stored share tampered in its OpenBao -> a
    sign that needs node-3 fails FAILED_PRECONDITION SHARE_INTEGRITY, never a wrong signature;
    the other quorum signs; with the record restored node-3 signs again."""
    with client_at(ipc, "node-1") as c:
        key = c.create_key("eddsa-ed25519", threshold=2)
        other = c.create_key("eddsa-ed25519", threshold=2)
    code, body = vault_record(ipc.info, "node-3", key.key_id, "epoch/1")
    assert code == 200 and body["data"]["metadata"]["version"] == 1
    original = body["data"]["data"]
    foreign_ct = vault_record(ipc.info, "node-3", other.key_id, "epoch/1")[1]["data"]["data"][
        "share_ct"
    ]
    tampered = {
        "bit flip, written as a new KV version": (
            {**original, "share_ct": flip_bit(original["share_ct"])},
            False,
        ),
        "bit flip, re-created as KV version 1": (
            {**original, "share_ct": flip_bit(original["share_ct"])},
            True,
        ),
        "ciphertext of another key, as KV version 1": ({**original, "share_ct": foreign_ct}, True),
    }
    seq = 40
    for what, (record, as_v1) in tampered.items():
        put_epoch(ipc, "node-3", key.key_id, record, as_version_1=as_v1)
        seq += 1
        with client_at(ipc, "node-3") as c, pytest.raises(WarifuRpcError) as err:
            c.sign_xrp_transaction(key.key_id, payment(key, seq=seq))
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "SHARE_INTEGRITY",
        ), what
        for entry in ("node-1", "node-2"):  # the quorum {1, 2} is untouched
            seq += 1
            with client_at(ipc, entry) as c:
                signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=seq))
            assert signed.signers == [1, 2], what
            verify_xrp(key, signed.tx_blob, signed.signature)
        assert ipc.node("node-3").vault_state == "ok"  # tampering is not an outage

    put_epoch(ipc, "node-3", key.key_id, original, as_version_1=True)
    with client_at(ipc, "node-3") as c:
        signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=seq + 1))
    assert 3 in signed.signers
    verify_xrp(key, signed.tx_blob, signed.signature)
