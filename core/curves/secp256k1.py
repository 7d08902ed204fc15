"""secp256k1 on libsecp256k1 through coincurve.

Spec: ``specs/shares.md`` §2.1 and ``specs/dkls23.md`` §2.1: scalars are 32-byte big-endian and
``< q``; points are 33-byte compressed SEC1 (``0x02/0x03 ‖ x``) and parse with libsecp256k1
(on the curve, ``x < p``). The point at infinity has no encoding; coincurve cannot represent it,
so this backend models it explicitly (``PublicKey.combine_keys`` raises for a sum that is O).
"""

from __future__ import annotations

from coincurve import PublicKey

from warifu.core.curves.group import Group, Point
from warifu.core.errors import InvalidArguments, InvariantViolation

Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P_FIELD = 2**256 - 2**32 - 977


class Secp256k1Point(Point):
    """A secp256k1 point; ``_pk is None`` is the point at infinity."""

    __slots__ = ("_enc", "_pk")

    def __init__(self, pk: PublicKey | None) -> None:
        self._pk = pk
        self._enc = pk.format(compressed=True) if pk is not None else None

    def is_identity(self) -> bool:
        return self._pk is None

    def __add__(self, other: Point) -> Point:
        assert isinstance(other, Secp256k1Point)
        if self._pk is None:
            return other
        if other._pk is None:
            return self
        try:
            return Secp256k1Point(PublicKey.combine_keys([self._pk, other._pk]))
        except ValueError:
            return Secp256k1Point(None)  # P + (-P) = O

    def __neg__(self) -> Point:
        if self._enc is None:
            return self
        flipped = bytes([self._enc[0] ^ 0x01]) + self._enc[1:]
        return Secp256k1Point(PublicKey(flipped))

    def __sub__(self, other: Point) -> Point:
        return self + (-other)

    def __mul__(self, k: int) -> Point:
        k %= Q
        if k == 0 or self._pk is None:
            return Secp256k1Point(None)
        return Secp256k1Point(self._pk.multiply(k.to_bytes(32, "big")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secp256k1Point) and self._enc == other._enc

    def __hash__(self) -> int:
        return hash((b"secp256k1", self._enc))

    def __repr__(self) -> str:
        return "Secp256k1Point(O)" if self._enc is None else f"Secp256k1Point({self._enc.hex()})"


_O = Secp256k1Point(None)


class Secp256k1Group(Group):
    """secp256k1 with compressed SEC1 points and big-endian scalars."""

    name = "secp256k1"
    order = Q
    point_len = 33
    scalar_len = 32

    def identity(self) -> Point:
        return _O

    def generator(self) -> Point:
        return self.base_mul(1)

    def base_mul(self, k: int) -> Point:
        k %= Q
        if k == 0:
            return _O
        return Secp256k1Point(PublicKey.from_secret(k.to_bytes(32, "big")))

    def encode_point(self, p: Point) -> bytes:
        assert isinstance(p, Secp256k1Point)
        if p._enc is None:
            raise InvariantViolation("the point at infinity has no encoding")
        return p._enc

    def decode_point(self, data: bytes) -> Point:
        if len(data) != 33 or data[0] not in (2, 3):
            raise InvalidArguments(
                "secp256k1 point must be 33-byte compressed SEC1", reason="INVALID_ENCODING"
            )
        try:
            return Secp256k1Point(PublicKey(bytes(data)))
        except (ValueError, TypeError) as exc:
            raise InvalidArguments(
                "secp256k1 point is not on the curve", reason="INVALID_ENCODING"
            ) from exc

    def encode_scalar(self, k: int) -> bytes:
        if not 0 <= k < Q:
            raise InvariantViolation("scalar out of range")
        return k.to_bytes(32, "big")

    def decode_scalar(self, data: bytes) -> int:
        if len(data) != 32:
            raise InvalidArguments(
                f"secp256k1 scalar must be 32 bytes, got {len(data)}", reason="INVALID_ENCODING"
            )
        k = int.from_bytes(data, "big")
        if k >= Q:
            raise InvalidArguments("secp256k1 scalar is not < q", reason="INVALID_ENCODING")
        return k

    def __repr__(self) -> str:
        return "Secp256k1Group()"


SECP256K1 = Secp256k1Group()
