"""FROST two-round threshold Schnorr signing, generic over a :class:`Ciphersuite`.

Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5 (two-round signing protocol), with the
helper functions of https://www.rfc-editor.org/rfc/rfc9591#section-4 and the security rules of
https://www.rfc-editor.org/rfc/rfc9591#section-7. Details and pitfalls: ``specs/chains.md`` §1.

Round 1 (:func:`commit`) can be run ahead of the message; its secret half, a
:class:`SigningNonces`, is use-once and lives only in process memory. Round 2 (:func:`sign`)
first validates the :class:`SigningPackage` the coordinator sent and only then consumes the
nonces, so a refused package never burns them. The coordinator (:func:`aggregate`) verifies the
aggregate signature before releasing it and, if it does not verify, names every signer whose
share fails :func:`verify_signature_share`.

Notation (RFC 9591):

==============  ============================================================================
``d_i, e_i``    hiding and binding nonces of participant ``i`` (secret, use once)
``D_i, E_i``    their commitments ``d_i·G``, ``e_i·G``
``rho_i``       binding factor of ``i``
``R``           group commitment ``Σ (D_i + rho_i·E_i)``
``c``           challenge ``H2(R ‖ PK ‖ msg)``
``lambda_i``    Lagrange coefficient of ``i`` at 0 over the signing set
``z_i``         signature share ``d_i + e_i·rho_i + lambda_i·x_i·c``
``X_i``         public verification share of ``i``; ``PK`` the group public key
==============  ============================================================================

Every public package carries its ``suite`` (default: FROST(Ed25519, SHA-512), the suite warifu
ships), so ``encode()`` needs no argument and a package of one suite is never used with another.

Wire encodings (warifu's, not the RFC's): every package starts with
``u8(FORMAT_VERSION) ‖ u8(suite_id)``; identifiers are ``u16be`` (party ids are 1..65535,
``specs/shares.md`` §1.1); points and scalars use the suite's ``SerializeElement`` /
``SerializeScalar``. Inside RFC hashes the identifier is ``SerializeScalar(i)`` as the RFC says.
The final signature is the RFC's ``SerializeElement(R) ‖ SerializeScalar(z)`` with no header.

Timing: ``d_i``, ``e_i`` and ``x_i`` enter variable-time Python integer arithmetic in
:func:`sign`; scalar multiplications run in native constant-time code. Python cannot wipe
integers: nonces are dropped from :class:`SigningNonces` on use but may linger in freed memory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from warifu.core.curves import Point
from warifu.core.errors import (
    AbortReason,
    AlreadyConsumed,
    InvalidArguments,
    InvalidKeyShare,
    ProtocolAbort,
)
from warifu.core.rng import Rng
from warifu.core.shares.package import (
    KeyShare,
    PublicKeyPackage,
    check_party_ids,
    lagrange_at_zero,
)

from .ciphersuite import FROST_ED25519_SHA512, Ciphersuite

__all__ = [
    "FORMAT_VERSION",
    "SignatureShare",
    "SigningCommitments",
    "SigningNonces",
    "SigningPackage",
    "aggregate",
    "binding_factor_inputs",
    "commit",
    "commit_with_randomness",
    "compute_binding_factors",
    "compute_challenge",
    "compute_group_commitment",
    "encode_group_commitment_list",
    "nonce_generate",
    "nonce_generate_from_random_bytes",
    "sign",
    "verify",
    "verify_signature_share",
]

FORMAT_VERSION = 1
"""Version byte that starts every serialized FROST package."""

NONCE_RANDOMNESS_LEN = 32
"""RFC 9591 §4.1: ``random_bytes = random(32)``."""

_HEADER_LEN = 2
_ID_LEN = 2


# --- encoding helpers -------------------------------------------------------------------------


def _bad_encoding(what: str) -> NoReturn:
    raise InvalidArguments(what, reason="INVALID_ENCODING")


def _header(suite: Ciphersuite) -> bytes:
    return bytes((FORMAT_VERSION, suite.suite_id))


def _check_header(suite: Ciphersuite, data: bytes, what: str) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        _bad_encoding(f"{what}: expected bytes")
    if len(data) < _HEADER_LEN:
        _bad_encoding(f"{what}: too short")
    if data[0] != FORMAT_VERSION:
        _bad_encoding(f"{what}: unsupported format version {data[0]}")
    if data[1] != suite.suite_id:
        _bad_encoding(f"{what}: encoded for ciphersuite {data[1]}, expected {suite.suite_id}")


def _decode_identifier(data: bytes) -> int:
    identifier = int.from_bytes(data, "big")
    try:
        check_party_ids([identifier])
    except InvalidArguments as exc:
        raise InvalidArguments(exc.message, reason="INVALID_ENCODING") from None
    return identifier


def _check_suite(expected: Ciphersuite, got: Ciphersuite, what: str) -> None:
    if got != expected:
        raise InvalidArguments(
            f"{what} is for {got.name}, expected {expected.name}", reason="INVALID_ARGUMENT"
        )


@functools.cache
def _point_type(suite: Ciphersuite) -> type[Point]:
    return type(suite.group.generator())


def _check_points(suite: Ciphersuite, points: Iterable[Point], what: str) -> None:
    """Every point is a non-identity element of ``suite``'s group."""
    point_type = _point_type(suite)
    for p in points:
        if type(p) is not point_type:
            raise InvalidArguments(
                f"{what} is not a point of {suite.group.name}", reason="INVALID_ARGUMENT"
            )
        if p.is_identity():
            raise InvalidArguments(f"{what} is the identity", reason="INVALID_ENCODING")


def _check_pkg_suite(suite: Ciphersuite, pkg: PublicKeyPackage) -> None:
    if pkg.curve != suite.group.name:
        raise InvalidArguments(
            f"key is on {pkg.curve}, ciphersuite {suite.name} is on {suite.group.name}",
            reason="INVALID_ARGUMENT",
        )


# --- round 1 ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningCommitments:
    """A participant's public round-1 output ``(i, D_i, E_i)``.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.1

    Construction rejects an identifier outside 1..65535 and the identity element;
    :meth:`decode` additionally validates each point (canonical, on the curve, prime-order
    subgroup) through the group backend.
    """

    identifier: int
    hiding: Point
    binding: Point
    suite: Ciphersuite = FROST_ED25519_SHA512

    def __post_init__(self) -> None:
        check_party_ids([self.identifier])
        _check_points(self.suite, (self.hiding, self.binding), "nonce commitment")

    @classmethod
    def encoded_len(cls, suite: Ciphersuite) -> int:
        """Length of :meth:`encode`'s output for ``suite``."""
        return _HEADER_LEN + cls._body_len(suite)

    @staticmethod
    def _body_len(suite: Ciphersuite) -> int:
        point_len: int = suite.group.point_len
        return _ID_LEN + 2 * point_len

    def _body(self) -> bytes:
        g = self.suite.group
        body: bytes = (
            self.identifier.to_bytes(_ID_LEN, "big")
            + g.encode_point(self.hiding)
            + g.encode_point(self.binding)
        )
        return body

    @classmethod
    def _from_body(cls, suite: Ciphersuite, body: bytes) -> SigningCommitments:
        g = suite.group
        identifier = _decode_identifier(body[:_ID_LEN])
        hiding = g.decode_point(bytes(body[_ID_LEN : _ID_LEN + g.point_len]))
        binding = g.decode_point(bytes(body[_ID_LEN + g.point_len :]))
        return cls(suite=suite, identifier=identifier, hiding=hiding, binding=binding)

    def encode(self) -> bytes:
        """``u8(version) ‖ u8(suite) ‖ u16be(i) ‖ SerializeElement(D_i) ‖ SerializeElement(E_i)``.

        Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.1
        """
        return _header(self.suite) + self._body()

    @classmethod
    def decode(cls, suite: Ciphersuite, data: bytes) -> SigningCommitments:
        """Parse and validate; raise InvalidArguments(INVALID_ENCODING) on any defect."""
        _check_header(suite, data, "signing commitments")
        if len(data) != cls.encoded_len(suite):
            _bad_encoding(f"signing commitments must be {cls.encoded_len(suite)} bytes")
        return cls._from_body(suite, bytes(data[_HEADER_LEN:]))


class SigningNonces:
    """A participant's secret round-1 output ``(d_i, e_i)``: use once, never store, never log.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.1 and
    https://www.rfc-editor.org/rfc/rfc9591#section-7.3 (nonce reuse leaks the key share).

    :meth:`consume` returns the nonces the first time and raises
    :class:`~warifu.core.errors.AlreadyConsumed` (``NONCE_CONSUMED``) every later time. The
    one-shot is a single ``list.pop()``, which is atomic in CPython, so two threads racing for
    the same nonces cannot both get them. The object also carries the participant's own public
    :class:`SigningCommitments` so :func:`sign` can check that the coordinator relayed them
    unaltered. Not a dataclass: no generated ``__eq__``/``__repr__``; it refuses to be pickled
    or copied (a copy would be a second use).
    """

    __slots__ = ("_commitments", "_slot", "_suite")

    def __init__(
        self,
        *,
        suite: Ciphersuite,
        hiding_nonce: int,
        binding_nonce: int,
        commitments: SigningCommitments,
    ) -> None:
        g = suite.group
        _check_suite(suite, commitments.suite, "commitments")
        if not (0 < hiding_nonce < g.order and 0 < binding_nonce < g.order):
            raise InvalidArguments("nonce out of range", reason="INVALID_ARGUMENT")
        if g.base_mul(hiding_nonce) != commitments.hiding or (
            g.base_mul(binding_nonce) != commitments.binding
        ):
            raise InvalidArguments("commitments do not match the nonces", reason="INVALID_ARGUMENT")
        self._suite = suite
        self._commitments = commitments
        self._slot: list[tuple[int, int]] = [(hiding_nonce, binding_nonce)]

    @property
    def suite(self) -> Ciphersuite:
        """The ciphersuite these nonces were drawn for."""
        return self._suite

    @property
    def commitments(self) -> SigningCommitments:
        """The public commitments ``(i, D_i, E_i)`` published for these nonces."""
        return self._commitments

    @property
    def identifier(self) -> int:
        """The participant these nonces belong to."""
        return self.commitments.identifier

    @property
    def consumed(self) -> bool:
        """True once :meth:`consume` has handed the nonces out."""
        return not self._slot

    def consume(self) -> tuple[int, int]:
        """Return ``(d_i, e_i)`` once; raise AlreadyConsumed(NONCE_CONSUMED) afterwards."""
        try:
            return self._slot.pop()
        except IndexError:
            raise AlreadyConsumed(
                f"signing nonces of party {self.identifier} were already used",
                reason=AbortReason.NONCE_CONSUMED.value,
            ) from None

    def __repr__(self) -> str:
        state = "consumed" if self.consumed else "fresh"
        return f"SigningNonces(party={self.identifier}, {state}, nonces=<redacted>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("SigningNonces cannot be pickled or copied")


def nonce_generate_from_random_bytes(suite: Ciphersuite, secret: int, random_bytes: bytes) -> int:
    """``H3(random_bytes ‖ SerializeScalar(secret))``: the deterministic half of nonce_generate.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.1

    Exposed to run the RFC vectors (``*_nonce_randomness``); production code uses
    :func:`nonce_generate`.
    """
    if len(random_bytes) != NONCE_RANDOMNESS_LEN:
        raise InvalidArguments(
            f"nonce randomness must be {NONCE_RANDOMNESS_LEN} bytes", reason="INVALID_ARGUMENT"
        )
    return suite.h3(bytes(random_bytes) + suite.group.encode_scalar(secret))


def nonce_generate(suite: Ciphersuite, secret: int, rng: Rng) -> int:
    """A hedged nonce: fresh randomness and the secret share through H3.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.1
    """
    return nonce_generate_from_random_bytes(suite, secret, rng.random_bytes(NONCE_RANDOMNESS_LEN))


def commit_with_randomness(
    suite: Ciphersuite, key_share: KeyShare, hiding_rand: bytes, binding_rand: bytes
) -> tuple[SigningNonces, SigningCommitments]:
    """Round 1 with explicit nonce randomness (for the RFC vectors).

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.1
    """
    _check_pkg_suite(suite, key_share.pkg)
    g = suite.group
    d = nonce_generate_from_random_bytes(suite, key_share.secret, hiding_rand)
    e = nonce_generate_from_random_bytes(suite, key_share.secret, binding_rand)
    commitments = SigningCommitments(
        suite=suite, identifier=key_share.party_id, hiding=g.base_mul(d), binding=g.base_mul(e)
    )
    nonces = SigningNonces(suite=suite, hiding_nonce=d, binding_nonce=e, commitments=commitments)
    return nonces, commitments


def commit(
    suite: Ciphersuite, key_share: KeyShare, rng: Rng
) -> tuple[SigningNonces, SigningCommitments]:
    """Round 1: fresh hiding and binding nonces and their public commitments.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.1

    Keep the :class:`SigningNonces` in memory only; publish the :class:`SigningCommitments`.
    """
    hiding_rand = rng.random_bytes(NONCE_RANDOMNESS_LEN)
    binding_rand = rng.random_bytes(NONCE_RANDOMNESS_LEN)
    return commit_with_randomness(suite, key_share, hiding_rand, binding_rand)


# --- the signing package ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningPackage:
    """What the coordinator sends every signer: the commitment list and the message.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.2

    ``commitments`` must be sorted by identifier with no duplicates; :meth:`create` sorts.
    Construction and :meth:`decode` check only the *encoding*. The protocol rules (sorted,
    unique, members of the committee, at least ``t``, the signer's own commitment unaltered)
    are checked by :func:`sign` against the signer's key, because only the signer knows them.
    """

    commitments: tuple[SigningCommitments, ...]
    message: bytes
    suite: Ciphersuite = FROST_ED25519_SHA512

    def __post_init__(self) -> None:
        object.__setattr__(self, "commitments", tuple(self.commitments))
        object.__setattr__(self, "message", bytes(self.message))
        for c in self.commitments:
            if not isinstance(c, SigningCommitments):
                raise InvalidArguments("not a SigningCommitments", reason="INVALID_ARGUMENT")
            _check_suite(self.suite, c.suite, "a commitment")

    @classmethod
    def create(
        cls, suite: Ciphersuite, commitments: Iterable[SigningCommitments], message: bytes
    ) -> SigningPackage:
        """A package with the commitments sorted by identifier (the coordinator's helper)."""
        ordered = tuple(sorted(commitments, key=lambda c: c.identifier))
        return cls(suite=suite, commitments=ordered, message=message)

    @property
    def identifiers(self) -> tuple[int, ...]:
        """The signers' identifiers, in package order."""
        return tuple(c.identifier for c in self.commitments)

    def commitment_for(self, identifier: int) -> SigningCommitments | None:
        """The commitment of ``identifier`` (the first, if duplicated), or None."""
        for c in self.commitments:
            if c.identifier == identifier:
                return c
        return None

    def encode(self) -> bytes:
        """``header ‖ u16be(count) ‖ (u16be(i) ‖ D_i ‖ E_i)* ‖ u32be(len(msg)) ‖ msg``."""
        return (
            _header(self.suite)
            + len(self.commitments).to_bytes(2, "big")
            + b"".join(c._body() for c in self.commitments)
            + len(self.message).to_bytes(4, "big")
            + self.message
        )

    @classmethod
    def decode(cls, suite: Ciphersuite, data: bytes) -> SigningPackage:
        """Parse and validate every element; raise InvalidArguments(INVALID_ENCODING)."""
        _check_header(suite, data, "signing package")
        data = bytes(data)
        pos = _HEADER_LEN
        if len(data) < pos + 2:
            _bad_encoding("signing package: truncated count")
        count = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        body_len = SigningCommitments._body_len(suite)
        if len(data) < pos + count * body_len + 4:
            _bad_encoding("signing package: truncated")
        commitments = []
        for _ in range(count):
            commitments.append(SigningCommitments._from_body(suite, data[pos : pos + body_len]))
            pos += body_len
        msg_len = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if len(data) != pos + msg_len:
            _bad_encoding("signing package: message length does not match")
        return cls(suite=suite, commitments=tuple(commitments), message=data[pos:])


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureShare:
    """A participant's round-2 output ``z_i``.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.2
    """

    identifier: int
    z: int
    suite: Ciphersuite = FROST_ED25519_SHA512

    def __post_init__(self) -> None:
        check_party_ids([self.identifier])
        if not 0 <= self.z < self.suite.group.order:
            raise InvalidArguments("signature share out of range", reason="INVALID_ENCODING")

    @classmethod
    def encoded_len(cls, suite: Ciphersuite) -> int:
        """Length of :meth:`encode`'s output for ``suite``."""
        scalar_len: int = suite.group.scalar_len
        return _HEADER_LEN + _ID_LEN + scalar_len

    def encode(self) -> bytes:
        """``u8(version) ‖ u8(suite) ‖ u16be(i) ‖ SerializeScalar(z_i)``."""
        encoded: bytes = (
            _header(self.suite)
            + self.identifier.to_bytes(_ID_LEN, "big")
            + self.suite.group.encode_scalar(self.z)
        )
        return encoded

    @classmethod
    def decode(cls, suite: Ciphersuite, data: bytes) -> SignatureShare:
        """Parse and validate (``z_i < order``); raise InvalidArguments(INVALID_ENCODING)."""
        _check_header(suite, data, "signature share")
        if len(data) != cls.encoded_len(suite):
            _bad_encoding(f"signature share must be {cls.encoded_len(suite)} bytes")
        data = bytes(data)
        identifier = _decode_identifier(data[_HEADER_LEN : _HEADER_LEN + _ID_LEN])
        z = suite.group.decode_scalar(data[_HEADER_LEN + _ID_LEN :])
        return cls(suite=suite, identifier=identifier, z=z)


# --- RFC 9591 §4 helper functions -------------------------------------------------------------


def encode_group_commitment_list(
    suite: Ciphersuite, commitment_list: Sequence[SigningCommitments]
) -> bytes:
    """``‖ SerializeScalar(i) ‖ SerializeElement(D_i) ‖ SerializeElement(E_i)`` in list order.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.3
    """
    g = suite.group
    return b"".join(
        suite.serialize_identifier(c.identifier)
        + g.encode_point(c.hiding)
        + g.encode_point(c.binding)
        for c in commitment_list
    )


def binding_factor_inputs(
    suite: Ciphersuite,
    group_public_key: Point,
    commitment_list: Sequence[SigningCommitments],
    message: bytes,
) -> dict[int, bytes]:
    """The H1 input ``PK ‖ H4(msg) ‖ H5(encoded list) ‖ SerializeScalar(i)`` of every signer.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.4
    """
    prefix = (
        suite.group.encode_point(group_public_key)
        + suite.h4(message)
        + suite.h5(encode_group_commitment_list(suite, commitment_list))
    )
    return {
        c.identifier: prefix + suite.serialize_identifier(c.identifier) for c in commitment_list
    }


def compute_binding_factors(
    suite: Ciphersuite,
    group_public_key: Point,
    commitment_list: Sequence[SigningCommitments],
    message: bytes,
) -> dict[int, int]:
    """``rho_i = H1(binding factor input of i)`` for every signer.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.4
    """
    inputs = binding_factor_inputs(suite, group_public_key, commitment_list, message)
    return {i: suite.h1(rho_input) for i, rho_input in inputs.items()}


def compute_group_commitment(
    suite: Ciphersuite,
    commitment_list: Sequence[SigningCommitments],
    binding_factors: Mapping[int, int],
) -> Point:
    """``R = Σ_i (D_i + rho_i·E_i)``.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.5

    Departures: raises ProtocolAbort(INVALID_SIGNING_PACKAGE, no culprit) when ``R`` is the
    identity (only reachable with adversarial commitments), where the RFC fails later inside
    ``SerializeElement``; nobody can be blamed since any one commitment could be the cause.
    """
    g = suite.group
    r = g.sum_points(c.hiding + c.binding * binding_factors[c.identifier] for c in commitment_list)
    if r.is_identity():
        raise ProtocolAbort(
            AbortReason.INVALID_SIGNING_PACKAGE, (), "the group commitment is the identity"
        )
    return r


def compute_challenge(
    suite: Ciphersuite, group_commitment: Point, group_public_key: Point, message: bytes
) -> int:
    """``c = H2(SerializeElement(R) ‖ SerializeElement(PK) ‖ msg)``.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-4.6
    """
    g = suite.group
    return suite.h2(g.encode_point(group_commitment) + g.encode_point(group_public_key) + message)


# --- round 2 ----------------------------------------------------------------------------------


def _signing_package_defect(
    suite: Ciphersuite, pkg: PublicKeyPackage, signing_package: SigningPackage
) -> str | None:
    """Why ``signing_package`` breaks the RFC 9591 §5.2 / §7 rules for ``pkg``, or None."""
    if signing_package.suite != suite:
        return f"signing package is for {signing_package.suite.name}"
    ids = signing_package.identifiers
    if len(set(ids)) != len(ids):
        return "duplicate identifiers in the commitment list"
    if list(ids) != sorted(ids):
        return "commitment list is not sorted by identifier"
    members = set(pkg.committee.ids)
    unknown = [i for i in ids if i not in members]
    if unknown:
        return f"identifiers {unknown} are not in the committee"
    if len(ids) < pkg.threshold:
        return f"{len(ids)} signers, the threshold is {pkg.threshold}"
    return None


def sign(
    suite: Ciphersuite,
    signing_package: SigningPackage,
    nonces: SigningNonces,
    key_share: KeyShare,
) -> SignatureShare:
    """Round 2: validate the signing package, then consume the nonces and return ``z_i``.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.2 and
    https://www.rfc-editor.org/rfc/rfc9591#section-7.3

    Refuses with ProtocolAbort(INVALID_SIGNING_PACKAGE, no culprit: core does not know who the
    coordinator is) *before* touching the nonces when the commitment list is unsorted, has
    duplicates or ids outside the committee, has fewer than ``t`` entries, lacks this signer's
    own commitment or carries an altered one (``specs/test-plan.md`` SIG-7). Reused nonces
    raise AlreadyConsumed(NONCE_CONSUMED). Caller mistakes (a nonce of another party or suite,
    a key on another curve) raise InvalidArguments.

    Departures: none in the maths; the own-commitment check compares the full
    ``(i, D_i, E_i)`` encoding, not only presence.
    """
    pkg = key_share.pkg
    _check_pkg_suite(suite, pkg)
    _check_suite(suite, nonces.suite, "signing nonces")
    me = key_share.party_id
    if nonces.identifier != me:
        raise InvalidArguments(
            f"nonces belong to party {nonces.identifier}, key share to {me}",
            reason="INVALID_ARGUMENT",
        )
    defect = _signing_package_defect(suite, pkg, signing_package)
    if defect is None:
        own = signing_package.commitment_for(me)
        if own is None:
            defect = f"own commitment of party {me} is missing"
        elif own.encode() != nonces.commitments.encode():
            defect = f"own commitment of party {me} was altered"
    if defect is not None:
        raise ProtocolAbort(AbortReason.INVALID_SIGNING_PACKAGE, (), defect)

    g = suite.group
    commitment_list = signing_package.commitments
    message = signing_package.message
    binding_factors = compute_binding_factors(suite, pkg.public_key, commitment_list, message)
    group_commitment = compute_group_commitment(suite, commitment_list, binding_factors)
    lambda_i = lagrange_at_zero(g.order, signing_package.identifiers, me)
    challenge = compute_challenge(suite, group_commitment, pkg.public_key, message)

    hiding_nonce, binding_nonce = nonces.consume()
    z = (
        hiding_nonce + binding_nonce * binding_factors[me] + lambda_i * key_share.secret * challenge
    ) % g.order
    return SignatureShare(suite=suite, identifier=me, z=z)


# --- coordinator ------------------------------------------------------------------------------


def _share_is_valid(
    suite: Ciphersuite,
    pkg: PublicKeyPackage,
    signing_package: SigningPackage,
    binding_factors: Mapping[int, int],
    challenge: int,
    share: SignatureShare,
) -> bool:
    """``z_i·G == D_i + rho_i·E_i + (c·lambda_i)·X_i`` (RFC 9591 §5.4)."""
    g = suite.group
    i = share.identifier
    commitment = signing_package.commitment_for(i)
    if commitment is None or i not in pkg.verification_shares:
        return False
    lambda_i = lagrange_at_zero(g.order, signing_package.identifiers, i)
    comm_share = commitment.hiding + commitment.binding * binding_factors[i]
    expected = comm_share + pkg.verification_shares[i] * (challenge * lambda_i % g.order)
    valid: bool = g.base_mul(share.z) == expected
    return valid


def verify_signature_share(
    suite: Ciphersuite,
    pkg: PublicKeyPackage,
    signing_package: SigningPackage,
    share: SignatureShare,
) -> None:
    """Check one signature share; raise ProtocolAbort(INVALID_SIGNATURE_SHARE, {i}) if wrong.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.4

    A share from an identifier that is not in the signing package is also blamed on that
    identifier. A malformed signing package is the caller's mistake (InvalidArguments).
    """
    _check_pkg_suite(suite, pkg)
    _check_suite(suite, share.suite, "signature share")
    defect = _signing_package_defect(suite, pkg, signing_package)
    if defect is not None:
        raise InvalidArguments(defect, reason="INVALID_SIGNING_PACKAGE")
    binding_factors = compute_binding_factors(
        suite, pkg.public_key, signing_package.commitments, signing_package.message
    )
    group_commitment = compute_group_commitment(suite, signing_package.commitments, binding_factors)
    challenge = compute_challenge(suite, group_commitment, pkg.public_key, signing_package.message)
    if not _share_is_valid(suite, pkg, signing_package, binding_factors, challenge, share):
        raise ProtocolAbort(AbortReason.INVALID_SIGNATURE_SHARE, (share.identifier,))


def aggregate(
    suite: Ciphersuite,
    signing_package: SigningPackage,
    shares: Mapping[int, SignatureShare],
    pkg: PublicKeyPackage,
) -> bytes:
    """Combine the shares into ``SerializeElement(R) ‖ SerializeScalar(z)`` and verify it.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#section-5.3 (aggregate) and
    https://www.rfc-editor.org/rfc/rfc9591#section-5.4 (identifiable abort).

    ``shares`` maps the (authenticated) sender id to its share and must cover exactly the
    signers of ``signing_package``. The signature is verified against the group key before it
    is returned; if it does not verify, every share is checked and
    ProtocolAbort(INVALID_SIGNATURE_SHARE) names *every* cheater. A share whose identifier
    differs from its sender is blamed on the sender. An invalid signature is never returned.

    Departures: verifying before release and blaming all cheaters (not only the first) are the
    RFC's SHOULD and ZF's ``CheaterDetection::AllCheaters``.
    """
    _check_pkg_suite(suite, pkg)
    defect = _signing_package_defect(suite, pkg, signing_package)
    if defect is not None:
        raise InvalidArguments(defect, reason="INVALID_SIGNING_PACKAGE")
    ids = signing_package.identifiers
    if set(shares) != set(ids):
        raise InvalidArguments(
            f"shares from {sorted(shares)} do not match the signers {list(ids)}",
            reason="INVALID_ARGUMENT",
        )
    mislabelled = [i for i in ids if shares[i].identifier != i or shares[i].suite != suite]
    if mislabelled:
        raise ProtocolAbort(AbortReason.INVALID_SIGNATURE_SHARE, mislabelled)

    g = suite.group
    message = signing_package.message
    commitment_list = signing_package.commitments
    binding_factors = compute_binding_factors(suite, pkg.public_key, commitment_list, message)
    group_commitment = compute_group_commitment(suite, commitment_list, binding_factors)
    z = sum(shares[i].z for i in ids) % g.order
    signature: bytes = g.encode_point(group_commitment) + g.encode_scalar(z)
    try:
        verify(suite, pkg.public_key, message, signature)
    except ProtocolAbort:
        pass
    else:
        return signature

    challenge = compute_challenge(suite, group_commitment, pkg.public_key, message)
    culprits = [
        i
        for i in ids
        if not _share_is_valid(suite, pkg, signing_package, binding_factors, challenge, shares[i])
    ]
    if culprits:
        raise ProtocolAbort(AbortReason.INVALID_SIGNATURE_SHARE, culprits)
    raise InvalidKeyShare(
        "every share verifies but the signature does not: the public key package is inconsistent"
    )


# --- verification -----------------------------------------------------------------------------


def verify(suite: Ciphersuite, public_key: Point, message: bytes, signature: bytes) -> None:
    """Verify a FROST Schnorr signature; raise, never return False.

    Spec: https://www.rfc-editor.org/rfc/rfc9591#appendix-B (prime-order verification) and,
    for Ed25519, https://www.rfc-editor.org/rfc/rfc8032#section-5.1.7.

    Strict and cofactorless: ``z < order`` and ``R`` a canonical, non-identity, prime-order
    point, then ``z·G == R + c·PK``. For Ed25519 this accepts exactly what libsodium and
    rippled accept from an honest FROST run (``specs/chains.md`` §1.7). A malformed signature
    raises InvalidArguments(INVALID_ENCODING); a well-formed one that does not verify raises
    ProtocolAbort(INVALID_SIGNATURE).

    Departures: RFC 9591 §6.1 names the cofactored Ed25519 equation; for the torsion-free
    ``R`` and ``PK`` accepted here both equations agree, and the cofactorless one is what the
    chains we serve enforce.
    """
    g = suite.group
    if public_key.is_identity():
        raise InvalidArguments("the public key is the identity", reason="INVALID_ENCODING")
    if not isinstance(signature, bytes | bytearray | memoryview):
        _bad_encoding("signature: expected bytes")
    signature = bytes(signature)
    if len(signature) != suite.signature_len:
        _bad_encoding(f"signature must be {suite.signature_len} bytes, got {len(signature)}")
    r_enc = signature[: g.point_len]
    group_commitment = g.decode_point(r_enc)
    z = g.decode_scalar(signature[g.point_len :])
    challenge = suite.h2(r_enc + g.encode_point(public_key) + bytes(message))
    if g.base_mul(z) != group_commitment + public_key * challenge:
        raise ProtocolAbort(AbortReason.INVALID_SIGNATURE, (), "signature does not verify")
