"""Integration: the refresh ceremony on 3 real nodes + 3 real OpenBao servers, both curves.

Approvals are checked by every node (REF-7); a committed refresh keeps the group key, moves every
node to the next epoch and destroys the old epoch's records at every node; a refresh that cannot
finish leaves every node on the old epoch (NET-1, refresh round); the audit log of every node
verifies, and a tampered entry is found.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from nacl.signing import VerifyKey
from xrpl.core.binarycodec import decode, encode_for_signing

from harness import ProcessCluster, process_cluster, vault
from warifu.client import KeyInfo, WarifuRpcError
from warifu.core.approvals import Approval, ApproverKey, CeremonyStatement

APPROVERS = ("dev-approver-1", "dev-approver-2", "dev-approver-3")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> ProcessCluster:
    with process_cluster(tmp_path_factory.mktemp("cer"), round_timeout_s=3.0) as c:
        yield c


def approver(cluster: ProcessCluster, name: str) -> ApproverKey:
    seed = (cluster.info.data_dir / "approvers" / f"{name}.key").read_text().strip()
    return ApproverKey(name, bytes.fromhex(seed))


def approve(cluster: ProcessCluster, stmt: CeremonyStatement, *names: str) -> list[Approval]:
    return [approver(cluster, n).approve(stmt) for n in names]


def epochs(cluster: ProcessCluster, key_id: str) -> list[int]:
    out = []
    for n in cluster.info.nodes:
        with cluster.client(endpoints=[n.endpoint]) as c:
            out.append(c.get_key(key_id).epoch)
    return out


def epoch_record_status(cluster: ProcessCluster, node: str, key_id: str, epoch: int) -> int:
    status, _ = vault(
        cluster.info, node, "GET", f"kv/metadata/warifu/{node}/keys/{key_id}/epoch/{epoch}"
    )
    return status


def wait_until_no_ceremony_in_flight(cluster: ProcessCluster, timeout: float = 30.0) -> None:
    """Members unwind an aborted ceremony on their own (notice or round deadline); wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        busy = []
        for n in cluster.info.nodes:
            with cluster.client(endpoints=[n.endpoint]) as c:
                busy += [r for r in c.ceremony_status() if r["status"] == "IN_FLIGHT"]
        if not busy:
            return
        assert time.monotonic() < deadline, busy
        time.sleep(0.2)


def sign_and_check(cluster: ProcessCluster, key: KeyInfo, text: str) -> int:
    """Sign at the current epoch and verify independently; returns the epoch that signed."""
    with cluster.client() as c:
        if key.scheme == "eddsa-ed25519":
            signed = c.sign_xrp_transaction(
                key.key_id,
                {
                    "TransactionType": "Payment",
                    "Account": key.xrp_address,
                    "Destination": "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
                    "Amount": "1000",
                    "Fee": "12",
                    "Sequence": len(text),
                },
            )
            tx = decode(signed.tx_blob)
            VerifyKey(key.public_key).verify(
                bytes.fromhex(encode_for_signing(tx)), bytes.fromhex(tx["TxnSignature"])
            )
            return signed.epoch
        sig = c.sign_eth_message(key.key_id, text)
        assert (
            Account.recover_message(encode_defunct(text=text), signature=sig.signature)
            == key.eth_address
        )
        return c.get_key(key.key_id).epoch


@pytest.mark.parametrize("scheme", ["eddsa-ed25519", "ecdsa-secp256k1"])
def test_refresh_keeps_the_key_moves_every_node_and_destroys_the_old_epoch(
    cluster: ProcessCluster, scheme: str
) -> None:
    with cluster.client() as c:
        key = c.create_key(scheme, threshold=2)
        assert sign_and_check(cluster, key, "before") == 1
        stmt = c.refresh_statement(key.key_id)
        report = c.refresh(stmt, approve(cluster, stmt, "dev-approver-1", "dev-approver-3"))
    assert report["status"] == "COMMITTED"
    assert (report["epoch_from"], report["epoch_to"]) == (1, 2)
    assert report["public_key"] == key.public_key.hex()  # the group key is unchanged
    assert report["approvers"] == ["dev-approver-1", "dev-approver-3"]
    assert [p["name"] for p in report["phases"]][-1] == "destroy old epoch"
    assert epochs(cluster, key.key_id) == [2, 2, 2]
    # Signing with the new epoch verifies independently.
    assert sign_and_check(cluster, key, "after refresh") == 2
    # The old epoch's share records are gone at every node: no version, no metadata.
    for n in cluster.info.nodes:
        assert epoch_record_status(cluster, n.id, key.key_id, 1) == 404
        assert epoch_record_status(cluster, n.id, key.key_id, 2) == 200


def test_ref_7_bad_approvals_are_refused_by_every_node(cluster: ProcessCluster) -> None:
    with cluster.client() as c:
        key = c.create_key("eddsa-ed25519", threshold=2)
        stmt = c.refresh_statement(key.key_id)
    good = approve(cluster, stmt, "dev-approver-1", "dev-approver-2")
    expired = dataclasses.replace(stmt, expires_at=int(time.time()) - 1)
    other_threshold = dataclasses.replace(stmt, threshold=3)
    other_epoch = dataclasses.replace(stmt, epoch=7)
    stranger = ApproverKey("dev-approver-1", b"\x01" * 32)  # a registered name, another key
    cases = [
        ("one approval", stmt, good[:1], "APPROVAL_QUORUM_NOT_MET"),
        ("duplicated approver", stmt, [good[0], good[0]], "APPROVER_DUPLICATED"),
        ("forged signature", stmt, [stranger.approve(stmt), good[1]], "APPROVAL_SIGNATURE_INVALID"),
        ("approvals of another statement", other_threshold, good, "APPROVAL_PARAMETERS_MISMATCH"),
        ("expired", expired, approve(cluster, expired, *APPROVERS[:2]), "APPROVAL_EXPIRED"),
        (
            "wrong epoch",
            other_epoch,
            approve(cluster, other_epoch, *APPROVERS[:2]),
            "APPROVAL_PARAMETERS_MISMATCH",
        ),
    ]
    for n in cluster.info.nodes:  # every node refuses on its own
        with cluster.client(endpoints=[n.endpoint]) as c:
            for name, st, approvals, reason in cases:
                with pytest.raises(WarifuRpcError) as err:
                    c.refresh(st, approvals)
                assert err.value.code == grpc.StatusCode.PERMISSION_DENIED, name
                assert err.value.reason == reason, name
    assert epochs(cluster, key.key_id) == [1, 1, 1]  # nothing changed anywhere
    # The good approvals still work once, and never twice (nonce).
    with cluster.client() as c:
        assert c.refresh(stmt, good)["epoch_to"] == 2
        with pytest.raises(WarifuRpcError) as err:
            c.refresh(stmt, good, request_id=b"\x09" * 16)
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.reason in ("APPROVAL_NONCE_REUSED", "APPROVAL_PARAMETERS_MISMATCH")


def test_net_1_refresh_with_a_member_down_leaves_every_node_on_the_old_epoch(
    cluster: ProcessCluster,
) -> None:
    with cluster.client() as c:
        key = c.create_key("ecdsa-secp256k1", threshold=2)
        stmt = c.refresh_statement(key.key_id)
    cluster.kill("node-3")
    try:
        with cluster.client(endpoints=[cluster.info.node("node-1").endpoint]) as c:
            t0 = time.monotonic()
            with pytest.raises(WarifuRpcError) as err:
                c.refresh(stmt, approve(cluster, stmt, *APPROVERS[:2]))
            assert time.monotonic() - t0 < 30
        assert err.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        # 2-of-3 signing at the old epoch keeps working meanwhile.
        assert sign_and_check(cluster, key, "while node-3 is down") == 1
    finally:
        cluster.restart("node-3")
    wait_until_no_ceremony_in_flight(cluster)
    assert epochs(cluster, key.key_id) == [1, 1, 1]
    for n in cluster.info.nodes:
        assert epoch_record_status(cluster, n.id, key.key_id, 2) == 404
    # A new approval (new nonce) refreshes once everyone is back.
    with cluster.client() as c:
        stmt2 = c.refresh_statement(key.key_id)
        assert c.refresh(stmt2, approve(cluster, stmt2, *APPROVERS[1:]))["epoch_to"] == 2
    assert sign_and_check(cluster, key, "after the retry") == 2


def test_ceremony_status_and_audit_logs_verify(cluster: ProcessCluster, tmp_path: Path) -> None:
    with cluster.client() as c:
        rows = c.ceremony_status()
    assert any(r["kind"] == "refresh" and r["status"] == "COMMITTED" for r in rows)
    for n in cluster.info.nodes:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "warifu.client.cli",
                "audit",
                "verify",
                "--json",
                "--data-dir",
                str(cluster.info.data_dir),
                "--node",
                n.id,
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["ok"] and doc["entries"] >= 3
    # A tampered copy is found, at the entry that was changed.
    lines = (cluster.info.data_dir / "node-1" / "audit.jsonl").read_text().splitlines()
    entry = json.loads(lines[1])
    entry["fields"]["client"] = "someone-else" if "client" in entry["fields"] else "x"
    lines[1] = json.dumps(entry)
    forged = tmp_path / "audit.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "warifu.client.cli",
            "audit",
            "verify",
            "--json",
            "--file",
            str(forged),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["seq"] == 1
