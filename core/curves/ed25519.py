"""Ed25519 (edwards25519, prime-order subgroup) on libsodium through PyNaCl.

Spec: ``specs/shares.md`` §2.1; RFC 8032 §5.1 encodings; RFC 9591 §6.1 (``DeserializeElement``
must reject the identity and anything outside the prime-order subgroup).

Every decoded point passes ``crypto_core_ed25519_is_valid_point``: canonical encoding, on the
curve, not of small order, no torsion component. We additionally reject the identity.
Scalars are 32-byte little-endian and must be ``< L``.

libsodium cannot return the identity from an addition or a scalar multiplication (it raises),
so this backend models the identity explicitly as a point with no encoding.
"""

from __future__ import annotations

import nacl.bindings as sodium
from nacl.exceptions import RuntimeError as SodiumRuntimeError

from warifu.core.curves.group import Group, Point
from warifu.core.errors import InvalidArguments, InvariantViolation

L = 2**252 + 27742317777372353535851937790883648493
P_FIELD = 2**255 - 19
_IDENTITY_ENCODING = (1).to_bytes(32, "little")


class Ed25519Point(Point):
    """A point of the prime-order subgroup; ``_enc is None`` is the identity."""

    __slots__ = ("_enc",)

    def __init__(self, enc: bytes | None) -> None:
        self._enc = enc

    def is_identity(self) -> bool:
        return self._enc is None

    def __add__(self, other: Point) -> Point:
        assert isinstance(other, Ed25519Point)
        if self._enc is None:
            return other
        if other._enc is None:
            return self
        try:
            return _point(sodium.crypto_core_ed25519_add(self._enc, other._enc))
        except SodiumRuntimeError:  # pragma: no cover - defensive; libsodium encodes O here
            return Ed25519Point(None)

    def __neg__(self) -> Point:
        if self._enc is None:
            return self
        return _IDENTITY - self

    def __sub__(self, other: Point) -> Point:
        assert isinstance(other, Ed25519Point)
        if other._enc is None:
            return self
        left = _IDENTITY_ENCODING if self._enc is None else self._enc
        try:
            return _point(sodium.crypto_core_ed25519_sub(left, other._enc))
        except SodiumRuntimeError:  # pragma: no cover - defensive; libsodium encodes O here
            return Ed25519Point(None)

    def __mul__(self, k: int) -> Point:
        k %= L
        if k == 0 or self._enc is None:
            return Ed25519Point(None)
        return Ed25519Point(
            sodium.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), self._enc)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ed25519Point) and self._enc == other._enc

    def __hash__(self) -> int:
        return hash((b"ed25519", self._enc))

    def __repr__(self) -> str:
        return "Ed25519Point(identity)" if self._enc is None else f"Ed25519Point({self._enc.hex()})"


_IDENTITY = Ed25519Point(None)


def _point(enc: bytes) -> Ed25519Point:
    """Wrap a libsodium result; libsodium returns the identity's encoding for P + (-P)."""
    return Ed25519Point(None if enc == _IDENTITY_ENCODING else enc)


class Ed25519Group(Group):
    """edwards25519's prime-order subgroup with RFC 8032 encodings."""

    name = "ed25519"
    order = L
    point_len = 32
    scalar_len = 32

    def identity(self) -> Point:
        return _IDENTITY

    def generator(self) -> Point:
        return self.base_mul(1)

    def base_mul(self, k: int) -> Point:
        k %= L
        if k == 0:
            return _IDENTITY
        return Ed25519Point(sodium.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little")))

    def encode_point(self, p: Point) -> bytes:
        assert isinstance(p, Ed25519Point)
        if p._enc is None:
            raise InvariantViolation("the identity element has no encoding")
        return p._enc

    def decode_point(self, data: bytes) -> Point:
        if len(data) != 32:
            raise InvalidArguments(
                f"ed25519 point must be 32 bytes, got {len(data)}", reason="INVALID_ENCODING"
            )
        if not sodium.crypto_core_ed25519_is_valid_point(bytes(data)):
            raise InvalidArguments(
                "ed25519 point is not a canonical prime-order point", reason="INVALID_ENCODING"
            )
        return Ed25519Point(bytes(data))

    def encode_scalar(self, k: int) -> bytes:
        if not 0 <= k < L:
            raise InvariantViolation("scalar out of range")
        return k.to_bytes(32, "little")

    def decode_scalar(self, data: bytes) -> int:
        if len(data) != 32:
            raise InvalidArguments(
                f"ed25519 scalar must be 32 bytes, got {len(data)}", reason="INVALID_ENCODING"
            )
        k = int.from_bytes(data, "little")
        if k >= L:
            raise InvalidArguments("ed25519 scalar is not < L", reason="INVALID_ENCODING")
        return k

    def __repr__(self) -> str:
        return "Ed25519Group()"


ED25519 = Ed25519Group()
