"""One OT-extension execution: KOS15 with the corrected (Fig. 10) check = SoftSpokenOT, k = 1.

Spec: ``specs/dkls23.md`` §5 (all of it), §5.4 (numpy method), §2.3 (tags), erratum 9
(fixed layout). Papers: KOS15 (ePrint 2015/546, corrected Fig. 10), SoftSpokenOT (ePrint
2022/192) §5 with ``k = 1``, made non-interactive by Fiat–Shamir (DKLs23 ePrint 2023/765 §5.1).

This is the execution inside ``RVOLE(i←j)``: **Bob** ``= P_i`` is the extension *receiver*
(choice bits ``β``) and holds :class:`~warifu.core.ot.vsot.BobSeeds`; **Alice** ``= P_j`` is the
extension *sender* and holds ``Δ`` (:class:`~warifu.core.ot.vsot.AliceSeeds`).

Notation
================  =============================================================
``x'``            96 random bytes of Bob: ``β_c = x'_c`` (``c < 512``), ``π`` (``c ≥ 512``)
``ν_B``, ``ν_A``  Bob's / Alice's 32-byte freshness nonces (§5.3)
``T0_l, T1_l``    ``XOF(ote-prg, 96; psid, ν_B, u16be(l), k0_l / k1_l)``, rows ``l < 256``
``U_l``           ``T0_l ⊕ T1_l ⊕ x'`` (``U``: 256×96 bytes, row-major)
``χ_0, χ_1``      ``LE`` halves of ``XOF(ote-chi, 64; psid, ν_B, U)`` (erratum 19: "ω")
``h_χ(Y)``        ``χ_0·Y[0] + χ_1·Y[1] + Y[2]`` in GF(2^256) (:mod:`.gf256`)
``x̃, t̃_l``        ``h_χ(x')``, ``h_χ(T0_l)``
``Q_l``           ``XOF(ote-prg, 96; psid, ν_B, u16be(l), k_l) ⊕ (Δ_l ? U_l : 0)``
``q̃_l``           ``h_χ(Q_l)``; accept iff ``q̃_l == t̃_l + Δ_l·x̃`` for all ``l``
``t_c, q_c``      column ``c`` of ``T0`` / ``Q`` (32 bytes); ``q_c = t_c ⊕ β_c·Δ``
``PAD(j, y)``     ``XOF(ote-pad, 144; psid, ν_B, ν_A, u16be(j), y)`` as three 48-byte
                  big-endian integers mod ``q``
``α_{j,b}``       Alice's pads ``PAD(j, q_j ⊕ b·Δ)``; ``γ_j = PAD(j, t_j) = α_{j,β_j}``
================  =============================================================

Wire layout of Bob's message (fixed; any other length is ``BAD_LENGTH`` naming Bob)::

    OTE1 (32,832 B) = ν_B(32) ‖ U(24,576 = 256 rows × 96) ‖ x̃(32, LE) ‖ t̃_0 … t̃_255 (32 each, LE)

Every 32,832-byte string parses (no field needs a range check); only the length can be wrong.

Performance (§5.4): PRG rows come from one SHAKE-256 state over the common prefix
``LP(tag) ‖ LP(psid) ‖ LP(ν_B)``, ``.copy()``-ed per row; the check is one float32 matrix product
over all rows; the transposes are ``np.unpackbits``/``np.packbits``; the pads use one state over
``LP(tag) ‖ LP(psid) ‖ LP(ν_B) ‖ LP(ν_A)``, ``.copy()``-ed per ``j``.

Rule S-1 (§5.2): :meth:`ExtensionAlice.check` depends on the long-lived ``Δ``; the caller MUST
run it under the pair lock and record a ban before releasing it on failure.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from warifu.core.encoding import lp, tag, u16be, xof
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot.common import (
    KAPPA_C,
    ROW_BYTES,
    XI,
    Q,
    check_id,
    check_length,
    check_party,
)
from warifu.core.ot.gf256 import FIELD_BYTES, U8Array, check_matrix, row_checks_packed
from warifu.core.ot.gf256 import transpose_columns as _transpose
from warifu.core.ot.vsot import AliceSeeds, BobSeeds
from warifu.core.rng import Rng

NU_LEN = 32
U_LEN = KAPPA_C * ROW_BYTES  # 24,576
T_TILDE_LEN = KAPPA_C * FIELD_BYTES  # 8,192
OTE1_LEN = NU_LEN + U_LEN + FIELD_BYTES + T_TILDE_LEN  # 32,832
PAD_LEN = 144
PAD_PART = 48

#: ``(p_0, p_1, p_2)``: the three scalars of one pad.
Pad = tuple[int, int, int]


#: ``LP(u16be(j))`` for every index used (``j < 512``), and the length prefix of 32 bytes.
_LP_INDEX: tuple[bytes, ...] = tuple(lp(u16be(j)) for j in range(XI))
_LP_32 = lp(bytes(32))[:8]


class XofState(Protocol):
    """A SHAKE-256 state (``hashlib.shake_256``) that can be copied and extended."""

    def copy(self) -> XofState: ...

    def update(self, data: bytes, /) -> None: ...

    def digest(self, length: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Ote1:
    """Bob's OT-extension message ``(ν_B, U, x̃, t̃)``; public. Spec: §5.1 step 7."""

    nu_b: bytes
    u: bytes
    x_tilde: bytes
    t_tilde: bytes

    def __repr__(self) -> str:
        return f"Ote1(nu_b={self.nu_b.hex()}, {len(self.encode())} bytes)"

    def encode(self) -> bytes:
        """The fixed 32,832-byte layout."""
        return self.nu_b + self.u + self.x_tilde + self.t_tilde

    @classmethod
    def parse(cls, data: bytes, *, peer: int) -> Ote1:
        """Split a received OTE1; a wrong length is ``BAD_LENGTH`` naming ``peer`` (§5.2 step 1)."""
        check_length(data, OTE1_LEN, peer, "OTE1")
        data = bytes(data)
        off_x = NU_LEN + U_LEN
        off_t = off_x + FIELD_BYTES
        return cls(
            nu_b=data[:NU_LEN],
            u=data[NU_LEN:off_x],
            x_tilde=data[off_x:off_t],
            t_tilde=data[off_t:],
        )

    def t_tilde_values(self) -> list[bytes]:
        """``t̃_0 … t̃_255`` as 32-byte strings."""
        return [self.t_tilde[i : i + FIELD_BYTES] for i in range(0, T_TILDE_LEN, FIELD_BYTES)]


# --------------------------------------------------------------------------------------------
# Building blocks (pure functions; the parties and the adversarial tests share them)
# --------------------------------------------------------------------------------------------


def prg_rows(psid: bytes, nu_b: bytes, keys: Sequence[bytes]) -> U8Array:
    """``XOF(ote-prg, 96; psid, ν_B, u16be(l), key_l)`` for every ``l``, as a ``(n, 96)`` array.

    Spec: ``dkls23.md`` §5.1 step 3, §5.2 step 2, §5.4 "PRG".
    """
    prefix = hashlib.shake_256(lp(tag("dkls23/ote-prg")) + lp(psid) + lp(nu_b))
    out = bytearray()
    for index, key in enumerate(keys):
        st = prefix.copy()
        st.update(_LP_INDEX[index] + lp(key))
        out += st.digest(ROW_BYTES)
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(len(keys), ROW_BYTES).copy()


def challenges(psid: bytes, nu_b: bytes, u: bytes) -> tuple[int, int]:
    """``(χ_0, χ_1)`` from ``XOF(ote-chi, 64; psid, ν_B, U)``, little-endian. Spec: §5.1 step 5."""
    raw = xof("dkls23/ote-chi", 64, psid, nu_b, u)
    return int.from_bytes(raw[:32], "little"), int.from_bytes(raw[32:], "little")


def pad_state(psid: bytes, nu_b: bytes, nu_a: bytes) -> XofState:
    """The SHAKE-256 state over ``LP(ote-pad) ‖ LP(psid) ‖ LP(ν_B) ‖ LP(ν_A)``. Spec: §5.4 Pads."""
    return hashlib.shake_256(lp(tag("dkls23/ote-pad")) + lp(psid) + lp(nu_b) + lp(nu_a))


def pads(state: XofState, columns: U8Array) -> list[Pad]:
    """``PAD(j, columns[j])`` for every row ``j`` of a ``(n, 32)`` array. Spec: §5.3."""
    if columns.ndim != 2 or columns.shape[1] != FIELD_BYTES or columns.shape[0] > XI:
        raise InvalidArguments("pad inputs must be at most 512 columns of 32 bytes")
    raw = columns.tobytes()
    out: list[Pad] = []
    from_bytes = int.from_bytes
    for j in range(columns.shape[0]):
        st = state.copy()
        st.update(_LP_INDEX[j] + _LP_32 + raw[32 * j : 32 * j + 32])
        d = st.digest(PAD_LEN)
        out.append(
            (
                from_bytes(d[0:PAD_PART], "big") % Q,
                from_bytes(d[PAD_PART : 2 * PAD_PART], "big") % Q,
                from_bytes(d[2 * PAD_PART :], "big") % Q,
            )
        )
    return out


def delta_bits(delta: bytes) -> U8Array:
    """``Δ_l`` for ``l < 256`` as a 0/1 uint8 array (LSB-first, §2.1)."""
    return np.unpackbits(np.frombuffer(delta, dtype=np.uint8), bitorder="little")


# --------------------------------------------------------------------------------------------
# Bob: extension receiver
# --------------------------------------------------------------------------------------------


class ExtensionBob:
    """Bob's side of one extension execution (receiver, choice bits ``β``). Repr is redacted.

    :meth:`round1` once; then :attr:`beta`, :attr:`t_columns` and :meth:`receiver_pads` give the
    outputs; :meth:`zeroise` when done. Spec: ``dkls23.md`` §5.1, §5.3.
    """

    def __init__(self, *, psid: bytes, seeds: BobSeeds, rng: Rng) -> None:
        check_id(psid, "psid")
        self._psid = psid
        self._seeds = seeds
        self._rng = rng
        self._nu_b: bytes | None = None
        self._beta: U8Array | None = None
        self._t_cols: U8Array | None = None

    def __repr__(self) -> str:
        return f"ExtensionBob(psid={self._psid.hex()}, secrets=<redacted>)"

    def round1(self) -> Ote1:
        """§5.1 steps 1–7: sample ``x'``, ``ν_B``; build ``U``; check values ``x̃``, ``t̃``."""
        if self._nu_b is not None:
            raise InvalidArguments("ExtensionBob.round1 runs once", reason="WRONG_STATE")
        x_prime = np.frombuffer(self._rng.random_bytes(ROW_BYTES), dtype=np.uint8).copy()
        nu_b = self._rng.random_bytes(NU_LEN)
        if x_prime.shape != (ROW_BYTES,) or len(nu_b) != NU_LEN:
            raise InvalidArguments("rng returned the wrong number of bytes")
        t0 = prg_rows(self._psid, nu_b, self._seeds.k0)
        t1 = prg_rows(self._psid, nu_b, self._seeds.k1)
        u = t0 ^ t1 ^ x_prime[None, :]
        t1.fill(0)
        u_bytes = u.tobytes()
        chi0, chi1 = challenges(self._psid, nu_b, u_bytes)
        m = check_matrix(chi0, chi1)
        checks = row_checks_packed(np.vstack([x_prime[None, :], t0]), m)
        self._beta = np.unpackbits(x_prime[: XI // 8], bitorder="little")
        self._t_cols = _transpose(t0, XI)
        t0.fill(0)
        x_prime.fill(0)
        self._nu_b = nu_b
        return Ote1(nu_b=nu_b, u=u_bytes, x_tilde=checks[0].tobytes(), t_tilde=checks[1:].tobytes())

    @property
    def nu_b(self) -> bytes:
        """``ν_B`` (public, sent in OTE1)."""
        if self._nu_b is None:
            raise InvalidArguments("ExtensionBob: round1 has not run", reason="WRONG_STATE")
        return self._nu_b

    @property
    def beta(self) -> U8Array:
        """Bob's choice bits ``β_0..β_511`` (0/1 uint8, a copy). Secret."""
        if self._beta is None:
            raise InvalidArguments("ExtensionBob: no choice bits", reason="WRONG_STATE")
        return self._beta.copy()

    @property
    def t_columns(self) -> U8Array:
        """Columns ``t_0..t_511`` of ``T0`` as a ``(512, 32)`` array (a copy). Secret."""
        if self._t_cols is None:
            raise InvalidArguments("ExtensionBob: no columns", reason="WRONG_STATE")
        return self._t_cols.copy()

    def receiver_pads(self, nu_a: bytes) -> list[Pad]:
        """``γ_j = PAD(j, t_j)`` for ``j < 512`` (equals ``α_{j,β_j}``). Spec: §5.3."""
        if self._t_cols is None or self._nu_b is None:
            raise InvalidArguments("ExtensionBob: no columns", reason="WRONG_STATE")
        return pads(pad_state(self._psid, self._nu_b, nu_a), self._t_cols)

    def zeroise(self) -> None:
        """Wipe ``β`` and the columns (best effort; §2.4)."""
        for arr in (self._beta, self._t_cols):
            if arr is not None:
                arr.fill(0)
        self._beta = None
        self._t_cols = None


# --------------------------------------------------------------------------------------------
# Alice: extension sender
# --------------------------------------------------------------------------------------------


class ExtensionAlice:
    """Alice's side of one extension execution (sender, secret ``Δ``). Repr is redacted.

    :meth:`check` once (under the pair lock of rule S-1); then :meth:`sender_pads`,
    :attr:`q_columns`; :meth:`zeroise` when done. ``peer`` is Bob's party id.
    Spec: ``dkls23.md`` §5.2, §5.3.
    """

    def __init__(self, *, psid: bytes, seeds: AliceSeeds, peer: int) -> None:
        check_id(psid, "psid")
        check_party(peer, "peer")
        self._psid = psid
        self._seeds = seeds
        self._peer = peer
        self._ote1: Ote1 | None = None
        self._q_cols: U8Array | None = None
        self._checked = False

    def __repr__(self) -> str:
        return f"ExtensionAlice(psid={self._psid.hex()}, peer={self._peer}, secrets=<redacted>)"

    def check(self, ote1: bytes) -> Ote1:
        """§5.2 steps 1–4: lengths, ``Q``, ``χ``, ``q̃``; accept iff all 256 rows agree.

        ``BAD_LENGTH`` and ``OT_CONSISTENCY_FAILED`` name Bob. All 256 check values are computed
        and then compared in one constant-time comparison. Returns the parsed message.
        """
        if self._ote1 is not None or self._checked:
            raise InvalidArguments("ExtensionAlice.check runs once", reason="WRONG_STATE")
        self._checked = True
        msg = Ote1.parse(ote1, peer=self._peer)
        delta = self._seeds.delta
        mask = delta_bits(delta) * np.uint8(0xFF)
        u = np.frombuffer(msg.u, dtype=np.uint8).reshape(KAPPA_C, ROW_BYTES)
        q = prg_rows(self._psid, msg.nu_b, self._seeds.k)
        q ^= u & mask[:, None]
        chi0, chi1 = challenges(self._psid, msg.nu_b, msg.u)
        q_tilde = row_checks_packed(q, check_matrix(chi0, chi1))
        x_tilde = np.frombuffer(msg.x_tilde, dtype=np.uint8)
        t_tilde = np.frombuffer(msg.t_tilde, dtype=np.uint8).reshape(KAPPA_C, FIELD_BYTES)
        expected = t_tilde ^ (x_tilde[None, :] & mask[:, None])
        ok = hmac.compare_digest(q_tilde.tobytes(), expected.tobytes())
        if not ok:
            q.fill(0)
            raise ProtocolAbort(
                AbortReason.OT_CONSISTENCY_FAILED,
                {self._peer},
                f"OT-extension consistency check failed on OTE1 from party {self._peer}",
            )
        self._q_cols = _transpose(q, XI)
        q.fill(0)
        self._ote1 = msg
        return msg

    @property
    def delta(self) -> bytes:
        """``Δ`` (32 bytes, bit ``l`` = ``Δ_l``). Secret."""
        return self._seeds.delta

    @property
    def q_columns(self) -> U8Array:
        """Columns ``q_0..q_511`` of ``Q`` as a ``(512, 32)`` array (a copy). Secret."""
        if self._q_cols is None:
            raise InvalidArguments("ExtensionAlice: check has not passed", reason="WRONG_STATE")
        return self._q_cols.copy()

    def sender_pads(self, nu_a: bytes) -> tuple[list[Pad], list[Pad]]:
        """``(α_{j,0}, α_{j,1}) = (PAD(j, q_j), PAD(j, q_j ⊕ Δ))`` for ``j < 512``. Spec: §5.3."""
        if self._q_cols is None or self._ote1 is None:
            raise InvalidArguments("ExtensionAlice: check has not passed", reason="WRONG_STATE")
        if len(nu_a) != NU_LEN:
            raise InvalidArguments(f"nu_A must be {NU_LEN} bytes")
        state = pad_state(self._psid, self._ote1.nu_b, nu_a)
        delta = np.frombuffer(self._seeds.delta, dtype=np.uint8)
        flipped = self._q_cols ^ delta[None, :]
        try:
            return pads(state, self._q_cols), pads(state, flipped)
        finally:
            flipped.fill(0)

    def zeroise(self) -> None:
        """Wipe the columns (best effort; §2.4). ``Δ`` belongs to the stored seeds."""
        if self._q_cols is not None:
            self._q_cols.fill(0)
        self._q_cols = None


__all__ = [
    "NU_LEN",
    "OTE1_LEN",
    "PAD_LEN",
    "T_TILDE_LEN",
    "U_LEN",
    "ExtensionAlice",
    "ExtensionBob",
    "Ote1",
    "Pad",
    "XofState",
    "challenges",
    "delta_bits",
    "pad_state",
    "pads",
    "prg_rows",
]
