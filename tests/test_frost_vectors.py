"""FROST against stored vectors: RFC 9591 Appendix E and the Zcash Foundation crate's vectors.

Every signing vector runs for both ciphersuites: FROST(Ed25519, SHA-512) (shipped) and
FROST(secp256k1, SHA-256) (a cross-check of the generic core). The key packages are rebuilt
from the vectors' dealer polynomial (``group_secret_key`` and
``share_polynomial_coefficients``) with the test-only dealer helper.
"""

from __future__ import annotations

import functools

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from helpers.dealer import Dealt, deal_from_coefficients, eval_polynomial
from vectors.loaders import (
    FrostInvalidElement,
    FrostSigningVector,
    load_frost_invalid_elements,
    load_frost_signing_vectors,
)
from warifu.core import frost
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.frost.ciphersuite import expand_message_xmd_sha256

SUITE_BY_GROUP = {
    "ed25519": frost.FROST_ED25519_SHA512,
    "secp256k1": frost.FROST_SECP256K1_SHA256,
}
VECTORS = load_frost_signing_vectors()
ED25519_VECTORS = [v for v in VECTORS if v.group == "ed25519"]
INVALID_ELEMENTS = load_frost_invalid_elements()


def _setup(v: FrostSigningVector) -> tuple[frost.Ciphersuite, Dealt]:
    return _setup_cached(v.id)


@functools.cache
def _setup_cached(vector_id: str) -> tuple[frost.Ciphersuite, Dealt]:
    (v,) = [v for v in VECTORS if v.id == vector_id]
    suite = SUITE_BY_GROUP[v.group]
    g = suite.group
    coefficients = [g.decode_scalar(v.group_secret_key)] + [
        g.decode_scalar(c) for c in v.share_polynomial_coefficients
    ]
    assert len(coefficients) == v.min_participants
    dealt = deal_from_coefficients(g, coefficients, list(range(1, v.max_participants + 1)))
    return suite, dealt


def _round_one(
    suite: frost.Ciphersuite, dealt: Dealt, v: FrostSigningVector
) -> tuple[dict[int, frost.SigningNonces], frost.SigningPackage]:
    nonces = {}
    commitments = []
    for r in v.round_one:
        n, c = frost.commit_with_randomness(
            suite, dealt.shares[r.identifier], r.hiding_nonce_randomness, r.binding_nonce_randomness
        )
        nonces[r.identifier] = n
        commitments.append(c)
    return nonces, frost.SigningPackage.create(suite, commitments, v.message)


def test_all_vector_files_are_loaded() -> None:
    assert {v.group for v in VECTORS} == {"ed25519", "secp256k1"}
    assert len(VECTORS) == 6
    assert len(INVALID_ELEMENTS) == 2


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_key_material_matches_vector(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    g = suite.group
    assert g.encode_point(dealt.pkg.public_key) == v.group_public_key
    assert g.encode_point(g.base_mul(g.decode_scalar(v.group_secret_key))) == v.group_public_key
    assert set(v.participant_shares) <= set(dealt.pkg.committee.ids)
    for i, share_bytes in v.participant_shares.items():
        assert dealt.shares[i].secret == g.decode_scalar(share_bytes)
        assert eval_polynomial(g.order, dealt.coefficients, i) == g.decode_scalar(share_bytes)
    assert len(v.participant_list) == v.num_participants


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_nonce_generation(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    g = suite.group
    for r in v.round_one:
        secret = dealt.shares[r.identifier].secret
        d = frost.nonce_generate_from_random_bytes(suite, secret, r.hiding_nonce_randomness)
        e = frost.nonce_generate_from_random_bytes(suite, secret, r.binding_nonce_randomness)
        assert g.encode_scalar(d) == r.hiding_nonce
        assert g.encode_scalar(e) == r.binding_nonce


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_commitments(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    g = suite.group
    for r in v.round_one:
        nonces, commitments = frost.commit_with_randomness(
            suite, dealt.shares[r.identifier], r.hiding_nonce_randomness, r.binding_nonce_randomness
        )
        assert commitments.identifier == r.identifier
        assert g.encode_point(commitments.hiding) == r.hiding_nonce_commitment
        assert g.encode_point(commitments.binding) == r.binding_nonce_commitment
        assert nonces.commitments == commitments
        assert nonces.consume() == (
            g.decode_scalar(r.hiding_nonce),
            g.decode_scalar(r.binding_nonce),
        )
        # The vector's commitments decode (validated) to the same values.
        decoded = frost.SigningCommitments(
            identifier=r.identifier,
            hiding=g.decode_point(r.hiding_nonce_commitment),
            binding=g.decode_point(r.binding_nonce_commitment),
            suite=suite,
        )
        assert decoded == commitments
        assert frost.SigningCommitments.decode(suite, decoded.encode()) == commitments


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_binding_factors(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    g = suite.group
    _, package = _round_one(suite, dealt, v)
    inputs = frost.binding_factor_inputs(
        suite, dealt.pkg.public_key, package.commitments, v.message
    )
    factors = frost.compute_binding_factors(
        suite, dealt.pkg.public_key, package.commitments, v.message
    )
    assert set(inputs) == set(factors) == {r.identifier for r in v.round_one}
    for r in v.round_one:
        assert inputs[r.identifier] == r.binding_factor_input
        assert g.encode_scalar(factors[r.identifier]) == r.binding_factor


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_signature_shares(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    g = suite.group
    nonces, package = _round_one(suite, dealt, v)
    assert package.identifiers == v.participant_list
    for i in v.participant_list:
        share = frost.sign(suite, package, nonces[i], dealt.shares[i])
        assert share.identifier == i
        assert g.encode_scalar(share.z) == v.sig_shares[i]
        frost.verify_signature_share(suite, dealt.pkg, package, share)


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_aggregate_signature(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    nonces, package = _round_one(suite, dealt, v)
    shares = {i: frost.sign(suite, package, nonces[i], dealt.shares[i]) for i in nonces}
    signature = frost.aggregate(suite, package, shares, dealt.pkg)
    assert signature == v.sig
    assert len(signature) == suite.signature_len
    frost.verify(suite, dealt.pkg.public_key, v.message, signature)


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v.id)
def test_vector_signature_verifies_and_rejects_other_message(v: FrostSigningVector) -> None:
    suite = SUITE_BY_GROUP[v.group]
    pk = suite.group.decode_point(v.group_public_key)
    frost.verify(suite, pk, v.message, v.sig)
    with pytest.raises(ProtocolAbort) as exc:
        frost.verify(suite, pk, v.message + b"!", v.sig)
    assert exc.value.abort_reason is AbortReason.INVALID_SIGNATURE
    assert exc.value.culprits == frozenset()


@pytest.mark.parametrize("v", ED25519_VECTORS, ids=lambda v: v.id)
def test_ed25519_signature_verifies_with_independent_libraries(v: FrostSigningVector) -> None:
    suite, dealt = _setup(v)
    nonces, package = _round_one(suite, dealt, v)
    shares = {i: frost.sign(suite, package, nonces[i], dealt.shares[i]) for i in nonces}
    signature = frost.aggregate(suite, package, shares, dealt.pkg)
    public_key = suite.group.encode_point(dealt.pkg.public_key)
    VerifyKey(public_key).verify(v.message, signature)  # libsodium
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, v.message)  # OpenSSL
    with pytest.raises(BadSignatureError):
        VerifyKey(public_key).verify(v.message + b"x", signature)
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, v.message + b"x")


@pytest.mark.parametrize("e", INVALID_ELEMENTS, ids=lambda e: e.id)
def test_invalid_element_is_rejected(e: FrostInvalidElement) -> None:
    suite = SUITE_BY_GROUP[e.group]
    g = suite.group
    with pytest.raises(InvalidArguments) as exc:
        g.decode_point(e.encoding)
    assert exc.value.reason == "INVALID_ENCODING"

    # Everywhere FROST deserializes an element: commitments, packages, signatures.
    valid = g.encode_point(g.base_mul(7))
    header = bytes([frost.FORMAT_VERSION, suite.suite_id])
    for body in (e.encoding + valid, valid + e.encoding):
        with pytest.raises(InvalidArguments) as exc:
            frost.SigningCommitments.decode(suite, header + b"\x00\x01" + body)
        assert exc.value.reason == "INVALID_ENCODING"
        package = header + b"\x00\x01" + b"\x00\x01" + body + b"\x00\x00\x00\x00"
        with pytest.raises(InvalidArguments) as exc:
            frost.SigningPackage.decode(suite, package)
        assert exc.value.reason == "INVALID_ENCODING"
    with pytest.raises(InvalidArguments) as exc:
        frost.verify(suite, g.base_mul(5), b"m", e.encoding + bytes(g.scalar_len))
    assert exc.value.reason == "INVALID_ENCODING"


@pytest.mark.parametrize(
    ("msg", "length", "expected"),
    [
        # RFC 9380 Appendix K.1, DST "QUUX-V01-CS02-with-expander-SHA256-128"
        (b"", 0x20, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"),
        (b"abc", 0x20, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"),
    ],
)
def test_expand_message_xmd_sha256(msg: bytes, length: int, expected: str) -> None:
    dst = b"QUUX-V01-CS02-with-expander-SHA256-128"
    assert expand_message_xmd_sha256(msg, dst, length).hex() == expected


def test_ciphersuite_constants() -> None:
    ed = frost.FROST_ED25519_SHA512
    secp = frost.FROST_SECP256K1_SHA256
    assert ed.context_string == b"FROST-ED25519-SHA512-v1"
    assert secp.context_string == b"FROST-secp256k1-SHA256-v1"
    assert (ed.signature_len, secp.signature_len) == (64, 65)
    # Identifier 256 as a little-endian (Ed25519) / big-endian (secp256k1) scalar.
    assert ed.serialize_identifier(256) == b"\x00\x01" + bytes(30)
    assert secp.serialize_identifier(256) == bytes(30) + b"\x01\x00"
    assert frost.suite_by_id(ed.suite_id) is ed
    with pytest.raises(InvalidArguments):
        frost.suite_by_id(0)
