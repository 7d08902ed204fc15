"""Property tests for FROST (hypothesis), written once and run for both ciphersuites.

- any t-subset of a random (t, n) trusted-dealer sharing signs, and the Ed25519 result verifies
  with libsodium (PyNaCl) and OpenSSL (``cryptography``), not only with our own ``verify``;
- t shares interpolate to the secret, any t−1 do not;
- every package round-trips through its encoding, and every bit flip, truncation or extension
  of an encoding either raises InvalidArguments/ProtocolAbort or decodes to a *different*
  value that re-encodes to exactly the mutated bytes (never IndexError/ValueError);
- a mutated signature never verifies, and our strict verify agrees with libsodium on it;
- the order in which shares arrive does not change the signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from helpers.dealer import Dealt, deal
from warifu.core import frost
from warifu.core.errors import InvalidArguments, ProtocolAbort
from warifu.core.rng import DeterministicRng
from warifu.core.shares.package import lagrange_at_zero

SUITES = [frost.FROST_ED25519_SHA512, frost.FROST_SECP256K1_SHA256]
SUITE_IDS = ["ed25519", "secp256k1"]
suite_param = pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)

EXAMPLES = settings(max_examples=30)


# --- strategies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """A threshold, a committee's ids and a signing subset (sorted)."""

    t: int
    ids: tuple[int, ...]
    signers: tuple[int, ...]
    seed: bytes


@st.composite
def st_setup(draw: st.DrawFn, *, max_n: int = 6) -> Setup:
    """2 <= t <= n <= max_n, arbitrary distinct party ids, a random t-subset, an RNG seed."""
    n = draw(st.integers(2, max_n))
    t = draw(st.integers(2, n))
    ids = draw(st.lists(st.integers(1, 65535), min_size=n, max_size=n, unique=True))
    signers = draw(st.permutations(ids))[:t]
    seed = draw(st.binary(min_size=16, max_size=16))
    return Setup(t=t, ids=tuple(sorted(ids)), signers=tuple(sorted(signers)), seed=seed)


def _run(
    suite: frost.Ciphersuite, setup: Setup, message: bytes
) -> tuple[Dealt, frost.SigningPackage, dict[int, frost.SignatureShare], bytes]:
    rng = DeterministicRng(setup.seed)
    dealt = deal(suite.group, setup.t, setup.ids, rng.fork("dealer"))
    nonces = {}
    commitments = []
    for i in setup.signers:
        n, c = frost.commit(suite, dealt.shares[i], rng.fork(i))
        nonces[i] = n
        commitments.append(c)
    package = frost.SigningPackage.create(suite, commitments, message)
    shares = {i: frost.sign(suite, package, nonces[i], dealt.shares[i]) for i in setup.signers}
    signature = frost.aggregate(suite, package, shares, dealt.pkg)
    return dealt, package, shares, signature


# --- signing ----------------------------------------------------------------------------------


@suite_param
@EXAMPLES
@given(setup=st_setup(), message=st.binary(max_size=200))
def test_any_t_subset_signs_and_verifies(
    suite: frost.Ciphersuite, setup: Setup, message: bytes
) -> None:
    dealt, package, shares, signature = _run(suite, setup, message)
    frost.verify(suite, dealt.pkg.public_key, message, signature)
    for share in shares.values():
        frost.verify_signature_share(suite, dealt.pkg, package, share)
    if suite is frost.FROST_ED25519_SHA512:
        public_key = suite.group.encode_point(dealt.pkg.public_key)
        VerifyKey(public_key).verify(message, signature)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)


@suite_param
@EXAMPLES
@given(setup=st_setup(), order_seed=st.randoms(use_true_random=False))
def test_share_arrival_order_does_not_matter(
    suite: frost.Ciphersuite, setup: Setup, order_seed: Any
) -> None:
    dealt, package, shares, signature = _run(suite, setup, b"order")
    keys = list(shares)
    order_seed.shuffle(keys)
    assert frost.aggregate(suite, package, {k: shares[k] for k in keys}, dealt.pkg) == signature


@suite_param
@EXAMPLES
@given(setup=st_setup(), shuffle=st.randoms(use_true_random=False))
def test_signing_package_create_sorts(suite: frost.Ciphersuite, setup: Setup, shuffle: Any) -> None:
    rng = DeterministicRng(setup.seed)
    dealt = deal(suite.group, setup.t, setup.ids, rng)
    commitments = [frost.commit(suite, dealt.shares[i], rng)[1] for i in setup.signers]
    shuffle.shuffle(commitments)
    package = frost.SigningPackage.create(suite, commitments, b"m")
    assert package.identifiers == setup.signers


# --- algebra ----------------------------------------------------------------------------------


@suite_param
@EXAMPLES
@given(setup=st_setup(), data=st.data())
def test_t_shares_interpolate_and_t_minus_1_do_not(
    suite: frost.Ciphersuite, setup: Setup, data: st.DataObject
) -> None:
    g = suite.group
    dealt = deal(g, setup.t, setup.ids, DeterministicRng(setup.seed))

    def interpolate(subset: tuple[int, ...]) -> int:
        return (
            sum(lagrange_at_zero(g.order, subset, i) * dealt.shares[i].secret for i in subset)
            % g.order
        )

    assert interpolate(setup.signers) == dealt.secret
    assert (
        g.sum_points(
            dealt.pkg.verification_shares[i] * lagrange_at_zero(g.order, setup.signers, i)
            for i in setup.signers
        )
        == dealt.pkg.public_key
    )
    short = tuple(sorted(data.draw(st.permutations(setup.ids))[: setup.t - 1]))
    assert interpolate(short) != dealt.secret


# --- encodings --------------------------------------------------------------------------------


def _encodings(
    suite: frost.Ciphersuite, setup: Setup, message: bytes
) -> list[tuple[bytes, Callable[[bytes], Any], Any]]:
    """(encoding, decoder, original value) for every package type of one signing run."""
    _, package, shares, _ = _run(suite, setup, message)
    out: list[tuple[bytes, Callable[[bytes], Any], Any]] = [
        (package.encode(), lambda b: frost.SigningPackage.decode(suite, b), package)
    ]
    for c in package.commitments:
        out.append((c.encode(), lambda b: frost.SigningCommitments.decode(suite, b), c))
    for s in shares.values():
        out.append((s.encode(), lambda b: frost.SignatureShare.decode(suite, b), s))
    return out


@suite_param
@EXAMPLES
@given(setup=st_setup(max_n=4), message=st.binary(max_size=64))
def test_encodings_round_trip(suite: frost.Ciphersuite, setup: Setup, message: bytes) -> None:
    encodings = _encodings(suite, setup, message)
    assert len(encodings) == 1 + 2 * setup.t
    for encoded, decode, original in encodings:
        decoded = decode(encoded)
        assert decoded == original
        assert decoded.encode() == encoded


def _check_mutant(decode: Callable[[bytes], Any], original: Any, mutant: bytes) -> None:
    """A mutated encoding is rejected cleanly, or is a canonical encoding of another value."""
    try:
        value = decode(mutant)
    except (InvalidArguments, ProtocolAbort):
        return
    assert value != original
    assert value.encode() == mutant


@suite_param
@EXAMPLES
@given(setup=st_setup(max_n=3), data=st.data())
def test_bit_flips_are_rejected_or_canonical(
    suite: frost.Ciphersuite, setup: Setup, data: st.DataObject
) -> None:
    for encoded, decode, original in _encodings(suite, setup, b"flip"):
        position = data.draw(st.integers(0, len(encoded) * 8 - 1))
        mutant = bytearray(encoded)
        mutant[position // 8] ^= 1 << (position % 8)
        _check_mutant(decode, original, bytes(mutant))


@suite_param
@EXAMPLES
@given(setup=st_setup(max_n=3), data=st.data())
def test_truncation_and_extension_are_rejected(
    suite: frost.Ciphersuite, setup: Setup, data: st.DataObject
) -> None:
    for encoded, decode, _ in _encodings(suite, setup, b"len"):
        cut = data.draw(st.integers(0, len(encoded) - 1))
        extra = data.draw(st.binary(min_size=1, max_size=40))
        for mutant in (encoded[:cut], encoded + extra):
            with pytest.raises(InvalidArguments):
                decode(mutant)


@suite_param
@EXAMPLES
@given(setup=st_setup(max_n=3), data=st.data())
def test_random_bytes_never_crash_the_decoders(
    suite: frost.Ciphersuite, setup: Setup, data: st.DataObject
) -> None:
    for encoded, decode, original in _encodings(suite, setup, b"r"):
        # Same length as a valid encoding and the right header, random body.
        body = data.draw(st.binary(min_size=len(encoded) - 2, max_size=len(encoded) - 2))
        _check_mutant(decode, original, encoded[:2] + body)


# --- signatures -------------------------------------------------------------------------------


@suite_param
@EXAMPLES
@given(setup=st_setup(max_n=3), data=st.data())
def test_mutated_signature_never_verifies(
    suite: frost.Ciphersuite, setup: Setup, data: st.DataObject
) -> None:
    message = b"pay 10 XRP"
    dealt, _, _, signature = _run(suite, setup, message)
    position = data.draw(st.integers(0, len(signature) * 8 - 1))
    mutant = bytearray(signature)
    mutant[position // 8] ^= 1 << (position % 8)
    with pytest.raises((InvalidArguments, ProtocolAbort)):
        frost.verify(suite, dealt.pkg.public_key, message, bytes(mutant))
    if suite is frost.FROST_ED25519_SHA512:
        with pytest.raises(BadSignatureError):
            VerifyKey(suite.group.encode_point(dealt.pkg.public_key)).verify(message, bytes(mutant))


@suite_param
@EXAMPLES
@given(setup=st_setup(max_n=3), other=st.binary(max_size=32))
def test_signature_is_bound_to_message(
    suite: frost.Ciphersuite, setup: Setup, other: bytes
) -> None:
    message = b"the message"
    assume(other != message)
    dealt, _, _, signature = _run(suite, setup, message)
    with pytest.raises(ProtocolAbort):
        frost.verify(suite, dealt.pkg.public_key, other, signature)
