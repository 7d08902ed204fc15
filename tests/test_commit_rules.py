"""Two-phase commit rules (shares.md §10.2, §10.3, §12 item 12; test-plan REF-2/REF-3, core level).

The REQUIRED exhaustive interleaving test of §10.3 (and the VERIFY point of §13): every
reachable global state of ≤ 5 nodes running :class:`~warifu.core.shares.commit.CommitRules`, in
every interleaving, with crash points and with a malicious new member that signs any subset of
ACK / REFUSE / PROMISE-ABORT / DONE (double-signing included), is checked for

1. at every step, ≥ ``t_old`` honest members hold ``e_old`` or ≥ ``t_new`` honest members have
   switched to ``e_new``;
2. final states (no rule enabled anywhere) are all-old or all-new; a mixed final state exists
   only if the malicious member signed both ACK and REFUSE (proven equivocation), no old epoch
   is destroyed in it, and the break-glass rollback of §10.5 brings every node back to
   ``e_old``;

plus local sanity (never switched and discarded, never switched after a promise), "old epochs are
destroyed only with the done certificate", and "an honest run can end either way" (both outcomes
are reachable, so the exploration is not vacuous).

The model (documented in ``docs/ceremonies-findings.md``):

- **State** = the durable :class:`NodeState` of every honest node. The statements a node has
  signed are a function of its durable state (rule 1: recorded before sent).
- **Network**: the adversary may deliver any signed statement to anyone at any time and may
  withhold any; so a node may act on *any* subset of the signed statements. Every rule is
  monotone in the statements held (checked below), hence a node can take an action iff the
  statements it needs have been signed: the model gives every node the full pool. Message loss
  and delay are the interleavings in which a node does not act yet.
- **Crash points**: every durable step is one atomic CAS and idempotent (§9.2), so a crash
  between any two steps is a pause plus the loss of memory; the only memory that matters is the
  rounds' session (a node that crashes before PENDING can only REFUSE: ``on_restart``). Collected
  statements lost in a crash are re-obtained from peers (covered by the network model).
- **Symmetry**: nodes with the same roles are interchangeable, so global states are
  canonicalised by sorting the node states within each role class (old-only, both, new-only).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from warifu.core.envelope import NodeSigner
from warifu.core.errors import InvalidArguments
from warifu.core.shares.commit import (
    AbortCertificate,
    Action,
    CommitRules,
    EquivocationProof,
    Knowledge,
    NodeState,
    SignedStatement,
    Vote,
)
from warifu.core.shares.package import Committee, Member
from warifu.core.shares.statements import ZERO_DIGEST, Decision, Statement

D = Decision
ALL_SIGNS = (D.ACK, D.REFUSE, D.PROMISE_ABORT, D.DONE)


# --------------------------------------------------------------------------------------------
# the model checker
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A ceremony: old and new committees, thresholds, an optional malicious new member."""

    old: tuple[int, ...]
    new: tuple[int, ...]
    t_old: int
    t_new: int
    malicious: int | None = None
    m_signs: frozenset[Decision] = frozenset()

    @property
    def honest(self) -> tuple[int, ...]:
        return tuple(i for i in sorted(set(self.old) | set(self.new)) if i != self.malicious)

    def role(self, i: int) -> tuple[bool, bool]:
        return (i in self.old, i in self.new)

    def label(self) -> str:
        m = (
            ""
            if self.malicious is None
            else f" m={self.malicious}:{sorted(d.value for d in self.m_signs)}"
        )
        return f"{self.old}/{self.t_old}->{self.new}/{self.t_new}{m}"


@dataclass
class Report:
    states: int = 0
    violations: list[str] = field(default_factory=list)
    outcomes: set[str] = field(default_factory=set)

    def fail(self, cfg: Config, msg: str, state: Iterable[NodeState]) -> None:
        if len(self.violations) < 5:
            self.violations.append(f"{cfg.label()}: {msg}: {list(state)}")


def _key(st: NodeState) -> tuple[object, ...]:
    return (
        st.session,
        st.pending,
        st.vote.value,
        st.promised,
        st.switched,
        st.discarded,
        st.old_destroyed,
    )


class Model:
    def __init__(self, cfg: Config, rules: CommitRules) -> None:
        self.cfg = cfg
        self.rules = rules
        self.ids = cfg.honest
        self.classes: dict[tuple[bool, bool], list[int]] = {}
        for pos, i in enumerate(self.ids):
            self.classes.setdefault(cfg.role(i), []).append(pos)

    def initial(self) -> tuple[NodeState, ...]:
        return tuple(
            NodeState(old_member=i in self.cfg.old, new_member=i in self.cfg.new) for i in self.ids
        )

    def canon(self, state: tuple[NodeState, ...]) -> tuple[NodeState, ...]:
        out = list(state)
        for positions in self.classes.values():
            for pos, st in zip(
                positions, sorted((state[p] for p in positions), key=_key), strict=True
            ):
                out[pos] = st
        return tuple(out)

    def knowledge(self, state: tuple[NodeState, ...], *, rollback: bool = False) -> Knowledge:
        seen = {
            (i, d) for i, st in zip(self.ids, state, strict=True) for d in self.rules.signed(st)
        }
        if self.cfg.malicious is not None:
            seen |= {(self.cfg.malicious, d) for d in self.cfg.m_signs}
        return Knowledge(
            new_members=frozenset(self.cfg.new), seen=frozenset(seen), rollback=rollback
        )

    def successors(
        self, state: tuple[NodeState, ...], *, rollback: bool = False
    ) -> list[tuple[NodeState, ...]]:
        k = self.knowledge(state, rollback=rollback)
        out = []
        for pos, (i, st) in enumerate(zip(self.ids, state, strict=True)):
            for action in self.rules.enabled(st, k, i):
                nxt = list(state)
                nxt[pos] = self.rules.apply(action, st, k, i)
                out.append(self.canon(tuple(nxt)))
            # crash point: a crash before PENDING loses the rounds' session
            if st.session and not st.pending and st.new_member and st.vote is Vote.NONE:
                nxt = list(state)
                nxt[pos] = self.rules.on_restart(st)
                out.append(self.canon(tuple(nxt)))
        return out

    # -- properties ---------------------------------------------------------------------------

    def check_step(self, state: tuple[NodeState, ...], rep: Report) -> None:
        cfg = self.cfg
        hold_old = sum(st.holds_old for st in state)
        switched = sum(st.switched for st in state)
        if not (hold_old >= cfg.t_old or switched >= cfg.t_new):
            rep.fail(
                cfg, f"no quorum (old {hold_old}/{cfg.t_old}, new {switched}/{cfg.t_new})", state
            )
        news = [st for st in state if st.new_member]
        for st in state:
            if st.switched and (st.discarded or st.promised):
                rep.fail(cfg, "a node switched and discarded/promised", state)
            if st.old_destroyed and not all(n.switched for n in news):
                rep.fail(cfg, "old epoch destroyed before every new member switched", state)
        split = any(st.switched for st in news) and any(
            st.promised or (st.discarded and st.vote is Vote.ACK) for st in news
        )
        if split and not {D.ACK, D.REFUSE} <= self.cfg.m_signs:
            rep.fail(cfg, "split without an equivocating member", state)

    def terminal(self, state: tuple[NodeState, ...], *, rollback: bool = False) -> bool:
        k = self.knowledge(state, rollback=rollback)
        return not any(self.rules.enabled(st, k, i) for i, st in zip(self.ids, state, strict=True))

    def classify(self, state: tuple[NodeState, ...]) -> str:
        news = [st for st in state if st.new_member]
        if not any(st.switched for st in news):
            return "all-old"
        if all(st.switched for st in news):
            return "all-new"
        return "mixed"

    def check_final(self, state: tuple[NodeState, ...], rep: Report) -> None:
        cfg = self.cfg
        outcome = self.classify(state)
        rep.outcomes.add(outcome)
        olds = [st for st in state if st.old_member]
        if outcome == "all-old":
            if any(st.old_destroyed for st in olds):
                rep.fail(cfg, "all-old final state without the old epoch", state)
            if cfg.malicious is None and any(st.holds_new for st in state):
                rep.fail(cfg, "honest abort left a pending share undiscarded", state)
        elif outcome == "all-new":
            if cfg.malicious is None or D.DONE in cfg.m_signs:
                if any(st.holds_old for st in olds):
                    rep.fail(cfg, "all-new final state kept the old epoch", state)
        else:
            if not {D.ACK, D.REFUSE} <= cfg.m_signs:
                rep.fail(cfg, "mixed final state without equivocation", state)
            if any(st.old_destroyed for st in olds):
                rep.fail(cfg, "mixed final state after destroying the old epoch", state)
            self.check_rollback(state, rep)

    def check_rollback(self, state: tuple[NodeState, ...], rep: Report) -> None:
        """§10.5: rollback at every node, then the rules run to completion: all on e_old."""
        start = self.canon(tuple(self.rules.rollback(st) for st in state))
        seen = {start}
        queue = deque([start])
        while queue:
            s = queue.popleft()
            self.check_step(s, rep)
            nxt = self.successors(s, rollback=True)
            if not nxt and self.classify(s) != "all-old":
                rep.fail(self.cfg, "rollback did not restore e_old", s)
            for n in nxt:
                if any(st.switched for st in n):
                    rep.fail(self.cfg, "a node switched after the rollback", n)
                if n not in seen:
                    seen.add(n)
                    queue.append(n)


def explore(cfg: Config, rules: CommitRules | None = None) -> Report:
    model = Model(cfg, rules or CommitRules())
    rep = Report()
    start = model.canon(model.initial())
    seen = {start}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        rep.states += 1
        model.check_step(state, rep)
        nxt = model.successors(state)
        if model.terminal(state):
            model.check_final(state, rep)
        for n in nxt:
            if n not in seen:
                seen.add(n)
                queue.append(n)
    return rep


# --------------------------------------------------------------------------------------------
# configurations: refresh (same committee) and reshare (old-only, both, new-only), ≤ 5 nodes
# --------------------------------------------------------------------------------------------


def honest_configs() -> list[Config]:
    out = []
    for n in range(2, 6):
        ids = tuple(range(1, n + 1))
        for t in range(2, n + 1):
            out.append(Config(ids, ids, t, t))  # refresh
    out += [
        Config((1, 2, 3), (1, 2, 3, 4, 5), 2, 3),  # grow 2-of-3 -> 3-of-5
        Config((1, 2, 3, 4, 5), (1, 2, 3), 3, 2),  # shrink 3-of-5 -> 2-of-3
        Config((1, 2, 3), (3, 4, 5), 2, 2),  # replace two members
        Config((1, 2), (3, 4, 5), 2, 3),  # disjoint committees
        Config((1, 2, 3), (2, 3), 2, 2),  # remove one member
    ]
    return out


def malicious_configs() -> list[Config]:
    bases = [
        Config((1, 2, 3), (1, 2, 3), 2, 2),
        Config((1, 2, 3, 4), (1, 2, 3, 4), 3, 3),
        Config((1, 2, 3, 4, 5), (1, 2, 3, 4, 5), 3, 3),
        Config((1, 2, 3), (2, 3, 4, 5), 2, 3),
        Config((1, 2, 3, 4), (1, 2, 3), 3, 2),
    ]
    out = []
    for base in bases:
        m = base.new[-1]
        for r in range(len(ALL_SIGNS) + 1):
            for signs in itertools.combinations(ALL_SIGNS, r):
                out.append(replace(base, malicious=m, m_signs=frozenset(signs)))
    return out


@pytest.mark.parametrize("cfg", honest_configs(), ids=Config.label)
def test_commit_rules_exhaustive_honest(cfg: Config) -> None:
    rep = explore(cfg)
    assert rep.violations == []
    # both outcomes are reachable (a REFUSE / crash aborts; all ACKs commit): not vacuous
    assert rep.outcomes == {"all-old", "all-new"}
    assert rep.states > 10


@pytest.mark.parametrize("cfg", malicious_configs(), ids=Config.label)
def test_commit_rules_exhaustive_with_a_malicious_member(cfg: Config) -> None:
    rep = explore(cfg)
    assert rep.violations == []
    equivocates = {D.ACK, D.REFUSE} <= cfg.m_signs
    assert ("mixed" in rep.outcomes) == equivocates
    if D.ACK in cfg.m_signs:
        assert "all-new" in rep.outcomes
    else:
        assert rep.outcomes == {"all-old"}  # no commit certificate without m's ACK


# --------------------------------------------------------------------------------------------
# the checker can fail: each broken rule is caught
# --------------------------------------------------------------------------------------------


class PromiseOnTimeout(CommitRules):
    """Rule 3.2 dropped: an ACKed node promises on a timeout, without a REFUSE in hand."""

    def may_promise(self, st: NodeState, k: Knowledge, me: int) -> bool:
        return st.vote is Vote.ACK and not st.switched and not st.promised


class DestroyOnCommit(CommitRules):
    """Rule 5 weakened: destroy the old epoch with the commit certificate."""

    def may_destroy_old(self, st: NodeState, k: Knowledge, me: int) -> bool:
        return st.old_member and not st.old_destroyed and k.commit_certificate()


class SwitchAfterPromise(CommitRules):
    """Rule 3.3 dropped: a promised node still switches when the certificate arrives."""

    def may_switch(self, st: NodeState, k: Knowledge, me: int) -> bool:
        return st.pending and st.vote is Vote.ACK and not st.switched and k.commit_certificate()


class DiscardAfterAck(CommitRules):
    """Rule 4 weakened: an ACKed node discards on a timeout."""

    def may_discard(self, st: NodeState, k: Knowledge, me: int) -> bool:
        return st.pending and not st.switched and not st.discarded and st.vote is not Vote.NONE


class PromiseOnPromise(CommitRules):
    """Rule 3.2 misread: another member's PROMISE-ABORT (not a REFUSE) is enough to promise."""

    def may_promise(self, st: NodeState, k: Knowledge, me: int) -> bool:
        other = any(d in (D.REFUSE, D.PROMISE_ABORT) and m != me for m, d in k.seen)
        return st.vote is Vote.ACK and not st.switched and not st.promised and other


@pytest.mark.parametrize(
    ("rules", "cfg"),
    [
        (PromiseOnTimeout(), Config((1, 2, 3), (1, 2, 3), 2, 2)),
        (DestroyOnCommit(), Config((1, 2, 3), (1, 2, 3), 3, 3)),
        (SwitchAfterPromise(), Config((1, 2, 3), (1, 2, 3), 2, 2, 3, frozenset({D.ACK, D.REFUSE}))),
        (DiscardAfterAck(), Config((1, 2, 3), (1, 2, 3), 2, 2)),
        (
            PromiseOnPromise(),
            Config((1, 2, 3), (1, 2, 3), 2, 2, 3, frozenset({D.ACK, D.PROMISE_ABORT})),
        ),
    ],
    ids=[
        "promise-on-timeout",
        "destroy-on-commit",
        "switch-after-promise",
        "discard-after-ack",
        "promise-on-promise",
    ],
)
def test_the_checker_finds_each_broken_rule(rules: CommitRules, cfg: Config) -> None:
    rep = explore(cfg, rules)
    assert rep.violations, "the exhaustive check must catch this broken rule"


# --------------------------------------------------------------------------------------------
# the rule engine itself
# --------------------------------------------------------------------------------------------


NEW = frozenset({1, 2, 3})


def k_of(*stmts: tuple[int, Decision], rollback: bool = False) -> Knowledge:
    return Knowledge(new_members=NEW, seen=frozenset(stmts), rollback=rollback)


def test_decide_once_and_record_before_send() -> None:
    r = CommitRules()
    st = NodeState(old_member=True, new_member=True)
    k = k_of()
    assert r.enabled(st, k, 1) == [Action.WRITE_PENDING, Action.REFUSE]
    with pytest.raises(InvalidArguments) as exc:
        r.apply(Action.ACK, st, k, 1)  # no PENDING yet
    assert exc.value.reason == "WRONG_STATE"
    st = r.apply(Action.WRITE_PENDING, st, k, 1)
    st = r.apply(Action.ACK, st, k, 1)
    assert r.signed(st) == {D.ACK}
    for a in (Action.ACK, Action.REFUSE):
        assert not r.can(a, st, k, 1)
    assert r.status_answer(st, k, 1) == (D.ACK,)


def test_promise_needs_another_members_refuse() -> None:
    r = CommitRules()
    acked = NodeState(old_member=True, new_member=True, pending=True, vote=Vote.ACK)
    assert not r.can(Action.PROMISE, acked, k_of((2, D.PROMISE_ABORT), (3, D.ACK)), 1)
    assert not r.can(Action.PROMISE, acked, k_of((1, D.REFUSE)), 1)  # its own does not count
    assert r.can(Action.PROMISE, acked, k_of((2, D.REFUSE)), 1)
    assert r.can(Action.PROMISE, acked, k_of(rollback=True), 1)
    promised = r.apply(Action.PROMISE, acked, k_of((2, D.REFUSE)), 1)
    everyone_acked = k_of((1, D.ACK), (2, D.ACK), (3, D.ACK), (2, D.REFUSE))
    assert not r.can(Action.SWITCH, promised, everyone_acked, 1)
    assert r.status_answer(promised, everyone_acked, 1) == (D.ACK, D.PROMISE_ABORT)
    assert everyone_acked.equivocators() == {2}


def test_discard_and_destroy_conditions() -> None:
    r = CommitRules()
    refused = NodeState(old_member=True, new_member=True, pending=True, vote=Vote.REFUSE)
    assert r.can(Action.DISCARD, refused, k_of(), 1)  # rule 4.2
    acked = replace(refused, vote=Vote.ACK)
    assert not r.can(Action.DISCARD, acked, k_of((2, D.REFUSE)), 1)
    abort = k_of((1, D.PROMISE_ABORT), (2, D.REFUSE), (3, D.PROMISE_ABORT))
    assert r.can(Action.DISCARD, acked, abort, 1)
    switched = replace(acked, switched=True)
    commit = k_of((1, D.ACK), (2, D.ACK), (3, D.ACK))
    assert not r.can(Action.DESTROY_OLD, switched, commit, 1)
    done = k_of((1, D.DONE), (2, D.DONE), (3, D.DONE))
    assert r.can(Action.DESTROY_OLD, switched, done, 1)
    assert not r.can(Action.DESTROY_OLD, acked, done, 1)  # not switched itself
    old_only = NodeState(old_member=True, new_member=False)
    assert r.enabled(old_only, commit, 9) == []
    assert r.enabled(old_only, done, 9) == [Action.DESTROY_OLD]
    assert r.signing_epoch(old_only, k_of()) == "old"
    assert r.signing_epoch(old_only, commit) is None  # erratum 14
    assert r.signing_epoch(switched, commit) == "new"
    assert r.status_answer(old_only, commit, 9) == ()


def test_restart_and_rollback() -> None:
    r = CommitRules()
    fresh = NodeState(old_member=True, new_member=True)
    lost = r.on_restart(fresh)
    assert r.enabled(lost, k_of(), 1) == [Action.REFUSE]  # session gone: it can only refuse
    with pytest.raises(InvalidArguments):
        r.status_answer(lost, k_of(), 1)  # REFUSE must be recorded first
    switched = NodeState(
        old_member=True, new_member=True, pending=True, vote=Vote.ACK, switched=True
    )
    back = r.rollback(switched)
    assert not back.switched and back.discarded and back.promised and back.holds_old
    with pytest.raises(InvalidArguments):
        r.rollback(replace(switched, old_destroyed=True))


@settings(max_examples=300, deadline=None)
@given(
    fields=hst.tuples(*(hst.booleans() for _ in range(8))),
    vote=hst.sampled_from(list(Vote)),
    small=hst.sets(hst.tuples(hst.sampled_from([1, 2, 3]), hst.sampled_from(ALL_SIGNS))),
    extra=hst.sets(hst.tuples(hst.sampled_from([1, 2, 3]), hst.sampled_from(ALL_SIGNS))),
    rollback=hst.booleans(),
)
def test_rules_are_monotone_in_the_statements_held(
    fields: tuple[bool, ...],
    vote: Vote,
    small: set[tuple[int, Decision]],
    extra: set[tuple[int, Decision]],
    rollback: bool,
) -> None:
    """The model's network abstraction needs this: more statements never disable an action."""
    old, new, session, pending, promised, switched, discarded, destroyed = fields
    stt = NodeState(old, new, session, pending, vote, promised, switched, discarded, destroyed)
    r = CommitRules()
    k_small = Knowledge(new_members=NEW, seen=frozenset(small), rollback=False)
    k_big = Knowledge(new_members=NEW, seen=frozenset(small | extra), rollback=rollback)
    assert set(r.enabled(stt, k_small, 1)) <= set(r.enabled(stt, k_big, 1))


# --------------------------------------------------------------------------------------------
# abort certificate and equivocation proof (errata 17)
# --------------------------------------------------------------------------------------------


def _committee() -> tuple[Committee, dict[int, NodeSigner]]:
    signers = {i: NodeSigner(bytes([i]) * 32) for i in (1, 2, 3)}
    return (
        Committee(
            members=tuple(
                Member(id=i, node=f"n{i}", sign_pub=s.public_key) for i, s in signers.items()
            )
        ),
        signers,
    )


def _stmt(decision: Decision, *, zero: bool = False, sid: bytes = b"s" * 32) -> Statement:
    return Statement(
        sid=sid,
        kind="refresh",
        key_id=b"k" * 16,
        e_old=1,
        e_new=2,
        pkg_digest=ZERO_DIGEST if zero else b"p" * 32,
        transcript_digest=ZERO_DIGEST if zero else b"t" * 32,
        decision=decision,
    )


def test_abort_certificate() -> None:
    committee, signers = _committee()
    ceremony = _stmt(D.ACK)
    parts = {
        1: (_stmt(D.REFUSE, zero=True), _stmt(D.REFUSE, zero=True).sign(signers[1])),
        2: (_stmt(D.PROMISE_ABORT), _stmt(D.PROMISE_ABORT).sign(signers[2])),
        3: (_stmt(D.PROMISE_ABORT), _stmt(D.PROMISE_ABORT).sign(signers[3])),
    }
    cert = AbortCertificate.collect(committee, ceremony, parts)
    assert AbortCertificate.decode(cert.encode()) == cert
    cert.verify(committee, ceremony=ceremony)
    with pytest.raises(InvalidArguments):  # a member missing
        AbortCertificate.collect(committee, ceremony, {i: parts[i] for i in (1, 2)})
    with pytest.raises(InvalidArguments):  # an ACK is not an abort statement
        AbortCertificate.collect(
            committee, ceremony, parts | {3: (_stmt(D.ACK), _stmt(D.ACK).sign(signers[3]))}
        )
    other = _stmt(D.PROMISE_ABORT, sid=b"x" * 32)
    with pytest.raises(InvalidArguments):  # another ceremony
        AbortCertificate.collect(committee, ceremony, parts | {3: (other, other.sign(signers[3]))})
    with pytest.raises(InvalidArguments):  # signed by the wrong member
        AbortCertificate.collect(committee, ceremony, parts | {3: (parts[2][0], parts[2][1])})
    with pytest.raises(InvalidArguments):
        AbortCertificate.decode(cert.encode()[:-1])


def test_equivocation_proof() -> None:
    committee, signers = _committee()
    ack, ref = _stmt(D.ACK), _stmt(D.REFUSE, zero=True)
    proof = EquivocationProof(
        member=2,
        ack=ack,
        ack_signature=ack.sign(signers[2]),
        refuse=ref,
        refuse_signature=ref.sign(signers[2]),
    )
    assert proof.verify(committee) == 2
    bad = replace(proof, refuse_signature=ref.sign(signers[3]))
    with pytest.raises(InvalidArguments):
        bad.verify(committee)
    other = _stmt(D.REFUSE, sid=b"y" * 32)
    with pytest.raises(InvalidArguments):
        replace(proof, refuse=other, refuse_signature=other.sign(signers[2])).verify(committee)


def test_signed_statement() -> None:
    committee, signers = _committee()
    ceremony = _stmt(D.ACK)
    for st, ok in [
        (_stmt(D.ACK), True),
        (_stmt(D.DONE), True),
        (_stmt(D.REFUSE, zero=True), True),
        (_stmt(D.PROMISE_ABORT), True),
        (_stmt(D.ACK, zero=True), False),  # an ACK must carry the ceremony's digests
        (_stmt(D.REFUSE, sid=b"z" * 32), False),
        (replace(_stmt(D.REFUSE), transcript_digest=b"q" * 32), False),
    ]:
        signed = SignedStatement.create(2, st, signers[2])
        assert SignedStatement.decode(signed.encode()) == signed
        if ok:
            signed.verify(committee, ceremony=ceremony)
        else:
            with pytest.raises(InvalidArguments):
                signed.verify(committee, ceremony=ceremony)
    forged = SignedStatement(member=3, statement=ceremony, signature=ceremony.sign(signers[2]))
    with pytest.raises(InvalidArguments):
        forged.verify(committee, ceremony=ceremony)
    with pytest.raises(InvalidArguments):
        SignedStatement.decode(forged.encode()[:-1])
