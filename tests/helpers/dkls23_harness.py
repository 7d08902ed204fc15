"""In-process DKLs23 signing harness with a Byzantine ``rule`` hook (test-only).

- :func:`make_fixture` deals a secp256k1 key with a TEST-ONLY trusted dealer to a committee whose
  node keys are real (deterministic) Ed25519 keys, and runs the real :mod:`warifu.core.ot.vsot`
  VSOT for every ordered pair (no fakes). Fixtures are cached per ``(t, ids, seed)``.
- :class:`Run` drives one signing session over an in-memory network. ``rule(label, sender,
  recipient, env)`` sees every delivery (``label`` in ``r1-com``, ``r1-ote``, ``r2``, ``r3``,
  ``e1-disclose``) and returns the envelope, a replacement (:meth:`Fixture.resign`), a list of
  envelopes delivered in order (e.g. a replay before the real one), or ``None`` (drop).
  ``factories`` plug in a :class:`SignSession` subclass for a party (malicious hooks).
- After each stage, a party that aborted notifies the others (erratum 8): they call
  ``abort()`` and discard their presignature, and the run stops.
- :class:`PairGuard` is a reference implementation of rule S-1 (``dkls23.md`` §5.2) for the
  tests: one lock per ``(me, peer)`` Alice state, status re-read under the lock, the ban recorded
  "durably" before the lock is released, instrumentation of overlaps and evaluations.
- :func:`polychromatic_ote1` builds a malicious Bob's OTE1 whose check passes iff ``Δ_l = 0``
  (``dkls23.md`` §14 test 5), from the real OT building blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warifu.core.curves import SECP256K1
from warifu.core.dkls23 import (
    EcdsaSignature,
    PairState,
    PartialSignature,
    Presignature,
    SignSession,
    finalize,
    is_dropped,
    round3,
)
from warifu.core.envelope import Envelope, NodeSigner
from warifu.core.errors import AbortReason, FailedPrecondition, ProtocolAbort, WarifuError
from warifu.core.ot.extension import challenges, prg_rows
from warifu.core.ot.gf256 import check_matrix, row_checks_packed
from warifu.core.ot.rvole import pair_session_id
from warifu.core.ot.vsot import AliceSeeds, BobSeeds, VsotAlice, VsotBob, ot_setup_id
from warifu.core.rng import DeterministicRng
from warifu.core.shares.package import Committee, KeyShare, Member, PublicKeyPackage

from .dealer import TEST_KEY_ID, deal
from .simulation import node_signer

Q = SECP256K1.order
Rule = Callable[[str, int, int, Envelope], "Envelope | list[Envelope] | None"]
Factory = Callable[..., SignSession]

# R2 field offsets (wire.py layout)
R2_R = slice(0, 33)
R2_SALT = slice(33, 65)
R2_GU = slice(65, 98)
R2_GV = slice(98, 131)
R2_PSI = slice(131, 163)
R2_E1 = slice(163, 195)
R2_NU_A = slice(195, 227)
R2_A_TILDE = 227  # 1,536 scalars of 32 bytes
R2_ETA = slice(227 + 49152, 227 + 49152 + 32)
R2_MU = slice(227 + 49152 + 32, 227 + 49152 + 64)
R3_U = slice(0, 32)
R3_W = slice(32, 64)
R3_E2 = slice(64, 96)
R3_M = slice(96, 128)


# --------------------------------------------------------------------------------------------
# Keys and OT state
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A dealt key with real node keys and the pairwise OT state of every ordered pair."""

    t: int
    ids: tuple[int, ...]
    seed: str
    committee: Committee
    signers: dict[int, NodeSigner]
    shares: dict[int, KeyShare]
    pairs: dict[int, dict[int, PairState]]  # pairs[me][j]
    secret: int  # TEST-ONLY knowledge of the key

    @property
    def pkg(self) -> PublicKeyPackage:
        return self.shares[self.ids[0]].pkg

    def resign(self, env: Envelope, **changes: Any) -> Envelope:
        """``env`` with ``changes`` applied, signed again by its (claimed) sender's node key."""
        new = dataclasses.replace(env, signature=b"", **changes)
        return self.signers[new.sender].sign(new)

    def patch(self, env: Envelope, where: slice | int, data: bytes) -> Envelope:
        """``env`` with ``payload[where] = data`` (same length), re-signed by its sender."""
        p = bytearray(env.payload)
        if isinstance(where, int):
            where = slice(where, where + len(data))
        assert (where.stop - where.start) == len(data)
        p[where] = data
        return self.resign(env, payload=bytes(p))


def run_vsot(
    sid_ceremony: bytes, bob: int, alice: int, rng: DeterministicRng
) -> tuple[BobSeeds, AliceSeeds]:
    """The real VSOT for ``(bob←alice)``; returns ``(BobSeeds, AliceSeeds)``."""
    osid = ot_setup_id(sid_ceremony, bob, alice)
    b = VsotBob(osid=osid, peer=alice, rng=rng.fork(f"vsot-bob/{bob}/{alice}"))
    a = VsotAlice(osid=osid, peer=bob, rng=rng.fork(f"vsot-alice/{bob}/{alice}"))
    v1 = b.v1()
    v2 = a.v2(v1)
    v3 = b.v3(v2)
    v4 = a.v4(v3)
    v5 = b.v5(v4)
    alice_seeds = a.finish(v5)
    return b.output(), alice_seeds


@functools.cache
def make_fixture(t: int, ids: tuple[int, ...], seed: str = "dkls23-test") -> Fixture:
    """Deal a key (TEST-ONLY trusted dealer) and run VSOT for every ordered pair."""
    rng = DeterministicRng(f"{seed}/key")
    dealt = deal(SECP256K1, t, ids, rng)
    signers = {i: node_signer(seed, i) for i in ids}
    committee = Committee(
        members=tuple(
            Member(id=i, node=f"node-{i}", sign_pub=signers[i].public_key) for i in sorted(ids)
        )
    )
    pkg = PublicKeyPackage(
        curve=SECP256K1.name,
        key_id=TEST_KEY_ID,
        epoch=1,
        threshold=t,
        committee=committee,
        commitments=dealt.pkg.commitments,
    )
    shares = {i: KeyShare(pkg=pkg, party_id=i, secret=dealt.shares[i].secret) for i in ids}
    sid_ceremony = hashlib.sha256(f"ceremony|{seed}|{ids}".encode()).digest()
    ot_rng = DeterministicRng(f"{seed}/ot")
    bob_of: dict[tuple[int, int], BobSeeds] = {}
    alice_of: dict[tuple[int, int], AliceSeeds] = {}
    for i in ids:
        for j in ids:
            if i != j:
                bob_of[(i, j)], alice_of[(i, j)] = run_vsot(sid_ceremony, i, j, ot_rng)
    pairs = {
        i: {j: PairState(bob=bob_of[(i, j)], alice=alice_of[(j, i)]) for j in ids if j != i}
        for i in ids
    }
    return Fixture(
        t=t,
        ids=tuple(ids),
        seed=seed,
        committee=committee,
        signers=signers,
        shares=shares,
        pairs=pairs,
        secret=dealt.secret,
    )


def make_sid(label: str) -> bytes:
    """A 32-byte test session id."""
    return hashlib.sha256(b"dkls23-test-sid|" + label.encode()).digest()


# --------------------------------------------------------------------------------------------
# Rule S-1 reference guard
# --------------------------------------------------------------------------------------------


class PairGuard:
    """Rule S-1 for the tests: serialise Δ-dependent checks per ``(me, peer)``, ban on failure."""

    def __init__(
        self,
        durable: dict[tuple[int, int], str] | None = None,
        *,
        write_fails: bool = False,
    ) -> None:
        self.durable = durable if durable is not None else {}
        self.memory_banned: set[tuple[int, int]] = {k for k, v in self.durable.items() if v}
        self.write_fails = write_fails
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._meta = threading.Lock()
        self.active: dict[tuple[int, int], int] = {}
        self.max_active: dict[tuple[int, int], int] = {}
        self.evaluations: dict[tuple[int, int], int] = {}
        self.events: list[tuple[str, tuple[int, int]]] = []

    def _lock(self, key: tuple[int, int]) -> threading.Lock:
        with self._meta:
            return self._locks.setdefault(key, threading.Lock())

    def banned(self, me: int, peer: int) -> bool:
        key = (min(me, peer), max(me, peer))
        return key in self.memory_banned or self.durable.get(key) == "BANNED"

    def run(self, me: int, peer: int, check: Callable[[], None]) -> None:
        """Run one OT check of ``me`` (Alice) against ``peer`` (Bob) under S-1."""
        key = (me, peer)
        pair = (min(me, peer), max(me, peer))
        with self._lock(key):
            if self.banned(me, peer):
                raise FailedPrecondition(f"pair {pair} is BANNED: check not evaluated")
            with self._meta:
                self.active[key] = self.active.get(key, 0) + 1
                self.max_active[key] = max(self.max_active.get(key, 0), self.active[key])
                self.evaluations[key] = self.evaluations.get(key, 0) + 1
            try:
                check()
            except ProtocolAbort as exc:
                if exc.abort_reason is AbortReason.OT_CONSISTENCY_FAILED:
                    self.memory_banned.add(pair)
                    if not self.write_fails:
                        self.durable[pair] = "BANNED"
                        self.events.append(("durable-ban", key))
                raise
            finally:
                with self._meta:
                    self.active[key] -= 1
                self.events.append(("release", key))


# --------------------------------------------------------------------------------------------
# Malicious OT messages
# --------------------------------------------------------------------------------------------


def polychromatic_ote1(
    *, sid: bytes, bob: int, alice: int, seeds: BobSeeds, row: int, column: int, rng_label: str
) -> bytes:
    """A malicious Bob's OTE1 for ``RVOLE(bob←alice)``: row ``row`` uses ``x'`` with ``column``
    flipped; ``χ``, ``x̃``, ``t̃`` are recomputed consistently (``dkls23.md`` §14 test 5).

    Alice's check passes iff her ``Δ_row = 0`` (then her outputs are unaffected).
    """
    psid = pair_session_id(sid, bob, alice, seeds.osid)
    rng = DeterministicRng(rng_label)
    x = np.frombuffer(rng.random_bytes(96), dtype=np.uint8).copy()
    nu_b = rng.random_bytes(32)
    t0 = prg_rows(psid, nu_b, seeds.k0)
    t1 = prg_rows(psid, nu_b, seeds.k1)
    x2 = x.copy()
    x2[column >> 3] ^= np.uint8(1 << (column & 7))
    u = t0 ^ t1 ^ x[None, :]
    u[row] = t0[row] ^ t1[row] ^ x2
    u_bytes = u.tobytes()
    chi0, chi1 = challenges(psid, nu_b, u_bytes)
    checks = row_checks_packed(np.vstack([x[None, :], t0]), check_matrix(chi0, chi1))
    return nu_b + u_bytes + checks[0].tobytes() + checks[1:].tobytes()


def delta_bit(fx: Fixture, alice: int, bob: int, index: int) -> int:
    """``Δ_index`` of ``alice``'s Alice state for ``RVOLE(bob←alice)``."""
    delta = fx.pairs[alice][bob].alice.delta
    return (delta[index >> 3] >> (index & 7)) & 1


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened at one party."""

    session: SignSession
    presig: Presignature | None = None
    partial: PartialSignature | None = None
    signature: EcdsaSignature | None = None
    abort: ProtocolAbort | None = None
    error: WarifuError | None = None
    stage: str | None = None
    stalled: str | None = None
    notified: bool = False
    verdict: ProtocolAbort | None = None
    dropped: list[ProtocolAbort] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return (
            self.abort is None and self.error is None and self.stalled is None and not self.notified
        )


@dataclass
class Result:
    outcomes: dict[int, Outcome]
    transcript: list[Envelope]

    def __getitem__(self, i: int) -> Outcome:
        return self.outcomes[i]

    def signatures(self) -> dict[int, EcdsaSignature]:
        return {i: o.signature for i, o in self.outcomes.items() if o.signature is not None}

    def aborts(self) -> dict[int, ProtocolAbort]:
        return {i: o.abort for i, o in self.outcomes.items() if o.abort is not None}

    def transcript_digest(self) -> bytes:
        h = hashlib.sha256()
        for e in self.transcript:
            for part in (
                e.sid,
                bytes([e.round]),
                e.sender.to_bytes(2, "big"),
                e.to.to_bytes(2, "big"),
                e.msg_type.encode(),
                e.payload,
                e.signature,
            ):
                h.update(len(part).to_bytes(8, "big") + part)
        return h.digest()


class Run:
    """One signing session among ``signers`` of a :class:`Fixture`."""

    def __init__(
        self,
        fx: Fixture,
        signers: Sequence[int],
        *,
        sid: bytes,
        rng_seed: str = "run",
        rule: Rule | None = None,
        factories: Mapping[int, Factory] | None = None,
        guard: PairGuard | None = None,
        pairs: Mapping[int, Mapping[int, PairState]] | None = None,
    ) -> None:
        self.fx = fx
        self.signers = tuple(sorted(signers))
        self.sid = sid
        self.rule = rule
        self.guard = guard if guard is not None else PairGuard()
        factories = factories or {}
        base = DeterministicRng(f"{fx.seed}/{rng_seed}")
        all_pairs = pairs if pairs is not None else fx.pairs
        self.outcomes: dict[int, Outcome] = {}
        for i in self.signers:
            make = factories.get(i, SignSession)
            sess = make(
                key_share=fx.shares[i],
                signers=self.signers,
                sid=sid,
                pairs={j: all_pairs[i][j] for j in self.signers if j != i and j in all_pairs[i]},
                signer=fx.signers[i],
                rng=base.fork(i),
            )
            self.outcomes[i] = Outcome(session=sess)
        self.transcript: list[Envelope] = []

    # -- plumbing -----------------------------------------------------------------------------

    def _attempt(self, i: int, stage: str, fn: Callable[[], Any]) -> Any:
        o = self.outcomes[i]
        try:
            return fn()
        except ProtocolAbort as exc:
            o.abort, o.stage = exc, stage
        except WarifuError as exc:
            o.error, o.stage = exc, stage
        return None

    def _deliver(
        self, label: str, outgoing: Mapping[int, Mapping[int, Envelope]]
    ) -> dict[int, dict[int, Envelope]]:
        """sender -> recipient -> env  ==>  recipient -> sender -> env, after rule + screen."""
        inbox: dict[int, dict[int, Envelope]] = {r: {} for r in self.signers}
        for s in sorted(outgoing):
            for r in sorted(outgoing[s]):
                env = outgoing[s][r]
                self.transcript.append(env)
                out = self.rule(label, s, r, env) if self.rule is not None else env
                if out is None:
                    continue
                for e in out if isinstance(out, list) else [out]:
                    o = self.outcomes[r]
                    if not o.alive:
                        continue
                    try:
                        o.session.screen(s, e)
                    except ProtocolAbort as exc:
                        if is_dropped(exc):
                            o.dropped.append(exc)
                            continue
                        o.abort, o.stage = exc, f"screen-{label}"
                        continue
                    inbox[r][s] = e
        return inbox

    def _ready(self, i: int, stage: str, *boxes: Mapping[int, Envelope]) -> bool:
        o = self.outcomes[i]
        if not o.alive:
            return False
        want = set(self.signers) - {i}
        if any(set(b) != want for b in boxes):
            o.stalled = stage
            return False
        return True

    def _notify(self) -> bool:
        """Erratum 8: if anyone aborted, everyone else drops the session; True if stopped."""
        if not any(o.abort is not None or o.error is not None for o in self.outcomes.values()):
            return False
        for o in self.outcomes.values():
            if o.abort is None and o.error is None:
                o.notified = True
                o.session.abort()
                if o.presig is not None:
                    o.presig.discard()
        return True

    # -- stages ------------------------------------------------------------------------------

    def presign(self) -> Result:
        """Rounds 1–2 and finish; an E1 mismatch is resolved with disclosures."""
        ids = self.signers
        out_com: dict[int, dict[int, Envelope]] = {}
        out_ote: dict[int, dict[int, Envelope]] = {}
        for i in ids:
            res = self._attempt(i, "round1", self.outcomes[i].session.round1)
            if res is not None:
                com, otes = res
                out_com[i] = {j: com for j in ids if j != i}
                out_ote[i] = otes
        if self._notify():
            return self.result()
        self.r1_com = self._deliver("r1-com", out_com)
        self.r1_ote = self._deliver("r1-ote", out_ote)
        out_r2: dict[int, dict[int, Envelope]] = {}
        for i in ids:
            if not self._ready(i, "round2", self.r1_com[i], self.r1_ote[i]):
                continue
            sess = self.outcomes[i].session

            def step(i: int = i, sess: SignSession = sess) -> dict[int, Envelope]:
                for j, check in sess.ot_checks(self.r1_ote[i], self.r1_com[i]):
                    self.guard.run(i, j, check)
                return sess.round2(self.r1_com[i])

            res = self._attempt(i, "round2", step)
            if res is not None:
                out_r2[i] = res
        if self._notify():
            return self.result()
        r2 = self._deliver("r2", out_r2)
        for i in ids:
            if not self._ready(i, "finish", r2[i]):
                continue
            sess = self.outcomes[i].session
            ps = self._attempt(i, "finish", lambda i=i, sess=sess: sess.finish(r2[i]))
            self.outcomes[i].presig = ps
        echo = [
            i
            for i in ids
            if self.outcomes[i].abort is not None
            and self.outcomes[i].abort.abort_reason is AbortReason.ECHO_MISMATCH  # type: ignore[union-attr]
        ]
        if echo:
            self._resolve_echo(echo)
        self._notify()
        return self.result()

    def _resolve_echo(self, mismatched: Sequence[int]) -> None:
        disclosures: dict[int, dict[int, Envelope]] = {}
        for i in self.signers:
            try:
                env = self.outcomes[i].session.e1_disclosure()
            except WarifuError:
                continue
            disclosures[i] = {j: env for j in self.signers if j != i}
        inbox: dict[int, dict[int, Envelope]] = {r: {} for r in self.signers}
        for s in sorted(disclosures):
            for r, env in disclosures[s].items():
                self.transcript.append(env)
                out = self.rule("e1-disclose", s, r, env) if self.rule is not None else env
                if isinstance(out, Envelope):
                    inbox[r][s] = out
        for i in mismatched:
            self.outcomes[i].verdict = self.outcomes[i].session.resolve_echo(inbox[i])

    def sign(self, digest: bytes, *, message_bound: bool = True) -> Result:
        """Rounds 1–3 and finalisation (interactive mode)."""
        self.presign()
        if any(not self.outcomes[i].alive for i in self.signers):
            return self.result()
        return self.online(digest, message_bound=message_bound)

    def online(
        self, digest: bytes, *, message_bound: bool = True, digests: Mapping[int, bytes] = {}
    ) -> Result:
        """Round 3 and finalisation with the presignatures this run produced."""
        out_r3: dict[int, dict[int, Envelope]] = {}
        for i in self.signers:
            o = self.outcomes[i]
            if not o.alive or o.presig is None:
                continue
            m = digests.get(i, digest)
            res = self._attempt(
                i,
                "round3",
                lambda o=o, m=m, i=i: round3(o.presig, m, signer=self.fx.signers[i]),
            )
            if res is not None:
                env, o.partial = res
                out_r3[i] = {j: env for j in self.signers if j != i}
        if self._notify():
            return self.result()
        r3 = self._deliver("r3", out_r3)
        for i in self.signers:
            o = self.outcomes[i]
            if not self._ready(i, "finalize", r3[i]):
                continue
            assert o.partial is not None
            box = dict(r3[i]) | {i: o.partial.envelope}
            o.signature = self._attempt(
                i,
                "finalize",
                lambda o=o, box=box: finalize(
                    o.partial, box, committee=self.fx.committee, message_bound=message_bound
                ),
            )
        return self.result()

    def result(self) -> Result:
        return Result(outcomes=self.outcomes, transcript=self.transcript)
