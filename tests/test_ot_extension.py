"""One OT-extension execution (dkls23.md §5; §14 items 4, 5, 6).

A malicious Bob is built from the module's public building blocks (``prg_rows``,
``challenges``, ``check_matrix``, ``row_checks_packed``) with the same randomness an honest Bob
would draw (a twin of his seeded Rng), so that the only difference is the deviation under test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from warifu.core.encoding import u16be, xof
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot.common import Q, bit
from warifu.core.ot.extension import (
    OTE1_LEN,
    ExtensionAlice,
    ExtensionBob,
    Ote1,
    challenges,
    pad_state,
    pads,
    prg_rows,
)
from warifu.core.ot.gf256 import (
    check_matrix,
    gf_mul,
    row_checks_packed,
    transpose_columns,
)
from warifu.core.ot.vsot import AliceSeeds, BobSeeds, VsotAlice, VsotBob, ot_setup_id
from warifu.core.rng import DeterministicRng

BOB = 2
ALICE = 5
PSID = bytes(range(100, 132))
BOB_RNG = "ote-bob"


@dataclass(frozen=True)
class Seeds:
    bob: BobSeeds
    alice: AliceSeeds

    def delta_bit(self, index: int) -> int:
        return bit(self.alice.delta, index)

    def rows_with(self, value: int) -> list[int]:
        return [index for index in range(256) if self.delta_bit(index) == value]


@pytest.fixture(scope="module")
def seeds() -> Seeds:
    osid = ot_setup_id(bytes(32), BOB, ALICE)
    bob = VsotBob(osid=osid, peer=ALICE, rng=DeterministicRng("ote-vsot").fork(1))
    alice = VsotAlice(osid=osid, peer=BOB, rng=DeterministicRng("ote-vsot").fork(2))
    v4 = alice.v4(bob.v3(alice.v2(bob.v1())))
    a = alice.finish(bob.v5(v4))
    return Seeds(bob=bob.output(), alice=a)


@dataclass
class BobView:
    """What an honest Bob draws and computes (from a twin of his Rng)."""

    x_prime: np.ndarray
    nu_b: bytes
    t0: np.ndarray
    t1: np.ndarray

    @property
    def beta(self) -> list[int]:
        return [bit(self.x_prime.tobytes(), c) for c in range(512)]

    def honest_u(self) -> np.ndarray:
        return self.t0 ^ self.t1 ^ self.x_prime[None, :]


def bob_view(s: Seeds, rng_seed: str = BOB_RNG, psid: bytes = PSID) -> BobView:
    twin = DeterministicRng(rng_seed)
    x_prime = np.frombuffer(twin.random_bytes(96), dtype=np.uint8).copy()
    nu_b = twin.random_bytes(32)
    return BobView(
        x_prime=x_prime,
        nu_b=nu_b,
        t0=prg_rows(psid, nu_b, s.bob.k0),
        t1=prg_rows(psid, nu_b, s.bob.k1),
    )


def build_ote1(
    nu_b: bytes, u: np.ndarray, x_prime: np.ndarray, t0: np.ndarray, psid: bytes = PSID
) -> Ote1:
    """Bob's message with χ, x̃ and t̃ recomputed consistently for the given ``U``."""
    m = check_matrix(*challenges(psid, nu_b, u.tobytes()))
    return Ote1(
        nu_b=nu_b,
        u=u.tobytes(),
        x_tilde=row_checks_packed(x_prime[None, :], m)[0].tobytes(),
        t_tilde=row_checks_packed(t0, m).tobytes(),
    )


def new_alice(s: Seeds, psid: bytes = PSID) -> ExtensionAlice:
    return ExtensionAlice(psid=psid, seeds=s.alice, peer=BOB)


def h_ref(chi: tuple[int, int], row: bytes) -> int:
    y = [int.from_bytes(row[32 * k : 32 * k + 32], "little") for k in range(3)]
    return gf_mul(chi[0], y[0]) ^ gf_mul(chi[1], y[1]) ^ y[2]


def assert_ot_abort(exc: pytest.ExceptionInfo[ProtocolAbort], reason: AbortReason) -> None:
    assert exc.value.abort_reason is reason
    assert exc.value.culprits == frozenset({BOB})


def columns_relation_holds(
    q_cols: np.ndarray, t_cols: np.ndarray, beta: list[int], delta: bytes
) -> bool:
    zero = bytes(32)
    return all(
        (q_cols[c] ^ t_cols[c]).tobytes() == (delta if beta[c] else zero) for c in range(512)
    )


# -- §14 item 4: honest ---------------------------------------------------------------------------


def test_honest_relations(seeds: Seeds) -> None:
    bob = ExtensionBob(psid=PSID, seeds=seeds.bob, rng=DeterministicRng(BOB_RNG))
    ote1 = bob.round1()
    assert len(ote1.encode()) == OTE1_LEN == 32_832
    view = bob_view(seeds)
    # the twin reproduces Bob exactly, and his message follows §5.1 steps 4–6
    assert ote1.encode() == build_ote1(view.nu_b, view.honest_u(), view.x_prime, view.t0).encode()
    chi = challenges(PSID, view.nu_b, ote1.u)
    assert int.from_bytes(ote1.x_tilde, "little") == h_ref(chi, view.x_prime.tobytes())
    t_tilde = ote1.t_tilde_values()
    for index in range(256):
        assert int.from_bytes(t_tilde[index], "little") == h_ref(chi, view.t0[index].tobytes())
    alice = new_alice(seeds)
    alice.check(ote1.encode())
    # q_c ⊕ t_c == β_c·Δ for every c < 512
    beta = bob.beta.tolist()
    assert beta == view.beta
    assert 100 < sum(beta) < 412
    q_cols, t_cols = alice.q_columns, bob.t_columns
    assert columns_relation_holds(q_cols, t_cols, beta, seeds.alice.delta)
    # row view: Q_l = T0_l ⊕ Δ_l·x', and q̃_l = t̃_l + Δ_l·x̃
    q_rows = prg_rows(PSID, view.nu_b, seeds.alice.k)
    u = np.frombuffer(ote1.u, dtype=np.uint8).reshape(256, 96)
    x_tilde = int.from_bytes(ote1.x_tilde, "little")
    for index in range(256):
        d = seeds.delta_bit(index)
        q_row = q_rows[index] ^ (u[index] if d else 0)
        assert (q_row ^ view.t0[index]).tobytes() == (view.x_prime.tobytes() if d else bytes(96))
        t_val = int.from_bytes(t_tilde[index], "little")
        assert h_ref(chi, q_row.tobytes()) == t_val ^ (x_tilde if d else 0)
    mask = np.array([seeds.delta_bit(i) * 0xFF for i in range(256)], dtype=np.uint8)
    q_matrix = q_rows ^ (u & mask[:, None])
    assert transpose_columns(q_matrix, 512).tobytes() == q_cols.tobytes()
    # pads: γ_j == α_{j, β_j}, and α_{j,0} != α_{j,1}
    nu_a = b"\x42" * 32
    alpha0, alpha1 = alice.sender_pads(nu_a)
    gamma = bob.receiver_pads(nu_a)
    for j in range(512):
        assert gamma[j] == (alpha1[j] if beta[j] else alpha0[j])
        assert alpha0[j] != alpha1[j]


def test_streamed_hashes_equal_the_spec_encoding(seeds: Seeds) -> None:
    """The prefix-state .copy() shortcuts of §5.4 equal XOF over the full ENC."""
    nu_b, nu_a = b"\x01" * 32, b"\x02" * 32
    rows = prg_rows(PSID, nu_b, seeds.bob.k0)
    for index in (0, 1, 255):
        assert rows[index].tobytes() == xof(
            "dkls23/ote-prg", 96, PSID, nu_b, u16be(index), seeds.bob.k0[index]
        )
    cols = transpose_columns(rows, 512)
    got = pads(pad_state(PSID, nu_b, nu_a), cols)
    for j in (0, 7, 511):
        raw = xof("dkls23/ote-pad", 144, PSID, nu_b, nu_a, u16be(j), cols[j].tobytes())
        assert got[j] == tuple(
            int.from_bytes(raw[48 * i : 48 * i + 48], "big") % Q for i in range(3)
        )
    raw = xof("dkls23/ote-chi", 64, PSID, nu_b, rows.tobytes())
    assert challenges(PSID, nu_b, rows.tobytes()) == (
        int.from_bytes(raw[:32], "little"),
        int.from_bytes(raw[32:], "little"),
    )


# -- §14 item 5: polychromatic row (the selective-failure channel) ------------------------------


@pytest.mark.parametrize("column", [0, 5, 300, 511, 512, 767])
def test_polychromatic_row(seeds: Seeds, column: int) -> None:
    """Bob flips column ``c`` in row ``l`` only (uses choice bit ``x'_c ⊕ 1`` in that row) and
    recomputes χ, x̃, t̃ consistently. Alice's check fails iff ``Δ_l = 1``.

    This is the selective-failure channel of §5.2: whether the check passes tells Bob ``Δ_l``.
    A failure aborts with OT_CONSISTENCY_FAILED naming Bob, the trigger of the CHEAT-OT ban,
    and the Alice object refuses further use; rule S-1 (one check at a time per pair, ban
    durable first) bounds what he learns. The node-level lock/ban test is §14 item 35.
    """
    view = bob_view(seeds)
    for value in (1, 0):
        row = seeds.rows_with(value)[3]
        u = view.honest_u()
        u[row, column >> 3] ^= 1 << (column & 7)
        ote1 = build_ote1(view.nu_b, u, view.x_prime, view.t0)
        alice = new_alice(seeds)
        if value == 1:
            with pytest.raises(ProtocolAbort) as exc:
                alice.check(ote1.encode())
            assert_ot_abort(exc, AbortReason.OT_CONSISTENCY_FAILED)
            with pytest.raises(InvalidArguments):
                alice.sender_pads(b"\x00" * 32)
            with pytest.raises(InvalidArguments):
                alice.check(ote1.encode())
        else:
            alice.check(ote1.encode())  # passes: Bob learns Δ_l = 0
            t_cols = transpose_columns(view.t0, 512)
            assert columns_relation_holds(alice.q_columns, t_cols, view.beta, seeds.alice.delta)
            nu_a = b"\x07" * 32
            alpha0, alpha1 = alice.sender_pads(nu_a)
            gamma = pads(pad_state(PSID, view.nu_b, nu_a), t_cols)
            assert all(gamma[j] == (alpha1[j] if view.beta[j] else alpha0[j]) for j in range(512))


def test_polychromatic_row_guessing_one_instead(seeds: Seeds) -> None:
    """Bob may instead bet on Δ_l = 1 by also adding h_χ(e_c) to t̃_l: then the check passes
    iff Δ_l = 1. Either way each evaluation depends on exactly the one bit he picked."""
    view = bob_view(seeds)
    column = 77
    e = np.zeros(96, dtype=np.uint8)
    e[column >> 3] = 1 << (column & 7)
    outcomes = {}
    for value in (0, 1):
        row = seeds.rows_with(value)[0]
        u = view.honest_u()
        u[row] ^= e
        ote1 = build_ote1(view.nu_b, u, view.x_prime, view.t0)
        m = check_matrix(*challenges(PSID, view.nu_b, ote1.u))
        shift = row_checks_packed(e[None, :], m)[0].tobytes()
        t_tilde = bytearray(ote1.t_tilde)
        t_tilde[32 * row : 32 * row + 32] = bytes(
            a ^ b for a, b in zip(t_tilde[32 * row : 32 * row + 32], shift, strict=True)
        )
        forged = Ote1(nu_b=ote1.nu_b, u=ote1.u, x_tilde=ote1.x_tilde, t_tilde=bytes(t_tilde))
        try:
            new_alice(seeds).check(forged.encode())
            outcomes[value] = "pass"
        except ProtocolAbort as exc:
            assert exc.abort_reason is AbortReason.OT_CONSISTENCY_FAILED
            outcomes[value] = "fail"
    assert outcomes == {1: "pass", 0: "fail"}


def test_two_polychromatic_rows_pass_only_if_both_bits_zero(seeds: Seeds) -> None:
    view = bob_view(seeds)
    zeros, ones = seeds.rows_with(0), seeds.rows_with(1)
    for rows, expect_pass in (
        ((zeros[0], zeros[1]), True),
        ((zeros[0], ones[0]), False),
        ((ones[0], ones[1]), False),
    ):
        u = view.honest_u()
        for row in rows:
            u[row, 10] ^= 0x04
        ote1 = build_ote1(view.nu_b, u, view.x_prime, view.t0)
        if expect_pass:
            new_alice(seeds).check(ote1.encode())
        else:
            with pytest.raises(ProtocolAbort) as exc:
                new_alice(seeds).check(ote1.encode())
            assert_ot_abort(exc, AbortReason.OT_CONSISTENCY_FAILED)


def test_inconsistent_x_used_in_every_row_is_harmless(seeds: Seeds) -> None:
    """A Bob who uses another x'' in *all* rows (monochromatic) simply has choice bits x''; the
    check passes and the OT relation holds for x'' (nothing to detect)."""
    view = bob_view(seeds)
    other = view.x_prime ^ np.uint8(0x81)
    u = view.t0 ^ view.t1 ^ other[None, :]
    alice = new_alice(seeds)
    alice.check(build_ote1(view.nu_b, u, other, view.t0).encode())
    beta = [bit(other.tobytes(), c) for c in range(512)]
    assert columns_relation_holds(
        alice.q_columns, transpose_columns(view.t0, 512), beta, seeds.alice.delta
    )


# -- §14 item 6: tampering without recomputation, lengths ---------------------------------------


@pytest.mark.parametrize("delta_value", [0, 1])
@pytest.mark.parametrize("byte", [0, 47, 95])
def test_tampered_u_byte(seeds: Seeds, delta_value: int, byte: int) -> None:
    """χ is bound to U by Fiat–Shamir: one changed U byte fails whatever Δ_l of its row."""
    bob = ExtensionBob(psid=PSID, seeds=seeds.bob, rng=DeterministicRng(BOB_RNG))
    raw = bytearray(bob.round1().encode())
    row = seeds.rows_with(delta_value)[5]
    raw[32 + 96 * row + byte] ^= 0x01
    with pytest.raises(ProtocolAbort) as exc:
        new_alice(seeds).check(bytes(raw))
    assert_ot_abort(exc, AbortReason.OT_CONSISTENCY_FAILED)


@pytest.mark.parametrize(
    "offset",
    [0, 31, 32 + 24_576, 32 + 24_576 + 31, 32 + 24_576 + 32, OTE1_LEN - 1],
    ids=["nu_b", "nu_b-end", "x_tilde", "x_tilde-end", "t_tilde0", "t_tilde255"],
)
def test_tampered_other_fields(seeds: Seeds, offset: int) -> None:
    bob = ExtensionBob(psid=PSID, seeds=seeds.bob, rng=DeterministicRng(BOB_RNG))
    raw = bytearray(bob.round1().encode())
    raw[offset] ^= 0x80
    with pytest.raises(ProtocolAbort) as exc:
        new_alice(seeds).check(bytes(raw))
    assert_ot_abort(exc, AbortReason.OT_CONSISTENCY_FAILED)


@pytest.mark.parametrize("length", [0, 1, OTE1_LEN - 1, OTE1_LEN + 1, 2 * OTE1_LEN])
def test_wrong_lengths(seeds: Seeds, length: int) -> None:
    bob = ExtensionBob(psid=PSID, seeds=seeds.bob, rng=DeterministicRng(BOB_RNG))
    raw = bob.round1().encode()
    payload = (raw * 2)[:length]
    with pytest.raises(ProtocolAbort) as exc:
        new_alice(seeds).check(payload)
    assert_ot_abort(exc, AbortReason.BAD_LENGTH)


def test_state_and_redaction(seeds: Seeds) -> None:
    bob = ExtensionBob(psid=PSID, seeds=seeds.bob, rng=DeterministicRng(BOB_RNG))
    with pytest.raises(InvalidArguments):
        _ = bob.beta
    ote1 = bob.round1()
    with pytest.raises(InvalidArguments):
        bob.round1()
    alice = new_alice(seeds)
    with pytest.raises(InvalidArguments):
        _ = alice.q_columns
    alice.check(ote1.encode())
    with pytest.raises(InvalidArguments):
        alice.check(ote1.encode())
    for obj in (bob, alice):
        assert "redacted" in repr(obj)
        assert seeds.alice.delta.hex() not in repr(obj)
    bob.zeroise()
    alice.zeroise()
    with pytest.raises(InvalidArguments):
        bob.receiver_pads(b"\x00" * 32)
    with pytest.raises(InvalidArguments):
        alice.sender_pads(b"\x00" * 32)
