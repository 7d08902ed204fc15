"""Base OT: Verified Simplest OT (VSOT, DKLs18 Protocol 7), 256 instances with one sender key.

Spec: ``specs/dkls23.md`` §4 (flows, checks, outputs, rule V-F, evidence), §2.3 (tags),
erratum 9 (fixed V1–V5 layouts), erratum 20 (``A_l = B`` also when ``Δ_l = 0, a_l = b``).
Paper: DKLs18 (ePrint 2018/499) Protocol 7, on Chou–Orlandi "Simplest OT" (ePrint 2015/267).

Roles for the ordered pair ``(i←j)``: **Bob** ``= P_i`` is the base-OT *sender* (and later the
OT-extension receiver); **Alice** ``= P_j`` is the base-OT *receiver*, and her 256 choice bits
are the extension secret ``Δ``.

Notation
===============  ==============================================================
``osid``         ``H(dkls23/ot-setup, sid_ceremony, u16be(i), u16be(j))``
``b, B``         Bob's key ``b`` (nonzero), ``B = b·G``
``k, K, e, z``   Schnorr PoK: ``K = k·G``, ``e = HS(dkls23/vsot-pok, osid, ser B, ser K)``,
                 ``z = k + e·b``
``Δ, Δ_l``       Alice's 32 random bytes; ``Δ_l`` is bit ``l`` (LSB-first)
``a_l, A_l``     ``a_l`` nonzero, ``A_l = a_l·G + Δ_l·B``
``ρ0_l, ρ1_l``   Bob's seeds ``H(vsot-pad, osid, u16be(l), ser B, ser A_l, ser P)`` with
                 ``P = b·A_l`` resp. ``b·(A_l − B)``
``k_l``          Alice's seed, same hash with ``P = a_l·B``; equals ``ρ{Δ_l}_l``
``h1_l, h2_l``   ``h1_l(x) = H(vsot-h1, osid, u16be(l), x)``,
                 ``h2_l(x) = H(vsot-h2, osid, u16be(l), h1_l(x))``
``ξ_l``          V3 challenge ``h2_l(ρ0_l) ⊕ h2_l(ρ1_l)`` (erratum 19: not the OT count ξ)
``ρ'_l``         V4 response ``h2_l(k_l) ⊕ (Δ_l ? ξ_l : 0)``
===============  ==============================================================

Wire layouts (fixed; a wrong length is ``BAD_LENGTH`` naming the sender, checked first)::

    V1 (Bob→Alice)    98 B   = ser B(33) ‖ ser K(33) ‖ z(32)
    V2 (Alice→Bob)  8,448 B  = ser A_0 ‖ … ‖ ser A_255                  (33 B each)
    V3 (Bob→Alice)  8,192 B  = ξ_0 ‖ … ‖ ξ_255                          (32 B each)
    V4 (Alice→Bob)  8,192 B  = ρ'_0 ‖ … ‖ ρ'_255                        (32 B each)
    V5 (Bob→Alice) 16,384 B  = h1_0(ρ0_0) ‖ h1_0(ρ1_0) ‖ … ‖ h1_255(ρ1_255)

Disclosures for a complaint (§4 "Evidence"; worthless after rule V-F)::

    Bob     32 B     = b
    Alice   8,224 B  = Δ(32) ‖ a_0 ‖ … ‖ a_255                          (32 B each)

Stored seeds (:meth:`BobSeeds.to_bytes`, :meth:`AliceSeeds.to_bytes`; encrypt before storing)::

    BobSeeds    16,418 B = u8(1) ‖ "B" ‖ osid(32) ‖ k0_0..k0_255 ‖ k1_0..k1_255
    AliceSeeds   8,258 B = u8(1) ‖ "A" ‖ osid(32) ‖ Δ(32) ‖ k_0..k_255

Departures:
    1. Bob computes ``b·(A_l − B)`` as ``b·A_l − b·B`` with ``b·B`` computed once (same point,
       256 fewer scalar multiplications).
    2. An honest Alice resamples ``a_l`` in the negligible cases ``A_l = B`` (erratum 20) and
       ``A_l = O``, so that an honest run never trips check 2 or the encoder.

Rule V-F: after any failure an object refuses every call except :meth:`~VsotBob.disclose`; its
seeds and intermediate values are dropped (best effort: Python bytes and ints cannot be wiped).
Only the complaint disclosure is kept, and a retry MUST be a new object under a new
``sid_ceremony``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from warifu.core.curves import Point
from warifu.core.encoding import h, hs, u8, u16be
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot.common import (
    DELTA_BYTES,
    GROUP,
    ID_LEN,
    KAPPA_C,
    POINT_LEN,
    SCALAR_LEN,
    SEED_LEN,
    Phase,
    Q,
    bit,
    check_id,
    check_length,
    check_party,
    decode_point,
    decode_scalars,
    require_phase,
    select,
    xor_bytes,
)
from warifu.core.rng import Rng, random_nonzero_scalar

V1_LEN = 2 * POINT_LEN + SCALAR_LEN  # 98
V2_LEN = KAPPA_C * POINT_LEN  # 8,448
V3_LEN = KAPPA_C * 32  # 8,192
V4_LEN = KAPPA_C * 32  # 8,192
V5_LEN = KAPPA_C * 64  # 16,384
BOB_DISCLOSURE_LEN = SCALAR_LEN
ALICE_DISCLOSURE_LEN = DELTA_BYTES + KAPPA_C * SCALAR_LEN  # 8,224

SEEDS_FORMAT_VERSION = 1
_BOB_ROLE = b"B"
_ALICE_ROLE = b"A"
BOB_SEEDS_LEN = 2 + ID_LEN + 2 * KAPPA_C * SEED_LEN  # 16,418
ALICE_SEEDS_LEN = 2 + ID_LEN + DELTA_BYTES + KAPPA_C * SEED_LEN  # 8,258


# --------------------------------------------------------------------------------------------
# Hashes of §4
# --------------------------------------------------------------------------------------------


def ot_setup_id(sid: bytes, bob: int, alice: int) -> bytes:
    """``osid = H(dkls23/ot-setup, sid_ceremony, u16be(i), u16be(j))`` for ``(i←j)``.

    Spec: ``dkls23.md`` §4 "Roles" (``i`` = Bob, ``j`` = Alice).
    """
    check_id(sid, "sid")
    check_party(bob, "bob")
    check_party(alice, "alice")
    if bob == alice:
        raise InvalidArguments("an OT setup needs two different parties", reason="INVALID_PARTY")
    return h("dkls23/ot-setup", sid, u16be(bob), u16be(alice))


def pok_challenge(osid: bytes, ser_b: bytes, ser_k: bytes) -> int:
    """``e = HS(dkls23/vsot-pok, osid, ser B, ser K)``. Spec: ``dkls23.md`` §4 V1."""
    return hs("dkls23/vsot-pok", Q, osid, ser_b, ser_k)


def vsot_pad(osid: bytes, index: int, ser_b: bytes, ser_a: bytes, ser_p: bytes) -> bytes:
    """``H(dkls23/vsot-pad, osid, u16be(l), ser B, ser A_l, ser P)``: a base-OT seed.

    Spec: ``dkls23.md`` §4 "Definitions".
    """
    return h("dkls23/vsot-pad", osid, u16be(index), ser_b, ser_a, ser_p)


def h1(osid: bytes, index: int, x: bytes) -> bytes:
    """``h1_l(x) = H(dkls23/vsot-h1, osid, u16be(l), x)``. Spec: ``dkls23.md`` §4."""
    return h("dkls23/vsot-h1", osid, u16be(index), x)


def h2_of_h1(osid: bytes, index: int, y: bytes) -> bytes:
    """``H(dkls23/vsot-h2, osid, u16be(l), y)`` for ``y = h1_l(x)`` (check 4 hashes openings)."""
    return h("dkls23/vsot-h2", osid, u16be(index), y)


def h2(osid: bytes, index: int, x: bytes) -> bytes:
    """``h2_l(x) = H(dkls23/vsot-h2, osid, u16be(l), h1_l(x))``. Spec: ``dkls23.md`` §4."""
    return h2_of_h1(osid, index, h1(osid, index, x))


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def _check_keys(keys: Sequence[bytes], what: str) -> None:
    if len(keys) != KAPPA_C or any(not isinstance(k, bytes) or len(k) != SEED_LEN for k in keys):
        raise InvalidArguments(f"{what} must be {KAPPA_C} seeds of {SEED_LEN} bytes")


def _header(role: bytes) -> bytes:
    return u8(SEEDS_FORMAT_VERSION) + role


@dataclass(frozen=True, slots=True, kw_only=True, eq=False, repr=False)
class BobSeeds:
    """Bob's base-OT output of one setup ``(i←j)``: both seeds of every instance. Secret.

    Spec: ``dkls23.md`` §4 "Outputs" (``k0_l = ρ0_l``, ``k1_l = ρ1_l``), §7.3 (stored
    encrypted). Layout of :meth:`to_bytes`: see the module docstring.
    """

    osid: bytes
    k0: tuple[bytes, ...]
    k1: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_id(self.osid, "osid")
        _check_keys(self.k0, "k0")
        _check_keys(self.k1, "k1")

    def to_bytes(self) -> bytes:
        """The fixed 16,418-byte layout (for encrypted storage only)."""
        return _header(_BOB_ROLE) + self.osid + b"".join(self.k0) + b"".join(self.k1)

    @classmethod
    def from_bytes(cls, data: bytes) -> BobSeeds:
        """Parse :meth:`to_bytes`; InvalidArguments(INVALID_ENCODING) on a wrong length/header."""
        if len(data) != BOB_SEEDS_LEN or data[:2] != _header(_BOB_ROLE):
            raise InvalidArguments("not a stored BobSeeds record", reason="INVALID_ENCODING")
        body = data[2 + ID_LEN :]
        half = KAPPA_C * SEED_LEN
        return cls(
            osid=bytes(data[2 : 2 + ID_LEN]),
            k0=tuple(_split(bytes(body[:half]), SEED_LEN)),
            k1=tuple(_split(bytes(body[half:]), SEED_LEN)),
        )

    def __repr__(self) -> str:
        return f"BobSeeds(osid={self.osid.hex()}, seeds=<redacted>)"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False, repr=False)
class AliceSeeds:
    """Alice's base-OT output of one setup ``(i←j)``: ``Δ`` and ``k_l = k{Δ_l}_l``. Secret.

    Spec: ``dkls23.md`` §4 "Outputs", §7.3. ``delta`` is 32 bytes, bit ``l`` (LSB-first) is
    ``Δ_l``. Layout of :meth:`to_bytes`: see the module docstring.
    """

    osid: bytes
    delta: bytes
    k: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_id(self.osid, "osid")
        if not isinstance(self.delta, bytes) or len(self.delta) != DELTA_BYTES:
            raise InvalidArguments(f"delta must be {DELTA_BYTES} bytes")
        _check_keys(self.k, "k")

    def to_bytes(self) -> bytes:
        """The fixed 8,258-byte layout (for encrypted storage only)."""
        return _header(_ALICE_ROLE) + self.osid + self.delta + b"".join(self.k)

    @classmethod
    def from_bytes(cls, data: bytes) -> AliceSeeds:
        """Parse :meth:`to_bytes`; InvalidArguments(INVALID_ENCODING) on a wrong length/header."""
        if len(data) != ALICE_SEEDS_LEN or data[:2] != _header(_ALICE_ROLE):
            raise InvalidArguments("not a stored AliceSeeds record", reason="INVALID_ENCODING")
        off = 2 + ID_LEN
        return cls(
            osid=bytes(data[2:off]),
            delta=bytes(data[off : off + DELTA_BYTES]),
            k=tuple(_split(bytes(data[off + DELTA_BYTES :]), SEED_LEN)),
        )

    def __repr__(self) -> str:
        return f"AliceSeeds(osid={self.osid.hex()}, delta=<redacted>, seeds=<redacted>)"


# --------------------------------------------------------------------------------------------
# Shared computations (the parties and the complaint judge use the same code)
# --------------------------------------------------------------------------------------------


def _parse_v1(osid: bytes, v1: bytes, bob: int) -> Point:
    """Check 1: lengths, points, ``z < q``, then ``z·G == K + e·B``. Returns ``B``."""
    check_length(v1, V1_LEN, bob, "VSOT V1")
    ser_b, ser_k, ser_z = v1[:POINT_LEN], v1[POINT_LEN : 2 * POINT_LEN], v1[2 * POINT_LEN :]
    big_b = decode_point(ser_b, bob, "VSOT V1 B")
    big_k = decode_point(ser_k, bob, "VSOT V1 K")
    (z,) = decode_scalars(ser_z, 1, bob, "VSOT V1 z")
    e = pok_challenge(osid, ser_b, ser_k)
    if GROUP.base_mul(z) != big_k + big_b * e:
        raise ProtocolAbort(
            AbortReason.VSOT_POK_INVALID, {bob}, f"VSOT proof of knowledge from party {bob}"
        )
    return big_b


def _parse_v2(v2: bytes, big_b: Point, alice: int) -> list[Point]:
    """Check 2: exactly 256 valid points, each ``A_l ≠ B``."""
    check_length(v2, V2_LEN, alice, "VSOT V2")
    points = [decode_point(s, alice, "VSOT V2 A_l") for s in _split(v2, POINT_LEN)]
    if any(a == big_b for a in points):
        raise ProtocolAbort(
            AbortReason.VSOT_VERIFY_FAILED, {alice}, f"VSOT V2 from party {alice}: A_l = B"
        )
    return points


def _bob_seeds(
    osid: bytes, b: int, big_b: Point, points: Sequence[Point]
) -> tuple[list[bytes], list[bytes]]:
    """``(ρ0_l, ρ1_l)`` for every ``l``; ``b·(A_l − B) = b·A_l − b·B`` (departure 1)."""
    ser_b = GROUP.encode_point(big_b)
    bb = big_b * b
    rho0: list[bytes] = []
    rho1: list[bytes] = []
    for index, a in enumerate(points):
        ser_a = GROUP.encode_point(a)
        p0 = a * b
        rho0.append(vsot_pad(osid, index, ser_b, ser_a, GROUP.encode_point(p0)))
        rho1.append(vsot_pad(osid, index, ser_b, ser_a, GROUP.encode_point(p0 - bb)))
    return rho0, rho1


def _xi_values(osid: bytes, rho0: Sequence[bytes], rho1: Sequence[bytes]) -> list[bytes]:
    """V3: ``ξ_l = h2_l(ρ0_l) ⊕ h2_l(ρ1_l)``."""
    return [
        xor_bytes(h2(osid, index, r0), h2(osid, index, r1))
        for index, (r0, r1) in enumerate(zip(rho0, rho1, strict=True))
    ]


def _check3(osid: bytes, rho0: Sequence[bytes], v4: bytes) -> bool:
    """Check 3: ``ρ'_l == h2_l(ρ0_l)`` for all ``l``; every value computed, then compared."""
    expected = b"".join(h2(osid, index, r0) for index, r0 in enumerate(rho0))
    return hmac.compare_digest(expected, v4)


def _responses(osid: bytes, delta: bytes, k: Sequence[bytes], xi: Sequence[bytes]) -> bytes:
    """V4: ``ρ'_l = h2_l(k_l) ⊕ (Δ_l ? ξ_l : 0^32)``."""
    zero = bytes(32)
    return b"".join(
        xor_bytes(h2(osid, index, k_l), select(bit(delta, index), zero, xi[index]))
        for index, k_l in enumerate(k)
    )


def _check4(osid: bytes, delta: bytes, k: Sequence[bytes], xi: Sequence[bytes], v5: bytes) -> bool:
    """Check 4: ``h1_l(k_l) == opening[Δ_l]`` and ``ξ_l == h2(opening0) ⊕ h2(opening1)``."""
    got: list[bytes] = []
    want: list[bytes] = []
    for index, k_l in enumerate(k):
        o0 = v5[64 * index : 64 * index + 32]
        o1 = v5[64 * index + 32 : 64 * index + 64]
        got.append(select(bit(delta, index), o0, o1))
        want.append(h1(osid, index, k_l))
        got.append(xi[index])
        want.append(xor_bytes(h2_of_h1(osid, index, o0), h2_of_h1(osid, index, o1)))
    return hmac.compare_digest(b"".join(got), b"".join(want))


# --------------------------------------------------------------------------------------------
# Bob: base-OT sender
# --------------------------------------------------------------------------------------------


class VsotBob:
    """Bob's side of one VSOT setup (base-OT sender, later OT-extension receiver ``P_i``).

    Call :meth:`v1`, :meth:`v3`, :meth:`v5`, then :meth:`output` (once). ``peer`` is Alice's
    party id, named as culprit for her faults. Repr is redacted.

    Spec: ``dkls23.md`` §4.
    """

    def __init__(self, *, osid: bytes, peer: int, rng: Rng) -> None:
        check_id(osid, "osid")
        check_party(peer, "peer")
        self._osid = osid
        self._peer = peer
        self._rng = rng
        self._phase = Phase.NEW
        self._b: int | None = None
        self._big_b: Point | None = None
        self._rho0: list[bytes] = []
        self._rho1: list[bytes] = []

    @property
    def osid(self) -> bytes:
        """The setup id."""
        return self._osid

    @property
    def phase(self) -> str:
        """Where the state machine is (for logs)."""
        return self._phase.value

    def __repr__(self) -> str:
        return (
            f"VsotBob(osid={self._osid.hex()}, peer={self._peer}, phase={self._phase.value!r}, "
            "secrets=<redacted>)"
        )

    def v1(self) -> bytes:
        """V1 (98 B): ``B ‖ K ‖ z``, a Schnorr proof of knowledge of ``b``. Spec: §4 V1."""
        require_phase(self._phase, Phase.NEW, "VsotBob.v1")
        self._phase = Phase.FAILED  # fail closed if the Rng raises
        b = random_nonzero_scalar(self._rng, Q)
        k = random_nonzero_scalar(self._rng, Q)
        big_b = GROUP.base_mul(b)
        ser_b = GROUP.encode_point(big_b)
        ser_k = GROUP.encode_point(GROUP.base_mul(k))
        z = (k + pok_challenge(self._osid, ser_b, ser_k) * b) % Q
        self._b, self._big_b = b, big_b
        self._phase = Phase.ROUND1
        return ser_b + ser_k + z.to_bytes(SCALAR_LEN, "big")

    def v3(self, v2: bytes) -> bytes:
        """Check 2 on V2, derive ``ρ0_l, ρ1_l``; return V3 (8,192 B) = all ``ξ_l``.

        Raises ProtocolAbort naming Alice: ``BAD_LENGTH``, ``INVALID_ENCODING`` (any ``A_l``),
        ``VSOT_VERIFY_FAILED`` (some ``A_l = B``). Spec: §4 check 2, V3.
        """
        require_phase(self._phase, Phase.ROUND1, "VsotBob.v3")
        assert self._b is not None and self._big_b is not None
        try:
            points = _parse_v2(v2, self._big_b, self._peer)
        except ProtocolAbort:
            self._fail()
            raise
        self._rho0, self._rho1 = _bob_seeds(self._osid, self._b, self._big_b, points)
        self._phase = Phase.ROUND2
        return b"".join(_xi_values(self._osid, self._rho0, self._rho1))

    def v5(self, v4: bytes) -> bytes:
        """Check 3 on V4; return V5 (16,384 B) = ``h1_l(ρ0_l) ‖ h1_l(ρ1_l)`` for all ``l``.

        Raises ProtocolAbort naming Alice: ``BAD_LENGTH``, ``VSOT_VERIFY_FAILED`` (check 3; all
        256 values are computed before one constant-time comparison). Spec: §4 check 3, V5.
        """
        require_phase(self._phase, Phase.ROUND2, "VsotBob.v5")
        try:
            check_length(v4, V4_LEN, self._peer, "VSOT V4")
            if not _check3(self._osid, self._rho0, v4):
                raise ProtocolAbort(
                    AbortReason.VSOT_VERIFY_FAILED,
                    {self._peer},
                    f"VSOT check 3 failed on V4 from party {self._peer}",
                )
        except ProtocolAbort:
            self._fail()
            raise
        out = b"".join(
            h1(self._osid, index, r0) + h1(self._osid, index, r1)
            for index, (r0, r1) in enumerate(zip(self._rho0, self._rho1, strict=True))
        )
        self._b = None  # no disclosure is possible after a pass
        self._phase = Phase.DONE
        return out

    def output(self) -> BobSeeds:
        """The seeds ``(k0_l, k1_l) = (ρ0_l, ρ1_l)``; once, after :meth:`v5`. Spec: §4 Outputs."""
        require_phase(self._phase, Phase.DONE, "VsotBob.output")
        seeds = BobSeeds(osid=self._osid, k0=tuple(self._rho0), k1=tuple(self._rho1))
        self._rho0, self._rho1 = [], []
        self._phase = Phase.CLOSED
        return seeds

    def disclose(self) -> bytes:
        """After a failure only: ``b`` (32 B), the evidence of §4 "Evidence" (V-F voids it)."""
        if self._phase is not Phase.FAILED or self._b is None:
            raise InvalidArguments(
                "VsotBob.disclose: only after a failure of this setup", reason="WRONG_STATE"
            )
        return self._b.to_bytes(SCALAR_LEN, "big")

    def discard(self) -> None:
        """Drop all state (rule V-F, e.g. when Alice aborted); the object is unusable after."""
        self._b = None
        self._big_b = None
        self._rho0, self._rho1 = [], []
        self._phase = Phase.CLOSED

    def _fail(self) -> None:
        self._rho0, self._rho1 = [], []
        self._phase = Phase.FAILED


# --------------------------------------------------------------------------------------------
# Alice: base-OT receiver with choice bits Δ
# --------------------------------------------------------------------------------------------


class VsotAlice:
    """Alice's side of one VSOT setup (base-OT receiver, later OT-extension sender ``P_j``).

    Call :meth:`v2`, :meth:`v4`, then :meth:`finish`. ``peer`` is Bob's party id, named as
    culprit for his faults. Repr is redacted.

    Spec: ``dkls23.md`` §4.
    """

    def __init__(self, *, osid: bytes, peer: int, rng: Rng) -> None:
        check_id(osid, "osid")
        check_party(peer, "peer")
        self._osid = osid
        self._peer = peer
        self._rng = rng
        self._phase = Phase.NEW
        self._delta: bytes | None = None
        self._a: list[int] = []
        self._k: list[bytes] = []
        self._xi: list[bytes] = []

    @property
    def osid(self) -> bytes:
        """The setup id."""
        return self._osid

    @property
    def phase(self) -> str:
        """Where the state machine is (for logs)."""
        return self._phase.value

    def __repr__(self) -> str:
        return (
            f"VsotAlice(osid={self._osid.hex()}, peer={self._peer}, "
            f"phase={self._phase.value!r}, secrets=<redacted>)"
        )

    def v2(self, v1: bytes) -> bytes:
        """Check 1 on V1; sample ``Δ`` and ``a_l``; return V2 (8,448 B) = all ``A_l``.

        Raises ProtocolAbort naming Bob: ``BAD_LENGTH``, ``INVALID_ENCODING`` (``B``, ``K`` or
        ``z ≥ q``), ``VSOT_POK_INVALID``. Spec: §4 check 1, V2; departure 2.
        """
        require_phase(self._phase, Phase.NEW, "VsotAlice.v2")
        try:
            big_b = _parse_v1(self._osid, v1, self._peer)
        except ProtocolAbort:
            self._fail()
            raise
        ser_b = GROUP.encode_point(big_b)
        self._phase = Phase.FAILED  # fail closed if the Rng raises
        delta = self._rng.random_bytes(DELTA_BYTES)
        if len(delta) != DELTA_BYTES:
            raise InvalidArguments("rng returned the wrong number of bytes")
        a_list: list[int] = []
        k_list: list[bytes] = []
        ser_points: list[bytes] = []
        for index in range(KAPPA_C):
            while True:
                a = random_nonzero_scalar(self._rng, Q)
                a_g = GROUP.base_mul(a)
                choices = (a_g, a_g + big_b)  # both computed: select, don't branch
                big_a = choices[bit(delta, index)]
                if not big_a.is_identity() and big_a != big_b:
                    break
            ser_a = GROUP.encode_point(big_a)
            a_list.append(a)
            ser_points.append(ser_a)
            k_list.append(vsot_pad(self._osid, index, ser_b, ser_a, GROUP.encode_point(big_b * a)))
        self._delta, self._a, self._k = delta, a_list, k_list
        self._phase = Phase.ROUND1
        return b"".join(ser_points)

    def v4(self, v3: bytes) -> bytes:
        """Return V4 (8,192 B) = all ``ρ'_l``. ``BAD_LENGTH`` names Bob. Spec: §4 V4."""
        require_phase(self._phase, Phase.ROUND1, "VsotAlice.v4")
        assert self._delta is not None
        try:
            check_length(v3, V3_LEN, self._peer, "VSOT V3")
        except ProtocolAbort:
            self._fail()
            raise
        self._xi = _split(v3, 32)
        self._phase = Phase.ROUND2
        return _responses(self._osid, self._delta, self._k, self._xi)

    def finish(self, v5: bytes) -> AliceSeeds:
        """Check 4 on V5; return ``Δ`` and the seeds ``k_l``.

        Raises ProtocolAbort naming Bob: ``BAD_LENGTH``, ``VSOT_VERIFY_FAILED`` (check 4; all
        512 comparisons are computed before one constant-time comparison). Spec: §4 check 4.
        """
        require_phase(self._phase, Phase.ROUND2, "VsotAlice.finish")
        assert self._delta is not None
        try:
            check_length(v5, V5_LEN, self._peer, "VSOT V5")
            if not _check4(self._osid, self._delta, self._k, self._xi, v5):
                raise ProtocolAbort(
                    AbortReason.VSOT_VERIFY_FAILED,
                    {self._peer},
                    f"VSOT check 4 failed on V5 from party {self._peer}",
                )
        except ProtocolAbort:
            self._fail()
            raise
        seeds = AliceSeeds(osid=self._osid, delta=self._delta, k=tuple(self._k))
        self._delta, self._a, self._k, self._xi = None, [], [], []
        self._phase = Phase.CLOSED
        return seeds

    def disclose(self) -> bytes:
        """After a failure only: ``Δ ‖ a_0 ‖ … ‖ a_255`` (8,224 B), §4 "Evidence" (V-F voids it)."""
        if self._phase is not Phase.FAILED or self._delta is None:
            raise InvalidArguments(
                "VsotAlice.disclose: only after a failure of this setup with Δ sampled",
                reason="WRONG_STATE",
            )
        return self._delta + b"".join(a.to_bytes(SCALAR_LEN, "big") for a in self._a)

    def discard(self) -> None:
        """Drop all state including ``Δ`` (rule V-F, e.g. when Bob aborted)."""
        self._delta, self._a, self._k, self._xi = None, [], [], []
        self._phase = Phase.CLOSED

    def _fail(self) -> None:
        self._k, self._xi = [], []
        self._phase = Phase.FAILED


# --------------------------------------------------------------------------------------------
# Complaint judge
# --------------------------------------------------------------------------------------------


def _verdict(reason: AbortReason, culprit: int, message: str) -> ProtocolAbort:
    return ProtocolAbort(reason, {culprit}, message)


def judge_vsot_complaint(
    *,
    osid: bytes,
    bob: int,
    alice: int,
    complainer: int,
    disclosure: bytes,
    v1: bytes,
    v2: bytes,
    v3: bytes | None = None,
    v4: bytes | None = None,
    v5: bytes | None = None,
) -> ProtocolAbort:
    """Decide a VSOT complaint from the flows and the complainer's disclosed secrets.

    ``v1``–``v5`` are the payloads of the setup's signed envelopes as the complaint carries them
    (the caller has verified the signatures and that they belong to ``osid``; a flow the
    complainer never received is ``None``). ``disclosure`` is the complainer's
    :meth:`VsotBob.disclose` / :meth:`VsotAlice.disclose`. Returns (does not raise) the verdict:

    - a failure of the public checks 1–2 or a wrong flow length names that flow's sender;
    - Bob complains (check 3): ``b`` must give ``B``, else ``FALSE_COMPLAINT`` (Bob). A V3 that
      is not ``ξ`` of ``b``'s seeds is ``VSOT_VERIFY_FAILED`` (Bob); otherwise a failing check 3
      is ``VSOT_VERIFY_FAILED`` (Alice), a passing one ``FALSE_COMPLAINT`` (Bob);
    - Alice complains (check 4): ``Δ, a_l`` must reproduce V2 and her V4, else
      ``FALSE_COMPLAINT`` (Alice); a failing check 4 is ``VSOT_VERIFY_FAILED`` (Bob), a passing
      one ``FALSE_COMPLAINT`` (Alice).

    Spec: ``dkls23.md`` §4 "Evidence"; ``shares.md`` §3 item 4.
    """
    check_id(osid, "osid")
    check_party(bob, "bob")
    check_party(alice, "alice")
    if bob == alice or complainer not in (bob, alice):
        raise InvalidArguments("the complainer must be one of two different parties")
    # Public checks (need no disclosure).
    try:
        big_b = _parse_v1(osid, v1, bob)
        points = _parse_v2(v2, big_b, alice)
        for flow, length, sender, name in (
            (v3, V3_LEN, bob, "VSOT V3"),
            (v4, V4_LEN, alice, "VSOT V4"),
            (v5, V5_LEN, bob, "VSOT V5"),
        ):
            if flow is not None:
                check_length(flow, length, sender, name)
    except ProtocolAbort as verdict:
        return verdict
    false = AbortReason.FALSE_COMPLAINT
    if complainer == bob:
        if v3 is None or v4 is None:
            return _verdict(false, bob, "VSOT complaint by Bob without V3 and V4")
        if len(disclosure) != BOB_DISCLOSURE_LEN:
            return _verdict(false, bob, "VSOT complaint: Bob's disclosure has the wrong length")
        b = int.from_bytes(disclosure, "big")
        if not 0 < b < Q or GROUP.base_mul(b) != big_b:
            return _verdict(false, bob, "VSOT complaint: disclosed b does not match V1")
        rho0, rho1 = _bob_seeds(osid, b, big_b, points)
        if not hmac.compare_digest(b"".join(_xi_values(osid, rho0, rho1)), v3):
            return _verdict(
                AbortReason.VSOT_VERIFY_FAILED, bob, "VSOT: Bob's V3 does not match his key"
            )
        if not _check3(osid, rho0, v4):
            return _verdict(
                AbortReason.VSOT_VERIFY_FAILED, alice, "VSOT check 3 fails on Alice's V4"
            )
        return _verdict(false, bob, "VSOT complaint by Bob: check 3 passes")
    # complainer == alice
    if v3 is None or v4 is None or v5 is None:
        return _verdict(false, alice, "VSOT complaint by Alice without V3, V4 and V5")
    if len(disclosure) != ALICE_DISCLOSURE_LEN:
        return _verdict(false, alice, "VSOT complaint: Alice's disclosure has the wrong length")
    delta = disclosure[:DELTA_BYTES]
    a_values = [int.from_bytes(s, "big") for s in _split(disclosure[DELTA_BYTES:], SCALAR_LEN)]
    if any(not 0 < a < Q for a in a_values):
        return _verdict(false, alice, "VSOT complaint: disclosed a_l out of range")
    recomputed = [
        GROUP.base_mul(a) + (big_b if bit(delta, index) else GROUP.identity())
        for index, a in enumerate(a_values)
    ]
    if recomputed != points:
        return _verdict(false, alice, "VSOT complaint: disclosed Δ, a_l do not match V2")
    ser_b = GROUP.encode_point(big_b)
    k = [
        vsot_pad(
            osid,
            index,
            ser_b,
            v2[index * POINT_LEN : (index + 1) * POINT_LEN],
            GROUP.encode_point(big_b * a),
        )
        for index, a in enumerate(a_values)
    ]
    xi = _split(v3, 32)
    if not hmac.compare_digest(_responses(osid, delta, k, xi), v4):
        return _verdict(false, alice, "VSOT complaint: Alice's V4 does not match her disclosure")
    if not _check4(osid, delta, k, xi, v5):
        return _verdict(AbortReason.VSOT_VERIFY_FAILED, bob, "VSOT check 4 fails on Bob's V5")
    return _verdict(false, alice, "VSOT complaint by Alice: check 4 passes")
