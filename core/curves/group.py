"""The small group interface every protocol is written against.

Spec: ``specs/shares.md`` §2.1; DESIGN §1 (``core/curves``).

Points are immutable values of a backend-specific :class:`Point` type with an explicit identity
element (coincurve and libsodium cannot represent the identity, so the backends model it
themselves). Scalars are Python ints in ``[0, order)``. ``decode_point`` / ``decode_scalar``
validate *everything* and raise :class:`~warifu.core.errors.InvalidArguments` with reason
``INVALID_ENCODING``; protocol code wraps that into a ProtocolAbort naming the sender.

Timing: scalar multiplication runs in constant-time native code (libsodium, libsecp256k1);
scalar arithmetic on Python ints is variable-time. See the security notes in the README.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence


class Point(ABC):
    """A group element. Backends define equality and hashing on the canonical encoding."""

    __slots__ = ()

    @abstractmethod
    def is_identity(self) -> bool:
        """True for the neutral element."""

    @abstractmethod
    def __add__(self, other: Point) -> Point: ...

    @abstractmethod
    def __sub__(self, other: Point) -> Point: ...

    @abstractmethod
    def __mul__(self, k: int) -> Point:
        """Scalar multiplication ``k·P`` (any int; reduced mod the order)."""

    def __rmul__(self, k: int) -> Point:
        return self.__mul__(k)

    @abstractmethod
    def __neg__(self) -> Point: ...

    @abstractmethod
    def __eq__(self, other: object) -> bool: ...

    @abstractmethod
    def __hash__(self) -> int: ...


class Group(ABC):
    """A prime-order group with its scalar field, encodings and validation.

    ``name`` is the ASCII curve name used in hashes and on the wire (``"ed25519"``,
    ``"secp256k1"``).
    """

    name: str
    order: int
    point_len: int
    scalar_len: int

    @abstractmethod
    def identity(self) -> Point:
        """The neutral element (never encodable)."""

    @abstractmethod
    def generator(self) -> Point:
        """The standard base point ``G``."""

    @abstractmethod
    def base_mul(self, k: int) -> Point:
        """``k·G``; ``k ≡ 0`` gives the identity."""

    @abstractmethod
    def encode_point(self, p: Point) -> bytes:
        """Canonical encoding; raises InvariantViolation for the identity."""

    @abstractmethod
    def decode_point(self, data: bytes) -> Point:
        """Decode and validate; raise InvalidArguments(reason=INVALID_ENCODING) on any defect.

        Rejected: wrong length, non-canonical, off-curve, the identity and (Ed25519) any point
        outside the prime-order subgroup.
        """

    @abstractmethod
    def encode_scalar(self, k: int) -> bytes:
        """Fixed-width canonical scalar encoding (endianness per curve)."""

    @abstractmethod
    def decode_scalar(self, data: bytes) -> int:
        """Decode a canonical scalar; raise InvalidArguments(INVALID_ENCODING) if ≥ order."""

    def sum_points(self, points: Iterable[Point]) -> Point:
        """Σ points (the identity for an empty sum)."""
        acc = self.identity()
        for p in points:
            acc = acc + p
        return acc

    def multi_mul(self, scalars: Sequence[int], points: Sequence[Point]) -> Point:
        """Σ k_i·P_i."""
        return self.sum_points(p * k for k, p in zip(scalars, points, strict=True))
