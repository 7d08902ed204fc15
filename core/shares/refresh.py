"""Proactive refresh: a zero-sharing added to every share (same committee, threshold and key).

Spec: ``specs/shares.md`` §5 (rounds and checks), §2.3 (session id), §3 (messaging, evidence),
§10.1 (ACK/DONE statements, kind ``refresh``), §11 (reasons), §12 items 3, 4, 5, 8; errata 16
(the request covers the new committee record: node-key rotation) and 17 (certificates). Based on
ZF ``frost-core/src/keys/refresh.rs`` (``refresh_dkg_*``), with a Feldman check of every
``δ``, echo broadcast and signed evidence as in the DKG (``dkg.py``, ``ceremony.py``).

A pure state machine, one method per round; the node does all I/O. Call sequence at each member
``j`` of the committee (every member deals and receives; all must take part)::

    params = session_params(request=stmt, pkg=share.pkg, request_id=rid, coord_nonce=nonce)
    party = RefreshParty(share=share, request=stmt, request_id=rid, coord_nonce=nonce,
                         signer=node_key, rng=SystemRng())          # party.sid == params.sid()
    f1 = party.round0()                      # broadcast to every other member
    f2 = party.round1({i: F1_i ...})         # dict j -> envelope: send each to its j
    res = party.round2({i: F2_i→me ...})     # RefreshResult
    if res.complaint:                        # broadcast it, then conclude() raises the verdict
        party.conclude({i: ACK_or_COMPLAINT_i ...})
    # res.output: KeyShare at e+1 (res.output.pkg = pkg(e+1)); secp256k1: run the pairwise
    # VSOTs (dkls23.md §7) now; write PENDING (§9.2), then:
    ack = party.ack()                        # broadcast
    cert = party.conclude({i: ACK_i ...})    # CommitCertificate: the switch CAS may run
    done = party.done()                      # broadcast after the switch
    done_cert = party.collect_done({i: DONE_i ...})   # DoneCertificate: destroy epoch e

Every ``inbound`` maps sender id -> envelope and holds exactly one envelope from every other
member. ``share`` may be an :class:`~warifu.core.shares.repair.EnrolledShare` of a party
enrolled by repair (§7 last paragraph): its id is in ``request.committee`` but not in
``share.pkg.committee`` and must be listed in ``enrolled``.

=====  =================  ================  =============================================  ====
round  method             msg_type          payload                                        to
=====  =================  ================  =============================================  ====
0      :meth:`round0`     refresh/f1        ``u16be(t−1) ‖ E_{i,1} … E_{i,t−1}``            0
1      :meth:`round1`     refresh/f2        ``δ_{i→j}(S) ‖ n × (F1 payload ‖ F1 sig)``       j
2      :meth:`ack`        refresh/ack       ``pkg_digest ‖ transcript_digest ‖ sig``        0
2      :meth:`round2`     refresh/complaint ``u16be(accused) ‖ accused's F2 ‖ its sig``     0
3      :meth:`done`       refresh/done      ``sig`` over ``stmt(DONE)``                    0
=====  =================  ================  =============================================  ====

(echo entries in committee id order; ``P``/``S`` point/scalar lengths: 33/32 secp256k1,
32/32 Ed25519). Every length is checked exactly before any cryptography.

Notation
==============  ===============================================================
``t``, ``n``    threshold, committee size (unchanged)
``h_i``         party ``i``'s zero polynomial, ``h_i(0) = 0``, coefficients ``h_{i,1..t−1}``
``E_{i,k}``     ``h_{i,k}·G`` for ``k ≥ 1`` (``E_{i,0} = O`` is implicit and never sent)
``δ_{i→j}``     ``h_i(j)``; checked ``δ·G == Σ_{k≥1} j^k·E_{i,k}``
``x'_j``        ``x_j + Σ_i δ_{i→j}``; ``C'_0 = C_0``, ``C'_m = C_m + Σ_i E_{i,m}``
==============  ===============================================================

Departures (besides the DKG's, which apply unchanged: echo carries envelopes, transcript covers
the broadcasts before the ACK, ACK over other digests is ``ECHO_MISMATCH``):
    1. F1 carries an explicit count ``u16be(t−1)``: a message with ``t`` entries (a smuggled
       non-zero constant) is rejected by its count and its length, ``INVALID_DATA_SIZE``.
    2. F1 is decoded and checked when it arrives (round 1), before its echo: its own signature
       is the evidence, so a bad F1 is attributable even if its sender also equivocated.
    3. An aggregate ``C'_m`` equal to ``O`` (the new polynomial would drop a degree and
       ``pkg(e+1)`` could not be encoded) is ``DEGENERATE_SHARING`` with no culprit: it needs
       ``Σ_i h_{i,m} = −a_m``, which only a coalition knowing the old polynomial can arrange.

Errors: InvalidArguments for caller mistakes (wrong phase, missing/extra senders), PermissionDenied
(``APPROVAL_PARAMETERS_MISMATCH``) if the approved statement does not describe this refresh,
ProtocolAbort for a peer's fault (terminal; secrets dropped).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

from warifu.core.approvals import CeremonyKind, CeremonyStatement
from warifu.core.curves import Group, Point
from warifu.core.encoding import u16be
from warifu.core.envelope import BROADCAST, Envelope, NodeSigner
from warifu.core.errors import (
    AbortReason,
    InvalidArguments,
    InvariantViolation,
    ProtocolAbort,
)
from warifu.core.rng import Rng, random_nonzero_scalar
from warifu.core.session import SessionParams
from warifu.core.shares.ceremony import (
    CeremonyParty,
    Phase,
    RoundSession,
    blame_decode,
    split_entries,
)
from warifu.core.shares.evidence import encode_evidence
from warifu.core.shares.package import (
    KeyShare,
    PublicKeyPackage,
    check_party_ids,
    eval_commitments,
)
from warifu.core.shares.polynomial import Polynomial
from warifu.core.shares.repair import EnrolledShare
from warifu.core.shares.statements import SIG_LEN, Decision, Statement

KIND = "refresh"

ROUND_F1 = 0
ROUND_F2 = 1
ROUND_ACK = 2
ROUND_DONE = 3

MSG_F1 = "refresh/f1"
MSG_F2 = "refresh/f2"
MSG_ACK = "refresh/ack"
MSG_COMPLAINT = "refresh/complaint"
MSG_DONE = "refresh/done"

_WELL_FORMED: dict[str, tuple[int, bool]] = {
    MSG_F1: (ROUND_F1, True),
    MSG_F2: (ROUND_F2, False),
    MSG_ACK: (ROUND_ACK, True),
    MSG_COMPLAINT: (ROUND_ACK, True),
    MSG_DONE: (ROUND_DONE, True),
}


@dataclass(frozen=True, slots=True)
class RefreshLayout:
    """The exact byte sizes of every refresh payload for one ``(group, t, n)``."""

    group: Group
    threshold: int
    n: int

    @property
    def f1_len(self) -> int:
        """``u16be(t−1) ‖ (t−1)·P``."""
        return 2 + (self.threshold - 1) * self.group.point_len

    @property
    def f1_entry_len(self) -> int:
        """One echoed F1: payload ‖ signature."""
        return self.f1_len + SIG_LEN

    @property
    def f2_len(self) -> int:
        """``δ`` plus the echo of ``n`` F1 envelopes."""
        return self.group.scalar_len + self.n * self.f1_entry_len

    @property
    def complaint_len(self) -> int:
        """``u16be(accused) ‖ F2 payload ‖ signature``."""
        return 2 + self.f2_len + SIG_LEN

    def encode_f1(self, points: tuple[Point, ...]) -> bytes:
        """F1 payload from ``E_{i,1..t−1}``."""
        return u16be(len(points)) + b"".join(self.group.encode_point(p) for p in points)

    def decode_f1(self, data: bytes) -> tuple[Point, ...]:
        """``E_{i,1..t−1}``; InvalidArguments(INVALID_DATA_SIZE / INVALID_ENCODING)."""
        if len(data) < 2 or int.from_bytes(data[:2], "big") != self.threshold - 1:
            raise InvalidArguments(
                f"F1 must carry exactly t-1={self.threshold - 1} commitments "
                "(E_0 is implicitly O and never sent)",
                reason="INVALID_DATA_SIZE",
            )
        if len(data) != self.f1_len:
            raise InvalidArguments("F1 has the wrong length", reason="INVALID_DATA_SIZE")
        pl = self.group.point_len
        return tuple(
            self.group.decode_point(data[2 + k * pl : 2 + (k + 1) * pl])
            for k in range(self.threshold - 1)
        )


def session_params(
    *,
    request: CeremonyStatement,
    pkg: PublicKeyPackage,
    request_id: bytes,
    coord_nonce: bytes,
) -> SessionParams:
    """The §2.3 session parameters of a refresh of ``pkg`` (epoch ``e → e+1``)."""
    ids = request.committee.ids
    return SessionParams(
        protocol=KIND,
        curve=pkg.curve,
        key_id=pkg.key_id,
        epoch_from=pkg.epoch,
        epoch_to=pkg.epoch + 1,
        pkg_digest=pkg.digest(),
        set_a=ids,
        set_b=ids,
        t_a=pkg.threshold,
        t_b=pkg.threshold,
        request_id=request_id,
        coord_nonce=coord_nonce,
        request_digest=request.request_digest(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshResult:
    """What :meth:`RefreshParty.round2` produced: exactly one of ``output`` / ``complaint``.

    ``output`` is the new share at ``e+1`` (``.pkg`` is ``pkg(e+1)``), not yet committed: write
    it as PENDING, then send :meth:`RefreshParty.ack`. ``complaint`` is a broadcast to send
    instead; :meth:`RefreshParty.conclude` then raises the verdict.
    """

    output: KeyShare | None = None
    complaint: Envelope | None = None
    transcript_digest: bytes = b""

    def __post_init__(self) -> None:
        if (self.output is None) == (self.complaint is None):
            raise InvariantViolation("RefreshResult needs exactly one of output / complaint")

    def __repr__(self) -> str:
        if self.output is not None:
            return f"RefreshResult(output={self.output!r})"
        assert self.complaint is not None
        return f"RefreshResult(complaint from party {self.complaint.sender})"


class RefreshParty(CeremonyParty):
    """One committee member's refresh state machine (``shares.md`` §5). Repr is redacted."""

    KIND: ClassVar[str] = KIND
    ROUND_ACK: ClassVar[int] = ROUND_ACK
    ROUND_DONE: ClassVar[int] = ROUND_DONE
    MSG_ACK: ClassVar[str] = MSG_ACK
    MSG_COMPLAINT: ClassVar[str] = MSG_COMPLAINT
    MSG_DONE: ClassVar[str] = MSG_DONE
    SHARE_ROUND: ClassVar[int] = ROUND_F2
    SHARE_MSG: ClassVar[str] = MSG_F2

    def __init__(
        self,
        *,
        share: KeyShare | EnrolledShare,
        request: CeremonyStatement,
        request_id: bytes,
        coord_nonce: bytes,
        signer: NodeSigner,
        rng: Rng,
        enrolled: Collection[int] = (),
    ) -> None:
        old = share.pkg
        committee = request.committee
        request.check_parameters(
            kind=CeremonyKind.REFRESH,
            curve=old.curve,
            key_id=old.key_id,
            epoch=old.epoch,
            threshold=old.threshold,
        )
        enrolled_ids = frozenset(enrolled)
        check_party_ids(list(enrolled_ids))
        if enrolled_ids & set(old.committee.ids):
            raise InvalidArguments(
                "an enrolled id is already in the committee", reason="INVALID_PARTY"
            )
        if set(committee.ids) != set(old.committee.ids) | enrolled_ids:
            raise InvalidArguments(
                "a refresh keeps the committee (plus the ids enrolled by repair)",
                reason="INVALID_PARTY",
            )
        if isinstance(share, KeyShare):
            share.verify()
        else:
            if share.party_id not in enrolled_ids:
                raise InvalidArguments(
                    "an enrolled share must be listed in `enrolled`", reason="INVALID_PARTY"
                )
            share.verify()
        group = old.group
        params = session_params(
            request=request, pkg=old, request_id=request_id, coord_nonce=coord_nonce
        )
        session = RoundSession(committee, share.party_id, params.sid(), _WELL_FORMED)
        super().__init__(
            session=session,
            new_committee=committee,
            signer=signer,
            e_old=old.epoch,
            e_new=old.epoch + 1,
            key_id=old.key_id,
        )
        self._group = group
        self._old = old
        self._committee = committee
        self._t = old.threshold
        self._rng = rng
        self._params = params
        self._layout = RefreshLayout(group, self._t, len(committee.ids))
        self._old_x: int | None = share.secret
        self._old_vshares = {
            k: (
                old.verification_shares[k]
                if k in old.verification_shares
                else eval_commitments(group, old.commitments, k)
            )
            for k in committee.ids
        }
        self._poly: Polynomial | None = None
        self._own_delta: int | None = None
        self._views: dict[int, dict[int, Envelope]] = {}
        self._zero_commitments: dict[int, tuple[Point, ...]] = {}

    # -- read-only ------------------------------------------------------------------------------

    @property
    def layout(self) -> RefreshLayout:
        """Payload sizes for this run."""
        return self._layout

    @property
    def params(self) -> SessionParams:
        """The session parameters the sid was derived from."""
        return self._params

    def __repr__(self) -> str:
        return (
            f"RefreshParty(curve={self._group.name}, me={self._me}, t={self._t}, "
            f"n={self._layout.n}, epoch={self._e_old}->{self._e_new}, "
            f"phase={self._phase.value!r}, secrets=<redacted>)"
        )

    # -- rounds ---------------------------------------------------------------------------------

    def round0(self) -> Envelope:
        """F1: sample ``h_i`` with ``h_i(0) = 0``; broadcast ``E_{i,1..t−1}``."""
        self._require(Phase.NEW)
        with self._aborting():
            poly = self._make_polynomial()
            points = self._make_f1_points(poly)
            env = self._sign(ROUND_F1, BROADCAST, MSG_F1, self._encode_f1(points))
            self._poly = poly
            self._zero_commitments[self._me] = tuple(
                self._group.base_mul(a) for a in poly.coefficients[1:]
            )
            self._views[ROUND_F1] = {self._me: env}
            self._phase = Phase.ROUND0
            return env

    def round1(self, inbound: Mapping[int, Envelope]) -> dict[int, Envelope]:
        """F2: check every F1 (count, length, encodings); send ``δ_{i→j}`` + echo to each j."""
        self._require(Phase.ROUND0)
        lay = self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound,
                senders=self._committee.ids,
                round_=ROUND_F1,
                msg_types=frozenset({MSG_F1}),
                to=BROADCAST,
            )
            points: dict[int, tuple[Point, ...]] = {}
            for j, env in envs.items():
                with blame_decode(j, env):
                    points[j] = lay.decode_f1(env.payload)
            view = dict(envs)
            view[self._me] = self._views[ROUND_F1][self._me]
            echo = b"".join(view[k].payload + view[k].signature for k in self._committee.ids)
            assert self._poly is not None
            out = {
                j: self._sign(
                    ROUND_F2, j, MSG_F2, self._group.encode_scalar(self._delta_for(j)) + echo
                )
                for j in self._committee.ids
                if j != self._me
            }
            self._own_delta = self._poly.evaluate(self._me)
            self._zero_commitments.update(points)
            self._views[ROUND_F1] = view
            self._phase = Phase.ROUND1
            return out

    def round2(self, inbound: Mapping[int, Envelope]) -> RefreshResult:
        """Finish: echo check, Feldman (complaint on failure), new share and ``pkg(e+1)``."""
        self._require(Phase.ROUND1)
        g, lay = self._group, self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound,
                senders=self._committee.ids,
                round_=ROUND_F2,
                msg_types=frozenset({MSG_F2}),
                to=self._me,
            )
            for j, env in envs.items():
                if len(env.payload) != lay.f2_len:
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {j},
                        f"F2 of party {j} has the wrong length",
                        evidence={j: encode_evidence([env])},
                    )
            for env in envs.values():
                entries = split_entries(env.payload[g.scalar_len :], lay.n, lay.f1_entry_len)
                self._s.check_echo(
                    echoer=env,
                    ids=self._committee.ids,
                    entries=entries,
                    view=self._views[ROUND_F1],
                    round_=ROUND_F1,
                    msg_type=MSG_F1,
                )
            deltas: dict[int, int] = {}
            for j, env in envs.items():
                if self._check_disclosed(j, self._me, env.payload) is not None:
                    return self._complain_result(j, env)
                deltas[j] = g.decode_scalar(env.payload[: g.scalar_len])
            assert self._own_delta is not None and self._old_x is not None
            x_new = (self._old_x + self._own_delta + sum(deltas.values())) % g.order
            deltas.clear()
            pkg = self._new_package()
            share = KeyShare(pkg=pkg, party_id=self._me, secret=x_new)
            share.verify()  # x'_j ≠ 0 and x'_j·G == X'_j (SHARE_INTEGRITY)
            tdigest = self.transcript_digest()
            self._statement = Statement(
                sid=self._sid,
                kind=KIND,
                key_id=self._key_id,
                e_old=self._e_old,
                e_new=self._e_new,
                pkg_digest=pkg.digest(),
                transcript_digest=tdigest,
                decision=Decision.ACK,
            )
            self._zeroise()
            self._phase = Phase.OUTPUT
            return RefreshResult(output=share, transcript_digest=tdigest)

    # -- hooks (overridden only by adversarial tests) -------------------------------------------

    def _make_polynomial(self) -> Polynomial:
        """``h_i``: constant 0, ``h_{i,1..t−1}`` uniform nonzero (F1 step 1)."""
        order = self._group.order
        return Polynomial(
            [0] + [random_nonzero_scalar(self._rng, order) for _ in range(self._t - 1)], order
        )

    def _make_f1_points(self, poly: Polynomial) -> tuple[Point, ...]:
        """``E_{i,1..t−1}`` (F1 step 2)."""
        return tuple(self._group.base_mul(a) for a in poly.coefficients[1:])

    def _encode_f1(self, points: tuple[Point, ...]) -> bytes:
        return self._layout.encode_f1(points)

    def _delta_for(self, j: int) -> int:
        """``δ_{i→j} = h_i(j)``."""
        assert self._poly is not None
        return self._poly.evaluate(j)

    # -- CeremonyParty interface ----------------------------------------------------------------

    @property
    def _share_len(self) -> int:
        return self._layout.f2_len

    def _broadcast_envelopes(self) -> list[Envelope]:
        try:
            return [self._views[ROUND_F1][k] for k in self._committee.ids]
        except KeyError as exc:
            raise InvalidArguments("transcript is not complete yet", reason="WRONG_STATE") from exc

    def _dealers(self) -> Collection[int]:
        return self._committee.ids

    def _check_disclosed(self, accused: int, complainer: int, payload: bytes) -> AbortReason | None:
        g = self._group
        try:
            delta = g.decode_scalar(payload[: g.scalar_len])
        except InvalidArguments:
            return AbortReason.INVALID_ENCODING
        expected = eval_commitments(g, (g.identity(), *self._zero_commitments[accused]), complainer)
        if g.base_mul(delta) != expected:
            return AbortReason.FELDMAN_VERIFICATION_FAILED
        return None

    def _zeroise(self) -> None:
        if self._poly is not None:
            self._poly.zeroise()
        self._poly = None
        self._own_delta = None
        self._old_x = None

    # -- internals ------------------------------------------------------------------------------

    def _complain_result(self, accused: int, env: Envelope) -> RefreshResult:
        return RefreshResult(complaint=self._complain(accused, env))

    def _new_package(self) -> PublicKeyPackage:
        """``C'_0 = C_0``, ``C'_m = C_m + Σ_i E_{i,m}``; ``X'_k`` from ``C'`` (steps 4–6)."""
        g, old = self._group, self._old
        ids = self._committee.ids
        agg = [old.commitments[0]]
        for m in range(1, self._t):
            agg.append(
                old.commitments[m] + g.sum_points(self._zero_commitments[i][m - 1] for i in ids)
            )
        if any(c.is_identity() for c in agg):
            raise ProtocolAbort(
                AbortReason.DEGENERATE_SHARING, (), "an aggregate commitment of e+1 is the identity"
            )
        pkg = PublicKeyPackage(
            curve=g.name,
            key_id=self._key_id,
            epoch=self._e_new,
            threshold=self._t,
            committee=self._committee,
            commitments=tuple(agg),
        )
        pkg.verify()
        if pkg.public_key != old.public_key:
            raise InvariantViolation("refresh changed the group public key")
        # step 5: X'_k = X_k + Σ_i Σ_{m≥1} k^m E_{i,m} (the same points, computed the other way)
        for k in ids:
            shift = g.sum_points(
                eval_commitments(g, (g.identity(), *self._zero_commitments[i]), k) for i in ids
            )
            if pkg.verification_shares[k] != self._old_vshares[k] + shift:
                raise InvariantViolation(f"X'_{k} differs from X_{k} + Σ δ-commitments")
        return pkg
