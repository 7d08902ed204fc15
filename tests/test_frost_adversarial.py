"""Adversarial FROST tests (``specs/test-plan.md`` SIG-4, SIG-6 core part, SIG-7) and hostile
point encodings.

Each test body is written once and runs for both ciphersuites where the attack is generic.
The Ed25519 encoding attacks (small order, torsion, non-canonical) are built with a tiny
pure-Python edwards25519 reference below, independent of libsodium, so that each hostile
encoding is checked to be what the test claims it is before we assert it is rejected.
"""

from __future__ import annotations

import copy
import pickle
import threading
from dataclasses import dataclass

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from helpers.dealer import Dealt, deal
from warifu.core import frost
from warifu.core.curves.ed25519 import L as ED25519_L
from warifu.core.curves.secp256k1 import P_FIELD as SECP256K1_P
from warifu.core.errors import AbortReason, AlreadyConsumed, InvalidArguments, ProtocolAbort
from warifu.core.rng import DeterministicRng

SUITES = [frost.FROST_ED25519_SHA512, frost.FROST_SECP256K1_SHA256]
suite_param = pytest.mark.parametrize("suite", SUITES, ids=["ed25519", "secp256k1"])

T, IDS = 3, (1, 2, 3, 4, 5)
SIGNERS = (1, 2, 4)
ME = 2
MESSAGE = b"payment: 25 XRP to rXYZ"


@dataclass
class Round:
    """One signing session after round 1: the key, every signer's nonces, the honest package."""

    suite: frost.Ciphersuite
    dealt: Dealt
    nonces: dict[int, frost.SigningNonces]
    commitments: dict[int, frost.SigningCommitments]
    package: frost.SigningPackage
    rng: DeterministicRng

    def sign_all(self) -> dict[int, frost.SignatureShare]:
        return {
            i: frost.sign(self.suite, self.package, self.nonces[i], self.dealt.shares[i])
            for i in self.package.identifiers
        }

    def fresh_commitments(self, party: int) -> frost.SigningCommitments:
        """Another valid commitment of ``party`` (as a coordinator could have kept from before)."""
        return frost.commit(self.suite, self.dealt.shares[party], self.rng)[1]


def new_round(suite: frost.Ciphersuite, signers: tuple[int, ...] = SIGNERS) -> Round:
    rng = DeterministicRng(b"frost-adversarial/" + suite.context_string)
    dealt = deal(suite.group, T, IDS, rng.fork("dealer"))
    nonces, commitments = {}, {}
    for i in IDS:
        nonces[i], commitments[i] = frost.commit(suite, dealt.shares[i], rng.fork(i))
    package = frost.SigningPackage.create(suite, [commitments[i] for i in signers], MESSAGE)
    return Round(suite, dealt, nonces, commitments, package, rng.fork("extra"))


def _abort(exc: pytest.ExceptionInfo[ProtocolAbort], reason: AbortReason) -> frozenset[int]:
    assert exc.value.abort_reason is reason
    assert exc.value.reason == reason.value
    return exc.value.culprits


# --- SIG-4: a wrong final share -------------------------------------------------------------


@suite_param
def test_honest_run_aggregates(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    signature = frost.aggregate(suite, r.package, r.sign_all(), r.dealt.pkg)
    frost.verify(suite, r.dealt.pkg.public_key, MESSAGE, signature)


@suite_param
@pytest.mark.parametrize("cheater", SIGNERS)
def test_sig4_one_wrong_share_names_exactly_that_signer(
    suite: frost.Ciphersuite, cheater: int
) -> None:
    r = new_round(suite)
    shares = r.sign_all()
    bad = shares[cheater]
    shares[cheater] = frost.SignatureShare(
        identifier=cheater, z=(bad.z + 1) % suite.group.order, suite=suite
    )
    with pytest.raises(ProtocolAbort) as exc:
        frost.aggregate(suite, r.package, shares, r.dealt.pkg)
    assert _abort(exc, AbortReason.INVALID_SIGNATURE_SHARE) == {cheater}

    with pytest.raises(ProtocolAbort) as exc:
        frost.verify_signature_share(suite, r.dealt.pkg, r.package, shares[cheater])
    assert _abort(exc, AbortReason.INVALID_SIGNATURE_SHARE) == {cheater}
    for i in SIGNERS:
        if i != cheater:
            frost.verify_signature_share(suite, r.dealt.pkg, r.package, shares[i])


@suite_param
def test_sig4_two_cheaters_are_both_named(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    shares = r.sign_all()
    # Two cheaters whose errors cancel in the sum would still leave R, z consistent only by
    # luck; here they cancel exactly, which the per-share check must still catch if the
    # aggregate failed. Use independent errors so the aggregate fails.
    for cheater, delta in ((1, 5), (4, 7)):
        shares[cheater] = frost.SignatureShare(
            identifier=cheater, z=(shares[cheater].z + delta) % suite.group.order, suite=suite
        )
    with pytest.raises(ProtocolAbort) as exc:
        frost.aggregate(suite, r.package, shares, r.dealt.pkg)
    assert _abort(exc, AbortReason.INVALID_SIGNATURE_SHARE) == {1, 4}


@suite_param
def test_sig4_share_for_another_message_is_blamed(suite: frost.Ciphersuite) -> None:
    """Signer 4 answers with a well-formed share computed over a different message."""
    r = new_round(suite)
    shares = {i: frost.sign(suite, r.package, r.nonces[i], r.dealt.shares[i]) for i in (1, ME)}
    other = frost.SigningPackage(
        commitments=r.package.commitments, message=b"something else", suite=suite
    )
    shares[4] = frost.sign(suite, other, r.nonces[4], r.dealt.shares[4])
    frost.verify_signature_share(suite, r.dealt.pkg, other, shares[4])  # valid for *that*
    with pytest.raises(ProtocolAbort) as exc:
        frost.aggregate(suite, r.package, shares, r.dealt.pkg)
    assert _abort(exc, AbortReason.INVALID_SIGNATURE_SHARE) == {4}


@suite_param
def test_sig4_share_carrying_another_identifier_is_blamed_on_the_sender(
    suite: frost.Ciphersuite,
) -> None:
    r = new_round(suite)
    shares = r.sign_all()
    shares[4] = frost.SignatureShare(identifier=1, z=shares[1].z, suite=suite)
    with pytest.raises(ProtocolAbort) as exc:
        frost.aggregate(suite, r.package, shares, r.dealt.pkg)
    assert _abort(exc, AbortReason.INVALID_SIGNATURE_SHARE) == {4}


@suite_param
def test_aggregate_requires_exactly_the_signers_shares(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    shares = r.sign_all()
    missing = {i: s for i, s in shares.items() if i != 4}
    with pytest.raises(InvalidArguments):
        frost.aggregate(suite, r.package, missing, r.dealt.pkg)
    extra = dict(shares)
    extra[3] = frost.SignatureShare(identifier=3, z=1, suite=suite)
    with pytest.raises(InvalidArguments):
        frost.aggregate(suite, r.package, extra, r.dealt.pkg)


# --- SIG-6 (core part): nonces are use-once --------------------------------------------------


@suite_param
def test_sig6_nonces_used_twice_raise_already_consumed(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    nonces = r.nonces[ME]
    assert not nonces.consumed
    frost.sign(suite, r.package, nonces, r.dealt.shares[ME])
    assert nonces.consumed
    with pytest.raises(AlreadyConsumed) as exc:
        frost.sign(suite, r.package, nonces, r.dealt.shares[ME])
    assert exc.value.reason == AbortReason.NONCE_CONSUMED.value
    # SIG-7, last case: the coordinator reuses the commitments for a second message.
    second = frost.SigningPackage(
        commitments=r.package.commitments, message=b"a second message", suite=suite
    )
    with pytest.raises(AlreadyConsumed):
        frost.sign(suite, second, nonces, r.dealt.shares[ME])
    with pytest.raises(AlreadyConsumed):
        nonces.consume()


def test_sig6_racing_threads_get_each_nonce_once() -> None:
    suite = frost.FROST_ED25519_SHA512
    r = new_round(suite)
    rng = DeterministicRng(b"race")
    pool = [frost.commit(suite, r.dealt.shares[ME], rng)[0] for _ in range(64)]
    wins: list[int] = []
    losses: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for index, nonces in enumerate(pool):
            try:
                nonces.consume()
            except AlreadyConsumed:
                losses.append(index)
            else:
                wins.append(index)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(wins) == list(range(len(pool)))
    assert len(losses) == 3 * len(pool)


@suite_param
def test_nonces_are_never_revealed_copied_or_pickled(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    nonces = r.nonces[ME]
    text = repr(nonces) + str(nonces)
    with pytest.raises(TypeError):
        pickle.dumps(nonces)
    with pytest.raises(TypeError):
        copy.copy(nonces)
    with pytest.raises(TypeError):
        copy.deepcopy(nonces)
    d, e = nonces.consume()
    g = suite.group
    for secret in (d, e):
        for form in (str(secret), hex(secret), g.encode_scalar(secret).hex()):
            assert form not in text
    assert "redacted" in text
    # No value equality: a twin holding the same nonces is a different use-once object.
    twin = frost.SigningNonces(
        suite=suite, hiding_nonce=d, binding_nonce=e, commitments=nonces.commitments
    )
    assert twin != nonces
    assert twin.consume() == (d, e)


# --- SIG-7: the member refuses a bad signing package, and keeps its nonce --------------------


def _altered_packages(r: Round) -> dict[str, frost.SigningPackage]:
    suite, c = r.suite, r.commitments
    mine = c[ME]
    other = r.fresh_commitments(ME)
    g = suite.group
    stranger = frost.SigningCommitments(
        identifier=99, hiding=g.base_mul(11), binding=g.base_mul(12), suite=suite
    )

    def pkg(*commitments: frost.SigningCommitments) -> frost.SigningPackage:
        return frost.SigningPackage(commitments=commitments, message=MESSAGE, suite=suite)

    return {
        "own-hiding-altered": pkg(
            c[1],
            frost.SigningCommitments(
                identifier=ME, hiding=other.hiding, binding=mine.binding, suite=suite
            ),
            c[4],
        ),
        "own-binding-altered": pkg(
            c[1],
            frost.SigningCommitments(
                identifier=ME, hiding=mine.hiding, binding=other.binding, suite=suite
            ),
            c[4],
        ),
        "own-commitment-replaced": pkg(c[1], other, c[4]),
        "own-hiding-binding-swapped": pkg(
            c[1],
            frost.SigningCommitments(
                identifier=ME, hiding=mine.binding, binding=mine.hiding, suite=suite
            ),
            c[4],
        ),
        "own-commitment-dropped": pkg(c[1], c[3], c[4]),
        "unknown-id-added": pkg(c[1], mine, c[4], stranger),
        "unsorted": pkg(c[4], mine, c[1]),
        "duplicate-id": pkg(c[1], mine, mine, c[4]),
        "duplicate-other-id": pkg(c[1], c[1], mine, c[4]),
        "fewer-than-t": pkg(c[1], mine),
        "only-me": pkg(mine),
        "empty": pkg(),
    }


CASES = sorted(_altered_packages(new_round(frost.FROST_ED25519_SHA512)))


@suite_param
@pytest.mark.parametrize("case", CASES)
def test_sig7_member_refuses_and_keeps_its_nonce(suite: frost.Ciphersuite, case: str) -> None:
    r = new_round(suite)
    bad = _altered_packages(r)[case]
    nonces = r.nonces[ME]
    with pytest.raises(ProtocolAbort) as exc:
        frost.sign(suite, bad, nonces, r.dealt.shares[ME])
    assert _abort(exc, AbortReason.INVALID_SIGNING_PACKAGE) == frozenset()
    assert not nonces.consumed
    # Through the wire too: the package decodes (it is well-formed), and sign still refuses.
    decoded = frost.SigningPackage.decode(suite, bad.encode())
    with pytest.raises(ProtocolAbort):
        frost.sign(suite, decoded, nonces, r.dealt.shares[ME])
    assert not nonces.consumed
    # The nonce is still good: the honest package signs and the signature verifies.
    signature = frost.aggregate(suite, r.package, r.sign_all(), r.dealt.pkg)
    frost.verify(suite, r.dealt.pkg.public_key, MESSAGE, signature)


@suite_param
def test_sig7_package_for_another_ciphersuite_is_refused(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    other_suite = next(s for s in SUITES if s is not suite)
    other = new_round(other_suite)
    with pytest.raises(ProtocolAbort) as exc:
        frost.sign(suite, other.package, r.nonces[ME], r.dealt.shares[ME])
    assert _abort(exc, AbortReason.INVALID_SIGNING_PACKAGE) == frozenset()
    assert not r.nonces[ME].consumed
    with pytest.raises(InvalidArguments):  # and its bytes do not parse as this suite's
        frost.SigningPackage.decode(suite, other.package.encode())


@suite_param
def test_caller_mistakes_are_invalid_arguments(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    with pytest.raises(InvalidArguments):  # nonces of party 1 with the key share of party 2
        frost.sign(suite, r.package, r.nonces[1], r.dealt.shares[ME])
    other_suite = next(s for s in SUITES if s is not suite)
    with pytest.raises(InvalidArguments):
        frost.sign(other_suite, r.package, r.nonces[ME], r.dealt.shares[ME])
    assert not r.nonces[1].consumed
    assert not r.nonces[ME].consumed
    with pytest.raises(InvalidArguments):  # a point of the wrong group
        frost.SigningCommitments(
            identifier=1,
            hiding=other_suite.group.base_mul(2),
            binding=other_suite.group.base_mul(3),
            suite=suite,
        )
    with pytest.raises(InvalidArguments):
        frost.SigningCommitments(
            identifier=1,
            hiding=suite.group.identity(),
            binding=suite.group.base_mul(3),
            suite=suite,
        )
    for bad_id in (0, 65536):
        with pytest.raises(InvalidArguments):
            frost.SigningCommitments(
                identifier=bad_id,
                hiding=suite.group.base_mul(2),
                binding=suite.group.base_mul(3),
                suite=suite,
            )


@suite_param
def test_identity_group_commitment_is_refused_without_culprit(suite: frost.Ciphersuite) -> None:
    """R = O cannot be serialized; the guard refuses it and blames nobody.

    The binding factors hash the whole commitment list, so no participant can aim at R = O
    through sign(); the guard is exercised directly with chosen binding factors.
    """
    r = new_round(suite)
    g = suite.group
    c1, c2 = r.commitments[1], r.commitments[ME]
    rho = {1: 3, ME: 5, 4: 7}
    e4 = g.base_mul(13)
    d4 = -(c1.hiding + c1.binding * 3 + c2.hiding + c2.binding * 5 + e4 * 7)
    c4 = frost.SigningCommitments(identifier=4, hiding=d4, binding=e4, suite=suite)
    with pytest.raises(ProtocolAbort) as exc:
        frost.compute_group_commitment(suite, (c1, c2, c4), rho)
    assert _abort(exc, AbortReason.INVALID_SIGNING_PACKAGE) == frozenset()
    rho[4] = 8  # any other binding factor: a normal point
    assert not frost.compute_group_commitment(suite, (c1, c2, c4), rho).is_identity()


# --- hostile point encodings ----------------------------------------------------------------

# A pure-Python edwards25519 reference (RFC 8032 §5.1), affine coordinates, slow and simple.
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
RefPoint = tuple[int, int]
_O: RefPoint = (0, 1)


def _ref_decode(data: bytes, *, allow_noncanonical: bool = False) -> RefPoint | None:
    """RFC 8032 §5.1.3 decoding; optionally accepts y >= p (reduced) to build hostile points."""
    n = int.from_bytes(data, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= _P:
        if not allow_noncanonical:
            return None
        y -= _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    if x2 == 0:
        if sign and not allow_noncanonical:
            return None
        return (0, y)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y)


def _ref_encode(p: RefPoint) -> bytes:
    x, y = p
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _ref_add(p: RefPoint, q: RefPoint) -> RefPoint:
    (x1, y1), (x2, y2) = p, q
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P
    return (x3, y3)


def _ref_mul(k: int, p: RefPoint) -> RefPoint:
    acc, base = _O, p
    while k:
        if k & 1:
            acc = _ref_add(acc, base)
        base = _ref_add(base, base)
        k >>= 1
    return acc


SMALL_ORDER_ENCODINGS = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
]


def test_reference_small_order_points_are_the_eight_torsion_points() -> None:
    points = [_ref_decode(bytes.fromhex(h)) for h in SMALL_ORDER_ENCODINGS]
    assert all(p is not None for p in points)
    assert len(set(points)) == 8
    for p in points:
        assert p is not None
        assert _ref_mul(8, p) == _O
    # The reference agrees with libsodium on an honest point.
    g = frost.FROST_ED25519_SHA512.group
    base = _ref_decode(g.encode_point(g.generator()))
    assert base is not None
    assert _ref_encode(_ref_mul(12345, base)) == g.encode_point(g.base_mul(12345))


def _commitment_blob(suite: frost.Ciphersuite, hiding: bytes, binding: bytes) -> bytes:
    return bytes([frost.FORMAT_VERSION, suite.suite_id]) + (7).to_bytes(2, "big") + hiding + binding


def _assert_rejected_everywhere(suite: frost.Ciphersuite, bad: bytes) -> None:
    g = suite.group
    good = g.encode_point(g.base_mul(424242))
    for blob in (_commitment_blob(suite, bad, good), _commitment_blob(suite, good, bad)):
        with pytest.raises(InvalidArguments) as exc:
            frost.SigningCommitments.decode(suite, blob)
        assert exc.value.reason == "INVALID_ENCODING"
    with pytest.raises(InvalidArguments) as exc:
        frost.verify(suite, g.base_mul(3), b"m", bad + bytes(g.scalar_len))
    assert exc.value.reason == "INVALID_ENCODING"


@pytest.mark.parametrize("encoding", SMALL_ORDER_ENCODINGS)
def test_ed25519_small_order_points_rejected(encoding: str) -> None:
    _assert_rejected_everywhere(frost.FROST_ED25519_SHA512, bytes.fromhex(encoding))


@pytest.mark.parametrize("torsion", SMALL_ORDER_ENCODINGS[1:])
def test_ed25519_torsioned_points_rejected(torsion: str) -> None:
    """P + T with P honest and T of small order: on the curve, canonical, not prime order."""
    suite = frost.FROST_ED25519_SHA512
    g = suite.group
    honest = _ref_decode(g.encode_point(g.base_mul(987654321)))
    t = _ref_decode(bytes.fromhex(torsion))
    assert honest is not None and t is not None
    mixed = _ref_add(honest, t)
    assert _ref_mul(ED25519_L, mixed) != _O  # really outside the prime-order subgroup
    assert _ref_decode(_ref_encode(mixed)) == mixed  # and a canonical curve point
    _assert_rejected_everywhere(suite, _ref_encode(mixed))


def _noncanonical_y_encodings() -> list[bytes]:
    """Every encoding with y in [p, 2^255): both sign bits."""
    out = []
    for y in range(_P, 2**255):
        for sign in (0, 1):
            out.append((y | (sign << 255)).to_bytes(32, "little"))
    return out


def test_ed25519_noncanonical_y_rejected() -> None:
    encodings = _noncanonical_y_encodings()
    assert len(encodings) == 38
    # Some of them are (non-canonical names of) real curve points, e.g. y = p + 1 (identity).
    assert any(_ref_decode(e, allow_noncanonical=True) is not None for e in encodings)
    for e in encodings:
        assert _ref_decode(e) is None
        _assert_rejected_everywhere(frost.FROST_ED25519_SHA512, e)


def test_ed25519_noncanonical_sign_bit_and_off_curve_rejected() -> None:
    suite = frost.FROST_ED25519_SHA512
    # x = 0 with the sign bit set: (0, 1) and (0, -1) have no "negative" x.
    for base in (SMALL_ORDER_ENCODINGS[0], SMALL_ORDER_ENCODINGS[1]):
        enc = bytearray(bytes.fromhex(base))
        enc[31] |= 0x80
        _assert_rejected_everywhere(suite, bytes(enc))
    # y with no x on the curve.
    off = next(
        (y).to_bytes(32, "little")
        for y in range(2, 100)
        if _ref_decode((y).to_bytes(32, "little")) is None
    )
    _assert_rejected_everywhere(suite, off)


def test_secp256k1_hostile_encodings_rejected() -> None:
    suite = frost.FROST_SECP256K1_SHA256
    g = suite.group
    good = g.encode_point(g.base_mul(5))
    x_ge_p = b"\x02" + SECP256K1_P.to_bytes(32, "big")
    x_max = b"\x03" + (2**256 - 1).to_bytes(32, "big")
    uncompressed_prefix = b"\x04" + good[1:]
    zero_prefix = b"\x00" + good[1:]
    identity_like = bytes(33)
    # x with no y on the curve: x^3 + 7 a non-residue.
    off_x = next(
        x
        for x in range(1, 100)
        if pow((x**3 + 7) % SECP256K1_P, (SECP256K1_P - 1) // 2, SECP256K1_P) != 1
    )
    off_curve = b"\x02" + off_x.to_bytes(32, "big")
    for bad in (x_ge_p, x_max, uncompressed_prefix, zero_prefix, identity_like, off_curve):
        _assert_rejected_everywhere(suite, bad)


@suite_param
def test_wrong_lengths_and_headers_rejected(suite: frost.Ciphersuite) -> None:
    r = new_round(suite)
    blob = r.commitments[ME].encode()
    for bad in (
        blob[:-1],
        blob + b"\x00",
        b"",
        b"\x01",
        bytes([frost.FORMAT_VERSION + 1]) + blob[1:],
        bytes([blob[0], 0]) + blob[2:],
        bytes([blob[0], 200]) + blob[2:],
    ):
        with pytest.raises(InvalidArguments) as exc:
            frost.SigningCommitments.decode(suite, bad)
        assert exc.value.reason == "INVALID_ENCODING"
    share = r.sign_all()[ME].encode()
    order_bytes = suite.group.order.to_bytes(32, "little" if suite is SUITES[0] else "big")
    with pytest.raises(InvalidArguments) as exc:
        frost.SignatureShare.decode(suite, share[:4] + order_bytes)  # z = order, not < order
    assert exc.value.reason == "INVALID_ENCODING"
    with pytest.raises(InvalidArguments):
        frost.SignatureShare.decode(suite, share[:2] + b"\x00\x00" + share[4:])  # id 0


def test_ed25519_signature_with_s_plus_l_is_rejected() -> None:
    """Malleability: (R, z + L) passes a lax S check; ours and libsodium reject it."""
    suite = frost.FROST_ED25519_SHA512
    r = new_round(suite)
    signature = frost.aggregate(suite, r.package, r.sign_all(), r.dealt.pkg)
    z = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (z + ED25519_L).to_bytes(32, "little")
    with pytest.raises(InvalidArguments) as exc:
        frost.verify(suite, r.dealt.pkg.public_key, MESSAGE, malleated)
    assert exc.value.reason == "INVALID_ENCODING"
    with pytest.raises(BadSignatureError):
        VerifyKey(suite.group.encode_point(r.dealt.pkg.public_key)).verify(MESSAGE, malleated)
