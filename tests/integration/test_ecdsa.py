"""Integration: 2-of-3 threshold ECDSA (DKLs23) on 3 real nodes + 3 real OpenBao servers.

Every output is checked by the chain's own tooling: transactions from the threshold address
are mined by eth-tester (py-evm) and move the balance; personal_sign and EIP-712 signatures
recover with eth-account; the XRP payment verifies with xrpl-py, with libsecp256k1 over
SHA-512Half, and passes rippled's strict-DER low-S rule.
"""

from __future__ import annotations

import json
import sys
import time

import grpc
import pytest
from coincurve import PublicKey
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from xrpl.core.binarycodec import decode, encode_for_signing
from xrpl.core.keypairs import derive_classic_address, is_valid_message

from harness import ProcessCluster, process_cluster
from warifu.client import KeyInfo, WarifuRpcError
from warifu.core.chains.xrpl import der_is_strict_low_s, sha512_half

# py-evm raises the recursion limit on import; keep the one the suite runs with.
_LIMIT = sys.getrecursionlimit()
from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402

sys.setrecursionlimit(_LIMIT)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

TYPED = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Mail": [
            {"name": "from", "type": "string"},
            {"name": "to", "type": "string"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "warifu",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {"from": "treasury", "to": "exchange", "contents": "settle"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> ProcessCluster:
    with process_cluster(tmp_path_factory.mktemp("ec")) as c:
        yield c


@pytest.fixture(scope="module")
def key(cluster: ProcessCluster) -> KeyInfo:
    with cluster.client() as c:
        return c.create_key("ecdsa-secp256k1", threshold=2)


@pytest.fixture
def chain() -> EthereumTester:
    return EthereumTester(PyEVMBackend())


def fund(chain: EthereumTester, address: str, amount: int) -> None:
    chain.send_transaction(
        {
            "from": chain.get_accounts()[0],
            "to": address,
            "value": amount,
            "gas": 21000,
            "max_fee_per_gas": 10**10,
            "max_priority_fee_per_gas": 10**9,
        }
    )


def test_key_has_eth_and_xrp_addresses(key: KeyInfo) -> None:
    assert key.scheme == "ecdsa-secp256k1" and key.threshold == 2 and len(key.parties) == 3
    assert len(key.public_key) == 33 and key.public_key[0] in (2, 3)
    pk = PublicKey(key.public_key)
    from eth_utils import keccak, to_checksum_address

    assert key.eth_address == to_checksum_address(keccak(pk.format(compressed=False)[1:])[-20:])
    assert key.xrp_address == derive_classic_address(key.public_key.hex().upper())


@pytest.mark.parametrize("kind", ["eip1559", "legacy"])
def test_threshold_transaction_is_mined_and_moves_the_balance(
    cluster: ProcessCluster, key: KeyInfo, chain: EthereumTester, kind: str
) -> None:
    fund(chain, key.eth_address, 10**18)
    recipient = chain.get_accounts()[1]
    before = chain.get_balance(recipient)
    chain_id = chain.backend.chain.chain_id
    base = {"chainId": chain_id, "nonce": 0, "gas": 21000, "to": recipient, "value": 4242}
    tx = (
        {**base, "type": 2, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
        if kind == "eip1559"
        else {**base, "gasPrice": 10**10}
    )
    with cluster.client() as c:
        signed = c.sign_eth_transaction(key.key_id, tx)
    assert Account.recover_transaction(signed.raw_transaction) == key.eth_address
    assert int(signed.s, 16) <= N // 2
    tx_hash = chain.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == signed.hash
    assert chain.get_transaction_receipt(tx_hash)["status"] == 1
    assert chain.get_balance(recipient) == before + 4242
    assert chain.get_nonce(key.eth_address) == 1


def test_personal_sign_and_typed_data_recover_to_the_address(
    cluster: ProcessCluster, key: KeyInfo
) -> None:
    with cluster.client() as c:
        msg = c.sign_eth_message(key.key_id, "hello")
        typed = c.sign_eth_typed_data(key.key_id, TYPED)
    assert (
        Account.recover_message(encode_defunct(text="hello"), signature=msg.signature)
        == key.eth_address
    )
    assert (
        Account.recover_message(encode_typed_data(full_message=TYPED), signature=typed.signature)
        == key.eth_address
    )
    for sig in (msg.signature, typed.signature):
        raw = bytes.fromhex(sig[2:])
        assert len(raw) == 65 and raw[64] in (27, 28)
        assert int.from_bytes(raw[32:64], "big") <= N // 2


def test_xrp_payment_from_the_secp256k1_account(cluster: ProcessCluster, key: KeyInfo) -> None:
    tx = {
        "TransactionType": "Payment",
        "Account": key.xrp_address,
        "Destination": "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
        "Amount": "1000000",
        "Fee": "12",
        "Sequence": 7,
    }
    with cluster.client() as c:
        signed = c.sign_xrp_transaction(key.key_id, tx)
    blob = decode(signed.tx_blob)
    msg = bytes.fromhex(encode_for_signing(blob))
    der = bytes.fromhex(blob["TxnSignature"])
    assert blob["SigningPubKey"] == key.public_key.hex().upper()
    assert is_valid_message(msg, der, blob["SigningPubKey"])
    assert PublicKey(key.public_key).verify(der, sha512_half(msg), hasher=None)
    assert der_is_strict_low_s(der)


def test_sign_with_one_node_killed_then_restart_reloads_ot_state(
    cluster: ProcessCluster, key: KeyInfo
) -> None:
    message = "after a crash"
    cluster.kill("node-3")
    try:
        with cluster.client() as c:
            t0 = time.monotonic()
            sig = c.sign_eth_message(key.key_id, message)
            assert time.monotonic() - t0 < 30
        assert 3 not in sig.signers
        assert (
            Account.recover_message(encode_defunct(text=message), signature=sig.signature)
            == key.eth_address
        )
    finally:
        cluster.restart("node-3")
    # node-3 reloads its share and OT state from its own Vault (checked on load) and coordinates.
    with cluster.client(endpoints=[cluster.info.node("node-3").endpoint]) as c:
        sig = c.sign_eth_message(key.key_id, message)
    assert 3 in sig.signers
    assert (
        Account.recover_message(encode_defunct(text=message), signature=sig.signature)
        == key.eth_address
    )


BAD_INPUT = [
    ("raw 31-byte digest", {"raw_digest": b"\x01" * 31}, "RAW_DIGEST_NOT_ALLOWED"),
    ("undecodable tx", {"eth_transaction": "{not json"}, "INVALID_JSON"),
    (
        "missing chainId",
        {
            "eth_transaction": json.dumps(
                {
                    "nonce": 0,
                    "gas": 21000,
                    "gasPrice": 1,
                    "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                    "value": 1,
                }
            )
        },
        "MISSING_FIELD",
    ),
    (
        "non-checksummed to",
        {
            "eth_transaction": json.dumps(
                {
                    "chainId": 1,
                    "nonce": 0,
                    "gas": 21000,
                    "gasPrice": 1,
                    "to": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
                    "value": 1,
                }
            )
        },
        "INVALID_ADDRESS_CHECKSUM",
    ),
    ("empty personal message", {"eth_message": b""}, "EMPTY_MESSAGE"),
]


@pytest.mark.parametrize(("name", "payload", "reason"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_ecdsa_input_is_refused_before_any_session(
    cluster: ProcessCluster, key: KeyInfo, name: str, payload: dict, reason: str
) -> None:
    from warifu.v1 import signer_pb2

    kind, value = next(iter(payload.items()))
    body = {
        "raw_digest": lambda v: signer_pb2.RawDigest(digest=v),
        "eth_transaction": lambda v: signer_pb2.EthTransaction(tx_json=v),
        "eth_message": lambda v: signer_pb2.EthMessage(message=v),
    }[kind](value)
    req = signer_pb2.SignRequest(request_id=b"\x07" * 16, key_id=key.key_id, **{kind: body})
    with cluster.client() as c, pytest.raises(WarifuRpcError) as err:
        c._call("Sign", req, signer_pb2.SignResponse)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == reason


def test_raw_digest_of_the_wrong_length_on_a_key_that_allows_digests(
    cluster: ProcessCluster,
) -> None:
    with cluster.client() as c:
        key = c.create_key("ecdsa-secp256k1", threshold=2, allow_raw_digest=True)
        for n in (31, 33):
            with pytest.raises(WarifuRpcError) as err:
                c.sign_digest(key.key_id, b"\x01" * n)
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.reason == "INVALID_DIGEST_LENGTH"
        digest = bytes(range(32))
        sig = c.sign_digest(key.key_id, digest)
    r_s = sig.signature
    assert PublicKey(key.public_key).verify(
        _der(int.from_bytes(r_s[:32], "big"), int.from_bytes(r_s[32:], "big")), digest, hasher=None
    )
    recovered = PublicKey.from_signature_and_message(
        r_s + bytes([sig.recovery_id]), digest, hasher=None
    )
    assert recovered.format() == key.public_key


def test_ed25519_key_cannot_sign_ethereum(cluster: ProcessCluster) -> None:
    with cluster.client() as c:
        ed = c.create_key("eddsa-ed25519", threshold=2)
        with pytest.raises(WarifuRpcError) as err:
            c.sign_eth_message(ed.key_id, "hello")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == "WRONG_KEY_TYPE"


def _der(r: int, s: int) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature(r, s)


def test_sig_6_presignatures_are_used_once_and_never_survive_a_restart(
    cluster: ProcessCluster,
) -> None:
    """SIG-6 (presignatures): concurrent signatures each take a different presignature (every r
    unique, every signature valid); after a restart no presignature exists anywhere, and signing
    still works (a fresh pool or the 3-round protocol)."""
    from concurrent.futures import ThreadPoolExecutor

    with cluster.client(endpoints=[cluster.info.node("node-1").endpoint]) as c:
        key = c.create_key("ecdsa-secp256k1", threshold=2, presign_pool=6)
        deadline = time.monotonic() + 30
        # the pool fills in the background; sign once it has had time to fill
        time.sleep(2)
        assert time.monotonic() < deadline
        messages = [f"concurrent {i}" for i in range(10)]
        with ThreadPoolExecutor(5) as pool:
            sigs = list(pool.map(lambda m: c.sign_eth_message(key.key_id, m), messages))
    rs = set()
    for m, sig in zip(messages, sigs, strict=True):
        assert (
            Account.recover_message(encode_defunct(text=m), signature=sig.signature)
            == key.eth_address
        )
        rs.add(sig.signature[:66])
    assert len(rs) == len(sigs)  # invariant 5: no two signatures share an r

    for n in ("node-1", "node-2", "node-3"):
        cluster.kill(n)
        cluster.restart(n)
    with cluster.client(endpoints=[cluster.info.node("node-1").endpoint]) as c:
        sig = c.sign_eth_message(key.key_id, "after restart")
    assert (
        Account.recover_message(encode_defunct(text="after restart"), signature=sig.signature)
        == key.eth_address
    )
