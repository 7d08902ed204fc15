"""The ECDSA output: low-s normalisation, recovery id, encodings, and verify-before-release.

Spec: ``specs/dkls23.md`` §8.5 steps 4–7 (recovery id, low-s, verification with libsecp256k1
with ``hasher=None``, ``UNSUPPORTED_RECID``), erratum 7 (``R' = O``).

This module is the only place in :mod:`warifu.core.dkls23` that calls coincurve directly: the
final check must be libsecp256k1's own ECDSA verify and public-key recovery, not our arithmetic
(DESIGN §1 keeps coincurve behind ``core/curves`` for the *protocol* arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PublicKey

from warifu.core.curves import SECP256K1, Point
from warifu.core.errors import InvalidArguments

Q = SECP256K1.order
HALF_Q = (Q - 1) // 2


@dataclass(frozen=True, slots=True)
class EcdsaSignature:
    """``(r, s, recid)`` with ``s ≤ (q−1)/2`` (low-s) and ``recid ∈ {0, 1}``."""

    r: int
    s: int
    recid: int

    def compact(self) -> bytes:
        """``r(32) ‖ s(32)``."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big")

    def recoverable(self) -> bytes:
        """``r(32) ‖ s(32) ‖ recid(1)``: libsecp256k1's recoverable form (ETH ``v = recid``)."""
        return self.compact() + bytes([self.recid])

    def der(self) -> bytes:
        """DER ``SEQUENCE { INTEGER r, INTEGER s }`` (what XRPL and Bitcoin carry)."""
        return der_encode(self.r, self.s)


def _der_int(v: int) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + bytes([len(body)]) + body


def der_encode(r: int, s: int) -> bytes:
    """Strict DER of ``(r, s)``; both ``0 < · < q`` (so every length fits in one byte)."""
    if not (0 < r < Q and 0 < s < Q):
        raise InvalidArguments("ECDSA r and s must be in 1..q-1")
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def x_coordinate(point: Point) -> int:
    """The affine x-coordinate of a non-identity point (from its compressed encoding)."""
    return int.from_bytes(SECP256K1.encode_point(point)[1:], "big")


def recovery_id(point: Point) -> int:
    """``recid = (R'.y mod 2) | (2 if R'.x ≥ q else 0)`` (§8.5 step 4)."""
    enc = SECP256K1.encode_point(point)
    y_odd = enc[0] & 1
    x_high = 2 if int.from_bytes(enc[1:], "big") >= Q else 0
    return y_odd | x_high


def normalise_low_s(s: int, recid: int) -> tuple[int, int]:
    """``s > (q−1)/2`` → ``(q − s, recid ^ 1)`` (§8.5 step 5; EIP-2, XRPL fully canonical)."""
    if s > HALF_Q:
        return Q - s, recid ^ 1
    return s, recid


def verify_with_libsecp256k1(pk: Point, digest: bytes, sig: EcdsaSignature) -> bool:
    """Both §8.5 step 6 checks, with ``hasher=None``; True only if both pass.

    1. ``PublicKey.from_signature_and_message(r‖s‖recid, m, hasher=None)`` equals ``PK``;
    2. ``PK.verify(DER(r, s), m, hasher=None)`` (libsecp256k1 also rejects high-s here).
    """
    if len(digest) != 32 or not (0 < sig.r < Q and 0 < sig.s < Q) or sig.recid not in range(4):
        return False
    pk_bytes = SECP256K1.encode_point(pk)
    try:
        recovered = PublicKey.from_signature_and_message(sig.recoverable(), digest, hasher=None)
        if recovered.format(compressed=True) != pk_bytes:
            return False
        return bool(PublicKey(pk_bytes).verify(sig.der(), digest, hasher=None))
    except (ValueError, TypeError):
        return False
