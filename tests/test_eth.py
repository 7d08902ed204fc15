"""Ethereum chain support (core/chains/eth.py) against eth-account, libsecp256k1 and py-evm.

Spec: specs/chains.md §3 (and §0 items 4–6). A signature is made the way the cluster makes
one: an (r, s, recid) over the digest warifu computed, normalised to low S, then assembled.
It is checked against independent code only: eth-account's own ``sign_transaction`` /
``sign_message`` (deterministic RFC 6979, so byte-identical output is expected), its
``recover_*`` functions, and a py-evm chain (eth-tester) that must mine the transaction.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account._utils.legacy_transactions import (
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from warifu.core.chains import eth as E
from warifu.core.chains._json import MAX_JSON_DEPTH, json_depth
from warifu.core.errors import InvalidArguments

# py-evm raises the interpreter's recursion limit (to 12288) when imported; keep the limit the
# node runs with, so that the rest of the suite is not run under a different one.
_RECURSION_LIMIT = sys.getrecursionlimit()
from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402

sys.setrecursionlimit(_RECURSION_LIMIT)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TO = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # the EIP-55 test vector
TESTER_CHAIN_ID = 131277322940537


def key(i: int = 1) -> coincurve.PrivateKey:
    return coincurve.PrivateKey(hashlib.sha256(b"warifu-test-eth-%d" % i).digest())


def address_of(sk: coincurve.PrivateKey) -> str:
    return E.eth_address(sk.public_key.format(compressed=True))


def ecdsa(sk: coincurve.PrivateKey, digest: bytes) -> tuple[int, int, int]:
    """(r, s, recid) over ``digest`` as a threshold protocol outputs it, then low-S."""
    sig = sk.sign_recoverable(digest, hasher=None)  # chains.md §0.5: hasher=None
    r, s, recid = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    return E.normalize_low_s(r, s, recid)


def eip1559(**extra: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": 1,
        "nonce": 7,
        "maxPriorityFeePerGas": 1_000_000_000,
        "maxFeePerGas": 30_000_000_000,
        "gas": 21000,
        "to": TO,
        "value": 10**16,
    }
    tx.update(extra)
    return tx


def legacy(**extra: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "chainId": 1,
        "nonce": 7,
        "gasPrice": 20_000_000_000,
        "gas": 21000,
        "to": TO,
        "value": 10**16,
    }
    tx.update(extra)
    return tx


def reason_of(excinfo: pytest.ExceptionInfo[InvalidArguments]) -> str:
    return excinfo.value.reason


TX_CASES = {
    "eip1559": eip1559(),
    "eip1559-hex-quantities": eip1559(
        type="0x2", nonce="0x0", value="0xde0b6b3a7640000", maxFeePerGas="0x6fc23ac00"
    ),
    "eip1559-data-accesslist": eip1559(
        data="0xa9059cbb" + "00" * 64,
        accessList=[{"address": TO, "storageKeys": ["0x" + "00" * 31 + "01", "0x" + "ab" * 32]}],
        gas=100_000,
    ),
    "eip1559-no-type-field": {k: v for k, v in eip1559().items() if k != "type"},
    "eip1559-contract-creation": {
        k: v for k, v in eip1559(data="0x6080604052", gas=100_000).items() if k != "to"
    },
    "eip1559-big-chain-id": eip1559(chainId=E.MAX_CHAIN_ID, nonce=2**64 - 2),
    "legacy": legacy(),
    "legacy-data": legacy(data="0x01020304", chainId=137, value=0),
    "legacy-big-chain-id": legacy(chainId=E.MAX_CHAIN_ID),
}


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize("i", range(5))
def test_address_matches_eth_account(i: int) -> None:
    sk = key(i)
    expected = Account.from_key(sk.secret).address
    assert E.eth_address(sk.public_key.format(compressed=True)) == expected
    assert E.eth_address(sk.public_key.format(compressed=False)) == expected


def test_eip55_vector() -> None:
    # the EIP-55 examples are their own checksums: eth_utils agrees with each
    for addr in (TO, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"):
        assert to_checksum_address(addr.lower()) == addr
        E.parse_transaction(eip1559(to=addr))


@pytest.mark.parametrize(
    "pk",
    [
        b"",
        b"\x02" * 32,
        b"\x02" + b"\xff" * 32,  # x >= p
        b"\x05" + b"\x01" * 32,  # bad prefix
        b"\x04" + b"\x01" * 64,  # not on the curve
        "02" * 33,
    ],
)
def test_eth_address_rejects_bad_keys(pk: Any) -> None:
    with pytest.raises(InvalidArguments) as ei:
        E.eth_address(pk)
    assert reason_of(ei) == "INVALID_PUBLIC_KEY"


# --- transactions: byte-identical to eth-account --------------------------------------------


@pytest.mark.parametrize("i", range(3))
@pytest.mark.parametrize("case", sorted(TX_CASES))
def test_transaction_is_byte_identical_to_eth_account(case: str, i: int) -> None:
    sk = key(i)
    tx_dict = TX_CASES[case]
    tx = E.parse_transaction(json.dumps(tx_dict))
    assert tx.tx_type == (0 if case.startswith("legacy") else 2)
    r, s, recid = ecdsa(sk, tx.signing_hash())
    signed = tx.assemble(r, s, recid, address=address_of(sk))

    theirs = Account.sign_transaction(tx_dict, sk.secret)
    assert signed.raw_transaction == theirs.raw_transaction.to_0x_hex()
    assert signed.hash == theirs.hash.to_0x_hex()
    assert (signed.r, signed.s, signed.v) == (theirs.r, theirs.s, theirs.v)
    if tx.tx_type == 2:
        assert signed.v == recid
    else:
        assert signed.v == tx.chain_id * 2 + 35 + recid
    assert signed.hash == "0x" + keccak(hexstr=signed.raw_transaction).hex()
    assert Account.recover_transaction(signed.raw_transaction) == address_of(sk)
    # the same transaction given as a dict (data as bytes) signs the same bytes
    as_dict = dict(tx_dict)
    if "data" in as_dict:
        as_dict["data"] = bytes.fromhex(as_dict["data"][2:])
    assert E.parse_transaction(as_dict).signing_hash() == tx.signing_hash()


@pytest.mark.parametrize("case", sorted(TX_CASES))
def test_assemble_reproduces_eth_account_from_its_own_signature(case: str) -> None:
    """Take (r, s, v) from eth-account's result and rebuild its raw bytes exactly."""
    sk = key(9)
    tx_dict = TX_CASES[case]
    theirs = Account.sign_transaction(tx_dict, sk.secret)
    tx = E.parse_transaction(tx_dict)
    recid = theirs.v if tx.tx_type == 2 else theirs.v - 35 - 2 * tx.chain_id
    assert recid in (0, 1)
    assert tx.v_for(recid) == theirs.v
    signed = tx.assemble(theirs.r, theirs.s, recid)
    assert signed.raw_transaction == theirs.raw_transaction.to_0x_hex()
    assert signed.hash == theirs.hash.to_0x_hex()


@settings(max_examples=30)
@given(
    secret=st.integers(min_value=1, max_value=N - 1),
    legacy_tx=st.booleans(),
    chain_id=st.integers(min_value=1, max_value=E.MAX_CHAIN_ID),
    nonce=st.integers(min_value=0, max_value=2**64 - 2),
    fee=st.integers(min_value=0, max_value=2**256 - 1),
    value=st.integers(min_value=0, max_value=2**256 - 1),
    gas=st.integers(min_value=0, max_value=2**64 - 1),
    data=st.binary(max_size=64),
    to=st.one_of(st.none(), st.binary(min_size=20, max_size=20)),
)
def test_random_transactions_match_eth_account(
    secret: int,
    legacy_tx: bool,
    chain_id: int,
    nonce: int,
    fee: int,
    value: int,
    gas: int,
    data: bytes,
    to: bytes | None,
) -> None:
    sk = coincurve.PrivateKey(secret.to_bytes(32, "big"))
    tx_dict: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "gas": gas, "value": value}
    tx_dict["data"] = "0x" + data.hex()
    if to is not None:
        tx_dict["to"] = to_checksum_address(to)
    if legacy_tx:
        tx_dict["gasPrice"] = fee
    else:
        tx_dict.update(type=2, maxFeePerGas=fee, maxPriorityFeePerGas=fee // 3)
    tx = E.parse_transaction(tx_dict)
    signed = tx.assemble(*ecdsa(sk, tx.signing_hash()))
    theirs = Account.sign_transaction(tx_dict, sk.secret)
    assert signed.raw_transaction == theirs.raw_transaction.to_0x_hex()
    assert signed.hash == theirs.hash.to_0x_hex()


def test_canonical_fields_and_accessors() -> None:
    tx = E.parse_transaction(
        eip1559(nonce="0x0a", value="0x10", data="0xABCD", **{"from": address_of(key())}),
        sender=address_of(key()),
    )
    assert tx.fields == {
        "type": 2,
        "chainId": 1,
        "nonce": 10,
        "maxPriorityFeePerGas": 1_000_000_000,
        "maxFeePerGas": 30_000_000_000,
        "gas": 21000,
        "to": TO,
        "value": 16,
        "data": "0xabcd",
        "accessList": [],
    }
    assert json.loads(tx.to_json()) == tx.fields
    assert (tx.chain_id, tx.nonce, tx.to, tx.value, tx.data) == (1, 10, TO, 16, b"\xab\xcd")
    assert tx.sender == address_of(key())
    creation = E.parse_transaction(eip1559(to=None))
    assert creation.to is None and "to" not in creation.fields
    # `from` is not signed: the hash is the one without it
    assert (
        tx.signing_hash()
        == E.parse_transaction(eip1559(nonce=10, value=16, data="0xabcd")).signing_hash()
    )


# --- transactions: mined by py-evm ---------------------------------------------------------


@pytest.fixture
def chain() -> EthereumTester:
    # Auto-mining stays on (the default): with it off, eth-tester re-validates pending signed
    # transactions with v < 256, which refuses EIP-155 legacy v for this chain id (an eth-tester
    # limit, not a chain rule). Each send is therefore mined in its own block.
    tester = EthereumTester(PyEVMBackend())
    assert tester.backend.chain.chain_id == TESTER_CHAIN_ID
    return tester


def _fund(chain: EthereumTester, address: str, amount: int) -> None:
    funder = chain.get_accounts()[0]
    chain.send_transaction(
        {
            "from": funder,
            "to": address,
            "value": amount,
            "gas": 21000,
            "max_fee_per_gas": 10**10,
            "max_priority_fee_per_gas": 10**9,
        }
    )
    assert chain.get_balance(address) == amount


@pytest.mark.parametrize("kind", ["eip1559", "legacy"])
def test_assembled_transaction_is_mined_by_py_evm(chain: EthereumTester, kind: str) -> None:
    sk = key(3)
    sender = address_of(sk)
    _fund(chain, sender, 10**18)
    recipient = chain.get_accounts()[1]
    before = chain.get_balance(recipient)
    base = {"chainId": TESTER_CHAIN_ID, "nonce": 0, "gas": 21000, "to": recipient, "value": 12345}
    if kind == "eip1559":
        tx_dict = {**base, "type": 2, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    else:
        tx_dict = {**base, "gasPrice": 10**10}

    tx = E.parse_transaction(json.dumps(tx_dict), sender=sender)
    signed = tx.assemble(*ecdsa(sk, tx.signing_hash()), address=sender)
    height = chain.get_block_by_number("latest")["number"]
    tx_hash = chain.send_raw_transaction(signed.raw_transaction)  # mined on send
    assert tx_hash == signed.hash

    receipt = chain.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert receipt["block_number"] == height + 1
    assert chain.get_balance(recipient) == before + 12345
    gas_cost = receipt["gas_used"] * receipt["effective_gas_price"]
    assert chain.get_balance(sender) == 10**18 - 12345 - gas_cost
    assert chain.get_nonce(sender) == 1
    mined = chain.get_transaction_by_hash(tx_hash)
    assert mined["from"] == sender
    assert (mined["r"], mined["s"], mined["v"]) == (signed.r, signed.s, signed.v)


@pytest.mark.parametrize("kind", ["eip1559", "legacy"])
def test_high_s_is_rejected_by_py_evm_and_by_assemble(chain: EthereumTester, kind: str) -> None:
    """chains.md §0.4: eth-account recovers a high-s transaction; py-evm refuses it (EIP-2)."""
    sk = key(4)
    sender = address_of(sk)
    _fund(chain, sender, 10**18)
    base = {"chainId": TESTER_CHAIN_ID, "nonce": 0, "gas": 21000, "to": TO, "value": 1}
    if kind == "eip1559":
        tx_dict = {**base, "type": 2, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    else:
        tx_dict = {**base, "gasPrice": 10**10}
    tx = E.parse_transaction(tx_dict)
    r, s, recid = ecdsa(sk, tx.signing_hash())
    high_s, high_recid = N - s, recid ^ 1
    assert high_s > N // 2

    # the malleated twin, encoded by eth-account itself (assemble refuses to build it)
    unsigned = serializable_unsigned_transaction_from_dict(dict(tx_dict))  # type: ignore[arg-type]
    v_high = high_recid if kind == "eip1559" else TESTER_CHAIN_ID * 2 + 35 + high_recid
    raw_high = "0x" + encode_transaction(unsigned, vrs=(v_high, r, high_s)).hex()
    assert Account.recover_transaction(raw_high) == sender  # weaker than the chain
    # py-evm: "Invalid signature S value" (typed) / "Transaction.s … is not less than or equal
    # to n/2" (legacy)
    with pytest.raises(
        ValidationError, match=r"(?i)signature s value|Transaction\.s \d+ is not less"
    ):
        chain.send_raw_transaction(raw_high)
    assert chain.get_nonce(sender) == 0
    with pytest.raises(InvalidArguments) as ei:
        tx.assemble(r, high_s, high_recid)
    assert reason_of(ei) == "NON_CANONICAL_SIGNATURE"

    # normalize_low_s turns the twin back into the canonical signature, which is mined
    assert E.normalize_low_s(r, high_s, high_recid) == (r, s, recid)
    signed = tx.assemble(*E.normalize_low_s(r, high_s, high_recid), address=sender)
    chain.send_raw_transaction(signed.raw_transaction)
    assert chain.get_transaction_receipt(signed.hash)["status"] == 1
    assert chain.get_nonce(sender) == 1


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message", [b"hello", "héllo wörld ✓".encode(), bytes(range(256)), b"\x00", b"x" * 1000]
)
def test_personal_sign_matches_eth_account(message: bytes) -> None:
    sk = key(5)
    digest = E.personal_sign_hash(message)
    signature = E.message_signature(*ecdsa(sk, digest))
    signable = encode_defunct(primitive=message)
    theirs = Account.sign_message(signable, sk.secret)
    assert digest == bytes(theirs.message_hash)
    assert signature == theirs.signature.to_0x_hex()
    assert Account.recover_message(signable, signature=signature) == address_of(sk)
    assert digest == keccak(
        b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message
    )


def mail(**overrides: Any) -> dict[str, Any]:
    """The EIP-712 specification's example (its signing hash is published in the EIP)."""
    typed: dict[str, Any] = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Person": [
                {"name": "name", "type": "string"},
                {"name": "wallet", "type": "address"},
            ],
            "Mail": [
                {"name": "from", "type": "Person"},
                {"name": "to", "type": "Person"},
                {"name": "contents", "type": "string"},
            ],
        },
        "primaryType": "Mail",
        "domain": {
            "name": "Ether Mail",
            "version": "1",
            "chainId": 1,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
        },
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!",
        },
    }
    typed.update(overrides)
    return typed


EIP712_EXAMPLE_HASH = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"


def test_typed_data_matches_eip_vector_and_eth_account() -> None:
    sk = key(6)
    digest = E.typed_data_hash(mail())
    assert digest.hex() == EIP712_EXAMPLE_HASH
    assert E.typed_data_hash(json.dumps(mail())) == digest
    assert E.typed_data_hash(json.dumps(mail()).encode()) == digest
    signature = E.message_signature(*ecdsa(sk, digest))
    theirs = Account.sign_typed_data(sk.secret, full_message=mail())
    assert signature == theirs.signature.to_0x_hex()
    signable = encode_typed_data(full_message=mail())
    assert Account.recover_message(signable, signature=signature) == address_of(sk)


def test_typed_data_with_arrays_and_bytes_matches_eth_account() -> None:
    typed = mail()
    typed["types"]["Mail"] = [
        {"name": "from", "type": "Person"},
        {"name": "to", "type": "Person[]"},
        {"name": "amounts", "type": "uint256[2]"},
        {"name": "payload", "type": "bytes"},
        {"name": "tag", "type": "bytes32"},
        {"name": "ok", "type": "bool"},
    ]
    typed["message"] = {
        "from": typed["message"]["from"],
        "to": [typed["message"]["to"], typed["message"]["from"]],
        "amounts": [1, 2**255],
        "payload": "0xdeadbeef",
        "tag": "0x" + "11" * 32,
        "ok": True,
    }
    sk = key(7)
    digest = E.typed_data_hash(typed)
    signature = E.message_signature(*ecdsa(sk, digest))
    assert signature == Account.sign_typed_data(sk.secret, full_message=typed).signature.to_0x_hex()


def _mutate(path: str, value: Any) -> dict[str, Any]:
    typed = mail()
    target: Any = typed
    parts = path.split(".")
    for p in parts[:-1]:
        target = target[p]
    if value is _DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return typed


_DELETE = object()


@pytest.mark.parametrize(
    ("typed", "silently_accepted_by_eth_account"),
    [
        (_mutate("message.extra", "not signed"), True),  # extra field: ignored by the hash
        (_mutate("message.to.extra", 1), True),
        (_mutate("message.contents", _DELETE), True),  # missing field: hashed as ""
        (_mutate("message.contents", None), True),
        (_mutate("message.from", None), True),  # null struct: hashed as zero
        (_mutate("primaryType", _DELETE), True),
        (_mutate("types.EIP712Domain", _DELETE), True),  # eth-account infers it
        # a domain declared out of the canonical order: eth-account hashes the canonical order
        (
            _mutate(
                "types.EIP712Domain",
                [
                    {"name": "version", "type": "string"},
                    {"name": "name", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
            ),
            True,
        ),
        (_mutate("domain.salt", "0x" + "00" * 32), False),
        (_mutate("primaryType", "Nope"), False),
        (_mutate("primaryType", "EIP712Domain"), False),
        (_mutate("message.from.wallet", "0xzz"), False),
        (_mutate("message.from.name", {"a": 1}), False),
        (_mutate("message.contents", 1.5), False),
        (_mutate("types.Person", [{"name": "name"}]), False),
        (_mutate("types.Mail", [{"name": "x", "type": "Undefined"}]), False),
        (_mutate("extra", 1), True),
        ([], False),
    ],
)
def test_typed_data_rejects(typed: Any, silently_accepted_by_eth_account: bool) -> None:
    with pytest.raises(InvalidArguments) as ei:
        E.typed_data_hash(typed)
    assert reason_of(ei) == "INVALID_TYPED_DATA"
    # the stricter checks are needed: eth-account hashes these without complaint
    if silently_accepted_by_eth_account:
        encode_typed_data(full_message=typed)


def test_typed_data_extra_field_is_not_covered_by_eth_accounts_hash() -> None:
    """Why unknown fields are refused: eth-account's hash ignores them, so a policy reading the
    JSON would judge a field the signature does not cover."""
    extra = _mutate("message.amount", 10**24)
    assert encode_typed_data(full_message=extra) == encode_typed_data(full_message=mail())


def test_typed_data_input_errors() -> None:
    with pytest.raises(InvalidArguments) as ei:
        E.typed_data_hash("{")
    assert reason_of(ei) == "INVALID_JSON"
    with pytest.raises(InvalidArguments) as ei:
        E.typed_data_hash('{"types": {}, "types": {}}')
    assert reason_of(ei) == "INVALID_JSON"
    with pytest.raises(InvalidArguments) as ei:  # json.loads raises a plain ValueError here
        E.typed_data_hash('{"types": ' + "9" * 5000 + "}")
    assert reason_of(ei) == "INVALID_JSON"
    with pytest.raises(InvalidArguments) as ei:
        E.typed_data_hash(json.dumps(mail()), max_bytes=100)
    assert reason_of(ei) == "MESSAGE_TOO_LARGE"
    with pytest.raises(InvalidArguments) as ei:
        E.typed_data_hash(_mutate("message.contents", b"bytes are not JSON"))
    assert reason_of(ei) == "INVALID_TYPED_DATA"
    with pytest.raises(InvalidArguments) as ei:
        E.typed_data_hash(_mutate("message.contents", "x" * 70_000))
    assert reason_of(ei) == "MESSAGE_TOO_LARGE"


def test_personal_sign_input_errors() -> None:
    with pytest.raises(InvalidArguments) as ei:
        E.personal_sign_hash(b"")
    assert reason_of(ei) == "EMPTY_MESSAGE"
    with pytest.raises(InvalidArguments) as ei:
        E.personal_sign_hash(b"x" * (E.MAX_MESSAGE_BYTES + 1))
    assert reason_of(ei) == "MESSAGE_TOO_LARGE"
    assert len(E.personal_sign_hash(b"x" * E.MAX_MESSAGE_BYTES)) == 32
    with pytest.raises(InvalidArguments) as ei:
        E.personal_sign_hash("text")  # type: ignore[arg-type]
    assert reason_of(ei) == "INVALID_FIELD"


# --- signatures, digests ----------------------------------------------------------------------


def test_normalize_low_s_boundaries() -> None:
    half = N // 2
    assert E.normalize_low_s(5, half, 0) == (5, half, 0)  # s == (n-1)/2 is low
    assert E.normalize_low_s(5, half + 1, 0) == (5, N - half - 1, 1)
    assert E.normalize_low_s(5, N - 1, 1) == (5, 1, 0)
    assert E.normalize_low_s(5, N - 1, 2) == (5, 1, 3)  # passed through, refused later
    for r, s, recid in [
        (0, 1, 0),
        (1, 0, 0),
        (N, 1, 0),
        (1, N, 0),
        (1, 1, 4),
        (1, 1, -1),
        (True, 1, 0),
    ]:
        with pytest.raises(InvalidArguments) as ei:
            E.normalize_low_s(r, s, recid)
        assert reason_of(ei) == "INVALID_SIGNATURE"


def test_normalize_low_s_flip_still_recovers_the_key() -> None:
    sk = key(8)
    digest = keccak(b"warifu")
    r, s, recid = ecdsa(sk, digest)
    assert E.recover_address(digest, r, s, recid) == address_of(sk)
    # the malleated twin recovers the same key with the other parity (what ecrecover does)
    assert E.recover_address(digest, r, N - s, recid ^ 1) == address_of(sk)
    assert E.recover_address(digest, r, s, recid ^ 1) != address_of(sk)
    assert E.normalize_low_s(r, N - s, recid ^ 1) == (r, s, recid)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_check_digest_rejects_wrong_lengths(size: int) -> None:
    with pytest.raises(InvalidArguments) as ei:
        E.check_digest(b"\x01" * size)
    assert reason_of(ei) == "INVALID_DIGEST_LENGTH"
    with pytest.raises(InvalidArguments) as ei:
        E.recover_address(b"\x01" * size, 1, 1, 0)
    assert reason_of(ei) == "INVALID_DIGEST_LENGTH"


def test_check_digest_accepts_32_bytes() -> None:
    assert E.check_digest(b"\x01" * 32) == b"\x01" * 32
    assert E.check_digest(bytearray(32)) == bytes(32)
    with pytest.raises(InvalidArguments) as ei:
        E.check_digest("00" * 32)  # type: ignore[arg-type]
    assert reason_of(ei) == "INVALID_DIGEST_LENGTH"


def test_assemble_refuses_bad_signatures() -> None:
    sk = key(2)
    tx = E.parse_transaction(eip1559())
    r, s, recid = ecdsa(sk, tx.signing_hash())
    other = address_of(key(3))
    cases: list[tuple[tuple[int, int, int], str | None, str]] = [
        ((r, s, recid ^ 1), address_of(sk), "INVALID_SIGNATURE"),  # recovers another key
        ((r, s, recid), other, "INVALID_SIGNATURE"),
        ((r, s, 2), None, "UNSUPPORTED_RECID"),
        ((r, s, 3), None, "UNSUPPORTED_RECID"),
        ((r, s, 7), None, "INVALID_SIGNATURE"),
        ((0, s, recid), None, "INVALID_SIGNATURE"),
        ((r, N - s, recid ^ 1), None, "NON_CANONICAL_SIGNATURE"),
        ((N, s, recid), None, "INVALID_SIGNATURE"),
    ]
    # an r that is not the x-coordinate of any point: nothing recovers
    bad_r = next(x for x in range(1, 100) if not _is_x_coordinate(x))
    cases.append(((bad_r, s, 0), None, "INVALID_SIGNATURE"))
    for (rr, ss, rec), address, reason in cases:
        with pytest.raises(InvalidArguments) as ei:
            tx.assemble(rr, ss, rec, address=address)
        assert reason_of(ei) == reason, (rr, ss, rec, address)
    assert tx.assemble(r, s, recid, address=address_of(sk)).v == recid


def _is_x_coordinate(x: int) -> bool:
    try:
        coincurve.PublicKey(b"\x02" + x.to_bytes(32, "big"))
    except ValueError:
        return False
    return True


def test_message_signature_form() -> None:
    r, s = 0x1234, 0x5678
    sig = E.message_signature(r, s, 1)
    assert sig == "0x" + r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex() + "1c"
    assert E.message_signature(r, s, 0).endswith("1b")
    for args, reason in [
        ((r, N - 1, 0), "NON_CANONICAL_SIGNATURE"),
        ((r, s, 2), "UNSUPPORTED_RECID"),
        ((0, s, 0), "INVALID_SIGNATURE"),
    ]:
        with pytest.raises(InvalidArguments) as ei:
            E.message_signature(*args)
        assert reason_of(ei) == reason


# --- bad transactions -------------------------------------------------------------------------


def _without(tx: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in tx.items() if k != name}


def _flip_case(addr: str) -> str:
    """Flip the case of the first letter: a wrong mixed-case checksum."""
    i = next(i for i, c in enumerate(addr) if i > 1 and c.isalpha())
    return addr[:i] + addr[i].swapcase() + addr[i + 1 :]


BAD_TRANSACTIONS: list[tuple[str, Any, str]] = [
    ("to-lowercase", eip1559(to=TO.lower()), "INVALID_ADDRESS_CHECKSUM"),
    ("to-uppercase", eip1559(to="0x" + TO[2:].upper()), "INVALID_ADDRESS_CHECKSUM"),
    ("to-bad-checksum", eip1559(to=_flip_case(TO)), "INVALID_ADDRESS_CHECKSUM"),
    ("legacy-to-lowercase", legacy(to=TO.lower()), "INVALID_ADDRESS_CHECKSUM"),
    ("to-short", eip1559(to=TO[:-2]), "INVALID_ADDRESS"),
    ("to-no-0x", eip1559(to=TO[2:]), "INVALID_ADDRESS"),
    ("to-int", eip1559(to=1), "INVALID_ADDRESS"),
    ("to-empty", eip1559(to=""), "INVALID_ADDRESS"),
    (
        "accesslist-lowercase",
        eip1559(accessList=[{"address": TO.lower(), "storageKeys": []}]),
        "INVALID_ADDRESS_CHECKSUM",
    ),
    ("from-lowercase", eip1559(**{"from": TO.lower()}), "INVALID_ADDRESS_CHECKSUM"),
    ("no-chainId", _without(eip1559(), "chainId"), "MISSING_FIELD"),
    ("legacy-no-chainId", _without(legacy(), "chainId"), "MISSING_FIELD"),  # pre-EIP-155
    ("legacy-null-chainId", legacy(chainId=None), "INVALID_FIELD"),
    ("no-nonce", _without(eip1559(), "nonce"), "MISSING_FIELD"),
    ("legacy-no-nonce", _without(legacy(), "nonce"), "MISSING_FIELD"),
    ("no-gas", _without(eip1559(), "gas"), "MISSING_FIELD"),
    ("legacy-no-gas", _without(legacy(), "gas"), "MISSING_FIELD"),
    ("no-maxFeePerGas", _without(eip1559(), "maxFeePerGas"), "MISSING_FIELD"),
    ("no-maxPriorityFeePerGas", _without(eip1559(), "maxPriorityFeePerGas"), "MISSING_FIELD"),
    (
        "type2-no-fees",
        _without(_without(eip1559(), "maxFeePerGas"), "maxPriorityFeePerGas"),
        "MISSING_FIELD",
    ),
    ("no-fee-at-all", _without(legacy(), "gasPrice"), "MISSING_FIELD"),
    ("signed-v-r-s", eip1559(v=0, r=1, s=1), "ALREADY_SIGNED"),
    ("signed-r", legacy(r="0x01"), "ALREADY_SIGNED"),
    ("signed-yParity", eip1559(yParity=1), "ALREADY_SIGNED"),
    ("json-truncated", json.dumps(eip1559())[:-1], "INVALID_JSON"),
    ("json-not-utf8", b"\xff\xfe{}", "INVALID_JSON"),
    ("json-duplicate-key", '{"nonce": 1, "nonce": 2}', "INVALID_JSON"),
    ("json-nan", json.dumps(eip1559()).replace("21000", "NaN"), "INVALID_JSON"),
    ("json-int-beyond-str-limit", '{"nonce": ' + "1" * 5000 + "}", "INVALID_JSON"),
    ("dict-int-beyond-str-limit", eip1559(value=10**5000), "INVALID_TRANSACTION"),
    ("json-array", "[1, 2]", "INVALID_TRANSACTION"),
    ("json-string", '"0x02f8"', "INVALID_TRANSACTION"),
    ("not-json-type", 12, "INVALID_TRANSACTION"),
    ("dict-non-json-value", eip1559(value=object()), "INVALID_TRANSACTION"),
    ("nonce-decimal-string", eip1559(nonce="7"), "INVALID_FIELD"),
    ("nonce-float", eip1559(nonce=7.0), "INVALID_FIELD"),
    ("nonce-bool", eip1559(nonce=True), "INVALID_FIELD"),
    ("nonce-max", eip1559(nonce=2**64 - 1), "INVALID_FIELD"),  # EIP-2681
    ("nonce-bad-hex", eip1559(nonce="0xzz"), "INVALID_FIELD"),
    ("nonce-empty-hex", eip1559(nonce="0x"), "INVALID_FIELD"),
    ("value-negative", eip1559(value=-1), "INVALID_FIELD"),
    ("value-2^256", eip1559(value=2**256), "INVALID_FIELD"),
    ("value-huge-hex", eip1559(value="0x1" + "0" * 64), "INVALID_FIELD"),
    ("gas-2^64", eip1559(gas=2**64), "INVALID_FIELD"),
    ("gasPrice-negative", legacy(gasPrice=-5), "INVALID_FIELD"),
    ("chainId-0", eip1559(chainId=0), "INVALID_FIELD"),
    ("chainId-too-big", legacy(chainId=E.MAX_CHAIN_ID + 1), "INVALID_FIELD"),
    ("chainId-list", eip1559(chainId=[1]), "INVALID_FIELD"),
    ("priority-above-max", eip1559(maxPriorityFeePerGas=10**11), "INVALID_FIELD"),
    ("data-odd-hex", eip1559(data="0xabc"), "INVALID_FIELD"),
    ("data-no-0x", eip1559(data="abcd"), "INVALID_FIELD"),
    ("data-int", eip1559(data=5), "INVALID_FIELD"),
    ("accesslist-not-list", eip1559(accessList={}), "INVALID_FIELD"),
    (
        "accesslist-short-key",
        eip1559(accessList=[{"address": TO, "storageKeys": ["0x01"]}]),
        "INVALID_FIELD",
    ),
    (
        "accesslist-extra-key",
        eip1559(accessList=[{"address": TO, "storageKeys": [], "x": 1}]),
        "INVALID_FIELD",
    ),
    ("type-bool", eip1559(type=True), "INVALID_FIELD"),
    ("unknown-field", eip1559(foo=1), "UNKNOWN_FIELD"),
    ("input-alias", eip1559(input="0x"), "UNKNOWN_FIELD"),
    ("type2-with-gasPrice", eip1559(gasPrice=1), "UNKNOWN_FIELD"),
    ("legacy-with-maxFee", legacy(maxFeePerGas=1), "UNKNOWN_FIELD"),
    ("type-0", legacy(type=0), "UNSUPPORTED_TRANSACTION_TYPE"),
    ("type-1", legacy(type="0x1", accessList=[]), "UNSUPPORTED_TRANSACTION_TYPE"),
    ("implicit-type-1", legacy(accessList=[]), "UNSUPPORTED_TRANSACTION_TYPE"),
    ("type-3", eip1559(type=3), "UNSUPPORTED_TRANSACTION_TYPE"),
    (
        "blob-fields",
        eip1559(maxFeePerBlobGas=1, blobVersionedHashes=[]),
        "UNSUPPORTED_TRANSACTION_TYPE",
    ),
    ("type-4", eip1559(authorizationList=[]), "UNSUPPORTED_TRANSACTION_TYPE"),
    ("oversize-data", eip1559(data="0x" + "00" * 40_000), "TRANSACTION_TOO_LARGE"),
    ("oversize-bytes-data", eip1559(data=b"\x00" * 40_000), "TRANSACTION_TOO_LARGE"),
]


@pytest.mark.parametrize(
    ("tx_input", "reason"),
    [pytest.param(tx, reason, id=name) for name, tx, reason in BAD_TRANSACTIONS],
)
def test_parse_transaction_rejects(tx_input: Any, reason: str) -> None:
    with pytest.raises(InvalidArguments) as ei:
        E.parse_transaction(tx_input)
    assert reason_of(ei) == reason


def test_the_base_transactions_pass_the_same_checks() -> None:
    """The rejection cases are variations of these; they must themselves be accepted."""
    for tx in (eip1559(), legacy(), json.dumps(eip1559()), json.dumps(legacy()).encode()):
        E.parse_transaction(tx)


def test_eth_account_itself_refuses_a_lowercase_to() -> None:
    """chains.md §3.5: so requiring an EIP-55 `to` refuses nothing eth-account would sign."""
    with pytest.raises(TypeError, match="invalid fields"):
        Account.sign_transaction(eip1559(to=TO.lower()), key().secret)


def test_from_must_match_the_sender() -> None:
    me, other = address_of(key(1)), address_of(key(2))
    assert E.parse_transaction(eip1559(**{"from": me}), sender=me).sender == me
    with pytest.raises(InvalidArguments) as ei:
        E.parse_transaction(eip1559(**{"from": other}), sender=me)
    assert reason_of(ei) == "SENDER_MISMATCH"


def test_max_bytes_is_a_parameter() -> None:
    tx = json.dumps(eip1559())
    E.parse_transaction(tx, max_bytes=len(tx))
    with pytest.raises(InvalidArguments) as ei:
        E.parse_transaction(tx, max_bytes=len(tx) - 1)
    assert reason_of(ei) == "TRANSACTION_TOO_LARGE"


# --- process-wide side effects and nesting ----------------------------------------------------


def test_importing_eth_keeps_the_interpreter_recursion_limit() -> None:
    """eth-account (through py_ecc) raises sys.getrecursionlimit() to 100000 on import; eth.py
    must undo that, or deeply nested input could recurse until the C stack overflows."""
    probe = (
        "import sys; a = sys.getrecursionlimit(); import {mod}; print(a, sys.getrecursionlimit())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe.format(mod="warifu.core.chains.eth")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == out[1]
    # the side effect being guarded against is real
    out = subprocess.run(
        [sys.executable, "-c", probe.format(mod="eth_account")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert int(out[1]) > int(out[0])


def test_json_depth() -> None:
    assert json_depth("{}") == 1
    assert json_depth('{"a": [1, {"b": []}]}') == 4
    assert json_depth('{"a": "[[[[{{{{"}') == 1  # brackets inside strings do not count
    escaped = r'{"a": "\\\"", "b": "\"[[[", "c": "\\"}'  # escaped quotes and backslashes
    assert json.loads(escaped) == {"a": '\\"', "b": '"[[[', "c": "\\"}
    assert json_depth(escaped) == 1
    assert json_depth("1") == 0


@pytest.mark.parametrize("limit", [1000, 100_000])
def test_deep_nesting_is_invalid_json_whatever_the_recursion_limit(limit: int) -> None:
    deep_tx = '{"nonce": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}"
    deep_typed = "[" * 30_000 + "]" * 30_000
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        with pytest.raises(InvalidArguments) as ei:
            E.parse_transaction(deep_tx)
        assert reason_of(ei) == "INVALID_JSON"
        with pytest.raises(InvalidArguments) as ei:
            E.typed_data_hash(deep_typed)
        assert reason_of(ei) == "INVALID_JSON"
    finally:
        sys.setrecursionlimit(before)
    # just below the bound it parses, and is refused for what it is
    ok = '{"nonce": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    with pytest.raises(InvalidArguments) as ei:
        E.parse_transaction(ok)
    assert reason_of(ei) == "MISSING_FIELD"
