"""GF(2^256) check arithmetic and the bit transposes (dkls23.md §5.4; §14 items 1 and 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warifu.core.ot import gf256
from warifu.core.ot.gf256 import (
    MODULUS,
    check_matrix,
    gf_mul,
    row_checks,
    row_checks_packed,
    transpose_columns,
)
from warifu.core.rng import DeterministicRng

FIELD = st.integers(min_value=0, max_value=2**256 - 1)


def _ints(rng: DeterministicRng, n: int) -> list[int]:
    raw = rng.random_bytes(32 * n)
    return [int.from_bytes(raw[32 * i : 32 * i + 32], "little") for i in range(n)]


def _blocks(row: bytes) -> tuple[int, int, int]:
    return (
        int.from_bytes(row[0:32], "little"),
        int.from_bytes(row[32:64], "little"),
        int.from_bytes(row[64:96], "little"),
    )


# -- §14 item 1 ---------------------------------------------------------------------------------


def test_reduction_identity() -> None:
    """X^255 · X = X^10 + X^5 + X^2 + 1."""
    assert gf_mul(1 << 255, 1 << 1) == (1 << 10) | (1 << 5) | (1 << 2) | 1 == 0x425
    # and through the matrix: row Y = (X^255, 0, 0) with χ_0 = X
    row = np.frombuffer((1 << 255).to_bytes(32, "little") + bytes(64), dtype=np.uint8)
    assert row_checks(row.reshape(1, 96).copy(), check_matrix(2, 0)) == [0x425]


def test_one_is_neutral() -> None:
    rng = DeterministicRng("gf-one")
    for chi in [*_ints(rng, 50), 0, 1, 2**256 - 1]:
        assert gf_mul(chi, 1) == chi
        assert gf_mul(1, chi) == chi
    chis = _ints(rng, 2)
    one = np.frombuffer((1).to_bytes(32, "little") + bytes(64), dtype=np.uint8).reshape(1, 96)
    assert row_checks(one.copy(), check_matrix(chis[0], chis[1])) == [chis[0]]


def test_matrix_method_equals_schoolbook_on_10000_pairs() -> None:
    """10,000 rows, each ``χ_0·Y[0] + χ_1·Y[1] + Y[2]`` (20,000 products) vs the reference."""
    rng = DeterministicRng("gf-matrix")
    checked = 0
    for _ in range(100):
        chi0, chi1 = _ints(rng, 2)
        rows = np.frombuffer(rng.random_bytes(100 * 96), dtype=np.uint8).reshape(100, 96).copy()
        got = row_checks(rows, check_matrix(chi0, chi1))
        for row, value in zip(rows, got, strict=True):
            y0, y1, y2 = _blocks(row.tobytes())
            assert value == gf_mul(chi0, y0) ^ gf_mul(chi1, y1) ^ y2
            checked += 1
    assert checked == 10_000


def test_packed_and_int_forms_agree() -> None:
    rng = DeterministicRng("gf-packed")
    chi0, chi1 = _ints(rng, 2)
    m = check_matrix(chi0, chi1)
    rows = np.frombuffer(rng.random_bytes(7 * 96), dtype=np.uint8).reshape(7, 96).copy()
    packed = row_checks_packed(rows, m)
    assert packed.shape == (7, 32)
    assert [int.from_bytes(r.tobytes(), "little") for r in packed] == row_checks(rows, m)


def test_check_matrix_layout() -> None:
    """Rows 256k + c hold χ_k·X^c, rows 512 + c the unit vectors (§5.4 step 1)."""
    chi0, chi1 = 0xDEADBEEF << 200 | 7, (1 << 255) | 3
    m = check_matrix(chi0, chi1)
    assert m.shape == (768, 256) and m.dtype == np.uint8
    assert set(np.unique(m).tolist()) <= {0, 1}

    def row_int(r: int) -> int:
        return int.from_bytes(np.packbits(m[r], bitorder="little").tobytes(), "little")

    for c in (0, 1, 17, 255):
        assert row_int(c) == gf_mul(chi0, 1 << c)
        assert row_int(256 + c) == gf_mul(chi1, 1 << c)
        assert row_int(512 + c) == 1 << c


@given(FIELD, FIELD, FIELD)
def test_field_axioms(a: int, b: int, c: int) -> None:
    assert gf_mul(a, b) == gf_mul(b, a)
    assert gf_mul(a, b ^ c) == gf_mul(a, b) ^ gf_mul(a, c)
    assert gf_mul(gf_mul(a, b), c) == gf_mul(a, gf_mul(b, c))
    assert gf_mul(a, b) < 2**256


@given(FIELD, FIELD, st.binary(min_size=96, max_size=96))
def test_matrix_method_property(chi0: int, chi1: int, row: bytes) -> None:
    y0, y1, y2 = _blocks(row)
    got = row_checks(
        np.frombuffer(row, dtype=np.uint8).reshape(1, 96).copy(), check_matrix(chi0, chi1)
    )
    assert got == [gf_mul(chi0, y0) ^ gf_mul(chi1, y1) ^ y2]


def _poly_mod(a: int, f: int) -> int:
    df = f.bit_length() - 1
    while a.bit_length() - 1 >= df:
        a ^= f << (a.bit_length() - 1 - df)
    return a


def _poly_gcd(a: int, b: int) -> int:
    while b:
        a, b = b, _poly_mod(a, b)
    return a


def test_modulus_is_irreducible_by_rabin() -> None:
    """§1: X^256 + X^10 + X^5 + X^2 + 1 is irreducible.

    Rabin's test for degree 256 = 2^8: X^(2^256) ≡ X (mod f) and gcd(X^(2^128) − X, f) = 1.
    """
    x = 2
    acc = x
    powers = {}
    for i in range(1, 257):
        acc = gf_mul(acc, acc)  # X^(2^i) mod f
        powers[i] = acc
    assert powers[256] == x
    assert _poly_gcd(MODULUS, powers[128] ^ x) == 1
    # the test can fail: a reducible polynomial of the same shape is caught
    reducible = (1 << 256) | 1  # (X^128 + 1)^2 over F2
    assert _poly_gcd(reducible, (1 << 128) | 1) != 1


def test_gf_mul_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        gf_mul(1 << 256, 1)
    with pytest.raises(ValueError):
        check_matrix(-1, 0)


# -- §14 item 2 ---------------------------------------------------------------------------------


def _naive_columns(mat: np.ndarray, ncols: int) -> list[int]:
    rows = [r.tobytes() for r in mat]
    cols = []
    for c in range(ncols):
        v = 0
        for index, row in enumerate(rows):
            v |= ((row[c >> 3] >> (c & 7)) & 1) << index
        cols.append(v)
    return cols


@pytest.mark.parametrize("ncols", [512, 768])
def test_transpose_equals_naive_bit_loop(ncols: int) -> None:
    rng = DeterministicRng(f"transpose-{ncols}")
    for _ in range(3):
        mat = np.frombuffer(rng.random_bytes(256 * 96), dtype=np.uint8).reshape(256, 96).copy()
        cols = transpose_columns(mat, ncols)
        assert cols.shape == (ncols, 32) and cols.dtype == np.uint8
        assert [int.from_bytes(c.tobytes(), "little") for c in cols] == _naive_columns(mat, ncols)


def test_transpose_bit_order_is_lsb_first() -> None:
    """One set bit: row l = 3, column c = 10 (byte 1, bit 2) → column 10 = bytes 08 00 … ."""
    mat = np.zeros((256, 96), dtype=np.uint8)
    mat[3, 1] = 1 << 2
    cols = transpose_columns(mat, 768)
    assert cols[10].tobytes() == bytes([8]) + bytes(31)
    assert int(np.count_nonzero(cols)) == 1
    mat = np.zeros((256, 96), dtype=np.uint8)
    mat[255, 95] = 0x80  # row 255, column 767
    assert transpose_columns(mat, 768)[767].tobytes() == bytes(31) + b"\x80"


def test_transpose_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        transpose_columns(np.zeros((255, 96), dtype=np.uint8), 512)
    with pytest.raises(ValueError):
        transpose_columns(np.zeros((256, 96), dtype=np.uint8), 769)
    with pytest.raises(ValueError):
        gf256.row_checks_packed(np.zeros((3, 95), dtype=np.uint8), check_matrix(1, 1))
