"""XRP Ledger chain support (core/chains/xrpl.py) against xrpl-py, libsodium and libsecp256k1.

Spec: specs/chains.md §2. Every signature produced here is checked by an independent library
(xrpl-py, PyNaCl/libsodium, coincurve/libsecp256k1), never only by our own code.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import coincurve
import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from nacl.exceptions import BadSignatureError
from xrpl.core.binarycodec import decode, encode, encode_for_signing
from xrpl.core.keypairs import derive_classic_address, is_valid_message
from xrpl.models.transactions import Transaction
from xrpl.transaction import sign as xrpl_sign
from xrpl.wallet import Wallet

from warifu.core.chains import xrpl as X
from warifu.core.chains.eth import normalize_low_s
from warifu.core.errors import InvalidArguments

L = 2**252 + 27742317777372353535851937790883648493
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DEST = "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe"


def ed_key(i: int = 1) -> tuple[nacl.signing.SigningKey, bytes, str]:
    seed = hashlib.sha256(b"warifu-test-ed25519-%d" % i).digest()
    sk = nacl.signing.SigningKey(seed)
    return sk, seed, X.signing_pub_key_hex("ed25519", bytes(sk.verify_key))


def secp_key(i: int = 1) -> tuple[coincurve.PrivateKey, str]:
    sk = coincurve.PrivateKey(hashlib.sha256(b"warifu-test-secp256k1-%d" % i).digest())
    return sk, X.signing_pub_key_hex("secp256k1", sk.public_key.format(compressed=True))


def payment(account: str, **extra: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "TransactionType": "Payment",
        "Account": account,
        "Destination": DEST,
        "Amount": "1000000",
        "Fee": "12",
        "Sequence": 7,
        "LastLedgerSequence": 123456,
    }
    tx.update(extra)
    return tx


def reason_of(excinfo: pytest.ExceptionInfo[InvalidArguments]) -> str:
    return excinfo.value.reason


# --- keys and addresses -------------------------------------------------------------------


@pytest.mark.parametrize("i", range(5))
def test_ed25519_address_matches_xrpl_py(i: int) -> None:
    sk, _, spk = ed_key(i)
    assert spk == "ED" + bytes(sk.verify_key).hex().upper()
    assert len(bytes.fromhex(spk)) == 33
    assert X.classic_address(bytes.fromhex(spk)) == derive_classic_address(spk)
    assert X.classic_address(spk) == derive_classic_address(spk)


@pytest.mark.parametrize("i", range(5))
def test_secp256k1_address_matches_xrpl_py(i: int) -> None:
    sk, spk = secp_key(i)
    assert spk == sk.public_key.format(compressed=True).hex().upper()
    assert X.classic_address(bytes.fromhex(spk)) == derive_classic_address(spk)
    # an uncompressed point is compressed to the same SigningPubKey
    assert X.signing_pub_key_hex("secp256k1", sk.public_key.format(compressed=False)) == spk


def test_address_of_xrpl_py_generated_wallets() -> None:
    for seed, algo in [
        ("sEdTM1uX8pu2do5XvTnutH6HsouMaM2", "ed25519"),
        ("sn259rEFXrQrWyx3Q7XneWcwV6dfL", "secp256k1"),
    ]:
        w = Wallet.from_seed(seed)
        assert X.classic_address(w.public_key) == w.classic_address, algo


def test_ripemd160_fallback_without_openssl_legacy(monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, spk = ed_key()
    real_new = hashlib.new

    def no_ripemd(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.lower() == "ripemd160":
            raise ValueError("unsupported hash type ripemd160")
        return real_new(name, *args, **kwargs)

    monkeypatch.setattr(X.hashlib, "new", no_ripemd)
    with pytest.raises(ValueError):
        X.hashlib.new("ripemd160")
    assert X.classic_address(spk) == derive_classic_address(spk)


@pytest.mark.parametrize(
    ("curve", "key"),
    [
        ("ed25519", b"\x01" * 31),
        ("ed25519", b"\x00" * 32),  # not a valid point of the prime-order subgroup
        ("secp256k1", b"\x02" + b"\xff" * 32),  # x >= p: not on the curve
        ("secp256k1", b"\x04" + b"\x01" * 32),
        ("secp256k1", b"\x04" + b"\x01" * 64),
        ("p256", b"\x02" * 33),
    ],
)
def test_signing_pub_key_hex_rejects_bad_keys(curve: str, key: bytes) -> None:
    with pytest.raises(InvalidArguments):
        X.signing_pub_key_hex(curve, key)


@pytest.mark.parametrize("bad", ["", "ED00", "zz" * 33, "05" + "00" * 32, "ED" + "00" * 33])
def test_classic_address_rejects_bad_signing_pub_key(bad: str) -> None:
    with pytest.raises(InvalidArguments) as ei:
        X.classic_address(bad)
    assert reason_of(ei) == "INVALID_PUBLIC_KEY"


# --- signing: Ed25519 ---------------------------------------------------------------------


def test_ed25519_payment_round_trip_matches_xrpl_py() -> None:
    sk, seed, spk = ed_key()
    account = X.classic_address(spk)
    tx_json = json.dumps(payment(account))
    tx = X.parse_transaction(tx_json, spk)
    assert not X.uses_regular_key(tx, spk)

    msg = X.signing_bytes(tx, spk)
    assert tx["SigningPubKey"] == spk
    assert msg.startswith(b"STX\x00")
    assert msg == bytes.fromhex(encode_for_signing(tx))
    sig = sk.sign(msg).signature
    assert X.is_canonical_ed25519_signature(sig)

    blob, tx_hash, signed_json = X.attach_signature(tx, sig)
    assert "TxnSignature" not in tx  # the input is not modified
    # independent verifiers
    decoded = decode(blob)
    assert decoded["TxnSignature"] == sig.hex().upper()
    assert decoded["SigningPubKey"] == spk
    assert is_valid_message(bytes.fromhex(encode_for_signing(decoded)), sig, spk)
    nacl.signing.VerifyKey(bytes.fromhex(spk)[1:]).verify(msg, sig)
    assert json.loads(signed_json) == decoded
    # hash == xrpl-py's
    assert tx_hash == Transaction.from_xrpl(decoded).get_hash()
    assert tx_hash == Transaction.from_blob(blob).get_hash()
    # byte-identical to xrpl-py signing with an ordinary wallet (Ed25519 is deterministic)
    wallet = Wallet(public_key=spk, private_key="ED" + seed.hex().upper())
    assert wallet.classic_address == account
    theirs = xrpl_sign(Transaction.from_xrpl(json.loads(tx_json)), wallet)
    assert encode(theirs.to_xrpl()) == blob
    assert theirs.get_hash() == tx_hash
    assert X.verify_signed_blob(blob) == decoded


def test_secp256k1_payment_round_trip_matches_xrpl_py() -> None:
    sk, spk = secp_key()
    account = X.classic_address(spk)
    tx_json = json.dumps(payment(account, DestinationTag=42))
    tx = X.parse_transaction(tx_json, spk)
    msg = X.signing_bytes(tx, spk)
    sig = sk.sign(X.sha512_half(msg), hasher=None)  # chains.md §0.5: hasher=None
    assert X.der_is_strict_low_s(sig)
    blob, tx_hash, _ = X.attach_signature(tx, sig)

    decoded = decode(blob)
    assert is_valid_message(msg, sig, spk)
    assert coincurve.PublicKey(bytes.fromhex(spk)).verify(sig, X.sha512_half(msg), hasher=None)
    assert tx_hash == Transaction.from_xrpl(decoded).get_hash()
    # libsecp256k1 and xrpl-py (ECPy) both use RFC 6979 nonces: byte-identical blobs
    wallet = Wallet(public_key=spk, private_key="00" + sk.secret.hex().upper())
    theirs = xrpl_sign(Transaction.from_xrpl(json.loads(tx_json)), wallet)
    assert encode(theirs.to_xrpl()) == blob
    assert X.verify_signed_blob(blob) == decoded


def test_sha512_half() -> None:
    assert X.sha512_half(b"abc") == hashlib.sha512(b"abc").digest()[:32]
    assert len(X.sha512_half(b"")) == 32


def test_regular_key_account_is_allowed_and_reported() -> None:
    _, _, spk = ed_key(1)
    _, _, other = ed_key(2)
    tx = X.parse_transaction(json.dumps(payment(X.classic_address(other))), spk)
    assert X.uses_regular_key(tx, spk)
    assert not X.uses_regular_key(tx, other)
    assert X.signing_bytes(tx, spk).startswith(b"STX\x00")


def test_empty_signing_pub_key_from_xrpl_py_models_is_filled_in() -> None:
    """xrpl-py's ``Transaction.to_xrpl()`` carries ``SigningPubKey: ""``; the node fills it."""
    sk, _, spk = ed_key()
    model = Transaction.from_xrpl(payment(X.classic_address(spk)))
    as_json = model.to_xrpl()
    assert as_json["SigningPubKey"] == ""
    tx = X.parse_transaction(json.dumps(as_json), spk)
    msg = X.signing_bytes(tx, spk)
    assert tx["SigningPubKey"] == spk
    blob, _, _ = X.attach_signature(tx, sk.sign(msg).signature)
    assert X.verify_signed_blob(blob)["SigningPubKey"] == spk


def test_signing_pub_key_present_and_equal_is_accepted_in_any_case() -> None:
    _, _, spk = ed_key()
    tx = X.parse_transaction(
        json.dumps(payment(X.classic_address(spk), SigningPubKey=spk.lower())), spk
    )
    assert tx["SigningPubKey"] == spk


def test_parse_returns_canonical_form() -> None:
    _, _, spk = ed_key()
    account = X.classic_address(spk)
    raw = payment(account, InvoiceID="ab" * 32, Memos=[{"Memo": {"MemoData": "beef"}}])
    tx = X.parse_transaction(json.dumps(raw).encode())
    assert tx["InvoiceID"] == "AB" * 32
    assert tx["Memos"][0]["Memo"]["MemoData"] == "BEEF"
    assert encode(tx) == encode(raw)


def test_signing_bytes_refuses_to_replace_another_signing_pub_key() -> None:
    _, _, spk = ed_key(1)
    _, _, other = ed_key(2)
    tx = payment(X.classic_address(spk), SigningPubKey=other)
    with pytest.raises(InvalidArguments) as ei:
        X.signing_bytes(tx, spk)
    assert reason_of(ei) == "SIGNING_PUBKEY_MISMATCH"
    assert tx["SigningPubKey"] == other


def test_attach_signature_requires_signing_pub_key() -> None:
    _, _, spk = ed_key()
    with pytest.raises(InvalidArguments) as ei:
        X.attach_signature(payment(X.classic_address(spk)), b"\x00" * 64)
    assert reason_of(ei) == "MISSING_FIELD"


# --- bad input ----------------------------------------------------------------------------

_ED_SPK = ed_key(1)[2]
_ACCOUNT = X.classic_address(_ED_SPK)
_OTHER_SPK = ed_key(2)[2]


def _without(name: str) -> str:
    tx = payment(_ACCOUNT)
    del tx[name]
    return json.dumps(tx)


BAD_INPUTS: list[tuple[str, str | bytes, str]] = [
    ("not-json", "{not json", "INVALID_JSON"),
    ("not-utf8", b'{"Account": "\xff"}', "INVALID_JSON"),
    ("nan", '{"Fee": NaN}', "INVALID_JSON"),
    ("duplicate-key", '{"Fee": "12", "Fee": "1"}', "INVALID_JSON"),
    ("array", json.dumps([payment(_ACCOUNT)]), "INVALID_TRANSACTION"),
    ("string", json.dumps("Payment"), "INVALID_TRANSACTION"),
    ("null", "null", "INVALID_TRANSACTION"),
    ("missing-fee", _without("Fee"), "MISSING_FIELD"),
    ("missing-sequence", _without("Sequence"), "MISSING_FIELD"),
    ("missing-account", _without("Account"), "MISSING_FIELD"),
    ("missing-type", _without("TransactionType"), "MISSING_FIELD"),
    ("unknown-type", json.dumps(payment(_ACCOUNT, TransactionType="Bogus")), "INVALID_TRANSACTION"),
    ("unknown-field", json.dumps(payment(_ACCOUNT, Foo="1")), "INVALID_TRANSACTION"),
    ("bad-account", json.dumps(payment("rNOTANADDRESS")), "INVALID_TRANSACTION"),
    ("bad-amount", json.dumps(payment(_ACCOUNT, Amount="1.5x")), "INVALID_TRANSACTION"),
    ("int-fee", json.dumps(payment(_ACCOUNT, Fee=12)), "INVALID_TRANSACTION"),
    ("float-amount", json.dumps(payment(_ACCOUNT, Amount=1.5)), "INVALID_TRANSACTION"),
    ("bool-sequence", json.dumps(payment(_ACCOUNT, Sequence=True)), "INVALID_TRANSACTION"),
    ("string-sequence", json.dumps(payment(_ACCOUNT, Sequence="7")), "INVALID_TRANSACTION"),
    ("negative-sequence", json.dumps(payment(_ACCOUNT, Sequence=-1)), "INVALID_TRANSACTION"),
    ("huge-sequence", json.dumps(payment(_ACCOUNT, Sequence=2**32)), "INVALID_TRANSACTION"),
    ("bad-hex", json.dumps(payment(_ACCOUNT, InvoiceID="zz" * 32)), "INVALID_TRANSACTION"),
    ("nesting-beyond-parser", "[" * 30_000 + "]" * 30_000, "INVALID_JSON"),
    (
        "deep-nesting",
        json.dumps(payment(_ACCOUNT, Memos=[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]])),
        "INVALID_TRANSACTION",
    ),
    (
        "already-signed",
        json.dumps(payment(_ACCOUNT, SigningPubKey=_ED_SPK, TxnSignature="00" * 64)),
        "ALREADY_SIGNED",
    ),
    ("multi-signed", json.dumps(payment(_ACCOUNT, Signers=[])), "ALREADY_SIGNED"),
    (
        "wrong-signing-pub-key",
        json.dumps(payment(_ACCOUNT, SigningPubKey=_OTHER_SPK)),
        "SIGNING_PUBKEY_MISMATCH",
    ),
    (
        "oversized",
        json.dumps(payment(_ACCOUNT, Memos=[{"Memo": {"MemoData": "AB" * 40_000}}])),
        "TRANSACTION_TOO_LARGE",
    ),
]


@pytest.mark.parametrize(
    ("tx_json", "reason"), [(b[1], b[2]) for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_parse_transaction_rejects(tx_json: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidArguments) as ei:
        X.parse_transaction(tx_json, _ED_SPK)
    assert reason_of(ei) == reason, ei.value.message
    assert ei.value.message


def test_good_transaction_passes_the_same_checks() -> None:
    """The baseline of BAD_INPUTS parses, so each bad case fails for its own reason."""
    tx = X.parse_transaction(json.dumps(payment(_ACCOUNT)), _ED_SPK)
    assert tx["Sequence"] == 7
    tx = X.parse_transaction(json.dumps(payment(_ACCOUNT, SigningPubKey=_ED_SPK)), _ED_SPK)
    assert tx["SigningPubKey"] == _ED_SPK


def test_max_bytes_is_a_parameter() -> None:
    tx_json = json.dumps(payment(_ACCOUNT))
    X.parse_transaction(tx_json, max_bytes=len(tx_json))
    with pytest.raises(InvalidArguments) as ei:
        X.parse_transaction(tx_json, max_bytes=len(tx_json) - 1)
    assert reason_of(ei) == "TRANSACTION_TOO_LARGE"


# --- canonicality: rippled is stricter than xrpl-py ----------------------------------------


def test_ed25519_s_plus_l_is_rejected_although_xrpl_py_accepts_it() -> None:
    sk, _, spk = ed_key()
    tx = X.parse_transaction(json.dumps(payment(X.classic_address(spk))), spk)
    msg = X.signing_bytes(tx, spk)
    sig = sk.sign(msg).signature
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + L).to_bytes(32, "little")
    assert malleated != sig
    # xrpl-py's check is weaker than rippled (chains.md §0.3): it accepts S+L ...
    assert is_valid_message(msg, malleated, spk)
    # ... rippled's ed25519Canonical (S < L) and libsodium do not
    assert X.is_canonical_ed25519_signature(sig)
    assert not X.is_canonical_ed25519_signature(malleated)
    with pytest.raises(BadSignatureError):
        nacl.signing.VerifyKey(bytes.fromhex(spk)[1:]).verify(msg, malleated)
    with pytest.raises(InvalidArguments) as ei:
        X.attach_signature(tx, malleated)
    assert reason_of(ei) == "NON_CANONICAL_SIGNATURE"
    with pytest.raises(InvalidArguments) as ei:
        X.verify_signature(msg, malleated, spk)
    assert reason_of(ei) == "NON_CANONICAL_SIGNATURE"
    X.verify_signature(msg, sig, spk)


@pytest.mark.parametrize(
    "sig",
    [
        b"",
        b"\x00" * 63,
        b"\x00" * 65,
        b"\x00" * 32 + L.to_bytes(32, "little"),
        b"\x00" * 32 + b"\xff" * 32,
    ],
)
def test_ed25519_canonical_rule_edges(sig: bytes) -> None:
    assert not X.is_canonical_ed25519_signature(sig)


def test_ed25519_canonical_rule_boundary() -> None:
    assert X.is_canonical_ed25519_signature(b"\x00" * 32 + (L - 1).to_bytes(32, "little"))
    assert X.is_canonical_ed25519_signature(b"\xff" * 32 + b"\x00" * 32)


def _der(r: int, s: int) -> bytes:
    def part(v: int) -> bytes:
        b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b

    body = part(r) + part(s)
    return b"\x30" + bytes([len(body)]) + body


def test_secp256k1_high_s_is_rejected_although_xrpl_py_accepts_it() -> None:
    sk, spk = secp_key()
    tx = X.parse_transaction(json.dumps(payment(X.classic_address(spk))), spk)
    msg = X.signing_bytes(tx, spk)
    sig = sk.sign(X.sha512_half(msg), hasher=None)
    r, s = _parse_der(sig)
    assert _der(r, s) == sig  # our test encoder agrees with libsecp256k1
    high = _der(r, N - s)
    assert X.der_is_strict_low_s(sig)
    assert not X.der_is_strict_low_s(high)
    assert is_valid_message(msg, high, spk)  # xrpl-py is weaker (chains.md §0.3)
    with pytest.raises(InvalidArguments) as ei:
        X.attach_signature(tx, high)
    assert reason_of(ei) == "NON_CANONICAL_SIGNATURE"
    with pytest.raises(InvalidArguments):
        X.verify_signature(msg, high, spk)
    X.verify_signature(msg, sig, spk)


def _parse_der(sig: bytes) -> tuple[int, int]:
    lr = sig[3]
    r = int.from_bytes(sig[4 : 4 + lr], "big")
    ls = sig[5 + lr]
    s = int.from_bytes(sig[6 + lr : 6 + lr + ls], "big")
    return r, s


def test_der_rule_accepts_boundaries() -> None:
    assert X.der_is_strict_low_s(_der(1, 1))
    assert X.der_is_strict_low_s(_der(N - 1, N // 2))  # s == (n-1)/2: s <= n - s
    assert X.der_is_strict_low_s(_der(0x80, 0x7F))  # r needs a 0x00 pad


@pytest.mark.parametrize(
    "sig",
    [
        _der(1, N // 2 + 1),  # high S
        _der(N, 1),  # r >= n
        _der(1, N),  # s >= n
        _der(0, 1),  # r == 0 (02 01 00)
        _der(1, 0),  # s == 0
        b"\x30\x07\x02\x02\x00\x01\x02\x01\x01",  # r padded without need
        b"\x30\x06\x02\x01\x81\x02\x01\x01",  # r negative
        _der(1, 1) + b"\x00",  # trailing byte (outer length no longer matches)
        b"\x30\x09\x02\x01\x01\x02\x01\x01\x00\x00\x00"[:-2],  # outer length too long
        b"\x31" + _der(1, 1)[1:],  # not a SEQUENCE
        b"\x30\x06\x03\x01\x01\x02\x01\x01",  # r not an INTEGER
        b"\x30\x09\x02\x01\x01\x02\x01\x01\x02\x01\x01",  # trailing element
        b"\x30\x06\x02\x01\x01\x02\x02\x01",  # s length beyond the buffer
        b"\x30\x05\x02\x01\x01\x02\x00",  # too short, zero-length s
        b"",
    ],
)
def test_der_rule_rejects(sig: bytes) -> None:
    assert not X.der_is_strict_low_s(sig)


def test_tampered_signature_does_not_verify() -> None:
    sk, _, spk = ed_key()
    tx = X.parse_transaction(json.dumps(payment(X.classic_address(spk))), spk)
    msg = X.signing_bytes(tx, spk)
    sig = bytearray(sk.sign(msg).signature)
    sig[0] ^= 1
    blob, _, _ = X.attach_signature(tx, bytes(sig))  # form is fine, crypto is not
    with pytest.raises(InvalidArguments) as ei:
        X.verify_signed_blob(blob)
    assert reason_of(ei) == "INVALID_SIGNATURE"
    secp, spk2 = secp_key()
    with pytest.raises(InvalidArguments) as ei:
        X.verify_signature(msg, secp.sign(X.sha512_half(msg + b"x"), hasher=None), spk2)
    assert reason_of(ei) == "INVALID_SIGNATURE"


# --- secp256k1: (r, s) from a threshold protocol, reassembled -------------------------------


@pytest.mark.parametrize("i", range(6))
def test_secp256k1_reassembled_from_r_s_is_byte_identical_to_xrpl_py(i: int) -> None:
    """Take (r, s) out of xrpl-py's own signature (RFC 6979), rebuild the blob with
    secp256k1_digest + der_signature + attach_signature: the bytes must be identical."""
    sk, spk = secp_key(i)
    assert len(bytes.fromhex(spk)) == 33 and spk[:2] in ("02", "03")
    account = X.classic_address(spk)
    tx_json = json.dumps(payment(account, Sequence=100 + i))
    wallet = Wallet(public_key=spk, private_key="00" + sk.secret.hex().upper())
    theirs = xrpl_sign(Transaction.from_xrpl(json.loads(tx_json)), wallet)
    their_blob = encode(theirs.to_xrpl())
    r, s = decode_dss_signature(bytes.fromhex(theirs.txn_signature))

    tx = X.parse_transaction(tx_json, spk)
    msg = X.signing_bytes(tx, spk)
    digest = X.secp256k1_digest(msg)
    assert digest == hashlib.sha512(msg).digest()[:32]
    sig = X.der_signature(r, s)
    assert sig == bytes.fromhex(theirs.txn_signature)
    assert X.der_is_strict_low_s(sig)
    blob, tx_hash, _ = X.attach_signature(tx, sig)
    assert blob == their_blob
    assert tx_hash == theirs.get_hash()
    assert is_valid_message(msg, sig, spk)
    assert coincurve.PublicKey(bytes.fromhex(spk)).verify(sig, digest, hasher=None)
    assert X.verify_signed_blob(blob) == decode(blob)


def test_secp256k1_high_s_from_a_protocol_is_normalised_before_der() -> None:
    """A threshold protocol may output the high-s twin: der_signature encodes it as given,
    attach_signature refuses it, and normalize_low_s (eth.py) restores the canonical form."""
    sk, spk = secp_key(2)
    tx = X.parse_transaction(json.dumps(payment(X.classic_address(spk))), spk)
    msg = X.signing_bytes(tx, spk)
    digest = X.secp256k1_digest(msg)
    low = sk.sign(digest, hasher=None)
    r, s = _parse_der(low)
    high = X.der_signature(r, N - s)
    assert high == _der(r, N - s)
    assert not X.der_is_strict_low_s(high)
    assert is_valid_message(msg, high, spk)  # xrpl-py would accept it (chains.md §0.3)
    assert not coincurve.PublicKey(bytes.fromhex(spk)).verify(high, digest, hasher=None)
    with pytest.raises(InvalidArguments) as ei:
        X.attach_signature(tx, high)
    assert reason_of(ei) == "NON_CANONICAL_SIGNATURE"
    r2, s2, _ = normalize_low_s(r, N - s, 0)
    assert X.der_signature(r2, s2) == low
    X.attach_signature(tx, X.der_signature(r2, s2))


@pytest.mark.parametrize(
    ("r", "s"), [(1, 1), (0x80, 0x7F), (0x7F, 0x80), (N - 1, N // 2), (2**255, 1), (255, 2**248)]
)
def test_der_signature_is_minimal_der(r: int, s: int) -> None:
    sig = X.der_signature(r, s)
    assert sig == _der(r, s)  # the rippled sigPart rules: minimal, positive
    assert X.der_is_strict_low_s(sig) == (s <= N // 2)
    assert _parse_der(sig) == (r, s)


@pytest.mark.parametrize(("r", "s"), [(0, 1), (1, 0), (N, 1), (1, N), (-1, 1), (True, 1)])
def test_der_signature_rejects_out_of_range(r: int, s: int) -> None:
    with pytest.raises(InvalidArguments) as ei:
        X.der_signature(r, s)
    assert reason_of(ei) == "INVALID_SIGNATURE"


def test_nesting_beyond_the_bound_is_invalid_json_whatever_the_recursion_limit() -> None:
    """The parse refusal must not depend on sys.getrecursionlimit(), which imported libraries
    change (py_ecc: 100000, py-evm: 12288)."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(InvalidArguments) as ei:
            X.parse_transaction("[" * 30_000 + "]" * 30_000)
        assert reason_of(ei) == "INVALID_JSON"
    finally:
        sys.setrecursionlimit(before)


def test_integer_beyond_the_int_string_limit_is_invalid_json() -> None:
    """json.loads raises a plain ValueError (not JSONDecodeError) for an integer of more than
    4300 digits; it must still be refused as bad input, not escape as an internal error."""
    _, spk = secp_key()
    tx = json.dumps(payment(X.classic_address(spk))).replace(
        '"Sequence": 7', '"Sequence": ' + "7" * 5000
    )
    with pytest.raises(InvalidArguments) as ei:
        X.parse_transaction(tx, spk)
    assert reason_of(ei) == "INVALID_JSON"
