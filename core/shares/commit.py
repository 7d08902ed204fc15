"""The two-phase commit decision rules of a ceremony, as a pure per-node state machine.

Spec: ``specs/shares.md`` §10.1 (statements, certificates), §10.2 rules 1–8, §10.3 (crash
matrix), §10.5 (break-glass rollback), §9.2 (what each durable step writes); errata 14
(old-only members stop signing at ``e_old`` once they see the commit certificate) and 17
(certificate validity). Verified by the exhaustive interleaving test in
``tests/test_commit_rules.py`` (§10.3 "Property test (required)", §13 VERIFY).

The node keeps, per ceremony, a durable :class:`NodeState` (in ``keys/<key_id>/state`` and the
epoch records of §9.1) and builds a :class:`Knowledge` from the validly signed statements it
holds for the ``sid`` (ACK / REFUSE / PROMISE-ABORT / DONE of new members, each checked with
:meth:`~warifu.core.shares.statements.Statement.verify_signature`; a signed COMPLAINT counts as
its sender's REFUSE; a signed break-glass rollback instruction sets ``rollback``). The rules say
which durable step is allowed now:

==================  ==========================================================================
action              allowed when (and its §10.2 rule)
==================  ==========================================================================
``WRITE_PENDING``   new member, rounds finished (session alive), nothing decided (§9.2 prepare)
``ACK``             PENDING written, nothing decided yet (rule 1: decide once)
``REFUSE``          new member, nothing decided yet (rule 1; rule 3.1: the answer of a member
                    that has not ACKed to any status/abort request)
``PROMISE``         ACKed, not switched, not yet promised, and holds a REFUSE of *another* new
                    member or a rollback instruction (rule 3.2)
``SWITCH``          ACKed, not promised, holds the commit certificate (rule 2.1; rule 3.3)
``DISCARD``         PENDING, not switched, and holds the abort certificate or has itself
                    recorded REFUSE (rule 4)
``DESTROY_OLD``     old member, holds the done certificate, and (if also new) has switched
                    (rule 5; erratum 14 for old-only members)
==================  ==========================================================================

A node records each step durably (CAS) *before* it sends the corresponding statement (rule 1):
the statements a node has signed are a function of its durable state (:meth:`CommitRules.signed`).

Call sequence in the node's ceremony driver (after the rounds)::

    rules = CommitRules()
    st = NodeState(old_member=..., new_member=...)            # or loaded from Vault
    st = rules.apply(Action.WRITE_PENDING, st, k, me)          # after writing epoch/<e+1>
    st = rules.apply(Action.ACK, st, k, me)                    # CAS decision=ACK, then send ACK
    ... on every new statement: k = k.with_statement(member, decision)
    for action in rules.enabled(st, k, me): ...                # SWITCH / PROMISE / DISCARD / ...
    answer = rules.status_answer(st, k, me)                    # rule 7 (REFUSE is recorded first)
    st = rules.on_restart(st)                                  # §10.3: the session is gone

Break-glass (§10.5): :meth:`CommitRules.rollback` is the effect of a signed operator rollback at
one node; refused once the old epoch is destroyed anywhere (then it is no longer safe).

Also here: :class:`SignedStatement` (one relayed statement, checked before it enters the
:class:`Knowledge`: ``s.verify(new_committee, ceremony=own_ack_statement)``, then
``k = k.with_statement(s.member, s.statement.decision)``), :class:`AbortCertificate` (a
PROMISE-ABORT or REFUSE from every new member; the statements differ, so it is not a
:class:`~warifu.core.shares.statements.Certificate`) and :class:`EquivocationProof` (ACK and
REFUSE signed by one member for one sid, rule 2.3).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from warifu.core.encoding import u16be
from warifu.core.envelope import NodeSigner
from warifu.core.errors import InvalidArguments
from warifu.core.shares.package import Committee
from warifu.core.shares.statements import (
    INVALID_CERTIFICATE,
    SIG_LEN,
    ZERO_DIGEST,
    Decision,
    Statement,
)


class Vote(enum.Enum):
    """The durable ACK/REFUSE decision of a new member for one sid (§9.1 ``decision``)."""

    NONE = "NONE"
    ACK = "ACK"
    REFUSE = "REFUSE"


class Action(enum.Enum):
    """The durable steps of §9.2 / §10.2."""

    WRITE_PENDING = "write pending"
    ACK = "ack"
    REFUSE = "refuse"
    PROMISE = "promise abort"
    SWITCH = "switch"
    DISCARD = "discard"
    DESTROY_OLD = "destroy old epoch"


@dataclass(frozen=True, slots=True)
class NodeState:
    """One node's durable state for one ceremony (plus ``session``: the rounds' memory).

    ``old_member``/``new_member``: membership of ``pkg(e_old)``/``pkg(e_new)`` committees (DKG and
    import: ``old_member = False``). ``session`` is False once a crash lost the rounds before
    PENDING was written (the node can then only REFUSE).
    """

    old_member: bool
    new_member: bool
    session: bool = True
    pending: bool = False
    vote: Vote = Vote.NONE
    promised: bool = False
    switched: bool = False
    discarded: bool = False
    old_destroyed: bool = False

    @property
    def holds_old(self) -> bool:
        """The old epoch's share is still stored (intact until the done certificate)."""
        return self.old_member and not self.old_destroyed

    @property
    def holds_new(self) -> bool:
        """The new epoch's share is stored (PENDING or active) and not discarded."""
        return self.new_member and self.pending and not self.discarded


@dataclass(frozen=True, slots=True)
class Knowledge:
    """The validly signed statements a node holds for one sid, by new member (immutable)."""

    new_members: frozenset[int]
    seen: frozenset[tuple[int, Decision]] = frozenset()
    rollback: bool = False

    def with_statement(self, member: int, decision: Decision) -> Knowledge:
        """Add a verified statement (a COMPLAINT is added as its sender's REFUSE)."""
        if member not in self.new_members:
            raise InvalidArguments(
                f"party {member} is not a new member: its statements do not count",
                reason="INVALID_PARTY",
            )
        return replace(self, seen=self.seen | {(member, decision)})

    def with_rollback(self) -> Knowledge:
        """A signed break-glass rollback instruction (§10.5) was received."""
        return replace(self, rollback=True)

    def has(self, member: int, decision: Decision) -> bool:
        """Whether ``member``'s ``decision`` statement is held."""
        return (member, decision) in self.seen

    def _all(self, decisions: Iterable[Decision]) -> bool:
        ds = tuple(decisions)
        return all(any(self.has(m, d) for d in ds) for m in self.new_members)

    def commit_certificate(self) -> bool:
        """ACK from every new member."""
        return self._all((Decision.ACK,))

    def abort_certificate(self) -> bool:
        """PROMISE-ABORT or REFUSE from every new member."""
        return self._all((Decision.PROMISE_ABORT, Decision.REFUSE))

    def done_certificate(self) -> bool:
        """DONE from every new member."""
        return self._all((Decision.DONE,))

    def refusal_from_other(self, me: int) -> bool:
        """A REFUSE of another new member, or a rollback instruction (rule 3.2, §10.5)."""
        return self.rollback or any(d is Decision.REFUSE and m != me for m, d in self.seen)

    def equivocators(self) -> frozenset[int]:
        """Members that signed both ACK and REFUSE (rule 2.3)."""
        return frozenset(
            m
            for m in self.new_members
            if self.has(m, Decision.ACK) and self.has(m, Decision.REFUSE)
        )


class CommitRules:
    """The rules of §10.2 as predicates over ``(NodeState, Knowledge, me)``.

    Each predicate is a method so that the property test can break one rule on purpose and show
    that the exhaustive check then finds a violation (the test can fail).
    """

    # -- predicates ---------------------------------------------------------------------------

    def may_write_pending(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """§9.2 prepare: the rounds finished at a new member that has decided nothing."""
        return st.new_member and st.session and not st.pending and st.vote is Vote.NONE

    def may_ack(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """Rule 1: ACK only with a durable PENDING record, once."""
        return st.new_member and st.pending and st.vote is Vote.NONE and not st.discarded

    def may_refuse(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """Rules 1 and 3.1: a new member that has not decided may always refuse."""
        return st.new_member and st.vote is Vote.NONE

    def may_promise(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """Rule 3.2: only after ACK, before any switch, with another member's REFUSE in hand."""
        return (
            st.vote is Vote.ACK and not st.switched and not st.promised and k.refusal_from_other(me)
        )

    def may_switch(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """Rules 2.1 and 3.3: the commit certificate, and no promise."""
        return (
            st.new_member
            and st.pending
            and st.vote is Vote.ACK
            and not st.promised
            and not st.switched
            and not st.discarded
            and k.commit_certificate()
        )

    def may_discard(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """Rule 4: the abort certificate, or our own REFUSE (no commit certificate can exist)."""
        return (
            st.pending
            and not st.switched
            and not st.discarded
            and (k.abort_certificate() or st.vote is Vote.REFUSE)
        )

    def may_destroy_old(self, st: NodeState, k: Knowledge, me: int) -> bool:
        """Rule 5: only with the done certificate (every new member has switched)."""
        return (
            st.old_member
            and not st.old_destroyed
            and (st.switched or not st.new_member)
            and k.done_certificate()
        )

    # -- driver ---------------------------------------------------------------------------------

    def can(self, action: Action, st: NodeState, k: Knowledge, me: int) -> bool:
        """Whether ``action`` is allowed now."""
        match action:
            case Action.WRITE_PENDING:
                return self.may_write_pending(st, k, me)
            case Action.ACK:
                return self.may_ack(st, k, me)
            case Action.REFUSE:
                return self.may_refuse(st, k, me)
            case Action.PROMISE:
                return self.may_promise(st, k, me)
            case Action.SWITCH:
                return self.may_switch(st, k, me)
            case Action.DISCARD:
                return self.may_discard(st, k, me)
            case Action.DESTROY_OLD:
                return self.may_destroy_old(st, k, me)

    def enabled(self, st: NodeState, k: Knowledge, me: int) -> list[Action]:
        """Every action allowed now, in the order of :class:`Action`."""
        return [a for a in Action if self.can(a, st, k, me)]

    def apply(self, action: Action, st: NodeState, k: Knowledge, me: int) -> NodeState:
        """The state after ``action``; InvalidArguments(WRONG_STATE) if it is not allowed."""
        if not self.can(action, st, k, me):
            raise InvalidArguments(f"{action.value} is not allowed in {st}", reason="WRONG_STATE")
        match action:
            case Action.WRITE_PENDING:
                return replace(st, pending=True)
            case Action.ACK:
                return replace(st, vote=Vote.ACK)
            case Action.REFUSE:
                return replace(st, vote=Vote.REFUSE)
            case Action.PROMISE:
                return replace(st, promised=True)
            case Action.SWITCH:
                return replace(st, switched=True)
            case Action.DISCARD:
                return replace(st, discarded=True)
            case Action.DESTROY_OLD:
                return replace(st, old_destroyed=True)

    # -- derived views --------------------------------------------------------------------------

    def signed(self, st: NodeState) -> frozenset[Decision]:
        """The statements this node has (durably decided and may have) sent."""
        out = set()
        if st.vote is Vote.ACK:
            out.add(Decision.ACK)
        if st.vote is Vote.REFUSE:
            out.add(Decision.REFUSE)
        if st.promised:
            out.add(Decision.PROMISE_ABORT)
        if st.switched:
            out.add(Decision.DONE)
        return frozenset(out)

    def status_answer(self, st: NodeState, k: Knowledge, me: int) -> tuple[Decision, ...]:
        """Rule 7: what a member answers to a status request (after recording what it needs).

        A member that has not decided must first apply :data:`Action.REFUSE` (recorded before it
        is sent); a switched member also relays the commit certificate (its DONE stands for it
        here). Old-only members answer nothing.
        """
        if not st.new_member:
            return ()
        if st.vote is Vote.NONE:
            raise InvalidArguments(
                "record REFUSE before answering a status request", reason="WRONG_STATE"
            )
        if st.vote is Vote.REFUSE:
            return (Decision.REFUSE,)
        out = [Decision.ACK]
        if st.promised:
            out.append(Decision.PROMISE_ABORT)
        if st.switched:
            out.append(Decision.DONE)
        return tuple(out)

    def signing_epoch(self, st: NodeState, k: Knowledge) -> str | None:
        """``"new"``, ``"old"`` or ``None``: which epoch this node may sign with (§10.4).

        ``"old"`` only means the old share is intact and policy MAY allow it while blocked;
        old-only members stop at the commit certificate (erratum 14).
        """
        if st.switched:
            return "new"
        if not st.holds_old:
            return None
        if not st.new_member and k.commit_certificate():
            return None
        return "old"

    def on_restart(self, st: NodeState) -> NodeState:
        """§10.3: after a crash the rounds' memory is gone; durable state is kept as it is."""
        return replace(st, session=False)

    def rollback(self, st: NodeState) -> NodeState:
        """§10.5 break-glass rollback at one node: revert the switch, discard ``e_new``, promise.

        Refused (WRONG_STATE) if this node destroyed its old epoch: then a rollback is unsafe.
        """
        if st.old_member and st.old_destroyed:
            raise InvalidArguments(
                "rollback after the old epoch was destroyed", reason="WRONG_STATE"
            )
        return replace(
            st,
            switched=False,
            discarded=st.discarded or st.pending,
            promised=st.promised or st.vote is Vote.ACK,
        )


# --------------------------------------------------------------------------------------------
# abort certificate and equivocation proof
# --------------------------------------------------------------------------------------------


def _same_ceremony(a: Statement, b: Statement) -> bool:
    return (a.sid, a.kind, a.key_id, a.e_old, a.e_new) == (
        b.sid,
        b.kind,
        b.key_id,
        b.e_old,
        b.e_new,
    )


def _digests_ok(st: Statement, pkg_digest: bytes, transcript_digest: bytes) -> bool:
    """A REFUSE/PROMISE carries the ceremony's digests or zeros if not computed (§10.1)."""
    return (st.pkg_digest, st.transcript_digest) in (
        (pkg_digest, transcript_digest),
        (ZERO_DIGEST, ZERO_DIGEST),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedStatement:
    """One member's §10.1 statement with its detached node-key signature (what rule 7 relays).

    Wire layout: ``u16be(member) ‖ u16be(len stmt) ‖ stmt ‖ sig(64)``. :meth:`verify` is the
    check a node runs before adding the statement to its :class:`Knowledge`.
    """

    member: int
    statement: Statement
    signature: bytes

    @classmethod
    def create(cls, member: int, statement: Statement, signer: NodeSigner) -> SignedStatement:
        """Sign ``statement`` (record the decision durably *before* sending it, rule 1)."""
        return cls(member=member, statement=statement, signature=statement.sign(signer))

    def verify(self, committee: Committee, *, ceremony: Statement) -> None:
        """Signed by ``member`` of ``committee`` (the new one), for ``ceremony``'s sid, kind, key
        and epochs; an ACK/DONE over exactly ``ceremony``'s digests, a REFUSE/PROMISE-ABORT over
        them or over zeros (§10.1). Raises InvalidArguments(INVALID_STATEMENT)."""
        st = self.statement
        ok_digests = (
            _digests_ok(st, ceremony.pkg_digest, ceremony.transcript_digest)
            if st.decision in (Decision.REFUSE, Decision.PROMISE_ABORT)
            else (st.pkg_digest, st.transcript_digest)
            == (ceremony.pkg_digest, ceremony.transcript_digest)
        )
        if not _same_ceremony(st, ceremony) or not ok_digests:
            raise InvalidArguments("statement is for another ceremony", reason="INVALID_STATEMENT")
        try:
            st.verify_signature(committee.member(self.member).sign_pub, self.signature)
        except InvalidArguments as exc:
            raise InvalidArguments(
                f"statement signature of party {self.member} invalid", reason="INVALID_STATEMENT"
            ) from exc

    def encode(self) -> bytes:
        """Wire layout (class docstring)."""
        raw = self.statement.encode()
        return u16be(self.member) + u16be(len(raw)) + raw + self.signature

    @classmethod
    def decode(cls, data: bytes) -> SignedStatement:
        """Strict inverse of :meth:`encode` (does not verify)."""
        if len(data) < 4:
            raise InvalidArguments("signed statement truncated", reason="INVALID_STATEMENT")
        n = int.from_bytes(data[2:4], "big")
        if len(data) != 4 + n + SIG_LEN:
            raise InvalidArguments("signed statement length mismatch", reason="INVALID_STATEMENT")
        return cls(
            member=int.from_bytes(data[:2], "big"),
            statement=Statement.decode(data[4 : 4 + n]),
            signature=data[4 + n :],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AbortCertificate:
    """A PROMISE-ABORT or a REFUSE from every new member (§10.1), each with its signature.

    Wire layout: ``u16be(m) ‖ m × (u16be(id) ‖ u16be(len stmt) ‖ stmt ‖ sig(64))``, ids strictly
    ascending.
    """

    entries: tuple[tuple[int, Statement, bytes], ...]

    def __post_init__(self) -> None:
        ids = [i for i, _, _ in self.entries]
        if ids != sorted(set(ids)):
            raise InvalidArguments(
                "abort certificate signers must be ascending and unique",
                reason=INVALID_CERTIFICATE,
            )
        for _, st, sig in self.entries:
            if st.decision not in (Decision.REFUSE, Decision.PROMISE_ABORT):
                raise InvalidArguments(
                    "an abort certificate holds REFUSE / PROMISE-ABORT statements only",
                    reason=INVALID_CERTIFICATE,
                )
            if len(sig) != SIG_LEN:
                raise InvalidArguments("signature must be 64 bytes", reason=INVALID_CERTIFICATE)

    def verify(
        self,
        committee: Committee,
        *,
        ceremony: Statement,
    ) -> None:
        """Erratum 17 adapted: signers exactly ``committee`` (the new one), every statement of
        this ceremony (``ceremony``'s sid, kind, key, epochs; its digests or zeros), every
        signature valid. Raises InvalidArguments(INVALID_CERTIFICATE)."""
        if tuple(i for i, _, _ in self.entries) != committee.ids:
            raise InvalidArguments(
                "abort certificate signers are not exactly the committee",
                reason=INVALID_CERTIFICATE,
            )
        for party, st, sig in self.entries:
            if not _same_ceremony(st, ceremony) or not _digests_ok(
                st, ceremony.pkg_digest, ceremony.transcript_digest
            ):
                raise InvalidArguments(
                    f"statement of party {party} is for another ceremony",
                    reason=INVALID_CERTIFICATE,
                )
            try:
                st.verify_signature(committee.member(party).sign_pub, sig)
            except InvalidArguments as exc:
                raise InvalidArguments(
                    f"abort certificate signature of party {party} invalid",
                    reason=INVALID_CERTIFICATE,
                ) from exc

    @classmethod
    def collect(
        cls,
        committee: Committee,
        ceremony: Statement,
        statements: Mapping[int, tuple[Statement, bytes]],
    ) -> AbortCertificate:
        """Build and verify from one (statement, signature) per member."""
        cert = cls(entries=tuple((i, st, sig) for i, (st, sig) in sorted(statements.items())))
        cert.verify(committee, ceremony=ceremony)
        return cert

    def encode(self) -> bytes:
        """Wire layout (class docstring)."""
        out = [u16be(len(self.entries))]
        for i, st, sig in self.entries:
            raw = st.encode()
            out.append(u16be(i) + u16be(len(raw)) + raw + sig)
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> AbortCertificate:
        """Strict inverse of :meth:`encode` (does not verify)."""
        try:
            m = int.from_bytes(data[:2], "big")
            pos, entries = 2, []
            for _ in range(m):
                i = int.from_bytes(data[pos : pos + 2], "big")
                n = int.from_bytes(data[pos + 2 : pos + 4], "big")
                pos += 4
                st = Statement.decode(data[pos : pos + n])
                pos += n
                sig = data[pos : pos + SIG_LEN]
                pos += SIG_LEN
                entries.append((i, st, sig))
        except IndexError as exc:  # pragma: no cover - slicing does not raise
            raise InvalidArguments(
                "abort certificate truncated", reason=INVALID_CERTIFICATE
            ) from exc
        if len(data) < 2 or pos != len(data):
            raise InvalidArguments("abort certificate length mismatch", reason=INVALID_CERTIFICATE)
        return cls(entries=tuple(entries))


@dataclass(frozen=True, slots=True, kw_only=True)
class EquivocationProof:
    """Rule 2.3: one member's signed ACK and signed REFUSE for the same ceremony."""

    member: int
    ack: Statement
    ack_signature: bytes
    refuse: Statement
    refuse_signature: bytes

    def verify(self, committee: Committee) -> int:
        """Return the equivocating member, or raise InvalidArguments(INVALID_EVIDENCE)."""
        if self.ack.decision is not Decision.ACK or self.refuse.decision is not Decision.REFUSE:
            raise InvalidArguments("needs an ACK and a REFUSE", reason="INVALID_EVIDENCE")
        if not _same_ceremony(self.ack, self.refuse):
            raise InvalidArguments(
                "the statements are for different ceremonies", reason="INVALID_EVIDENCE"
            )
        pub = committee.member(self.member).sign_pub
        try:
            self.ack.verify_signature(pub, self.ack_signature)
            self.refuse.verify_signature(pub, self.refuse_signature)
        except InvalidArguments as exc:
            raise InvalidArguments(
                "a signature does not verify", reason="INVALID_EVIDENCE"
            ) from exc
        return self.member
