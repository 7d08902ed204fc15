"""GF(2^256) arithmetic for the OT-extension consistency check, and the bit transposes.

Spec: ``specs/dkls23.md`` §1 (the field ``F``), §2.1 (F element and bit-vector encodings), §5.1
steps 5–6 and §5.2 step 3 (the check values), §5.3 (column view), §5.4 (the numpy method).

Notation
==========  =====================================================================
``F``       GF(2^256) = F2[X]/(X^256 + X^10 + X^5 + X^2 + 1); an element is a Python int
            ``< 2^256`` whose bit ``i`` is the coefficient of ``X^i``; on the wire it is
            32 bytes **little-endian**
``χ_0, χ_1``  the two check challenges (erratum 19 suggests ``ω_0, ω_1``; the code says
            ``chi0, chi1``)
``Y[k]``    block ``k`` of a 96-byte row: ``LE(Y[32k : 32k+32])``, ``k ∈ {0,1,2}``
``h_χ(Y)``  ``χ_0·Y[0] + χ_1·Y[1] + Y[2]`` (``+`` is XOR): the per-row check value
``M``       the 768×256 0/1 matrix with ``bits(Y) · M = bits(h_χ(Y))`` over F2
==========  =====================================================================

``v ↦ χ·v`` is F2-linear, so ``h_χ`` is one F2 matrix: row ``256k + c`` of ``M`` is the bit
vector of ``χ_k·X^c`` (``k ∈ {0,1}``, ``c < 256``) and row ``512 + c`` is ``e_c``. Checking all
256 rows of a matrix is then one ``(256×768)·(768×256)`` product. It is done in float32, which is
exact because every sum is at most 768 < 2^24, then reduced mod 2.

Bit vectors are packed LSB-first (numpy ``bitorder='little'``): bit ``c`` of a byte string
``B`` is ``(B[c >> 3] >> (c & 7)) & 1``, which also makes bit ``i`` of ``LE(B)`` the bit ``i`` of
``B``, so F elements and bit vectors share one layout.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Field size in bits and bytes.
FIELD_BITS = 256
FIELD_BYTES = 32
#: ``X^10 + X^5 + X^2 + 1``: the reduction of ``X^256``.
REDUCTION = 0x425
#: The full modulus ``X^256 + X^10 + X^5 + X^2 + 1``.
MODULUS = (1 << FIELD_BITS) | REDUCTION
#: ``ℓ' = ξ + σ``: bits per row of the OT-extension matrix, and rows of :func:`check_matrix`.
ROW_BITS = 768
ROW_BYTES = ROW_BITS // 8

_MASK = (1 << FIELD_BITS) - 1

U8Array = npt.NDArray[np.uint8]


def gf_mul(a: int, b: int) -> int:
    """Schoolbook carry-less multiply in ``F``, then reduce (the reference for tests).

    Spec: ``dkls23.md`` §5.4 "Reference implementation for tests".
    """
    if not (0 <= a <= _MASK and 0 <= b <= _MASK):
        raise ValueError("GF(2^256) elements are integers in [0, 2^256)")
    acc = 0
    while b:
        if b & 1:
            acc ^= a
        a <<= 1
        b >>= 1
    for bit in range(2 * FIELD_BITS - 2, FIELD_BITS - 1, -1):
        if (acc >> bit) & 1:
            acc ^= MODULUS << (bit - FIELD_BITS)
    return acc


def _times_x_powers(chi: int) -> list[int]:
    """``[χ·X^c for c < 256]`` by repeated doubling (§5.4 step 2)."""
    out: list[int] = []
    v = chi
    for _ in range(FIELD_BITS):
        out.append(v)
        v <<= 1
        if v >> FIELD_BITS:
            v ^= MODULUS
    return out


def _int_bits(values: list[int]) -> U8Array:
    """A ``(len(values), 256)`` 0/1 array: row ``r`` holds the bits of ``values[r]``, LSB first."""
    raw = b"".join(v.to_bytes(FIELD_BYTES, "little") for v in values)
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(len(values), FIELD_BYTES)
    return np.unpackbits(packed, axis=1, bitorder="little")


def check_matrix(chi0: int, chi1: int) -> U8Array:
    """The 768×256 0/1 matrix ``M`` of §5.4 (uint8), with ``bits(Y)·M = bits(h_χ(Y))``.

    Spec: ``dkls23.md`` §5.4 "GF(2^256) check as one matrix product", steps 1–2.
    """
    if not (0 <= chi0 <= _MASK and 0 <= chi1 <= _MASK):
        raise ValueError("GF(2^256) elements are integers in [0, 2^256)")
    m = np.empty((ROW_BITS, FIELD_BITS), dtype=np.uint8)
    m[0:FIELD_BITS] = _int_bits(_times_x_powers(chi0))
    m[FIELD_BITS : 2 * FIELD_BITS] = _int_bits(_times_x_powers(chi1))
    m[2 * FIELD_BITS :] = np.eye(FIELD_BITS, dtype=np.uint8)
    return m


def row_checks_packed(rows_u8: U8Array, m: U8Array) -> U8Array:
    """``h_χ`` of every 96-byte row, as a ``(r, 32)`` uint8 array (each row an F element, LE).

    One float32 matrix product (exact: sums ≤ 768 < 2^24), then mod 2 and pack LSB-first.

    Spec: ``dkls23.md`` §5.4 step 3; §5.1 step 6 (``x̃``, ``t̃``); §5.2 step 3 (``q̃``).
    """
    if rows_u8.ndim != 2 or rows_u8.shape[1] != ROW_BYTES or rows_u8.dtype != np.uint8:
        raise ValueError("rows must be a (r, 96) uint8 array")
    if m.shape != (ROW_BITS, FIELD_BITS):
        raise ValueError("check matrix must be 768x256")
    bits = np.unpackbits(rows_u8, axis=1, bitorder="little").astype(np.float32)
    prod = bits @ m.astype(np.float32, copy=False)
    parity = (prod.astype(np.uint16) & 1).astype(np.uint8)  # exact: 0 ≤ prod ≤ 768
    return np.packbits(parity, axis=1, bitorder="little")


def row_checks(rows_u8: U8Array, m: U8Array) -> list[int]:
    """``χ_0·Y[0] + χ_1·Y[1] + Y[2]`` for every row ``Y`` of a ``(r, 96)`` uint8 array.

    Spec: ``dkls23.md`` §5.4 step 3 (via :func:`row_checks_packed`).
    """
    packed = row_checks_packed(rows_u8, m)
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def transpose_columns(mat_u8: U8Array, ncols: int) -> U8Array:
    """Columns ``0..ncols-1`` of a ``(256, 96)`` bit matrix, each packed into 32 bytes.

    Output shape ``(ncols, 32)``; bit ``l`` of row ``c`` (LSB-first) is bit ``c`` of input row
    ``l``. ``cols[j]`` is ``t_j`` (from ``T0``) or ``q_j`` (from ``Q``).

    Spec: ``dkls23.md`` §5.3 (column view), §5.4 "Transpose".
    """
    if mat_u8.ndim != 2 or mat_u8.shape[0] != FIELD_BITS or mat_u8.dtype != np.uint8:
        raise ValueError("matrix must be a (256, n) uint8 array")
    if not 0 <= ncols <= 8 * mat_u8.shape[1]:
        raise ValueError("ncols out of range")
    bits = np.unpackbits(mat_u8, axis=1, bitorder="little")
    return np.packbits(np.ascontiguousarray(bits[:, :ncols].T), axis=1, bitorder="little")
