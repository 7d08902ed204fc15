"""In-process simulation of refresh, reshare and repair with a Byzantine ``rule`` hook (test-only).

Sibling of :mod:`helpers.simulation` (the DKG harness), whose conventions it keeps:

- ``rule(round, sender, recipient, envelope) -> envelope | None`` sees every delivery and may
  return it unchanged, a mutated/replaced envelope (:meth:`Net.resign`), a different one per
  recipient (equivocation) or ``None`` (drop). A party missing an envelope from someone who
  must send is *stalled* (liveness, no blame).
- ``factories`` maps a party id to a callable with the party class's keyword signature, to plug
  in a subclass that overrides a hook (a malicious dealer that runs the real code otherwise).

:func:`make_key` runs the real DKG (``helpers.simulation.Simulation``) to get the epoch-1 key the
ceremonies start from; :func:`make_request` builds the approved :class:`CeremonyStatement`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers.simulation import Simulation, interpolate_secret, node_signer
from warifu.core.approvals import CeremonyKind, CeremonyStatement
from warifu.core.curves import Group
from warifu.core.envelope import Envelope, NodeSigner
from warifu.core.errors import ProtocolAbort, WarifuError
from warifu.core.rng import DeterministicRng
from warifu.core.shares.package import Committee, KeyShare, Member, PublicKeyPackage
from warifu.core.shares.refresh import RefreshParty, RefreshResult
from warifu.core.shares.repair import EnrolledShare, RepairHelper, RepairTarget
from warifu.core.shares.reshare import ReshareParty, ReshareResult
from warifu.core.shares.statements import CommitCertificate, DoneCertificate

Rule = Callable[[int, int, int, Envelope], Envelope | None]
Factory = Callable[..., Any]

REQUEST_ID = bytes(range(16))
COORD_NONCE = bytes(range(32, 64))
NEVER = 2**62  # an expiry in the far future (the parties do not check expiry; approvals do)

__all__ = [
    "Key",
    "Net",
    "Outcome",
    "Result",
    "committee_for",
    "dealt_key",
    "interpolate_secret",
    "make_key",
    "make_request",
    "run_refresh",
    "run_repair",
    "run_reshare",
    "signer_for",
]


# --------------------------------------------------------------------------------------------
# keys, node identities and requests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A DKG'd key: every share, the node keys (by party id) and the committee."""

    group: Group
    seed: str
    shares: dict[int, KeyShare]
    signers: dict[int, NodeSigner]

    @property
    def pkg(self) -> PublicKeyPackage:
        return next(iter(self.shares.values())).pkg

    @property
    def committee(self) -> Committee:
        return self.pkg.committee

    @property
    def secret(self) -> int:
        """TEST-ONLY reconstruction (never in the product)."""
        t = self.pkg.threshold
        ids = sorted(self.shares)[:t]
        return interpolate_secret(self.group.order, {i: self.shares[i].secret for i in ids})


@functools.cache
def make_key(group: Group, t: int, ids: tuple[int, ...], seed: str = "ceremony") -> Key:
    """The real DKG for ``ids`` (node keys ``node_signer(seed, i)``); cached per arguments."""
    sim = Simulation(group, t, len(ids), ids=ids, seed=seed)
    res = sim.run()
    shares = res.shares()
    assert sorted(shares) == sorted(ids), "the DKG of the fixture failed"
    return Key(group=group, seed=seed, shares=shares, signers=dict(sim.signers))


@functools.cache
def dealt_key(group: Group, t: int, ids: tuple[int, ...], seed: str = "golden") -> Key:
    """A TEST-ONLY trusted-dealer key with real node keys (for golden vectors: independent of
    the DKG's wire bytes)."""
    from helpers.dealer import deal

    dealt = deal(group, t, ids, DeterministicRng(f"{seed}/dealer"))
    pkg = PublicKeyPackage(
        curve=group.name,
        key_id=hashlib.sha256(f"key|{seed}".encode()).digest()[:16],
        epoch=1,
        threshold=t,
        committee=committee_for(seed, ids),
        commitments=dealt.pkg.commitments,
    )
    shares = {i: KeyShare(pkg=pkg, party_id=i, secret=dealt.shares[i].secret) for i in ids}
    return Key(group=group, seed=seed, shares=shares, signers={i: signer_for(seed, i) for i in ids})


def signer_for(seed: str, party: int) -> NodeSigner:
    """The node key of ``party`` (same derivation as the DKG harness)."""
    return node_signer(seed, party)


def committee_for(
    seed: str, ids: Sequence[int], *, names: Mapping[int, str] | None = None
) -> Committee:
    """A committee record with the deterministic node keys of ``seed``."""
    names = names or {}
    return Committee(
        members=tuple(
            Member(id=i, node=names.get(i, f"node-{i}"), sign_pub=signer_for(seed, i).public_key)
            for i in sorted(ids)
        )
    )


def make_request(
    kind: CeremonyKind,
    pkg: PublicKeyPackage,
    *,
    committee: Committee | None = None,
    threshold: int | None = None,
    targets: Sequence[int] = (),
    nonce: bytes = b"n" * 32,
    expires_at: int = NEVER,
) -> CeremonyStatement:
    """The approved statement of a ceremony on ``pkg`` (defaults: same committee and t)."""
    return CeremonyStatement(
        kind=kind,
        curve=pkg.curve,
        key_id=pkg.key_id,
        epoch=pkg.epoch,
        committee=committee if committee is not None else pkg.committee,
        threshold=threshold if threshold is not None else pkg.threshold,
        targets=tuple(targets),
        expires_at=expires_at,
        nonce=nonce,
    )


# --------------------------------------------------------------------------------------------
# network and outcomes
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened at one party."""

    party: Any
    result: Any = None
    certificate: CommitCertificate | None = None
    done: DoneCertificate | None = None
    share: KeyShare | EnrolledShare | None = None
    abort: ProtocolAbort | None = None
    error: WarifuError | None = None
    aborted_in: str | None = None
    stalled_at: str | None = None
    sent: dict[int, Any] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.abort is None and self.error is None and self.stalled_at is None


@dataclass
class Result:
    """Per-party outcomes and every delivered envelope."""

    outcomes: dict[int, Outcome]
    delivered: dict[tuple[int, int, int], Envelope]
    sid: bytes = b""

    def __getitem__(self, i: int) -> Outcome:
        return self.outcomes[i]

    def shares(self) -> dict[int, KeyShare]:
        return {i: o.share for i, o in self.outcomes.items() if isinstance(o.share, KeyShare)}

    def aborts(self, ids: Sequence[int] | None = None) -> dict[int, ProtocolAbort]:
        sel = self.outcomes if ids is None else {i: self.outcomes[i] for i in ids}
        return {i: o.abort for i, o in sel.items() if o.abort is not None}


class Net:
    """Delivery with the rule hook, and attempt/ready bookkeeping."""

    def __init__(self, outcomes: dict[int, Outcome], rule: Rule | None, seed: str) -> None:
        self.outcomes = outcomes
        self.rule = rule
        self.seed = seed
        self.delivered: dict[tuple[int, int, int], Envelope] = {}

    def resign(self, env: Envelope, **changes: Any) -> Envelope:
        """``env`` with ``changes``, signed again by its (claimed) sender's node key."""
        new = dataclasses.replace(env, signature=b"", **changes)
        return signer_for(self.seed, new.sender).sign(new)

    def deliver(
        self, round_: int, outgoing: Mapping[int, Mapping[int, Envelope]], recipients: Sequence[int]
    ) -> dict[int, dict[int, Envelope]]:
        inbox: dict[int, dict[int, Envelope]] = {r: {} for r in recipients}
        for s in sorted(outgoing):
            for r, env in sorted(outgoing[s].items()):
                if r not in inbox:
                    continue
                out = self.rule(round_, s, r, env) if self.rule is not None else env
                if out is not None:
                    self.delivered[(round_, s, r)] = out
                    inbox[r][s] = out
        return inbox

    def attempt(self, i: int, step: str, fn: Callable[[], Any]) -> Any:
        o = self.outcomes[i]
        try:
            return fn()
        except ProtocolAbort as exc:
            o.abort, o.aborted_in = exc, step
        except WarifuError as exc:
            o.error, o.aborted_in = exc, step
        return None

    def ready(self, i: int, step: str, box: Mapping[int, Envelope], senders: Sequence[int]) -> bool:
        o = self.outcomes[i]
        if not o.alive:
            return False
        if set(box) != set(senders) - {i}:
            o.stalled_at = step
            return False
        return True


def _to_all(env: Envelope, sender: int, recipients: Sequence[int]) -> dict[int, Envelope]:
    return {r: env for r in recipients if r != sender}


def _ack_and_done(
    net: Net,
    parties: Mapping[int, Any],
    participants: Sequence[int],
    new_ids: Sequence[int],
    inbox: dict[int, dict[int, Envelope]],
    round_ack: int,
    round_done: int,
) -> None:
    """ACK/COMPLAINT already in ``inbox``: conclude, DONE, collect_done."""
    outgoing: dict[int, dict[int, Envelope]] = {}
    for i, p in parties.items():
        if not net.ready(i, "conclude", inbox[i], new_ids):
            continue
        cert = net.attempt(i, "conclude", lambda p=p, box=inbox[i]: p.conclude(box))
        if cert is None:
            continue
        o = net.outcomes[i]
        o.certificate = cert
        if i in new_ids:
            done = net.attempt(i, "done", p.done)
            if done is not None:
                o.sent[round_done] = done
                outgoing[i] = _to_all(done, i, participants)
    inbox = net.deliver(round_done, outgoing, participants)
    for i, p in parties.items():
        if net.outcomes[i].certificate is None or not net.ready(
            i, "collect_done", inbox[i], new_ids
        ):
            continue
        dc = net.attempt(i, "collect_done", lambda p=p, box=inbox[i]: p.collect_done(box))
        if dc is not None:
            net.outcomes[i].done = dc


# --------------------------------------------------------------------------------------------
# refresh
# --------------------------------------------------------------------------------------------


def run_refresh(
    key: Key,
    *,
    shares: Mapping[int, KeyShare | EnrolledShare] | None = None,
    request: CeremonyStatement | None = None,
    rule: Rule | None = None,
    factories: Mapping[int, Factory] | None = None,
    seed: str = "refresh",
    enrolled: Sequence[int] = (),
) -> Result:
    """Run F1, F2, finish, ACK/COMPLAINT, conclude, DONE, collect_done at every member."""
    shares = dict(shares if shares is not None else key.shares)
    any_pkg = next(s for s in shares.values() if isinstance(s, KeyShare)).pkg
    request = request or make_request(CeremonyKind.REFRESH, any_pkg)
    ids = request.committee.ids
    base = DeterministicRng(f"{key.seed}/{seed}")
    factories = factories or {}
    parties: dict[int, RefreshParty] = {}
    outcomes: dict[int, Outcome] = {}
    for i in ids:
        make = factories.get(i, RefreshParty)
        parties[i] = make(
            share=shares[i],
            request=request,
            request_id=REQUEST_ID,
            coord_nonce=COORD_NONCE,
            signer=signer_for(key.seed, i),
            rng=base.fork(i),
            enrolled=enrolled,
        )
        outcomes[i] = Outcome(party=parties[i])
    net = Net(outcomes, rule, key.seed)

    outgoing: dict[int, dict[int, Envelope]] = {}
    for i, p in parties.items():
        env = net.attempt(i, "round0", p.round0)
        if env is not None:
            outcomes[i].sent[0] = env
            outgoing[i] = _to_all(env, i, ids)
    inbox = net.deliver(0, outgoing, ids)

    outgoing = {}
    for i, p in parties.items():
        if not net.ready(i, "round1", inbox[i], ids):
            continue
        out = net.attempt(i, "round1", lambda p=p, box=inbox[i]: p.round1(box))
        if out is not None:
            outcomes[i].sent[1] = out
            outgoing[i] = dict(out)
    inbox = net.deliver(1, outgoing, ids)

    outgoing = {}
    for i, p in parties.items():
        if not net.ready(i, "round2", inbox[i], ids):
            continue
        res: RefreshResult | None = net.attempt(
            i, "round2", lambda p=p, box=inbox[i]: p.round2(box)
        )
        if res is None:
            continue
        o = outcomes[i]
        o.result = res
        o.share = res.output
        env = res.complaint if res.complaint is not None else net.attempt(i, "ack", p.ack)
        if env is not None:
            o.sent[2] = env
            outgoing[i] = _to_all(env, i, ids)
    inbox = net.deliver(2, outgoing, ids)
    _ack_and_done(net, parties, ids, ids, inbox, 2, 3)
    return Result(outcomes=outcomes, delivered=net.delivered, sid=parties[ids[0]].sid)


# --------------------------------------------------------------------------------------------
# reshare
# --------------------------------------------------------------------------------------------


def run_reshare(
    key: Key,
    *,
    dealers: Sequence[int],
    committee: Committee,
    threshold: int,
    rule: Rule | None = None,
    factories: Mapping[int, Factory] | None = None,
    seed: str = "reshare",
    nonce: bytes = b"n" * 32,
    used_ids: Sequence[int] = (),
) -> Result:
    """Run S1, S2/echo, finish, ACK/COMPLAINT, conclude, DONE, collect_done at ``Q ∪ N'``."""
    pkg = key.pkg
    request = make_request(
        CeremonyKind.RESHARE, pkg, committee=committee, threshold=threshold, nonce=nonce
    )
    q = tuple(sorted(dealers))
    participants = tuple(sorted(set(q) | set(committee.ids)))
    new_ids = committee.ids
    base = DeterministicRng(f"{key.seed}/{seed}")
    factories = factories or {}
    parties: dict[int, ReshareParty] = {}
    outcomes: dict[int, Outcome] = {}
    for i in participants:
        make = factories.get(i, ReshareParty)
        parties[i] = make(
            pkg=pkg,
            share=key.shares[i] if i in q else None,
            me=i,
            request=request,
            dealers=q,
            request_id=REQUEST_ID,
            coord_nonce=COORD_NONCE,
            signer=signer_for(key.seed, i),
            rng=base.fork(i),
            used_ids=used_ids,
        )
        outcomes[i] = Outcome(party=parties[i])
    net = Net(outcomes, rule, key.seed)

    outgoing: dict[int, dict[int, Envelope]] = {}
    for i, p in parties.items():
        env = net.attempt(i, "round0", p.round0)
        if env is not None:
            outcomes[i].sent[0] = env
            outgoing[i] = _to_all(env, i, participants)
    inbox = net.deliver(0, outgoing, participants)

    outgoing = {}
    for i, p in parties.items():
        if not net.ready(i, "round1", inbox[i], q):
            continue
        out = net.attempt(i, "round1", lambda p=p, box=inbox[i]: p.round1(box))
        if out is not None:
            outcomes[i].sent[1] = out
            outgoing[i] = dict(out)
    inbox = net.deliver(1, outgoing, participants)

    outgoing = {}
    for i, p in parties.items():
        if not net.ready(i, "round2", inbox[i], participants):
            continue
        res: ReshareResult | None = net.attempt(
            i, "round2", lambda p=p, box=inbox[i]: p.round2(box)
        )
        if res is None:
            continue
        o = outcomes[i]
        o.result = res
        o.share = res.output
        if i not in new_ids:
            continue
        env = res.complaint if res.complaint is not None else net.attempt(i, "ack", p.ack)
        if env is not None:
            o.sent[2] = env
            outgoing[i] = _to_all(env, i, participants)
    inbox = net.deliver(2, outgoing, participants)
    _ack_and_done(net, parties, participants, new_ids, inbox, 2, 3)
    return Result(outcomes=outcomes, delivered=net.delivered, sid=parties[participants[0]].sid)


# --------------------------------------------------------------------------------------------
# repair
# --------------------------------------------------------------------------------------------


def run_repair(
    key: Key,
    *,
    target: int,
    helpers: Sequence[int],
    pkg: PublicKeyPackage | None = None,
    request: CeremonyStatement | None = None,
    rule: Rule | None = None,
    factories: Mapping[int, Factory] | None = None,
    seed: str = "repair",
    target_seed: str | None = None,
    target_factory: Factory | None = None,
) -> Result:
    """Run P1 (+δ), P2 and the finish at ``r``. ``pkg``: what ``r`` got from the request."""
    hs = tuple(sorted(helpers))
    request = request or make_request(CeremonyKind.REPAIR, key.pkg, targets=(target,))
    base = DeterministicRng(f"{key.seed}/{seed}")
    factories = factories or {}
    outcomes: dict[int, Outcome] = {}
    helper_parties: dict[int, RepairHelper] = {}
    for i in hs:
        make = factories.get(i, RepairHelper)
        helper_parties[i] = make(
            share=key.shares[i],
            request=request,
            helpers=hs,
            request_id=REQUEST_ID,
            coord_nonce=COORD_NONCE,
            signer=signer_for(key.seed, i),
            rng=base.fork(i),
        )
        outcomes[i] = Outcome(party=helper_parties[i])
    make_target = target_factory or RepairTarget
    tgt = make_target(
        pkg=pkg if pkg is not None else key.pkg,
        request=request,
        helpers=hs,
        request_id=REQUEST_ID,
        coord_nonce=COORD_NONCE,
        signer=signer_for(target_seed or key.seed, target),
    )
    outcomes[target] = Outcome(party=tgt)
    everyone = (*hs, target)
    net = Net(outcomes, rule, key.seed)

    bcast: dict[int, dict[int, Envelope]] = {}
    direct: dict[int, dict[int, Envelope]] = {}
    for i, p in helper_parties.items():
        out = net.attempt(i, "round0", p.round0)
        if out is not None:
            outcomes[i].sent[0] = out.broadcast
            outcomes[i].sent[1] = out.direct
            bcast[i] = _to_all(out.broadcast, i, everyone)
            direct[i] = dict(out.direct)
    inbox0 = net.deliver(0, bcast, everyone)
    inbox1 = net.deliver(1, direct, everyone)

    to_r: dict[int, dict[int, Envelope]] = {}
    for i, p in helper_parties.items():
        if not net.ready(i, "round1", inbox0[i], hs) or not net.ready(i, "round1", inbox1[i], hs):
            continue
        env = net.attempt(i, "round1", lambda p=p, a=inbox0[i], b=inbox1[i]: p.round1(a, b))
        if env is not None:
            outcomes[i].sent[2] = env
            to_r[i] = {target: env}
    inbox2 = net.deliver(2, to_r, everyone)
    if net.ready(target, "finish", inbox0[target], hs) and net.ready(
        target, "finish", inbox2[target], hs
    ):
        share = net.attempt(target, "finish", lambda: tgt.finish(inbox0[target], inbox2[target]))
        outcomes[target].share = share
    return Result(outcomes=outcomes, delivered=net.delivered, sid=tgt.sid)


def sid_of(label: str) -> bytes:
    """A 32-byte label digest (for tests that need another sid)."""
    return hashlib.sha256(label.encode()).digest()


# --------------------------------------------------------------------------------------------
# signing with a ceremony's output (both curves, verified by independent libraries)
# --------------------------------------------------------------------------------------------


def sign_and_verify(
    seed: str, shares: Mapping[int, KeyShare], signers: Sequence[int], message: bytes
) -> bytes:
    """Threshold-sign ``message`` with ``shares[signers]`` and verify independently.

    Ed25519: FROST (RFC 9591), verified by libsodium (PyNaCl). secp256k1: DKLs23 over fresh
    pairwise VSOTs among the signers (the OT state of the new epoch, ``dkls23.md`` §7), signing
    ``SHA-256(message)``, verified by libsecp256k1 (coincurve). Returns the signature bytes.
    """
    from coincurve import PublicKey
    from nacl.signing import VerifyKey

    from helpers.dkls23_harness import Fixture, Run, run_vsot
    from warifu.core import frost
    from warifu.core.dkls23 import PairState

    some = shares[signers[0]]
    pkg = some.pkg
    group = pkg.group
    ids = tuple(sorted(signers))
    rng = DeterministicRng(f"{seed}/sign/{pkg.epoch}")
    if group.name == "ed25519":
        suite = frost.FROST_ED25519_SHA512
        nonces, commitments = {}, []
        for i in ids:
            nonce, c = frost.commit(suite, shares[i], rng.fork(i))
            nonces[i] = nonce
            commitments.append(c)
        package = frost.SigningPackage.create(suite, commitments, message)
        sig_shares = {i: frost.sign(suite, package, nonces[i], shares[i]) for i in ids}
        signature = frost.aggregate(suite, package, sig_shares, pkg)
        VerifyKey(group.encode_point(pkg.public_key)).verify(message, signature)
        return signature
    sid_ceremony = hashlib.sha256(b"vsot|" + pkg.digest()).digest()
    bob_of, alice_of = {}, {}
    for i in ids:
        for j in ids:
            if i != j:
                bob_of[(i, j)], alice_of[(i, j)] = run_vsot(sid_ceremony, i, j, rng)
    pairs = {
        i: {j: PairState(bob=bob_of[(i, j)], alice=alice_of[(j, i)]) for j in ids if j != i}
        for i in ids
    }
    fx = Fixture(
        t=pkg.threshold,
        ids=pkg.committee.ids,
        seed=seed,
        committee=pkg.committee,
        signers={i: signer_for(seed, i) for i in pkg.committee.ids},
        shares=dict(shares),
        pairs=pairs,
        secret=0,
    )
    digest = hashlib.sha256(message).digest()
    run = Run(fx, ids, sid=hashlib.sha256(b"sign|" + pkg.digest() + message).digest())
    result = run.sign(digest)
    sigs = result.signatures()
    assert sorted(sigs) == list(ids), {i: o.abort or o.error for i, o in result.outcomes.items()}
    sig = sigs[ids[0]]
    assert PublicKey(group.encode_point(pkg.public_key)).verify(sig.der(), digest, hasher=None)
    return sig.compact()


# --------------------------------------------------------------------------------------------
# assertions shared by the ceremony tests
# --------------------------------------------------------------------------------------------


def assert_abort(
    res: Result,
    parties: Sequence[int],
    reason: Any,
    culprits: set[int],
    *,
    step: str | None = None,
) -> list[ProtocolAbort]:
    """Every listed party aborted with exactly ``reason``/``culprits``; none holds a certificate."""
    out = []
    for i in parties:
        o = res[i]
        assert o.abort is not None, (i, o.error, o.stalled_at, o.result)
        assert o.abort.abort_reason is reason, (i, o.abort)
        assert o.abort.culprits == frozenset(culprits), (i, o.abort)
        if step is not None:
            assert o.aborted_in == step, (i, o.aborted_in)
        assert o.certificate is None and o.done is None
        out.append(o.abort)
    return out


def evidence_envelopes(seed: str, res: Result, exc: ProtocolAbort, culprit: int) -> list[Envelope]:
    """Decode ``culprit``'s evidence; every envelope in it carries a valid node signature."""
    from warifu.core.shares.evidence import decode_evidence

    envs = decode_evidence(exc.evidence[culprit])
    for env in envs:
        assert env.sid == res.sid
        env.verify(signer_for(seed, env.sender).public_key)
    return envs


def flip(b: bytes, pos: int = -1) -> bytes:
    a = bytearray(b)
    a[pos] ^= 0x01
    return bytes(a)
