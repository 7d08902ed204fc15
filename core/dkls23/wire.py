"""DKLs23 signing messages: types, fixed payload layouts, and the envelope screen.

Spec: ``specs/dkls23.md`` §3 (envelopes), §8.1–§8.5 (message contents), §10.1 (the DROPPED and
CHEAT-FORMAT classes), §11.1 (sizes), §13 (decoding before secret-dependent work), erratum 9
(fixed layouts, exact lengths before parsing).

Payloads (every length checked exactly before any parsing; scalars 32-byte big-endian ``< q``,
points 33-byte compressed SEC1)::

    R1_COM  (round 1, to 0)  Com_i(32)                                                 32 B
    R1_OTE  (round 1, to j)  OTE1 = ν_B(32) ‖ U(24,576) ‖ x̃(32) ‖ t̃_0..t̃_255(8,192)   32,832 B
    R2      (round 2, to j)  R_i(33) ‖ salt_i(32) ‖ Γu_ij(33) ‖ Γv_ij(33) ‖ ψ_ij(32) ‖ E1_i(32)
                             ‖ OTE2 = ν_A(32) ‖ ã(512×3×32 = 49,152) ‖ η(32) ‖ μ(32)   49,443 B
    R3      (round 3, to 0)  u'_i(32) ‖ w_i(32) ‖ E2_i(32) ‖ m(32)                        128 B
    E1_DISCLOSE (round 4, to 0)  for k ∈ S ascending: Com_k(32) ‖ sig_k(64)     |S| × 96 B

``E1_DISCLOSE`` is warifu's wire form of §10.3 step 1 (the signed ``R1_COM`` envelopes a party
received, own included); each entry re-forms a complete envelope whose signature anyone can check.

Screening (module-level :class:`Router`, same blame rules as the DKG's envelope filter,
``core/shares/dkg.py`` departure 5):

==========================================================  ======================  =========
situation                                                   reason                  culprit
==========================================================  ======================  =========
inbound key (the TLS identity) ≠ ``envelope.sender``        ``SENDER_MISMATCH``     none
sender not in ``S``                                         ``INVALID_PARTY``       none
another ``sid``                                             ``WRONG_SESSION``       none
invalid node signature                                      ``BAD_ENVELOPE``        none
valid, but a well-formed DKLs23 message of another round,
type or recipient (late, replayed, misrouted)               ``WRONG_SESSION``       none
valid, header no DKLs23 message can have                    ``BAD_ENVELOPE``        sender
wrong payload length                                        ``BAD_LENGTH``          sender
bad scalar / point                                          ``INVALID_ENCODING``    sender
==========================================================  ======================  =========

The first five are class DROPPED (:func:`is_dropped`): the node drops that envelope and keeps the
session; they are raised before any cryptography except the signature check itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from warifu.core.curves import SECP256K1, Point
from warifu.core.envelope import BROADCAST, Envelope
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot.rvole import OTE1_LEN, OTE2_LEN
from warifu.core.shares.evidence import encode_evidence
from warifu.core.shares.package import Committee

GROUP = SECP256K1
Q = SECP256K1.order

ROUND_1 = 1
ROUND_2 = 2
ROUND_3 = 3
ROUND_DISCLOSE = 4

MSG_R1_COM = "dkls23/r1-com"
MSG_R1_OTE = "dkls23/r1-ote"
MSG_R2 = "dkls23/r2"
MSG_R3 = "dkls23/r3"
MSG_E1_DISCLOSE = "dkls23/e1-disclose"

SID_LEN = 32
DIGEST_LEN = 32
SALT_LEN = 32
SCALAR_LEN = 32
POINT_LEN = 33
SIG_LEN = 64

#: Number of correction scalars ``ã_{j,k}`` in OTE2.
N_CORRECTIONS = 512 * 3

R1_COM_LEN = DIGEST_LEN
R1_OTE_LEN = OTE1_LEN
R2_HEAD_LEN = POINT_LEN + SALT_LEN + POINT_LEN + POINT_LEN + SCALAR_LEN + DIGEST_LEN
R2_LEN = R2_HEAD_LEN + OTE2_LEN
R3_LEN = 4 * 32
DISCLOSE_ENTRY_LEN = DIGEST_LEN + SIG_LEN

if (R1_COM_LEN, R1_OTE_LEN, R2_LEN, R3_LEN) != (32, 32_832, 49_443, 128):  # §11.1, erratum 9
    raise ImportError("DKLs23 payload sizes differ from dkls23.md §11.1")

#: msg_type -> (round, is_broadcast): what a well-formed DKLs23 signing envelope looks like.
WELL_FORMED: dict[str, tuple[int, bool]] = {
    MSG_R1_COM: (ROUND_1, True),
    MSG_R1_OTE: (ROUND_1, False),
    MSG_R2: (ROUND_2, False),
    MSG_R3: (ROUND_3, True),
    MSG_E1_DISCLOSE: (ROUND_DISCLOSE, True),
}

_DROPPED = frozenset(
    {AbortReason.WRONG_SESSION, AbortReason.SENDER_MISMATCH, AbortReason.INVALID_PARTY}
)


def is_dropped(exc: ProtocolAbort) -> bool:
    """True for the DROPPED class (§10.1): drop the envelope, keep the session, blame nobody.

    ``WRONG_SESSION``, ``SENDER_MISMATCH``, ``INVALID_PARTY`` and an unverifiable signature
    (``BAD_ENVELOPE`` with no culprit). Every other ProtocolAbort ends the session.
    """
    if exc.abort_reason in _DROPPED:
        return True
    return exc.abort_reason is AbortReason.BAD_ENVELOPE and not exc.culprits


def evidence_of(sender: int, *envs: Envelope) -> dict[int, bytes]:
    """``{sender: encode_evidence(envs)}``."""
    return {sender: encode_evidence(list(envs))}


def bad_length(sender: int, env: Envelope, what: str, expected: int) -> ProtocolAbort:
    """``BAD_LENGTH`` naming ``sender`` with its signed envelope as evidence."""
    return ProtocolAbort(
        AbortReason.BAD_LENGTH,
        {sender},
        f"{what} from party {sender} has {len(env.payload)} bytes, expected {expected}",
        evidence=evidence_of(sender, env),
    )


def bad_encoding(sender: int, env: Envelope, what: str) -> ProtocolAbort:
    """``INVALID_ENCODING`` naming ``sender`` with its signed envelope as evidence."""
    return ProtocolAbort(
        AbortReason.INVALID_ENCODING,
        {sender},
        f"{what} from party {sender} is not a valid encoding",
        evidence=evidence_of(sender, env),
    )


def decode_point(data: bytes, sender: int, env: Envelope, what: str) -> Point:
    """A validated secp256k1 point (never the identity), else ``INVALID_ENCODING``."""
    try:
        return GROUP.decode_point(data)
    except InvalidArguments as exc:
        raise bad_encoding(sender, env, what) from exc


def decode_scalar(data: bytes, sender: int, env: Envelope, what: str) -> int:
    """A 32-byte big-endian scalar ``< q``, else ``INVALID_ENCODING``."""
    try:
        return GROUP.decode_scalar(data)
    except InvalidArguments as exc:
        raise bad_encoding(sender, env, what) from exc


_Q_WORDS = np.array([(Q >> (64 * (3 - k))) & (2**64 - 1) for k in range(4)], dtype=np.uint64)


def scalars_below_q(data: bytes, count: int) -> bool:
    """Whether ``data`` is ``count`` 32-byte big-endian integers, all ``< q`` (vectorised).

    Lexicographic compare of four big-endian 64-bit words per scalar against ``q``.
    """
    if len(data) != count * SCALAR_LEN:
        return False
    words = np.frombuffer(data, dtype=">u8").reshape(count, 4).astype(np.uint64)
    lt = words < _Q_WORDS
    gt = words > _Q_WORDS
    # the first differing word decides; equal in all four words means == q (not below)
    below = np.zeros(count, dtype=bool)
    undecided = np.ones(count, dtype=bool)
    for k in range(4):
        below |= undecided & lt[:, k]
        undecided &= ~(lt[:, k] | gt[:, k])
    return bool(below.all())


# --------------------------------------------------------------------------------------------
# Parsed payloads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round2Message:
    """A decoded and validated ``R2_{j→i}``: every point valid, every scalar ``< q``."""

    big_r: Point
    big_r_bytes: bytes
    salt: bytes
    gamma_u: Point
    gamma_v: Point
    psi: int
    e1: bytes
    ote2: bytes

    @classmethod
    def parse(cls, sender: int, env: Envelope) -> Round2Message:
        """Exact length, then points, then scalars (ψ, η, every ã); evidence is ``env``."""
        p = env.payload
        if len(p) != R2_LEN:
            raise bad_length(sender, env, "R2", R2_LEN)
        pos = 0

        def take(n: int) -> bytes:
            nonlocal pos
            out = p[pos : pos + n]
            pos += n
            return out

        r_bytes = take(POINT_LEN)
        salt = take(SALT_LEN)
        gu = take(POINT_LEN)
        gv = take(POINT_LEN)
        psi = take(SCALAR_LEN)
        e1 = take(DIGEST_LEN)
        ote2 = p[pos:]
        big_r = decode_point(r_bytes, sender, env, "R_j")
        gamma_u = decode_point(gu, sender, env, "Γu")
        gamma_v = decode_point(gv, sender, env, "Γv")
        psi_v = decode_scalar(psi, sender, env, "ψ")
        # OTE2 = ν_A ‖ ã ‖ η ‖ μ: range-check ã and η here, before any secret-dependent step
        corrections = ote2[32 : 32 + N_CORRECTIONS * SCALAR_LEN]
        eta = ote2[32 + N_CORRECTIONS * SCALAR_LEN : 32 + N_CORRECTIONS * SCALAR_LEN + 32]
        decode_scalar(eta, sender, env, "η")
        if not scalars_below_q(corrections, N_CORRECTIONS):
            raise bad_encoding(sender, env, "ã")
        return cls(
            big_r=big_r,
            big_r_bytes=r_bytes,
            salt=salt,
            gamma_u=gamma_u,
            gamma_v=gamma_v,
            psi=psi_v,
            e1=e1,
            ote2=ote2,
        )


@dataclass(frozen=True, slots=True)
class Round3Message:
    """A decoded ``R3_j``: ``u'_j``, ``w_j`` (``< q``), ``E2_j`` and ``m_j``."""

    u_prime: int
    w: int
    e2: bytes
    digest: bytes

    @classmethod
    def parse(cls, sender: int, env: Envelope) -> Round3Message:
        """Exact length, then the two scalars."""
        p = env.payload
        if len(p) != R3_LEN:
            raise bad_length(sender, env, "R3", R3_LEN)
        return cls(
            u_prime=decode_scalar(p[0:32], sender, env, "u'"),
            w=decode_scalar(p[32:64], sender, env, "w"),
            e2=p[64:96],
            digest=p[96:128],
        )

    def encode(self) -> bytes:
        """``u' ‖ w ‖ E2 ‖ m``."""
        return (
            GROUP.encode_scalar(self.u_prime) + GROUP.encode_scalar(self.w) + self.e2 + self.digest
        )


# --------------------------------------------------------------------------------------------
# Envelope screen
# --------------------------------------------------------------------------------------------


def sig_ok(env: Envelope, sign_pub: bytes) -> bool:
    """True iff ``env`` carries a valid node signature under ``sign_pub`` (never raises)."""
    try:
        env.verify(sign_pub)
    except (InvalidArguments, ValueError, OverflowError, TypeError):
        return False
    return True


def well_formed(env: Envelope, signers: Sequence[int]) -> bool:
    """Whether ``env``'s header is that of some legitimate DKLs23 signing message."""
    spec = WELL_FORMED.get(env.msg_type)
    if spec is None or env.round != spec[0]:
        return False
    if spec[1]:
        return env.to == BROADCAST
    return env.to in signers and env.to != env.sender


class Router:
    """The public context every inbound envelope of one session is screened against."""

    __slots__ = ("committee", "me", "sid", "signers")

    def __init__(self, committee: Committee, signers: Sequence[int], me: int, sid: bytes) -> None:
        self.committee = committee
        self.signers = tuple(signers)
        self.me = me
        self.sid = sid

    @property
    def peers(self) -> tuple[int, ...]:
        """``S \\ {me}``, ascending."""
        return tuple(j for j in self.signers if j != self.me)

    def pub(self, party: int) -> bytes:
        """The node signing key of ``party`` from the committee record."""
        return self.committee.member(party).sign_pub

    def screen(self, channel_peer: int, env: Envelope) -> None:
        """Per-envelope admission (the DROPPED rows of the module table); call on arrival.

        ``channel_peer`` is the authenticated (mTLS) identity the envelope arrived from.
        """
        if not isinstance(env, Envelope):
            raise InvalidArguments("inbound values must be Envelope objects")
        if env.sender != channel_peer:
            raise ProtocolAbort(
                AbortReason.SENDER_MISMATCH,
                (),
                f"envelope names sender {env.sender} but arrived from party {channel_peer}",
            )
        if env.sender not in self.signers or env.sender == self.me:
            raise ProtocolAbort(
                AbortReason.INVALID_PARTY, (), f"sender {env.sender} is not a peer in S"
            )
        if env.sid != self.sid:
            raise ProtocolAbort(
                AbortReason.WRONG_SESSION, (), f"envelope from {env.sender} has another sid"
            )
        if not sig_ok(env, self.pub(env.sender)):
            raise ProtocolAbort(
                AbortReason.BAD_ENVELOPE,
                (),
                f"invalid node signature on envelope from {env.sender}",
            )
        if not well_formed(env, self.signers):
            raise ProtocolAbort(
                AbortReason.BAD_ENVELOPE,
                {env.sender},
                f"party {env.sender} signed a malformed envelope header",
                evidence=evidence_of(env.sender, env),
            )
        if env.to not in (BROADCAST, self.me):
            raise ProtocolAbort(
                AbortReason.WRONG_SESSION, (), f"envelope from {env.sender} is for party {env.to}"
            )

    def accept(
        self,
        inbound: Mapping[int, Envelope],
        *,
        round_: int,
        msg_type: str,
        own: Envelope | None = None,
    ) -> dict[int, Envelope]:
        """Screen one round's envelopes: exactly one per peer (plus ``own`` if given).

        Returns ``{sender: envelope}`` in ascending sender order. Missing senders are a caller
        error (``InvalidArguments(MISSING_MESSAGES)``): the node waits or times out.
        """
        to = BROADCAST if WELL_FORMED[msg_type][1] else self.me
        out: dict[int, Envelope] = {}
        for key in sorted(inbound):
            env = inbound[key]
            if key == self.me:
                if own is None:
                    raise InvalidArguments("inbound must not contain our own envelope")
                if env != own:
                    raise InvalidArguments("the entry for our own id is not our own envelope")
                continue
            self.screen(key, env)
            if env.round != round_ or env.msg_type != msg_type or env.to != to:
                raise ProtocolAbort(
                    AbortReason.WRONG_SESSION,
                    (),
                    f"envelope from {key} is a {env.msg_type} of round {env.round}, "
                    f"expected {msg_type} of round {round_}",
                )
            out[key] = env
        missing = sorted(set(self.peers) - set(out))
        if missing:
            raise InvalidArguments(f"missing envelopes from {missing}", reason="MISSING_MESSAGES")
        if own is not None and self.me not in inbound:
            raise InvalidArguments("our own envelope is missing", reason="MISSING_MESSAGES")
        return out
