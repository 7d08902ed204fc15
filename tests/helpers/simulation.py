"""In-process DKG simulation with a Byzantine ``rule`` hook (test-only).

``Simulation(group, t, n, seed=..., rule=..., factories=...)`` builds a committee of ``n``
members (ids 1..n unless ``ids`` is given), one :class:`DkgParty` per member with
``DeterministicRng(seed).fork(i)``, and runs rounds 0..4 (D0, D1, D2, ACK/COMPLAINT, DONE).

``rule(round, sender, recipient, envelope) -> envelope | None`` sees every delivery: it may
return the envelope unchanged, a mutated or replaced one (e.g. re-signed with
``sim.resign``), a different one per recipient (equivocation), or ``None`` (drop). A party that
lacks an envelope from any other member is *stalled* (liveness, no blame), exactly as a node
waiting for a timeout.

``factories`` maps a party id to a callable with DkgParty's keyword signature, to plug in a
subclass that overrides a hook (``_make_polynomial``, ``_make_body``, ``_share_for``): a
malicious dealer that runs the real code otherwise.

Also here: :func:`interpolate_secret`, the test-only reconstruction of ``x`` from shares (the
product never reconstructs the key).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warifu.core.curves import Group
from warifu.core.envelope import Envelope, NodeSigner
from warifu.core.errors import ProtocolAbort, WarifuError
from warifu.core.rng import DeterministicRng
from warifu.core.shares.dkg import DkgParty, DkgRound3
from warifu.core.shares.package import Committee, KeyShare, Member, lagrange_at_zero
from warifu.core.shares.statements import CommitCertificate, DoneCertificate

Rule = Callable[[int, int, int, Envelope], Envelope | None]
Factory = Callable[..., DkgParty]


def interpolate_secret(order: int, shares: Mapping[int, int]) -> int:
    """TEST-ONLY: ``Σ λ_i·x_i`` over the given shares (Lagrange at 0)."""
    ids = sorted(shares)
    return sum(lagrange_at_zero(order, ids, i) * shares[i] for i in ids) % order


@dataclass
class Outcome:
    """What happened at one party."""

    party: DkgParty
    round3: DkgRound3 | None = None
    certificate: CommitCertificate | None = None
    done: DoneCertificate | None = None
    abort: ProtocolAbort | None = None
    error: WarifuError | None = None
    aborted_in: str | None = None
    stalled_at: str | None = None
    sent: dict[int, Any] = field(default_factory=dict)

    @property
    def share(self) -> KeyShare | None:
        """The round-3 output, if any."""
        return None if self.round3 is None else self.round3.output

    @property
    def alive(self) -> bool:
        return self.abort is None and self.error is None and self.stalled_at is None


@dataclass
class SimResult:
    """Per-party outcomes and every delivered envelope."""

    outcomes: dict[int, Outcome]
    delivered: dict[tuple[int, int, int], Envelope]

    def __getitem__(self, i: int) -> Outcome:
        return self.outcomes[i]

    def shares(self) -> dict[int, KeyShare]:
        return {i: o.share for i, o in self.outcomes.items() if o.share is not None}

    def aborts(self, ids: Sequence[int] | None = None) -> dict[int, ProtocolAbort]:
        sel = self.outcomes if ids is None else {i: self.outcomes[i] for i in ids}
        return {i: o.abort for i, o in sel.items() if o.abort is not None}


def node_signer(seed: bytes | int | str, party: int) -> NodeSigner:
    """The deterministic node key of ``party`` for ``seed``."""
    return NodeSigner(DeterministicRng(seed).fork(f"node-key/{party}").random_bytes(32))


class Simulation:
    """Runs ``n`` DkgParty objects to completion over an in-memory, hookable network."""

    def __init__(
        self,
        group: Group,
        threshold: int,
        n: int,
        *,
        seed: bytes | int | str = b"warifu-dkg-test",
        ids: Sequence[int] | None = None,
        rule: Rule | None = None,
        factories: Mapping[int, Factory] | None = None,
        sid: bytes | None = None,
        key_id: bytes | None = None,
    ) -> None:
        self.group = group
        self.threshold = threshold
        self.ids = tuple(ids) if ids is not None else tuple(range(1, n + 1))
        self.seed = seed
        self.rule = rule
        self.signers = {i: node_signer(seed, i) for i in self.ids}
        self.committee = Committee(
            members=tuple(
                Member(id=i, node=f"node-{i}", sign_pub=self.signers[i].public_key)
                for i in self.ids
            )
        )
        base = DeterministicRng(seed)
        self.sid = (
            sid if sid is not None else hashlib.sha256(b"sid|" + repr(seed).encode()).digest()
        )
        self.key_id = (
            key_id
            if key_id is not None
            else hashlib.sha256(b"key|" + repr(seed).encode()).digest()[:16]
        )
        factories = factories or {}
        self.parties: dict[int, DkgParty] = {}
        for i in self.ids:
            make = factories.get(i, DkgParty)
            self.parties[i] = make(
                group=group,
                key_id=self.key_id,
                committee=self.committee,
                threshold=threshold,
                me=i,
                sid=self.sid,
                signer=self.signers[i],
                rng=base.fork(i),
            )

    def resign(self, env: Envelope, **changes: Any) -> Envelope:
        """``env`` with ``changes`` applied, signed again by its (claimed) sender's node key."""
        new = dataclasses.replace(env, signature=b"", **changes)
        return self.signers[new.sender].sign(new)

    def _deliver(
        self,
        round_: int,
        outgoing: Mapping[int, Mapping[int, Envelope]],
        delivered: dict[tuple[int, int, int], Envelope],
    ) -> dict[int, dict[int, Envelope]]:
        """sender -> recipient -> env  ==>  recipient -> sender -> env (after the rule)."""
        inbox: dict[int, dict[int, Envelope]] = {r: {} for r in self.ids}
        for s, per_recipient in outgoing.items():
            for r, env in per_recipient.items():
                out = self.rule(round_, s, r, env) if self.rule is not None else env
                if out is not None:
                    delivered[(round_, s, r)] = out
                    inbox[r][s] = out
        return inbox

    def run(self) -> SimResult:
        """Run D0, D1, D2, ACK/COMPLAINT, conclude, DONE; return every party's outcome."""
        outcomes = {i: Outcome(party=p) for i, p in self.parties.items()}
        delivered: dict[tuple[int, int, int], Envelope] = {}

        def broadcast(env: Envelope, sender: int) -> dict[int, Envelope]:
            return {r: env for r in self.ids if r != sender}

        def attempt(i: int, step: str, fn: Callable[[], Any]) -> Any:
            o = outcomes[i]
            try:
                return fn()
            except ProtocolAbort as exc:
                o.abort, o.aborted_in = exc, step
            except WarifuError as exc:
                o.error, o.aborted_in = exc, step
            return None

        def ready(i: int, step: str, box: Mapping[int, Envelope]) -> bool:
            o = outcomes[i]
            if not o.alive:
                return False
            if set(box) != set(self.ids) - {i}:
                o.stalled_at = step
                return False
            return True

        outgoing: dict[int, dict[int, Envelope]] = {}
        for i, p in self.parties.items():
            env = attempt(i, "round0", p.round0)
            if env is not None:
                outcomes[i].sent[0] = env
                outgoing[i] = broadcast(env, i)
        inbox = self._deliver(0, outgoing, delivered)

        for round_, step in (
            (1, "round1"),
            (2, "round2"),
            (3, "round3"),
            (4, "conclude"),
            (5, "collect_done"),
        ):
            outgoing = {}
            for i, p in self.parties.items():
                if not ready(i, step, inbox[i]):
                    continue
                res = attempt(i, step, lambda p=p, box=inbox[i], step=step: getattr(p, step)(box))
                if res is None:
                    continue
                o = outcomes[i]
                if step == "round1":
                    o.sent[1] = res
                    outgoing[i] = broadcast(res, i)
                elif step == "round2":
                    o.sent[2] = res
                    outgoing[i] = dict(res)
                elif step == "round3":
                    o.round3 = res
                    env3 = res.complaint if res.complaint is not None else attempt(i, "ack", p.ack)
                    if env3 is not None:
                        o.sent[3] = env3
                        outgoing[i] = broadcast(env3, i)
                elif step == "conclude":
                    o.certificate = res
                    done = attempt(i, "done", p.done)
                    if done is not None:
                        o.sent[4] = done
                        outgoing[i] = broadcast(done, i)
                else:
                    o.done = res
            if round_ < 5:
                inbox = self._deliver(round_, outgoing, delivered)
        return SimResult(outcomes=outcomes, delivered=delivered)
