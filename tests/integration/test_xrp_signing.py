"""Integration: 3 real nodes + 3 real OpenBao servers sign XRP payments with a 2-of-3 key.

Every signature is checked by independent code: xrpl-py, libsodium (PyNaCl), OpenSSL
(cryptography) and rippled's S < L rule.
"""

from __future__ import annotations

import time

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.signing import VerifyKey
from xrpl.core.binarycodec import decode, encode_for_signing
from xrpl.core.keypairs import derive_classic_address, is_valid_message
from xrpl.models.transactions import Payment, Transaction

from harness import ProcessCluster, health
from warifu.client import Client, KeyInfo, WarifuRpcError

L = 2**252 + 27742317777372353535851937790883648493


def payment(key: KeyInfo, seq: int = 1, drops: str = "1000000") -> dict:
    return Payment(
        account=key.xrp_address,
        destination="rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
        amount=drops,
        fee="12",
        sequence=seq,
    ).to_xrpl()


def check_blob(key: KeyInfo, signed_blob: str, expected_hash: str) -> None:
    """The checks an external verifier makes (chains.md §2.5)."""
    tx = decode(signed_blob)
    msg = bytes.fromhex(encode_for_signing(tx))
    sig = bytes.fromhex(tx["TxnSignature"])
    spk = tx["SigningPubKey"]
    assert spk == "ED" + key.public_key.hex().upper()
    assert derive_classic_address(spk) == tx["Account"] == key.xrp_address
    assert is_valid_message(msg, sig, spk)
    VerifyKey(key.public_key).verify(msg, sig)  # libsodium
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(sig, msg)  # OpenSSL
    assert int.from_bytes(sig[32:], "little") < L  # rippled ed25519Canonical
    assert Transaction.from_xrpl(tx).get_hash() == expected_hash


@pytest.fixture(scope="module")
def key(pcluster: ProcessCluster) -> KeyInfo:
    with pcluster.client() as c:
        return c.create_key("eddsa-ed25519", threshold=2)


def test_dkg_key_is_the_same_at_every_node(pcluster: ProcessCluster, key: KeyInfo) -> None:
    assert key.threshold == 2 and key.epoch == 1 and len(key.parties) == 3
    for n in pcluster.info.nodes:
        with pcluster.client(endpoints=[n.endpoint]) as c:
            got = c.get_key(key.key_id)
        assert got == key


def test_xrp_payment_signed_2_of_3_verifies_independently(
    pcluster: ProcessCluster, key: KeyInfo
) -> None:
    with pcluster.client() as c:
        signed = c.sign_xrp_transaction(key.key_id, payment(key))
    assert len(signed.signers) == 2
    check_blob(key, signed.tx_blob, signed.hash)


def test_every_node_is_an_entry_point(pcluster: ProcessCluster, key: KeyInfo) -> None:
    rs = set()
    for i, n in enumerate(pcluster.info.nodes):
        with pcluster.client(endpoints=[n.endpoint]) as c:
            signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=10 + i))
        check_blob(key, signed.tx_blob, signed.hash)
        rs.add(signed.signature[:32])
    assert len(rs) == 3  # fresh nonces every time (invariant 5)


def test_concurrent_signatures_use_fresh_nonces(pcluster: ProcessCluster, key: KeyInfo) -> None:
    """SIG-6 (FROST nonces): parallel sessions never share a nonce; every R is unique."""
    from concurrent.futures import ThreadPoolExecutor

    with pcluster.client() as c, ThreadPoolExecutor(8) as pool:
        out = list(
            pool.map(
                lambda s: c.sign_xrp_transaction(key.key_id, payment(key, seq=100 + s)), range(24)
            )
        )
    for s in out:
        check_blob(key, s.tx_blob, s.hash)
    assert len({s.signature[:32] for s in out}) == len(out)


def test_sigkill_one_node_and_2_of_3_still_signs_then_restart_from_vault(
    pcluster: ProcessCluster, key: KeyInfo
) -> None:
    victim = "node-2"
    pcluster.kill(victim)
    try:
        assert health(pcluster.info, victim) == "UNREACHABLE"
        # Any entry node, including one that would have picked node-2 first.
        for n in pcluster.info.nodes:
            if n.id == victim:
                continue
            with pcluster.client(endpoints=[n.endpoint]) as c:
                t0 = time.monotonic()
                signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=200))
                assert time.monotonic() - t0 < 15
            check_blob(key, signed.tx_blob, signed.hash)
            assert pcluster.info.nodes[1].id == victim and 2 not in signed.signers
    finally:
        pcluster.restart(victim)
    # The restarted node reloads its share from its own Vault and coordinates a signature.
    with pcluster.client(endpoints=[pcluster.info.node(victim).endpoint]) as c:
        signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=201))
    assert 2 in signed.signers
    check_blob(key, signed.tx_blob, signed.hash)


def test_two_nodes_down_fails_unavailable_within_deadline(
    pcluster: ProcessCluster, key: KeyInfo
) -> None:
    pcluster.kill("node-2")
    pcluster.kill("node-3")
    try:
        with pcluster.client(endpoints=[pcluster.info.node("node-1").endpoint]) as c:
            t0 = time.monotonic()
            with pytest.raises(WarifuRpcError) as err:
                c.sign_xrp_transaction(key.key_id, payment(key, seq=300))
            assert time.monotonic() - t0 < 30
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        assert err.value.reason == "NOT_ENOUGH_SIGNERS"
    finally:
        pcluster.restart("node-2")
        pcluster.restart("node-3")


def test_client_reaches_the_cluster_when_its_first_node_is_down(
    pcluster: ProcessCluster, key: KeyInfo
) -> None:
    pcluster.kill("node-1")
    try:
        with pcluster.client() as c:  # node-1 is first in the endpoint list
            signed = c.sign_xrp_transaction(key.key_id, payment(key, seq=400))
        check_blob(key, signed.tx_blob, signed.hash)
    finally:
        pcluster.restart("node-1")


def test_status_reports_every_node(pcluster: ProcessCluster) -> None:
    from warifu.client import cluster

    doc = cluster.status_json(cluster.status(pcluster.data_dir))
    assert [n["id"] for n in doc["nodes"]] == ["node-1", "node-2", "node-3"]
    for n in doc["nodes"]:
        assert n["healthy"] is True and n["pid"] and n["vault_addr"].startswith("http://127.0.0.1:")
        assert n["vault_token"]


def _unused(c: Client) -> None:  # keeps the import used for type hints in helpers
    del c
