"""Resharing to a new committee and/or threshold, checked against the old public package.

Spec: ``specs/shares.md`` §6 (rounds and checks), §2.3 (session id: ``reshare``, ``set_A = Q``,
``set_B = N'``, ``t_old``, ``t_new``; the request covers the new committee record and ``t_new``),
§3 (messaging, evidence), §10 (ACKs from all of ``N'``; everyone destroys the old share only with
the done certificate), §11, §12 item 9; erratum 14 (old-only members stop signing at ``e_old``
once they see the commit certificate). Desmedt–Jajodia / Wong–Wang–Wing style redistribution.

Roles (a node may have several):

- **dealer** ``i ∈ Q ⊆ N``, ``|Q| = t_old``: deals ``w_i = λ_i^Q·x_i`` with a fresh polynomial of
  degree ``t_new − 1``;
- **new member** ``j ∈ N'``: receives ``g_i(j)`` from every dealer, ACKs, gets ``x'_j``;
- **observer**: an old member in neither ``Q`` nor ``N'``. It takes no part in the rounds and
  builds no :class:`ReshareParty`; it verifies the relayed commit and done certificates with
  :func:`~warifu.core.shares.ceremony.verify_certificate_for` (``kind = "reshare"``), stops signing
  at ``e_old`` when it holds the commit certificate (erratum 14) and destroys its old share only
  with the done certificate.

Participants = ``Q ∪ N'`` (ids are bound to nodes for the key's whole life, §1.1: a node in
both committees keeps its id; a new node has an id not in ``used_ids``). Call sequence at every
participant::

    params = session_params(request=stmt, pkg=pkg_e, dealers=Q, request_id=rid,
                            coord_nonce=nonce)
    party = ReshareParty(pkg=pkg_e, share=share_or_None, me=my_id, request=stmt, dealers=Q,
                         request_id=rid, coord_nonce=nonce, signer=node_key, rng=SystemRng(),
                         used_ids=every id this key ever had)
    s1 = party.round0()                          # dealers: broadcast to all participants
                                                 # (None for a non-dealer: send nothing)
    r1 = party.round1({i: S1_i for i in Q, i != me})      # dict x -> envelope, every other
                                                 # participant x: g_i(x)+echo, or the echo only
    res = party.round2({p: R1_p→me for every other participant p})     # ReshareResult
    # new member: res.output (KeyShare, e+1) or res.complaint (broadcast; conclude() raises)
    # dealer-only: res.output is None, res.pkg is pkg(e+1) (to verify certificates)
    # new member, secp256k1: run the VSOTs of every ordered pair in N' (dkls23.md §7) now;
    # write PENDING (§9.2), then:
    ack = party.ack()                            # new members only: broadcast to all
    cert = party.conclude({j: ACK_j for j in N', j != me})   # everyone: CommitCertificate
    done = party.done()                          # new members, after the switch
    done_cert = party.collect_done({j: DONE_j for j in N', j != me})  # destroy epoch e

=====  ================  ================  ================================================  ===
round  method            msg_type          payload                                           to
=====  ================  ================  ================================================  ===
0      :meth:`round0`    reshare/s1        ``u16be(t_new) ‖ E_{i,0} … E_{i,t_new−1}``        0
1      :meth:`round1`    reshare/s2        ``g_i(x)(S) ‖ |Q| × (S1 payload ‖ S1 sig)``       x
1      :meth:`round1`    reshare/echo      ``|Q| × (S1 payload ‖ S1 sig)``                   x
2      :meth:`ack`       reshare/ack       ``pkg_digest ‖ transcript_digest ‖ sig``          0
2      :meth:`round2`    reshare/complaint ``u16be(accused) ‖ accused's S2 ‖ its sig``       0
3      :meth:`done`      reshare/done      ``sig`` over ``stmt(DONE)``                       0
=====  ================  ================  ================================================  ===

In round 1 every participant sends exactly one envelope to every other participant: ``s2``
from a dealer to a new member, ``echo`` otherwise, so every participant (old and new) compares
every other participant's view of S1 with its own ("new parties echo among themselves and with
the dealers"). Echo entries are in ascending dealer id order.

Notation
=============  =================================================================
``λ_i^Q``      Lagrange coefficient at 0 over ``Q``; ``w_i = λ_i^Q·x_i``, ``Σ_{i∈Q} w_i = x``
``g_i``        dealer ``i``'s polynomial, degree ``t_new − 1``, ``g_i(0) = w_i``
``E_{i,m}``    ``g_{i,m}·G``; public check ``E_{i,0} == λ_i^Q·X_i``
``x'_j``       ``Σ_{i∈Q} g_i(j)``; ``C'_m = Σ_{i∈Q} E_{i,m}``, ``C'_0 == PK``
=============  =================================================================

Checks and blame: S1 count/length ``INVALID_DATA_SIZE``, points ``INVALID_ENCODING``, constant
``RESHARE_CONSTANT_MISMATCH`` (all naming the dealer, its signed S1 as evidence; checked by every
participant on arrival, before anything is sent); a round-1 envelope of the wrong kind for its
sender and recipient (a dealer withholding a share, a non-dealer sending one) is ``BAD_ENVELOPE``
naming its sender; echo ``EQUIVOCATION``/``ECHO_MISMATCH``; Feldman failure -> COMPLAINT (the
dealer, or ``FALSE_COMPLAINT`` the complainer); ``C'_0 ≠ PK`` ``RESHARE_KEY_MISMATCH`` (no
culprit; impossible once every constant passed, kept as the end-to-end check); an aggregate
``C'_m`` (``m ≥ 1``) equal to ``O`` is ``DEGENERATE_SHARING`` (no culprit: only all dealers
together can arrange it, and they hold the key anyway). After any abort,
retry with another ``Q`` and a new sid: the old shares are intact and nothing secret is reused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from warifu.core.approvals import CeremonyKind, CeremonyStatement
from warifu.core.curves import Group, Point
from warifu.core.encoding import u16be
from warifu.core.envelope import BROADCAST, Envelope, NodeSigner
from warifu.core.errors import AbortReason, InvalidArguments, InvariantViolation, ProtocolAbort
from warifu.core.rng import Rng, random_nonzero_scalar
from warifu.core.session import SessionParams
from warifu.core.shares.ceremony import (
    CeremonyParty,
    Phase,
    RoundSession,
    blame_decode,
    roster_of,
    split_entries,
)
from warifu.core.shares.evidence import encode_evidence
from warifu.core.shares.package import (
    Committee,
    KeyShare,
    PublicKeyPackage,
    check_party_ids,
    eval_commitments,
    lagrange_at_zero,
)
from warifu.core.shares.polynomial import Polynomial
from warifu.core.shares.statements import SIG_LEN, Decision, Statement

KIND = "reshare"

ROUND_S1 = 0
ROUND_S2 = 1
ROUND_ACK = 2
ROUND_DONE = 3

MSG_S1 = "reshare/s1"
MSG_S2 = "reshare/s2"
MSG_ECHO = "reshare/echo"
MSG_ACK = "reshare/ack"
MSG_COMPLAINT = "reshare/complaint"
MSG_DONE = "reshare/done"

_WELL_FORMED: dict[str, tuple[int, bool]] = {
    MSG_S1: (ROUND_S1, True),
    MSG_S2: (ROUND_S2, False),
    MSG_ECHO: (ROUND_S2, False),
    MSG_ACK: (ROUND_ACK, True),
    MSG_COMPLAINT: (ROUND_ACK, True),
    MSG_DONE: (ROUND_DONE, True),
}


@dataclass(frozen=True, slots=True)
class ReshareLayout:
    """The exact byte sizes of every reshare payload for one ``(group, t_new, |Q|)``."""

    group: Group
    t_new: int
    dealers: int

    @property
    def s1_len(self) -> int:
        """``u16be(t_new) ‖ t_new·P``."""
        return 2 + self.t_new * self.group.point_len

    @property
    def s1_entry_len(self) -> int:
        """One echoed S1: payload ‖ signature."""
        return self.s1_len + SIG_LEN

    @property
    def echo_len(self) -> int:
        """The echo of the ``|Q|`` S1 envelopes (the whole ``reshare/echo`` payload)."""
        return self.dealers * self.s1_entry_len

    @property
    def s2_len(self) -> int:
        """``g_i(x) ‖ echo``."""
        return self.group.scalar_len + self.echo_len

    @property
    def complaint_len(self) -> int:
        """``u16be(accused) ‖ S2 payload ‖ signature``."""
        return 2 + self.s2_len + SIG_LEN

    def encode_s1(self, points: Sequence[Point]) -> bytes:
        """S1 payload from ``E_{i,0..t_new−1}``."""
        return u16be(len(points)) + b"".join(self.group.encode_point(p) for p in points)

    def decode_s1(self, data: bytes) -> tuple[Point, ...]:
        """``E_{i,0..t_new−1}``; InvalidArguments(INVALID_DATA_SIZE / INVALID_ENCODING)."""
        if len(data) < 2 or int.from_bytes(data[:2], "big") != self.t_new:
            raise InvalidArguments(
                f"S1 must carry exactly t_new={self.t_new} commitments",
                reason="INVALID_DATA_SIZE",
            )
        if len(data) != self.s1_len:
            raise InvalidArguments("S1 has the wrong length", reason="INVALID_DATA_SIZE")
        pl = self.group.point_len
        return tuple(
            self.group.decode_point(data[2 + k * pl : 2 + (k + 1) * pl]) for k in range(self.t_new)
        )


def _check_committees(
    pkg: PublicKeyPackage,
    request: CeremonyStatement,
    dealers: Sequence[int],
    used_ids: Collection[int],
) -> tuple[tuple[int, ...], Committee]:
    """``(Q ascending, roster Q ∪ N')`` after every §6 / §1.1 rule the core can check."""
    request.check_parameters(
        kind=CeremonyKind.RESHARE, curve=pkg.curve, key_id=pkg.key_id, epoch=pkg.epoch
    )
    q = tuple(sorted(dealers))
    check_party_ids(q)
    if len(q) != pkg.threshold:
        raise InvalidArguments(
            f"a reshare needs exactly t_old={pkg.threshold} dealers", reason="INVALID_PARTY"
        )
    old = pkg.committee
    if not set(q) <= set(old.ids):
        raise InvalidArguments("every dealer must be an old member", reason="INVALID_PARTY")
    new = request.committee
    old_by_name = {m.node: m.id for m in old.members}
    for m in new.members:
        if m.node in old_by_name and old_by_name[m.node] != m.id:
            raise InvalidArguments(
                f"node {m.node!r} keeps its id {old_by_name[m.node]} for this key",
                reason="INVALID_PARTY",
            )
        if m.id not in old.ids and m.id in used_ids:
            raise InvalidArguments(
                f"id {m.id} was used before for this key: a new node gets a fresh id",
                reason="INVALID_PARTY",
            )
    dealer_records = Committee(members=tuple(old.member(i) for i in q))
    return q, roster_of(dealer_records, new)


def session_params(
    *,
    request: CeremonyStatement,
    pkg: PublicKeyPackage,
    dealers: Sequence[int],
    request_id: bytes,
    coord_nonce: bytes,
) -> SessionParams:
    """The §2.3 session parameters of a reshare of ``pkg`` by ``Q`` to ``request.committee``."""
    return SessionParams(
        protocol=KIND,
        curve=pkg.curve,
        key_id=pkg.key_id,
        epoch_from=pkg.epoch,
        epoch_to=pkg.epoch + 1,
        pkg_digest=pkg.digest(),
        set_a=tuple(sorted(dealers)),
        set_b=request.committee.ids,
        t_a=pkg.threshold,
        t_b=request.threshold,
        request_id=request_id,
        coord_nonce=coord_nonce,
        request_digest=request.request_digest(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReshareResult:
    """What :meth:`ReshareParty.round2` produced.

    Exactly one of ``pkg`` (the checks passed) / ``complaint``. ``output`` is the new share at
    ``e+1`` for a new member, ``None`` for a dealer that is not a new member.
    """

    output: KeyShare | None = None
    pkg: PublicKeyPackage | None = None
    complaint: Envelope | None = None
    transcript_digest: bytes = b""

    def __post_init__(self) -> None:
        if (self.pkg is None) == (self.complaint is None):
            raise InvariantViolation("ReshareResult needs exactly one of pkg / complaint")
        if self.output is not None and self.pkg is None:
            raise InvariantViolation("an output needs its package")

    def __repr__(self) -> str:
        if self.complaint is not None:
            return f"ReshareResult(complaint from party {self.complaint.sender})"
        return f"ReshareResult(output={self.output!r}, pkg_epoch={self.pkg and self.pkg.epoch})"


class ReshareParty(CeremonyParty):
    """One participant (dealer and/or new member) of a reshare (``shares.md`` §6)."""

    KIND: ClassVar[str] = KIND
    ROUND_ACK: ClassVar[int] = ROUND_ACK
    ROUND_DONE: ClassVar[int] = ROUND_DONE
    MSG_ACK: ClassVar[str] = MSG_ACK
    MSG_COMPLAINT: ClassVar[str] = MSG_COMPLAINT
    MSG_DONE: ClassVar[str] = MSG_DONE
    SHARE_ROUND: ClassVar[int] = ROUND_S2
    SHARE_MSG: ClassVar[str] = MSG_S2

    def __init__(
        self,
        *,
        pkg: PublicKeyPackage,
        share: KeyShare | None,
        me: int,
        request: CeremonyStatement,
        dealers: Sequence[int],
        request_id: bytes,
        coord_nonce: bytes,
        signer: NodeSigner,
        rng: Rng,
        used_ids: Collection[int] = (),
    ) -> None:
        pkg.verify()
        q, roster = _check_committees(pkg, request, dealers, used_ids)
        new = request.committee
        if me not in roster.ids:
            raise InvalidArguments(
                f"party {me} is neither a dealer nor a new member (an observer runs no rounds)",
                reason="INVALID_PARTY",
            )
        if me in q:
            if share is None:
                raise InvalidArguments("a dealer needs its old share")
            if share.party_id != me or share.pkg.digest() != pkg.digest():
                raise InvalidArguments("the share is not ours at this epoch")
            share.verify()
        elif share is not None:
            raise InvalidArguments("only dealers use their old share in a reshare")
        params = session_params(
            request=request, pkg=pkg, dealers=q, request_id=request_id, coord_nonce=coord_nonce
        )
        super().__init__(
            session=RoundSession(roster, me, params.sid(), _WELL_FORMED),
            new_committee=new,
            signer=signer,
            e_old=pkg.epoch,
            e_new=pkg.epoch + 1,
            key_id=pkg.key_id,
        )
        group = pkg.group
        self._group = group
        self._old = pkg
        self._pk = pkg.public_key
        self._q = q
        self._roster = roster
        self._t_new = request.threshold
        self._rng = rng
        self._params = params
        self._layout = ReshareLayout(group, self._t_new, len(q))
        self._w: int | None = (
            lagrange_at_zero(group.order, q, me) * share.secret % group.order
            if share is not None
            else None
        )
        self._poly: Polynomial | None = None
        self._own_share: int | None = None
        self._views: dict[int, dict[int, Envelope]] = {}
        self._commitments: dict[int, tuple[Point, ...]] = {}

    # -- read-only ------------------------------------------------------------------------------

    @property
    def dealers(self) -> tuple[int, ...]:
        """``Q``, ascending."""
        return self._q

    @property
    def participants(self) -> tuple[int, ...]:
        """``Q ∪ N'``, ascending."""
        return self._roster.ids

    @property
    def is_dealer(self) -> bool:
        """Whether we deal in S1/S2."""
        return self._me in self._q

    @property
    def layout(self) -> ReshareLayout:
        """Payload sizes for this run."""
        return self._layout

    @property
    def params(self) -> SessionParams:
        """The session parameters the sid was derived from."""
        return self._params

    def __repr__(self) -> str:
        return (
            f"ReshareParty(curve={self._group.name}, me={self._me}, Q={list(self._q)}, "
            f"N'={list(self._new.ids)}, t={self._old.threshold}->{self._t_new}, "
            f"phase={self._phase.value!r}, secrets=<redacted>)"
        )

    # -- rounds ---------------------------------------------------------------------------------

    def round0(self) -> Envelope | None:
        """S1 (dealers): sample ``g_i`` with ``g_i(0) = w_i``, broadcast ``E_{i,·}``."""
        self._require(Phase.NEW)
        with self._aborting():
            if self.is_dealer:
                poly = self._make_polynomial()
                points = self._make_s1_points(poly)
                env: Envelope | None = self._sign(
                    ROUND_S1, BROADCAST, MSG_S1, self._layout.encode_s1(points)
                )
                assert env is not None
                self._poly = poly
                self._commitments[self._me] = poly.commitments(self._group)
                self._views[ROUND_S1] = {self._me: env}
            else:
                env = None
                self._views[ROUND_S1] = {}
            self._w = None
            self._phase = Phase.ROUND0
            return env

    def round1(self, inbound: Mapping[int, Envelope]) -> dict[int, Envelope]:
        """S2: check every S1 (sizes, encodings, ``E_{i,0} == λ_i X_i``); shares + echo out."""
        self._require(Phase.ROUND0)
        g, lay = self._group, self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound,
                senders=self._q,
                round_=ROUND_S1,
                msg_types=frozenset({MSG_S1}),
                to=BROADCAST,
            )
            commitments: dict[int, tuple[Point, ...]] = {}
            for i, env in envs.items():
                with blame_decode(i, env):
                    points = lay.decode_s1(env.payload)
                lam = lagrange_at_zero(g.order, self._q, i)
                if points[0] != self._old.verification_shares[i] * lam:
                    raise ProtocolAbort(
                        AbortReason.RESHARE_CONSTANT_MISMATCH,
                        {i},
                        f"dealer {i}'s constant E_0 is not λ_i·X_i",
                        evidence={i: encode_evidence([env])},
                    )
                commitments[i] = points
            view = dict(envs)
            view.update(self._views[ROUND_S1])
            echo = b"".join(view[k].payload + view[k].signature for k in self._q)
            out: dict[int, Envelope] = {}
            for x in self._roster.ids:
                if x == self._me:
                    continue
                if self.is_dealer and x in self._new.ids:
                    share = g.encode_scalar(self._share_for(x))
                    out[x] = self._sign(ROUND_S2, x, MSG_S2, share + echo)
                else:
                    out[x] = self._sign(ROUND_S2, x, MSG_ECHO, echo)
            if self.is_dealer and self.is_new_member:
                assert self._poly is not None
                self._own_share = self._poly.evaluate(self._me)
            self._commitments.update(commitments)
            self._views[ROUND_S1] = view
            self._phase = Phase.ROUND1
            return out

    def round2(self, inbound: Mapping[int, Envelope]) -> ReshareResult:
        """Finish: echo, Feldman (complaint), ``C'_0 == PK``, ``x'_j·G == X'_j``, ``pkg(e+1)``."""
        self._require(Phase.ROUND1)
        g, lay = self._group, self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound,
                senders=self._roster.ids,
                round_=ROUND_S2,
                msg_types=frozenset({MSG_S2, MSG_ECHO}),
                to=self._me,
            )
            for p, env in envs.items():
                want_share = p in self._q and self.is_new_member
                if (env.msg_type == MSG_S2) != want_share:
                    raise ProtocolAbort(
                        AbortReason.BAD_ENVELOPE,
                        {p},
                        f"party {p} sent {env.msg_type} where the protocol needs "
                        f"{MSG_S2 if want_share else MSG_ECHO}",
                        evidence={p: encode_evidence([env])},
                    )
                if len(env.payload) != (lay.s2_len if want_share else lay.echo_len):
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {p},
                        f"{env.msg_type} of party {p} has the wrong length",
                        evidence={p: encode_evidence([env])},
                    )
            for env in envs.values():
                self._s.check_echo(
                    echoer=env,
                    ids=self._q,
                    entries=split_entries(
                        env.payload[-lay.echo_len :], len(self._q), lay.s1_entry_len
                    ),
                    view=self._views[ROUND_S1],
                    round_=ROUND_S1,
                    msg_type=MSG_S1,
                )
            x_new = 0
            if self.is_new_member:
                shares: dict[int, int] = {}
                for i, env in envs.items():
                    if env.msg_type != MSG_S2:
                        continue
                    if self._check_disclosed(i, self._me, env.payload) is not None:
                        return ReshareResult(complaint=self._complain(i, env))
                    shares[i] = g.decode_scalar(env.payload[: g.scalar_len])
                x_new = (sum(shares.values()) + (self._own_share or 0)) % g.order
                shares.clear()
            agg = tuple(
                g.sum_points(self._commitments[i][m] for i in self._q) for m in range(self._t_new)
            )
            if agg[0] != self._pk:
                raise ProtocolAbort(
                    AbortReason.RESHARE_KEY_MISMATCH,
                    (),
                    "the new sharing does not have the old group public key",
                )
            if any(c.is_identity() for c in agg[1:]):
                raise ProtocolAbort(
                    AbortReason.DEGENERATE_SHARING,
                    (),
                    "an aggregate commitment of e+1 is the identity",
                )
            pkg = PublicKeyPackage(
                curve=g.name,
                key_id=self._key_id,
                epoch=self._e_new,
                threshold=self._t_new,
                committee=self._new,
                commitments=agg,
            )
            pkg.verify()
            output = None
            if self.is_new_member:
                output = KeyShare(pkg=pkg, party_id=self._me, secret=x_new)
                output.verify()  # x'_j ≠ 0 and x'_j·G == X'_j (SHARE_INTEGRITY)
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
            self._phase = Phase.OUTPUT if self.is_new_member else Phase.FINISHED
            return ReshareResult(output=output, pkg=pkg, transcript_digest=tdigest)

    # -- hooks (overridden only by adversarial tests) -------------------------------------------

    def _make_polynomial(self) -> Polynomial:
        """``g_i``: ``g_i(0) = w_i``, other coefficients uniform nonzero (S1 step 2)."""
        assert self._w is not None
        order = self._group.order
        return Polynomial(
            [self._w] + [random_nonzero_scalar(self._rng, order) for _ in range(self._t_new - 1)],
            order,
        )

    def _make_s1_points(self, poly: Polynomial) -> tuple[Point, ...]:
        """``E_{i,m} = g_{i,m}·G`` (S1 step 3)."""
        return poly.commitments(self._group)

    def _share_for(self, j: int) -> int:
        """``g_i(j)``."""
        assert self._poly is not None
        return self._poly.evaluate(j)

    # -- CeremonyParty interface ----------------------------------------------------------------

    @property
    def _share_len(self) -> int:
        return self._layout.s2_len

    def _broadcast_envelopes(self) -> list[Envelope]:
        try:
            return [self._views[ROUND_S1][k] for k in self._q]
        except KeyError as exc:
            raise InvalidArguments("transcript is not complete yet", reason="WRONG_STATE") from exc

    def _dealers(self) -> Collection[int]:
        return self._q

    def _check_disclosed(self, accused: int, complainer: int, payload: bytes) -> AbortReason | None:
        g = self._group
        try:
            share = g.decode_scalar(payload[: g.scalar_len])
        except InvalidArguments:
            return AbortReason.INVALID_ENCODING
        if g.base_mul(share) != eval_commitments(g, self._commitments[accused], complainer):
            return AbortReason.FELDMAN_VERIFICATION_FAILED
        return None

    def _zeroise(self) -> None:
        if self._poly is not None:
            self._poly.zeroise()
        self._poly = None
        self._own_share = None
        self._w = None
