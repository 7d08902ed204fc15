"""Random vector OLE (DKLs23 "RVOLE": DKLs19 multiplication with forced reuse), ``ℓ = 2, ρ = 1``.

Spec: ``specs/dkls23.md`` §6 (all of it), §2.5 (``psid``), §5 (the extension inside), §9
(use-once state), §10.1 (CHEAT-OT), erratum 9 (fixed layouts). Reference flow: "Protocol 5.2"
of bron-crypto ``pkg/mpc/rvole/softspoken`` and silence-laboratories (``l = 2, ρ = 1``).

In ``RVOLE(i←j)``, **Bob** ``= P_i`` has a *random* input ``χ = Σ_j β_j·g_j`` fixed by his
extension choice bits; **Alice** ``= P_j`` inputs ``a = (a_0, a_1)``. Outputs: Alice ``c_k``,
Bob ``d_k`` with ``c_k + d_k = a_k·χ (mod q)``.

Notation
=====================  ========================================================
``psid``               ``H(dkls23/psid, sid, u16be(i), u16be(j), osid(i←j))``
``g_j``                gadget ``HS(dkls23/rvole-gadget, psid, u16be(j))``, ``j < 512``
``χ``                  Bob's RVOLE input ``Σ β_j g_j mod q`` (``χ_ij`` of §8; not the
                       OTe challenges, erratum 19)
``α_{j,b,k}``          Alice's pads (§5.3), ``k ∈ {0,1,2}``; ``γ_{j,k}`` Bob's
``â``                  Alice's random check value (``ρ = 1``)
``ã_{j,k}``            corrections ``α_{j,0,k} − α_{j,1,k} + (a_k | â)``
``D1``                 ``H(dkls23/rvole-m1, psid, ν_B, U, x̃, LIST(t̃_l))``
``θ_k``                ``HS(dkls23/rvole-theta, psid, ν_B, ν_A, D1, ÃBYTES, u8(k))``
``η``                  ``â + θ_0·a_0 + θ_1·a_1``
``μ_j``, ``μ``         ``α_{j,0,2} + θ_0·α_{j,0,0} + θ_1·α_{j,0,1}``;
                       ``μ = H(dkls23/rvole-mu, psid, ν_B, ν_A, μ_0 ‖ … ‖ μ_511)``
``ḋ_{j,k}``, ``μ'_j``  Bob: ``γ_{j,k} + β_j·ã_{j,k}``; ``ḋ_{j,2} − β_j·η + θ_0ḋ_{j,0} + θ_1ḋ_{j,1}``
=====================  ========================================================

Wire layouts (fixed; any other length is ``BAD_LENGTH`` naming the sender, checked first;
every scalar is 32 bytes big-endian and must be ``< q``, else ``INVALID_ENCODING``, checked
before any secret-dependent step)::

    OTE1 (Bob→Alice)   32,832 B = ν_B(32) ‖ U(24,576) ‖ x̃(32) ‖ t̃_0..t̃_255 (8,192)   (§5.1)
    OTE2 (Alice→Bob)   49,248 B = ν_A(32) ‖ ÃBYTES(49,152) ‖ η(32) ‖ μ(32)
        ÃBYTES = ã_{0,0} ‖ ã_{0,1} ‖ ã_{0,2} ‖ ã_{1,0} ‖ … ‖ ã_{511,2}   (j-major, then k)

Use-once (§9): every object runs once; ``β``, the columns, pads and ``â`` are wiped (best effort)
at the end or on any abort. After an abort the object refuses further calls.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from warifu.core.encoding import enc_list, h, hs, lp, tag, u8, u16be
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot.common import (
    SCALAR_LEN,
    XI,
    Phase,
    Q,
    check_id,
    check_length,
    check_party,
    decode_scalars,
    require_phase,
)
from warifu.core.ot.extension import (
    NU_LEN,
    OTE1_LEN,
    ExtensionAlice,
    ExtensionBob,
    Ote1,
    Pad,
)
from warifu.core.ot.vsot import AliceSeeds, BobSeeds
from warifu.core.rng import Rng, random_scalar

WIDTH = 3  # w = ℓ + ρ scalars per OT
A_TILDE_LEN = XI * WIDTH * SCALAR_LEN  # 49,152
OTE2_LEN = NU_LEN + A_TILDE_LEN + SCALAR_LEN + 32  # 49,248
MU_LEN = 32
_LP_INDEX: tuple[bytes, ...] = tuple(lp(u16be(j)) for j in range(XI))

__all__ = [
    "A_TILDE_LEN",
    "OTE1_LEN",
    "OTE2_LEN",
    "Ote2",
    "RvoleAlice",
    "RvoleBob",
    "alice_check_values",
    "corrections",
    "encode_scalars",
    "gadget_vector",
    "message_digest",
    "mu_digest",
    "pair_session_id",
    "theta",
]


# --------------------------------------------------------------------------------------------
# Public derivations and building blocks
# --------------------------------------------------------------------------------------------


def pair_session_id(sid: bytes, bob: int, alice: int, osid: bytes) -> bytes:
    """``psid(i←j) = H(dkls23/psid, sid, u16be(i) /*Bob*/, u16be(j) /*Alice*/, osid(i←j))``.

    Spec: ``dkls23.md`` §2.5 "Pairwise ids".
    """
    check_id(sid, "sid")
    check_id(osid, "osid")
    check_party(bob, "bob")
    check_party(alice, "alice")
    if bob == alice:
        raise InvalidArguments("an RVOLE needs two different parties", reason="INVALID_PARTY")
    return h("dkls23/psid", sid, u16be(bob), u16be(alice), osid)


def gadget_vector(psid: bytes) -> tuple[int, ...]:
    """``g_j = HS(dkls23/rvole-gadget, psid, u16be(j))`` for ``j < 512`` (public, per psid).

    One SHAKE-256 prefix state, copied per ``j``. Spec: ``dkls23.md`` §6 "Per-session gadget".
    """
    check_id(psid, "psid")
    prefix = hashlib.shake_256(lp(tag("dkls23/rvole-gadget")) + lp(psid))
    out: list[int] = []
    for j in range(XI):
        st = prefix.copy()
        st.update(_LP_INDEX[j])
        out.append(int.from_bytes(st.digest(64), "big") % Q)
    return tuple(out)


def message_digest(psid: bytes, ote1: Ote1) -> bytes:
    """``D1 = H(dkls23/rvole-m1, psid, ν_B, U, x̃, LIST(t̃_l))``. Spec: §6 Bob round 1."""
    return h(
        "dkls23/rvole-m1",
        psid,
        ote1.nu_b,
        ote1.u,
        ote1.x_tilde,
        enc_list(ote1.t_tilde_values()),
    )


def theta(
    psid: bytes, nu_b: bytes, nu_a: bytes, d1: bytes, a_tilde_bytes: bytes
) -> tuple[int, int]:
    """``θ_k = HS(dkls23/rvole-theta, psid, ν_B, ν_A, D1, ÃBYTES, u8(k))``, ``k ∈ {0,1}``.

    Spec: ``dkls23.md`` §6 Alice step 5.
    """
    return (
        hs("dkls23/rvole-theta", Q, psid, nu_b, nu_a, d1, a_tilde_bytes, u8(0)),
        hs("dkls23/rvole-theta", Q, psid, nu_b, nu_a, d1, a_tilde_bytes, u8(1)),
    )


def mu_digest(psid: bytes, nu_b: bytes, nu_a: bytes, mu_values: Sequence[int]) -> bytes:
    """``μ = H(dkls23/rvole-mu, psid, ν_B, ν_A, μ_0 ‖ … ‖ μ_511)``. Spec: §6 Alice step 8."""
    return h("dkls23/rvole-mu", psid, nu_b, nu_a, encode_scalars(mu_values))


def encode_scalars(values: Sequence[int]) -> bytes:
    """Concatenated 32-byte big-endian scalars (each ``< q``)."""
    return b"".join(v.to_bytes(SCALAR_LEN, "big") for v in values)


def corrections(
    alpha0: Sequence[Pad], alpha1: Sequence[Pad], a0: int, a1: int, a_hat: int
) -> list[int]:
    """``ã_{j,k}`` for all ``j``, flat in ``j``-major order. Spec: §6 Alice step 4."""
    out: list[int] = []
    for (p0, p1, p2), (r0, r1, r2) in zip(alpha0, alpha1, strict=True):
        out.append((p0 - r0 + a0) % Q)
        out.append((p1 - r1 + a1) % Q)
        out.append((p2 - r2 + a_hat) % Q)
    return out


def alice_check_values(
    *, theta0: int, theta1: int, alpha0: Sequence[Pad], a0: int, a1: int, a_hat: int
) -> tuple[int, list[int]]:
    """``(η, [μ_j])`` with ``η = â + θ_0a_0 + θ_1a_1``, ``μ_j = α_{j,0,2} + θ_0α_{j,0,0} + …``.

    Spec: ``dkls23.md`` §6 Alice steps 6–7.
    """
    eta = (a_hat + theta0 * a0 + theta1 * a1) % Q
    mus = [(p2 + theta0 * p0 + theta1 * p1) % Q for p0, p1, p2 in alpha0]
    return eta, mus


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Ote2:
    """Alice's RVOLE message ``(ν_A, ã, η, μ)``; public. Spec: §6 Alice step 9."""

    nu_a: bytes
    a_tilde: tuple[int, ...]
    eta: int
    mu: bytes

    def __repr__(self) -> str:
        return f"Ote2(nu_a={self.nu_a.hex()}, mu={self.mu.hex()}, {len(self.a_tilde)} corrections)"

    def encode(self) -> bytes:
        """The fixed 49,248-byte layout."""
        return (
            self.nu_a
            + encode_scalars(self.a_tilde)
            + self.eta.to_bytes(SCALAR_LEN, "big")
            + (self.mu)
        )

    @classmethod
    def parse(cls, data: bytes, *, peer: int) -> Ote2:
        """Length first (``BAD_LENGTH``), then every scalar ``< q`` (``INVALID_ENCODING``).

        Both name ``peer``. Spec: §6 Bob round 3 step 1.
        """
        check_length(data, OTE2_LEN, peer, "OTE2")
        data = bytes(data)
        off_eta = NU_LEN + A_TILDE_LEN
        a_tilde = decode_scalars(data[NU_LEN:off_eta], XI * WIDTH, peer, "OTE2 ã")
        (eta,) = decode_scalars(data[off_eta : off_eta + SCALAR_LEN], 1, peer, "OTE2 η")
        return cls(
            nu_a=data[:NU_LEN],
            a_tilde=tuple(a_tilde),
            eta=eta,
            mu=data[off_eta + SCALAR_LEN :],
        )


# --------------------------------------------------------------------------------------------
# Bob (P_i): random input χ, output d
# --------------------------------------------------------------------------------------------


class RvoleBob:
    """Bob's side of ``RVOLE(i←j)``: :meth:`round1` then :meth:`round3`, once. Repr redacted.

    ``peer`` is Alice's party id (culprit of her faults). Spec: ``dkls23.md`` §6, §5.1.
    """

    def __init__(self, *, psid: bytes, seeds: BobSeeds, peer: int, rng: Rng) -> None:
        check_id(psid, "psid")
        check_party(peer, "peer")
        self._psid = psid
        self._peer = peer
        self._rng = rng
        self._ext = ExtensionBob(psid=psid, seeds=seeds, rng=rng)
        self._phase = Phase.NEW
        self._gadget: tuple[int, ...] = ()
        self._d1 = b""

    def __repr__(self) -> str:
        return (
            f"RvoleBob(psid={self._psid.hex()}, peer={self._peer}, "
            f"phase={self._phase.value!r}, secrets=<redacted>)"
        )

    @property
    def psid(self) -> bytes:
        """The pairwise session id."""
        return self._psid

    def round1(self) -> tuple[bytes, int]:
        """``(OTE1 payload, χ)``: §5.1 and §6 Bob round 1. ``χ`` is secret (``χ_ij`` of §8)."""
        require_phase(self._phase, Phase.NEW, "RvoleBob.round1")
        self._phase = Phase.FAILED  # until this round completes
        ote1 = self._ext.round1()
        self._gadget = gadget_vector(self._psid)
        beta = self._ext.beta
        chi = sum(g * int(b) for g, b in zip(self._gadget, beta.tolist(), strict=True)) % Q
        beta.fill(0)
        self._d1 = message_digest(self._psid, ote1)
        self._phase = Phase.ROUND1
        return ote1.encode(), chi

    def round3(self, ote2: bytes) -> tuple[int, int]:
        """Check Alice's OTE2 and return ``(d_0, d_1)``. §6 Bob round 3.

        Raises ProtocolAbort naming Alice: ``BAD_LENGTH``, ``INVALID_ENCODING`` (any scalar
        ``≥ q``; both before any secret-dependent step), ``RVOLE_CONSISTENCY_FAILED`` (``μ``).
        """
        require_phase(self._phase, Phase.ROUND1, "RvoleBob.round3")
        try:
            msg = Ote2.parse(ote2, peer=self._peer)
            d0, d1 = self._finish(msg, ote2[NU_LEN : NU_LEN + A_TILDE_LEN])
        except ProtocolAbort:
            self._ext.zeroise()
            self._phase = Phase.FAILED
            raise
        self._ext.zeroise()
        self._phase = Phase.CLOSED
        return d0, d1

    def _finish(self, msg: Ote2, a_tilde_bytes: bytes) -> tuple[int, int]:
        gamma = self._ext.receiver_pads(msg.nu_a)
        beta_arr = self._ext.beta
        beta = [int(b) for b in beta_arr.tolist()]
        beta_arr.fill(0)
        nu_b = self._ext.nu_b
        th0, th1 = theta(self._psid, nu_b, msg.nu_a, self._d1, bytes(a_tilde_bytes))
        at, eta = msg.a_tilde, msg.eta
        acc0 = 0
        acc1 = 0
        mus: list[int] = []
        for j, ((g0, g1, g2), b, gj) in enumerate(zip(gamma, beta, self._gadget, strict=True)):
            dd0 = (g0 + b * at[3 * j]) % Q
            dd1 = (g1 + b * at[3 * j + 1]) % Q
            dd2 = (g2 + b * at[3 * j + 2]) % Q
            mus.append((dd2 - b * eta + th0 * dd0 + th1 * dd1) % Q)
            acc0 += gj * dd0
            acc1 += gj * dd1
        expected = mu_digest(self._psid, nu_b, msg.nu_a, mus)
        if not hmac.compare_digest(expected, msg.mu):
            raise ProtocolAbort(
                AbortReason.RVOLE_CONSISTENCY_FAILED,
                {self._peer},
                f"RVOLE consistency check failed on OTE2 from party {self._peer}",
            )
        return acc0 % Q, acc1 % Q


# --------------------------------------------------------------------------------------------
# Alice (P_j): input (a_0, a_1), output c
# --------------------------------------------------------------------------------------------


class RvoleAlice:
    """Alice's side of ``RVOLE(i←j)``: :meth:`check` then :meth:`round2`, once. Repr redacted.

    ``peer`` is Bob's party id (culprit of his faults). :meth:`check` is the ``Δ``-dependent
    step: run it under the pair lock of rule S-1 (§5.2). Spec: ``dkls23.md`` §5.2, §6.
    """

    def __init__(self, *, psid: bytes, seeds: AliceSeeds, peer: int, rng: Rng) -> None:
        check_id(psid, "psid")
        check_party(peer, "peer")
        self._psid = psid
        self._peer = peer
        self._rng = rng
        self._ext = ExtensionAlice(psid=psid, seeds=seeds, peer=peer)
        self._phase = Phase.NEW
        self._ote1: Ote1 | None = None

    def __repr__(self) -> str:
        return (
            f"RvoleAlice(psid={self._psid.hex()}, peer={self._peer}, "
            f"phase={self._phase.value!r}, secrets=<redacted>)"
        )

    @property
    def psid(self) -> bytes:
        """The pairwise session id."""
        return self._psid

    def check(self, ote1: bytes) -> None:
        """§5.2 steps 1–4 only: ``BAD_LENGTH`` / ``OT_CONSISTENCY_FAILED`` naming Bob.

        On failure the caller MUST record the pair BANNED before releasing the lock (rule S-1).
        """
        require_phase(self._phase, Phase.NEW, "RvoleAlice.check")
        self._phase = Phase.FAILED  # until the check passes
        try:
            self._ote1 = self._ext.check(ote1)
        except ProtocolAbort:
            self._ext.zeroise()
            raise
        self._phase = Phase.ROUND1

    def round2(self, a0: int, a1: int) -> tuple[bytes, int, int]:
        """``(OTE2 payload, c_0, c_1)`` for Alice's input ``(a_0, a_1)``; after :meth:`check`.

        Spec: ``dkls23.md`` §6 Alice round 2, steps 1–9.
        """
        require_phase(self._phase, Phase.ROUND1, "RvoleAlice.round2")
        for a in (a0, a1):
            if not isinstance(a, int) or not 0 <= a < Q:
                raise InvalidArguments("RVOLE inputs must be scalars in [0, q)")
        assert self._ote1 is not None
        self._phase = Phase.FAILED  # until this round completes
        try:
            nu_a = self._rng.random_bytes(NU_LEN)
            if len(nu_a) != NU_LEN:
                raise InvalidArguments("rng returned the wrong number of bytes")
            alpha0, alpha1 = self._ext.sender_pads(nu_a)
            gadget = gadget_vector(self._psid)
            c0 = -sum(g * p[0] for g, p in zip(gadget, alpha0, strict=True)) % Q
            c1 = -sum(g * p[1] for g, p in zip(gadget, alpha0, strict=True)) % Q
            a_hat = random_scalar(self._rng, Q)
            a_tilde = corrections(alpha0, alpha1, a0, a1, a_hat)
            a_tilde_bytes = encode_scalars(a_tilde)
            nu_b = self._ote1.nu_b
            d1 = message_digest(self._psid, self._ote1)
            th0, th1 = theta(self._psid, nu_b, nu_a, d1, a_tilde_bytes)
            eta, mus = alice_check_values(
                theta0=th0, theta1=th1, alpha0=alpha0, a0=a0, a1=a1, a_hat=a_hat
            )
            mu = mu_digest(self._psid, nu_b, nu_a, mus)
        finally:
            self._ext.zeroise()
        self._phase = Phase.CLOSED
        payload = nu_a + a_tilde_bytes + eta.to_bytes(SCALAR_LEN, "big") + mu
        return payload, c0, c1
