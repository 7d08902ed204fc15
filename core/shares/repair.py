"""Repair of a lost share by ``t`` helpers (RTS enrollment with public commitments).

Spec: ``specs/shares.md`` §7 (rounds, public checks, enrollment of a new id), §2.3 (session id:
``repair``, ``e → e``, ``set_A = H``, ``set_B = {r}``), §3 (messaging, evidence), §11 (reasons),
§12 item 10; errata 15 (re-binding ``r``'s id to a replacement node only inside an approved
repair that is followed by a refresh) and 22 (the points ``D_{i,k}`` reveal ``δ_{i,k}·G``).
Based on Laing–Stinson (ePrint 2017/1155) and ZF ``repairable.rs``, plus public commitments so a
bad helper is attributable, and the final check ``x_r·G == X_r``.

Two roles. Call sequence at helper ``i ∈ H`` (``|H| = t``, ``r ∉ H``)::

    params = session_params(request=stmt, pkg=share.pkg, helpers=H, request_id=rid,
                            coord_nonce=nonce)
    helper = RepairHelper(share=share, request=stmt, helpers=H, request_id=rid,
                          coord_nonce=nonce, signer=node_key, rng=SystemRng())
    p1 = helper.round0()        # p1.broadcast -> every other helper and r; p1.direct[k] -> k
    out = helper.round1({k: P1_k ...}, {k: DELTA_k→me ...})   # one envelope: send it to r

and at the party ``r`` being repaired (it has ``pkg(e)`` from the approved request)::

    target = RepairTarget(pkg=pkg_e, request=stmt, helpers=H, request_id=rid,
                          coord_nonce=nonce, signer=node_key)
    share = target.finish({i: P1_i ...}, {k: SIGMA_or_COMPLAINT_k ...})
    # KeyShare at epoch e (or EnrolledShare for a new id r'): write it as ACTIVE epoch e (a
    # single-node atomic write), then start the mandatory refresh (§7 "Mandatory follow-up").

=====  =================  =================  =========================================  =====
round  method             msg_type           payload                                    to
=====  =================  =================  =========================================  =====
0      ``round0``         repair/p1          ``pkg_digest(e) ‖ u16be(t) ‖ D_{i,k} (t·P)``  0
1      ``round0``         repair/delta       ``δ_{i,k}(S)``                             k ∈ H
2      ``round1``         repair/sigma       ``σ_k(S) ‖ t × (P1 payload ‖ P1 sig)``     r
2      ``round1``         repair/complaint   ``u16be(i) ‖ δ_{i,k}(S) ‖ its sig ‖ echo``  r
=====  =================  =================  =========================================  =====

``D_{i,k}`` and every echo entry are in ascending helper-id order. Every length is checked exactly
before any cryptography.

Notation
==========  ===================================================================
``ζ_i``     ``Π_{k∈H, k≠i} (r − k)·(i − k)^{-1}``: Lagrange at ``x = r``; ``Σ ζ_i x_i = x_r``
``δ_{i,k}``  additive parts of ``ζ_i x_i`` (random but the last); ``D_{i,k} = δ_{i,k}·G``
``σ_k``     ``Σ_{i∈H} δ_{i,k}``; ``x_r = Σ_k σ_k``
==========  ===================================================================

Checks and blame:

=============================================  ==========================  ===================
check (who)                                    reason                      culprit
=============================================  ==========================  ===================
P1 ``pkg_digest`` equals ours (helpers, r)     ``PACKAGE_MISMATCH``        none
``Σ_k D_{i,k} == ζ_i·X_i`` (helpers, r)        ``REPAIR_SPLIT_MISMATCH``   ``i``
``δ_{i,k}·G == D_{i,k}`` (helper k)            COMPLAINT to r; r judges:   ``i``, or ``k`` if
                                               ``FELDMAN_VERIFICATION_``   false
                                               ``FAILED`` / ``FALSE_``
                                               ``COMPLAINT``
echo in SIGMA/COMPLAINT equals r's P1 view     ``EQUIVOCATION`` /          the equivocator /
                                               ``ECHO_MISMATCH``           the echoer
``σ_k·G == Σ_i D_{i,k}`` (r)                   ``REPAIR_SIGMA_MISMATCH``   ``k``
``x_r·G == X_r``, ``x_r ≠ 0`` (r)              ``REPAIR_RESULT_MISMATCH``  none (alert)
=============================================  ==========================  ===================

Departures:
    1. The P2P parts ``δ_{i,k}`` travel in their own round number (1) although they are sent at
       the same time as P1 (round 0): one envelope per (sender, round, recipient).
    2. A helper's complaint goes to ``r`` only (``r`` is the only party that decides anything),
       and carries the echo of P1 so that ``r`` first rules out an equivocating dealer (which
       would otherwise make an honest complaint look false).
    3. A bad ``δ`` is judged with the complaint machinery of the DKG and named
       ``FELDMAN_VERIFICATION_FAILED`` (a secret payload against a public commitment).

Enrollment of a new id ``r'`` (§7 last paragraph): the same messages, with
``X_{r'} = Σ_m r'^m C_m``. The approved statement's committee is then the current committee plus
``r'``'s record, and the output is an :class:`EnrolledShare`, accepted only by a refresh that
lists ``r'`` in ``enrolled`` (``refresh.py``). A plain repair may change only ``r``'s record
(re-binding to a replacement node, erratum 15); every helper record must be unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from warifu.core.approvals import CeremonyKind, CeremonyStatement
from warifu.core.curves import Group, Point
from warifu.core.encoding import u16be
from warifu.core.envelope import BROADCAST, Envelope, NodeSigner
from warifu.core.errors import (
    AbortReason,
    InvalidArguments,
    InvalidKeyShare,
    InvariantViolation,
    ProtocolAbort,
)
from warifu.core.rng import Rng, random_nonzero_scalar
from warifu.core.session import SessionParams
from warifu.core.shares.ceremony import (
    RoundSession,
    blame_decode,
    judge_complaints,
    split_entries,
)
from warifu.core.shares.evidence import encode_evidence
from warifu.core.shares.package import (
    Committee,
    KeyShare,
    PublicKeyPackage,
    check_party_ids,
    eval_commitments,
)
from warifu.core.shares.statements import SIG_LEN

KIND = "repair"

ROUND_P1 = 0
ROUND_DELTA = 1
ROUND_P2 = 2

MSG_P1 = "repair/p1"
MSG_DELTA = "repair/delta"
MSG_SIGMA = "repair/sigma"
MSG_COMPLAINT = "repair/complaint"

DIGEST_LEN = 32

_WELL_FORMED: dict[str, tuple[int, bool]] = {
    MSG_P1: (ROUND_P1, True),
    MSG_DELTA: (ROUND_DELTA, False),
    MSG_SIGMA: (ROUND_P2, False),
    MSG_COMPLAINT: (ROUND_P2, False),
}


class EnrolledShare:
    """A share of epoch ``e`` for an id *not* in ``pkg(e).committee`` (§7 enrollment).

    Usable only as the input of the refresh that enrolls it. Repr is redacted; no ``__eq__``.
    """

    __slots__ = ("_secret", "party_id", "pkg")

    def __init__(self, *, pkg: PublicKeyPackage, party_id: int, secret: int) -> None:
        check_party_ids([party_id])
        self.pkg = pkg
        self.party_id = party_id
        self._secret = secret

    @property
    def secret(self) -> int:
        """``x_{r'}``. Protocol-internal; never log or persist outside the sealed store."""
        return self._secret

    @property
    def verification_share(self) -> Point:
        """``X_{r'} = Σ_m r'^m C_m``."""
        return eval_commitments(self.pkg.group, self.pkg.commitments, self.party_id)

    def verify(self) -> None:
        """``pkg`` invariants, ``r' ∉ committee``, ``0 < x < order``, ``x·G == X_{r'}``."""
        self.pkg.verify()
        if self.party_id in self.pkg.committee.ids:
            raise InvalidKeyShare("an enrolled id must be new to the committee")
        if not 0 < self._secret < self.pkg.group.order:
            raise InvalidKeyShare("secret share out of range")
        if self.pkg.group.base_mul(self._secret) != self.verification_share:
            raise InvalidKeyShare("x·G does not equal X_{r'}")

    def __repr__(self) -> str:
        return (
            f"EnrolledShare(key={self.pkg.key_uuid}, epoch={self.pkg.epoch}, "
            f"party={self.party_id}, secret=<redacted>)"
        )


@dataclass(frozen=True, slots=True)
class RepairLayout:
    """The exact byte sizes of every repair payload for one ``(group, t)``."""

    group: Group
    threshold: int

    @property
    def p1_len(self) -> int:
        """``pkg_digest ‖ u16be(t) ‖ t·P``."""
        return DIGEST_LEN + 2 + self.threshold * self.group.point_len

    @property
    def p1_entry_len(self) -> int:
        """One echoed P1: payload ‖ signature."""
        return self.p1_len + SIG_LEN

    @property
    def echo_len(self) -> int:
        """The echo of the ``t`` P1 envelopes."""
        return self.threshold * self.p1_entry_len

    @property
    def delta_len(self) -> int:
        """``δ``."""
        return self.group.scalar_len

    @property
    def sigma_len(self) -> int:
        """``σ ‖ echo``."""
        return self.group.scalar_len + self.echo_len

    @property
    def complaint_len(self) -> int:
        """``u16be(accused) ‖ δ ‖ its signature ‖ echo``."""
        return 2 + self.delta_len + SIG_LEN + self.echo_len

    def decode_p1(self, data: bytes) -> tuple[bytes, tuple[Point, ...]]:
        """``(pkg_digest, D_{i,·})``; InvalidArguments(INVALID_DATA_SIZE / INVALID_ENCODING)."""
        if len(data) < DIGEST_LEN + 2 or (
            int.from_bytes(data[DIGEST_LEN : DIGEST_LEN + 2], "big") != self.threshold
        ):
            raise InvalidArguments(
                f"P1 must carry exactly t={self.threshold} points", reason="INVALID_DATA_SIZE"
            )
        if len(data) != self.p1_len:
            raise InvalidArguments("P1 has the wrong length", reason="INVALID_DATA_SIZE")
        pl, base = self.group.point_len, DIGEST_LEN + 2
        points = tuple(
            self.group.decode_point(data[base + k * pl : base + (k + 1) * pl])
            for k in range(self.threshold)
        )
        return data[:DIGEST_LEN], points


def repair_coefficient(order: int, helpers: Sequence[int], i: int, r: int) -> int:
    """``ζ_i = Π_{k∈H, k≠i} (r − k)·(i − k)^{-1} mod order`` (Lagrange at ``x = r``)."""
    if i not in helpers:
        raise InvalidArguments(f"party {i} is not a helper", reason="INVALID_PARTY")
    num, den = 1, 1
    for k in helpers:
        if k == i:
            continue
        num = num * (r - k) % order
        den = den * (i - k) % order
    if den == 0:
        raise InvalidArguments("duplicate helper id", reason="INVALID_PARTY")
    return num * pow(den, -1, order) % order


def _check_request(
    request: CeremonyStatement, pkg: PublicKeyPackage, helpers: Sequence[int]
) -> tuple[int, tuple[int, ...], Committee, bool]:
    """``(r, H ascending, roster, enroll)`` after every §7 precondition the core can check."""
    if len(request.targets) != 1:
        raise InvalidArguments("a repair names exactly one target", reason="INVALID_PARTY")
    (r,) = request.targets
    request.check_parameters(
        kind=CeremonyKind.REPAIR,
        curve=pkg.curve,
        key_id=pkg.key_id,
        epoch=pkg.epoch,
        threshold=pkg.threshold,
    )
    hs = tuple(sorted(helpers))
    check_party_ids(hs)
    if len(hs) != pkg.threshold:
        raise InvalidArguments(
            f"a repair needs exactly t={pkg.threshold} helpers", reason="INVALID_PARTY"
        )
    old_ids = set(pkg.committee.ids)
    if not set(hs) <= old_ids:
        raise InvalidArguments("every helper must be a committee member", reason="INVALID_PARTY")
    if r in hs:
        raise InvalidArguments("the repaired party cannot help", reason="INVALID_PARTY")
    enroll = r not in old_ids
    if set(request.committee.ids) != old_ids | {r}:
        raise InvalidArguments(
            "a repair keeps the committee (plus the enrolled id)", reason="INVALID_PARTY"
        )
    for i in pkg.committee.ids:
        if i != r and request.committee.member(i) != pkg.committee.member(i):
            raise InvalidArguments(
                f"a repair may change only the record of party {r}", reason="INVALID_PARTY"
            )
    roster = Committee(members=tuple(request.committee.member(i) for i in sorted((*hs, r))))
    return r, hs, roster, enroll


def session_params(
    *,
    request: CeremonyStatement,
    pkg: PublicKeyPackage,
    helpers: Sequence[int],
    request_id: bytes,
    coord_nonce: bytes,
) -> SessionParams:
    """The §2.3 session parameters of a repair of ``request.targets[0]`` at epoch ``e``."""
    r, hs, _, _ = _check_request(request, pkg, helpers)
    return SessionParams(
        protocol=KIND,
        curve=pkg.curve,
        key_id=pkg.key_id,
        epoch_from=pkg.epoch,
        epoch_to=pkg.epoch,
        pkg_digest=pkg.digest(),
        set_a=hs,
        set_b=(r,),
        t_a=pkg.threshold,
        t_b=pkg.threshold,
        request_id=request_id,
        coord_nonce=coord_nonce,
        request_digest=request.request_digest(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairP1:
    """A helper's round-0 output: one broadcast (to the other helpers and r) and its δ parts."""

    broadcast: Envelope
    direct: dict[int, Envelope]

    def __repr__(self) -> str:
        return f"RepairP1(from={self.broadcast.sender}, direct_to={sorted(self.direct)})"


class _RepairBase:
    """What helpers and the target share: request checks, roster, P1 decoding and checks."""

    def __init__(
        self,
        *,
        pkg: PublicKeyPackage,
        request: CeremonyStatement,
        helpers: Sequence[int],
        request_id: bytes,
        coord_nonce: bytes,
        me: int,
        signer: NodeSigner,
    ) -> None:
        r, hs, roster, enroll = _check_request(request, pkg, helpers)
        params = session_params(
            request=request, pkg=pkg, helpers=hs, request_id=request_id, coord_nonce=coord_nonce
        )
        self._s = RoundSession(roster, me, params.sid(), _WELL_FORMED)
        if signer.public_key != self._s.pub(me):
            raise InvalidArguments(
                "signer does not match our committee record", reason="INVALID_PARTY"
            )
        self._pkg = pkg
        self._group = pkg.group
        self._t = pkg.threshold
        self._r = r
        self._helpers = hs
        self._enroll = enroll
        self._me = me
        self._signer = signer
        self._params = params
        self._layout = RepairLayout(self._group, self._t)
        self._pkg_digest = pkg.digest()
        self._aborted = False

    @property
    def sid(self) -> bytes:
        """The session id."""
        return self._s.sid

    @property
    def params(self) -> SessionParams:
        """The session parameters the sid was derived from."""
        return self._params

    @property
    def target(self) -> int:
        """``r``."""
        return self._r

    @property
    def helpers(self) -> tuple[int, ...]:
        """``H``, ascending."""
        return self._helpers

    @property
    def layout(self) -> RepairLayout:
        """Payload sizes for this run."""
        return self._layout

    def _verification_share(self, k: int) -> Point:
        if k in self._pkg.verification_shares:
            return self._pkg.verification_shares[k]
        return eval_commitments(self._group, self._pkg.commitments, k)

    def _check_p1(self, envs: Mapping[int, Envelope]) -> dict[int, tuple[Point, ...]]:
        """Decode every P1; pkg_digest echo and the public split check (§7 P1)."""
        lay, g = self._layout, self._group
        out: dict[int, tuple[Point, ...]] = {}
        for i, env in envs.items():
            with blame_decode(i, env):
                digest, points = lay.decode_p1(env.payload)
            if digest != self._pkg_digest:
                raise ProtocolAbort(
                    AbortReason.PACKAGE_MISMATCH,
                    (),
                    f"helper {i} works from another public key package",
                )
            zeta = repair_coefficient(g.order, self._helpers, i, self._r)
            if g.sum_points(points) != self._verification_share(i) * zeta:
                raise ProtocolAbort(
                    AbortReason.REPAIR_SPLIT_MISMATCH,
                    {i},
                    f"helper {i}'s parts do not add up to ζ_i·X_i",
                    evidence={i: encode_evidence([env])},
                )
            out[i] = points
        return out

    def _sign(self, round_: int, to: int, msg_type: str, payload: bytes) -> Envelope:
        return self._signer.sign(
            Envelope(
                sid=self._s.sid,
                round=round_,
                sender=self._me,
                to=to,
                msg_type=msg_type,
                payload=payload,
            )
        )


class RepairHelper(_RepairBase):
    """Helper ``i ∈ H`` (§7 P1, P2). Repr is redacted."""

    def __init__(
        self,
        *,
        share: KeyShare,
        request: CeremonyStatement,
        helpers: Sequence[int],
        request_id: bytes,
        coord_nonce: bytes,
        signer: NodeSigner,
        rng: Rng,
    ) -> None:
        share.verify()
        super().__init__(
            pkg=share.pkg,
            request=request,
            helpers=helpers,
            request_id=request_id,
            coord_nonce=coord_nonce,
            me=share.party_id,
            signer=signer,
        )
        if self._me not in self._helpers:
            raise InvalidArguments(f"party {self._me} is not a helper", reason="INVALID_PARTY")
        self._x: int | None = share.secret
        self._rng = rng
        self._parts: dict[int, int] | None = None
        self._p1: Envelope | None = None
        self._phase = "new"

    @property
    def phase(self) -> str:
        """``new`` / ``round0 sent`` / ``sigma sent`` / ``complaint sent`` / ``aborted``."""
        return self._phase

    def __repr__(self) -> str:
        return (
            f"RepairHelper(curve={self._group.name}, me={self._me}, r={self._r}, "
            f"helpers={list(self._helpers)}, phase={self._phase!r}, secrets=<redacted>)"
        )

    def round0(self) -> RepairP1:
        """P1: split ``ζ_i·x_i``; broadcast ``D_{i,·}``, send ``δ_{i,k}`` to each other helper."""
        self._require("new")
        g = self._group
        parts = self._split()
        points = self._make_points(parts)
        payload = (
            self._pkg_digest + u16be(len(points)) + b"".join(g.encode_point(p) for p in points)
        )
        p1 = self._sign(ROUND_P1, BROADCAST, MSG_P1, payload)
        direct = {
            k: self._sign(ROUND_DELTA, k, MSG_DELTA, g.encode_scalar(self._delta_for(k, parts)))
            for k in self._helpers
            if k != self._me
        }
        self._parts = parts
        self._p1 = p1
        self._x = None
        self._phase = "round0 sent"
        return RepairP1(broadcast=p1, direct=direct)

    def round1(
        self, broadcasts: Mapping[int, Envelope], direct: Mapping[int, Envelope]
    ) -> Envelope:
        """P2: check every P1 and ``δ_{i,k}·G == D_{i,k}``; ``σ_k`` (or a complaint) to r."""
        self._require("round0 sent")
        g, lay = self._group, self._layout
        try:
            p1s = self._s.filter(
                broadcasts,
                senders=self._helpers,
                round_=ROUND_P1,
                msg_types=frozenset({MSG_P1}),
                to=BROADCAST,
            )
            deltas = self._s.filter(
                direct,
                senders=self._helpers,
                round_=ROUND_DELTA,
                msg_types=frozenset({MSG_DELTA}),
                to=self._me,
            )
            for i, env in deltas.items():
                if len(env.payload) != lay.delta_len:
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {i},
                        f"δ of helper {i} has the wrong length",
                        evidence={i: encode_evidence([env])},
                    )
            assert self._p1 is not None and self._parts is not None
            view = dict(p1s)
            view[self._me] = self._p1
            points = self._check_p1(p1s)
            echo = b"".join(view[k].payload + view[k].signature for k in self._helpers)
            me_idx = self._helpers.index(self._me)
            sigma = self._parts[self._me]
            for i, env in deltas.items():
                try:
                    delta = g.decode_scalar(env.payload)
                except InvalidArguments:
                    return self._complain(i, env, echo)
                if g.base_mul(delta) != points[i][me_idx]:
                    return self._complain(i, env, echo)
                sigma = (sigma + delta) % g.order
            out = self._sign(ROUND_P2, self._r, MSG_SIGMA, g.encode_scalar(sigma) + echo)
            self._phase = "sigma sent"
            self._zeroise()
            return out
        except ProtocolAbort:
            self._phase = "aborted"
            self._zeroise()
            raise

    # -- hooks (overridden only by adversarial tests) -------------------------------------------

    def _split(self) -> dict[int, int]:
        """``δ_{i,k}`` for ``k ∈ H``: random nonzero but the last, which completes ``ζ_i·x_i``."""
        g = self._group
        assert self._x is not None
        target = repair_coefficient(g.order, self._helpers, self._me, self._r) * self._x % g.order
        while True:
            parts = {k: random_nonzero_scalar(self._rng, g.order) for k in self._helpers[:-1]}
            last = (target - sum(parts.values())) % g.order
            if last != 0:  # D_{i,last} = O has no encoding (probability ~2^-252)
                parts[self._helpers[-1]] = last
                return parts

    def _make_points(self, parts: Mapping[int, int]) -> list[Point]:
        """``D_{i,k} = δ_{i,k}·G`` in helper order."""
        return [self._group.base_mul(parts[k]) for k in self._helpers]

    def _delta_for(self, k: int, parts: Mapping[int, int]) -> int:
        return parts[k]

    # -- internals ------------------------------------------------------------------------------

    def _require(self, phase: str) -> None:
        if self._phase != phase:
            raise InvalidArguments(
                f"repair call out of order: expected {phase!r}, at {self._phase!r}",
                reason="WRONG_STATE",
            )

    def _complain(self, accused: int, env: Envelope, echo: bytes) -> Envelope:
        payload = u16be(accused) + env.payload + env.signature + echo
        self._phase = "complaint sent"
        self._zeroise()
        return self._sign(ROUND_P2, self._r, MSG_COMPLAINT, payload)

    def _zeroise(self) -> None:
        if self._parts is not None:
            for k in list(self._parts):
                self._parts[k] = 0
        self._parts = None
        self._x = None


class RepairTarget(_RepairBase):
    """The party ``r`` whose share is rebuilt (§7 "Finish at r")."""

    def __init__(
        self,
        *,
        pkg: PublicKeyPackage,
        request: CeremonyStatement,
        helpers: Sequence[int],
        request_id: bytes,
        coord_nonce: bytes,
        signer: NodeSigner,
    ) -> None:
        pkg.verify()
        if len(request.targets) != 1:
            raise InvalidArguments("a repair names exactly one target", reason="INVALID_PARTY")
        super().__init__(
            pkg=pkg,
            request=request,
            helpers=helpers,
            request_id=request_id,
            coord_nonce=coord_nonce,
            me=request.targets[0],
            signer=signer,
        )
        self._phase = "new"

    @property
    def phase(self) -> str:
        """``new`` / ``repaired`` / ``aborted``."""
        return self._phase

    def __repr__(self) -> str:
        return (
            f"RepairTarget(curve={self._group.name}, r={self._r}, enroll={self._enroll}, "
            f"helpers={list(self._helpers)}, phase={self._phase!r})"
        )

    def finish(
        self, broadcasts: Mapping[int, Envelope], sigmas: Mapping[int, Envelope]
    ) -> KeyShare | EnrolledShare:
        """Check every P1 and σ (or judge a complaint); return the verified share of ``r``."""
        if self._phase != "new":
            raise InvalidArguments(f"finish() already ran ({self._phase})", reason="WRONG_STATE")
        try:
            share = self._finish(broadcasts, sigmas)
        except ProtocolAbort:
            self._phase = "aborted"
            raise
        self._phase = "repaired"
        return share

    def _finish(
        self, broadcasts: Mapping[int, Envelope], sigmas: Mapping[int, Envelope]
    ) -> KeyShare | EnrolledShare:
        g, lay = self._group, self._layout
        p1s = self._s.filter(
            broadcasts,
            senders=self._helpers,
            round_=ROUND_P1,
            msg_types=frozenset({MSG_P1}),
            to=BROADCAST,
        )
        p2s = self._s.filter(
            sigmas,
            senders=self._helpers,
            round_=ROUND_P2,
            msg_types=frozenset({MSG_SIGMA, MSG_COMPLAINT}),
            to=self._me,
        )
        for k, env in p2s.items():
            want = lay.sigma_len if env.msg_type == MSG_SIGMA else lay.complaint_len
            if len(env.payload) != want:
                raise ProtocolAbort(
                    AbortReason.INVALID_DATA_SIZE,
                    {k},
                    f"{env.msg_type} of helper {k} has the wrong length",
                    evidence={k: encode_evidence([env])},
                )
        points = self._check_p1(p1s)
        for env in p2s.values():
            self._s.check_echo(
                echoer=env,
                ids=self._helpers,
                entries=split_entries(env.payload[-lay.echo_len :], self._t, lay.p1_entry_len),
                view=p1s,
                round_=ROUND_P1,
                msg_type=MSG_P1,
            )
        complaints = {k: env for k, env in p2s.items() if env.msg_type == MSG_COMPLAINT}
        if complaints:
            self._judge(complaints, points)
        x = 0
        for idx, (k, env) in enumerate(sorted(p2s.items())):
            assert k == self._helpers[idx]
            with blame_decode(k, env):
                sigma = g.decode_scalar(env.payload[: g.scalar_len])
            if g.base_mul(sigma) != g.sum_points(points[i][idx] for i in self._helpers):
                raise ProtocolAbort(
                    AbortReason.REPAIR_SIGMA_MISMATCH,
                    {k},
                    f"σ of helper {k} does not match the published parts",
                    evidence={k: encode_evidence([env])},
                )
            x = (x + sigma) % g.order
        if x == 0 or g.base_mul(x) != self._verification_share(self._r):
            raise ProtocolAbort(
                AbortReason.REPAIR_RESULT_MISMATCH,
                (),
                f"the repaired share does not match X_{self._r}: a helper cheated undetectably "
                "or the public key package is wrong",
            )
        share: KeyShare | EnrolledShare
        if self._enroll:
            share = EnrolledShare(pkg=self._pkg, party_id=self._r, secret=x)
        else:
            share = KeyShare(pkg=self._pkg, party_id=self._r, secret=x)
        try:
            share.verify()
        except InvalidKeyShare as exc:  # pragma: no cover - checked just above
            raise InvariantViolation("repaired share failed its self-check") from exc
        return share

    def _judge(
        self, complaints: Mapping[int, Envelope], points: Mapping[int, tuple[Point, ...]]
    ) -> NoReturn:
        g, lay = self._group, self._layout

        def check(accused: int, complainer: int, payload: bytes) -> AbortReason | None:
            try:
                delta = g.decode_scalar(payload)
            except InvalidArguments:
                return AbortReason.INVALID_ENCODING
            if g.base_mul(delta) != points[accused][self._helpers.index(complainer)]:
                return AbortReason.FELDMAN_VERIFICATION_FAILED
            return None

        judge_complaints(
            session=self._s,
            complaints=complaints,
            accusable=self._helpers,
            share_round=ROUND_DELTA,
            share_msg_type=MSG_DELTA,
            share_len=lay.delta_len,
            check=check,
            trailer_len=lay.echo_len,  # the echo after the disclosed δ envelope
        )
