"""DKG adversarial cases: test-plan DKG-1..DKG-6 and shares.md §12 items 2-7.

A malicious party ``m`` runs the real :class:`DkgParty` code, with either a ``rule`` on the
simulated network (mutate / replace / drop / equivocate per round, sender and recipient) or a
subclass overriding one hook (``_make_polynomial``, ``_make_body``). Every test asserts the exact
reason and culprits at every honest party, checks the evidence where there is any, and that no
honest party holds a commit certificate (or, for aborts before the shares, any output).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from helpers.simulation import SimResult, Simulation, node_signer
from warifu.core.curves import ED25519, SECP256K1, Group
from warifu.core.curves.ed25519 import P_FIELD as ED_P
from warifu.core.curves.secp256k1 import P_FIELD as K1_P
from warifu.core.envelope import Envelope
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.shares.dkg import (
    MSG_D0,
    MSG_D1,
    MSG_D2,
    D1Body,
    DkgLayout,
    DkgParty,
    DkgRound3,
)
from warifu.core.shares.evidence import decode_evidence
from warifu.core.shares.package import Committee, Member
from warifu.core.shares.polynomial import Polynomial

GROUPS = [pytest.param(ED25519, id="ed25519"), pytest.param(SECP256K1, id="secp256k1")]
MATRIX = [
    pytest.param((2, 3), id="t2n3"),
    pytest.param((3, 5), id="t3n5"),
    pytest.param((2, 2), id="t2n2"),
]

R = AbortReason


@pytest.fixture(params=GROUPS)
def group(request: pytest.FixtureRequest) -> Group:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=MATRIX)
def tn(request: pytest.FixtureRequest) -> tuple[int, int]:
    return request.param  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def honest(sim: Simulation, *bad: int) -> list[int]:
    return [i for i in sim.ids if i not in bad]


def assert_abort(
    res: SimResult,
    parties: Iterable[int],
    reason: AbortReason,
    culprits: set[int],
    *,
    step: str | None = None,
) -> list[ProtocolAbort]:
    """Every listed party aborted with exactly ``reason``/``culprits``; none holds a certificate."""
    out = []
    for i in parties:
        o = res[i]
        assert o.abort is not None, (i, o.error, o.stalled_at, o.round3)
        assert o.abort.abort_reason is reason, (i, o.abort)
        assert o.abort.culprits == frozenset(culprits), (i, o.abort)
        if step is not None:
            assert o.aborted_in == step, (i, o.aborted_in)
        assert o.certificate is None and o.done is None
        if step in ("round1", "round2", "round3"):
            assert o.share is None
        out.append(o.abort)
    return out


def assert_no_commit(res: SimResult, parties: Iterable[int]) -> None:
    for i in parties:
        assert res[i].certificate is None and res[i].done is None


def evidence_envelopes(sim: Simulation, exc: ProtocolAbort, culprit: int) -> list[Envelope]:
    """Decode the culprit's evidence; every envelope in it must carry a valid node signature."""
    envs = decode_evidence(exc.evidence[culprit])
    for env in envs:
        assert env.sid == sim.sid
        env.verify(sim.committee.member(env.sender).sign_pub)
    return envs


def factory(cls: type[DkgParty], **extra: Any) -> Callable[..., DkgParty]:
    def make(**kw: Any) -> DkgParty:
        p = cls(**kw)
        for k, v in extra.items():
            setattr(p, k, v)
        return p

    return make


def flip(b: bytes, pos: int = -1) -> bytes:
    a = bytearray(b)
    a[pos] ^= 0x01
    return bytes(a)


def layout(sim: Simulation) -> DkgLayout:
    return DkgLayout(sim.group, sim.threshold, len(sim.ids))


class BodyTamper(DkgParty):
    """A dealer that commits (honestly, in D0) to a tampered D1 body."""

    tamper: Callable[[D1Body, DkgParty], D1Body]

    def _make_body(self, poly: Polynomial) -> D1Body:
        return self.tamper(super()._make_body(poly), self)


def run_with_body(
    group: Group, t: int, n: int, tamper: Callable[[D1Body, DkgParty], D1Body], **kw: Any
) -> tuple[Simulation, SimResult]:
    sim = Simulation(group, t, n, factories={n: factory(BodyTamper, tamper=tamper)}, **kw)
    return sim, sim.run()


# --------------------------------------------------------------------------------------------
# DKG-1: proof of knowledge and the D0 commitment (rogue key)
# --------------------------------------------------------------------------------------------


def test_dkg_1_forged_pok(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn

    def forge(body: D1Body, p: DkgParty) -> D1Body:
        z = group.decode_scalar(body.pok_z)
        return dataclasses.replace(body, pok_z=group.encode_scalar((z + 1) % group.order))

    sim, res = run_with_body(group, t, n, forge)
    for exc in assert_abort(res, honest(sim, n), R.INVALID_POK, {n}, step="round2"):
        (env,) = evidence_envelopes(sim, exc, n)
        assert env.sender == n and env.msg_type == MSG_D1


def test_dkg_1_pok_copied_from_another_party(group: Group, tn: tuple[int, int]) -> None:
    """m publishes victim 1's commitments and PoK as its own (replayed under another id)."""
    t, n = tn
    holder: dict[str, Simulation] = {}

    def copy(body: D1Body, p: DkgParty) -> D1Body:
        victim = holder["sim"].parties[1]._body
        assert victim is not None
        return dataclasses.replace(victim, salt=body.salt)

    sim = Simulation(group, t, n, factories={n: factory(BodyTamper, tamper=copy)})
    holder["sim"] = sim
    res = sim.run()
    assert_abort(res, honest(sim, n), R.INVALID_POK, {n}, step="round2")


def test_dkg_1_pok_for_another_sid(group: Group, tn: tuple[int, int]) -> None:
    """m replays its own, valid-for-sid-A commitments and PoK in session B."""
    t, n = tn
    old = Simulation(group, t, n, seed=b"session-A")
    old.parties[n].round0()
    replay = old.parties[n]._body
    assert replay is not None

    def reuse(body: D1Body, p: DkgParty) -> D1Body:
        return replay

    sim, res = run_with_body(group, t, n, reuse, seed=b"session-A", sid=bytes(range(32)))
    assert sim.sid != old.sid
    assert_abort(res, honest(sim, n), R.INVALID_POK, {n}, step="round2")


def test_dkg_1_rogue_key_after_seeing_d1_is_commitment_mismatch(
    group: Group, tn: tuple[int, int]
) -> None:
    """§12 item 2: C_{m,0} = Y* − Σ honest C_{j,0} chosen after the honest D1s."""
    t, n = tn
    lay_holder: dict[str, DkgLayout] = {}
    seen: dict[int, Envelope] = {}
    target = group.base_mul(424242)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd != 1:
            return env
        if s != n:
            seen[s] = env
            return env
        lay = lay_holder["lay"]
        honest_c0 = group.sum_points(
            group.decode_point(D1Body.parse(lay, e.payload[: lay.d1_body_len]).commitments[0])
            for e in seen.values()
        )
        body = D1Body.parse(lay, env.payload[: lay.d1_body_len])
        rogue = dataclasses.replace(
            body, commitments=(group.encode_point(target - honest_c0), *body.commitments[1:])
        )
        return sim.resign(env, payload=rogue.encode() + env.payload[lay.d1_body_len :])

    sim = Simulation(group, t, n, rule=rule)
    lay_holder["lay"] = layout(sim)
    res = sim.run()
    for exc in assert_abort(res, honest(sim, n), R.COMMITMENT_MISMATCH, {n}, step="round2"):
        d0, d1 = evidence_envelopes(sim, exc, n)
        assert (d0.msg_type, d1.msg_type) == (MSG_D0, MSG_D1)


def test_dkg_1_d1_differs_from_d0_commitment(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == n:
            lay = layout(sim)
            return sim.resign(env, payload=flip(env.payload, lay.d1_body_len - 1))  # salt byte
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert_abort(res, honest(sim, n), R.COMMITMENT_MISMATCH, {n}, step="round2")


# --------------------------------------------------------------------------------------------
# DKG-2: threshold raise / lower, and exact lengths everywhere
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", ["t+1", "t-1", "zero"])
def test_dkg_2_commitment_vector_length(group: Group, tn: tuple[int, int], delta: str) -> None:
    t, n = tn

    def resize(body: D1Body, p: DkgParty) -> D1Body:
        cs = body.commitments
        if delta == "t+1":
            cs = (*cs, group.encode_point(group.base_mul(99)))
        elif delta == "t-1":
            cs = cs[:-1]
        else:
            cs = ()
        return dataclasses.replace(body, commitments=cs)

    sim, res = run_with_body(group, t, n, resize)
    assert_abort(res, honest(sim, n), R.INVALID_DATA_SIZE, {n}, step="round2")


@pytest.mark.parametrize("count", ["t+1", "t-1"])
def test_dkg_2_count_field_must_equal_t(group: Group, tn: tuple[int, int], count: str) -> None:
    """The u16be count in D1 lies (t commitments present, length right): still INVALID_DATA_SIZE."""
    t, n = tn
    value = t + 1 if count == "t+1" else t - 1

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == n:
            return sim.resign(env, payload=value.to_bytes(2, "big") + env.payload[2:])
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert_abort(res, honest(sim, n), R.INVALID_DATA_SIZE, {n}, step="round2")


@pytest.mark.parametrize("rnd", [0, 1, 2, 3])
@pytest.mark.parametrize("change", ["append", "truncate"])
def test_dkg_2_payload_length_is_exact(
    group: Group, tn: tuple[int, int], rnd: int, change: str
) -> None:
    """One byte more or less in any message is INVALID_DATA_SIZE naming its sender."""
    t, n = tn
    victim = 1

    def rule(r_: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if r_ == rnd and s == n and (rnd != 2 or r == victim):
            p = env.payload + b"\x00" if change == "append" else env.payload[:-1]
            return sim.resign(env, payload=p)
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    step = {0: "round1", 1: "round2", 2: "round3", 3: "conclude"}[rnd]
    receivers = [victim] if rnd == 2 else honest(sim, n)
    for exc in assert_abort(res, receivers, R.INVALID_DATA_SIZE, {n}, step=step):
        (env,) = evidence_envelopes(sim, exc, n)
        assert env.sender == n
    assert_no_commit(res, honest(sim, n))


# --------------------------------------------------------------------------------------------
# DKG-3: bad share -> complaint -> every member names the dealer; false complaint
# --------------------------------------------------------------------------------------------


def test_dkg_3_bad_share_complaint_names_dealer(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    j = 1

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == n and r == j:
            share = group.decode_scalar(env.payload[: group.scalar_len])
            bad = group.encode_scalar((share + 1) % group.order)
            return sim.resign(env, payload=bad + env.payload[group.scalar_len :])
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert res[j].round3 is not None and res[j].round3.complaint is not None
    assert res[j].share is None
    complaint = res[j].round3.complaint
    assert complaint.msg_type == "dkg/complaint" and complaint.to == 0
    # every party (the complainer, the others and the dealer itself) reaches the same verdict
    for exc in assert_abort(res, sim.ids, R.FELDMAN_VERIFICATION_FAILED, {n}, step="conclude"):
        (d2,) = evidence_envelopes(sim, exc, n)
        assert (d2.sender, d2.to, d2.msg_type) == (n, j, MSG_D2)


def test_dkg_3_false_complaint_names_complainer(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    c, accused = n, 1

    class FalseComplainer(DkgParty):
        def round3(self, inbound: Any) -> Any:
            super().round3(inbound)
            return self._complain(accused, inbound[accused])

    sim = Simulation(group, t, n, factories={c: FalseComplainer})
    res = sim.run()
    for exc in assert_abort(res, honest(sim, c), R.FALSE_COMPLAINT, {c}, step="conclude"):
        (env,) = evidence_envelopes(sim, exc, c)
        assert env.msg_type == "dkg/complaint" and env.sender == c


def test_dkg_3_complaint_with_forged_evidence_names_complainer(
    group: Group, tn: tuple[int, int]
) -> None:
    """The complainer alters the accused's share in its evidence: the signature no longer holds."""
    t, n = tn
    c, accused = n, 1

    class Forger(DkgParty):
        def round3(self, inbound: Any) -> Any:
            super().round3(inbound)
            d2 = inbound[accused]
            forged = dataclasses.replace(d2, payload=flip(d2.payload, group.scalar_len // 2))
            return self._complain(accused, forged)

    sim = Simulation(group, t, n, factories={c: Forger})
    res = sim.run()
    assert_abort(res, honest(sim, c), R.FALSE_COMPLAINT, {c}, step="conclude")


@pytest.mark.parametrize("accused", ["self", "stranger"])
def test_dkg_3_complaint_against_self_or_stranger_names_complainer(
    group: Group, tn: tuple[int, int], accused: str
) -> None:
    t, n = tn
    c = n
    target = c if accused == "self" else 60000

    class Nonsense(DkgParty):
        def round3(self, inbound: Any) -> Any:
            super().round3(inbound)
            genuine = self._complain(1, inbound[1]).complaint
            assert genuine is not None
            payload = target.to_bytes(2, "big") + genuine.payload[2:]
            self._complaint = self._sign(3, 0, "dkg/complaint", payload)
            return DkgRound3(complaint=self._complaint)

    sim = Simulation(group, t, n, factories={c: Nonsense})
    res = sim.run()
    assert_abort(res, honest(sim, c), R.FALSE_COMPLAINT, {c}, step="conclude")


# --------------------------------------------------------------------------------------------
# DKG-4: equivocation and lying echoes
# --------------------------------------------------------------------------------------------


def assert_equivocation(sim: Simulation, exc: ProtocolAbort, m: int, msg_type: str) -> None:
    a, b = evidence_envelopes(sim, exc, m)
    assert a.sender == b.sender == m and a.msg_type == b.msg_type == msg_type
    assert a.round == b.round and a.sid == b.sid
    assert (a.payload, a.signature) != (b.payload, b.signature)


def test_dkg_4_equivocating_d0_to_different_parties(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    if n < 3:
        pytest.skip("needs two honest receivers (see the own-echo variant for n = 2)")

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == n and r == 2:
            return sim.resign(env, payload=flip(env.payload))
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    for exc in assert_abort(res, honest(sim, n), R.EQUIVOCATION, {n}, step="round2"):
        assert_equivocation(sim, exc, n, MSG_D0)


def test_dkg_4_equivocating_d0_in_own_echo(group: Group, tn: tuple[int, int]) -> None:
    """m echoes, for itself, a second validly signed D0 that differs from the one it sent."""
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == n:
            lay = layout(sim)
            own = res_holder["d0"]
            other = sim.resign(own, payload=flip(own.payload))
            off = lay.d1_body_len + (n - 1) * lay.d0_echo_entry_len  # m = n is the last entry
            p = env.payload[:off] + other.payload + other.signature
            return sim.resign(env, payload=p)
        if rnd == 0 and s == n:
            res_holder["d0"] = env
        return env

    res_holder: dict[str, Envelope] = {}
    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    for exc in assert_abort(res, honest(sim, n), R.EQUIVOCATION, {n}, step="round2"):
        assert_equivocation(sim, exc, n, MSG_D0)


def test_dkg_4_equivocating_d1_shown_in_d2_echo(group: Group, tn: tuple[int, int]) -> None:
    """m's D2 echoes a second validly signed D1 of its own: EQUIVOCATION with both D1s."""
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == n:
            lay = layout(sim)
            own = res_holder["d1"]
            other = sim.resign(own, payload=flip(own.payload, lay.d1_body_len - 1))
            off = group.scalar_len + (n - 1) * lay.d1_echo_entry_len
            return sim.resign(env, payload=env.payload[:off] + other.payload + other.signature)
        if rnd == 1 and s == n:
            res_holder["d1"] = env
        return env

    res_holder: dict[str, Envelope] = {}
    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    for exc in assert_abort(res, honest(sim, n), R.EQUIVOCATION, {n}, step="round3"):
        assert_equivocation(sim, exc, n, MSG_D1)


def test_dkg_4_equivocating_d1_to_different_parties_never_outputs(
    group: Group, tn: tuple[int, int]
) -> None:
    """A second D1 cannot open the same cm: its receiver names m, the others stall."""
    t, n = tn
    if n < 3:
        pytest.skip("needs two honest receivers")

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == n and r == 2:
            lay = layout(sim)
            return sim.resign(env, payload=flip(env.payload, lay.d1_body_len - 1))
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert_abort(res, [2], R.COMMITMENT_MISMATCH, {n}, step="round2")
    for i in honest(sim, n, 2):
        assert res[i].abort is None and res[i].stalled_at == "round3"
        assert res[i].share is None
    assert_no_commit(res, honest(sim, n))


def test_dkg_4_lying_echo_in_d1(group: Group, tn: tuple[int, int]) -> None:
    """m echoes a D0 of party 1 that 1 never signed: ECHO_MISMATCH naming m, not 1."""
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == n:
            lay = layout(sim)
            return sim.resign(env, payload=flip(env.payload, lay.d1_body_len))  # entry of party 1
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    for exc in assert_abort(res, honest(sim, n), R.ECHO_MISMATCH, {n}, step="round2"):
        (env,) = evidence_envelopes(sim, exc, n)
        assert env.msg_type == MSG_D1


def test_dkg_4_lying_echo_in_d2(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == n:
            return sim.resign(
                env, payload=flip(env.payload, group.scalar_len + 5)
            )  # entry of party 1
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    for exc in assert_abort(res, honest(sim, n), R.ECHO_MISMATCH, {n}, step="round3"):
        (env,) = evidence_envelopes(sim, exc, n)
        assert env.msg_type == MSG_D2


def test_dkg_4_ack_over_another_transcript(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 3 and s == n:
            return sim.resign(env, payload=flip(env.payload, 40))  # inside transcript_digest
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert_abort(res, honest(sim, n), R.ECHO_MISMATCH, {n}, step="conclude")


def test_dkg_4_ack_with_bad_statement_signature(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 3 and s == n:
            return sim.resign(env, payload=flip(env.payload, 70))  # inside the statement signature
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert_abort(res, honest(sim, n), R.INVALID_SIGNATURE, {n}, step="conclude")


def test_dkg_4_done_with_bad_statement_signature(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 4 and s == n:
            return sim.resign(env, payload=flip(env.payload, 3))
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    for i in honest(sim, n):
        o = res[i]
        assert o.certificate is not None  # committed; only the done certificate fails
        assert o.abort is not None and o.aborted_in == "collect_done"
        assert o.abort.abort_reason is R.INVALID_SIGNATURE and o.abort.culprits == {n}
        assert o.done is None


# --------------------------------------------------------------------------------------------
# DKG-5: identifiers and envelope headers
# --------------------------------------------------------------------------------------------


class ExplodingRng:
    """Proves "before any arithmetic": any use of randomness fails the test."""

    def random_bytes(self, n: int) -> bytes:
        raise AssertionError("randomness used before the ids were validated")


@pytest.mark.parametrize(
    "ids", [(0, 1, 2), (1, 2, 65536), (1, 2, 2)], ids=["zero", "65536", "duplicate"]
)
def test_dkg_5_bad_ids_in_committee(ids: tuple[int, ...]) -> None:
    with pytest.raises(InvalidArguments) as exc:
        Committee(
            members=tuple(Member(id=i, node=f"n{k}", sign_pub=bytes(32)) for k, i in enumerate(ids))
        )
    assert exc.value.reason == "INVALID_PARTY"


@pytest.mark.parametrize(
    "ids", [(0, 1, 2), (1, 2, 65536), (1, 2, 2)], ids=["zero", "65536", "duplicate"]
)
def test_dkg_5_bad_ids_smuggled_past_the_committee(group: Group, ids: tuple[int, ...]) -> None:
    """Even a Committee built without validation is refused by DkgParty before any arithmetic."""
    signer = node_signer(b"x", 1)
    members = []
    for k, i in enumerate(ids):
        m = object.__new__(Member)
        for f, v in (("id", i), ("node", f"n{k}"), ("sign_pub", signer.public_key)):
            object.__setattr__(m, f, v)
        members.append(m)
    committee = object.__new__(Committee)
    object.__setattr__(committee, "members", tuple(members))
    with pytest.raises(InvalidArguments) as exc:
        DkgParty(
            group=group,
            key_id=bytes(16),
            committee=committee,
            threshold=2,
            me=1,
            sid=bytes(32),
            signer=signer,
            rng=ExplodingRng(),
        )
    assert exc.value.reason == "INVALID_PARTY"


def test_dkg_5_me_not_in_committee(group: Group) -> None:
    sim = Simulation(group, 2, 3)
    with pytest.raises(InvalidArguments) as exc:
        DkgParty(
            group=group,
            key_id=sim.key_id,
            committee=sim.committee,
            threshold=2,
            me=4,
            sid=sim.sid,
            signer=node_signer(b"x", 4),
            rng=ExplodingRng(),
        )
    assert exc.value.reason == "INVALID_PARTY"


def started(group: Group, t: int = 2, n: int = 3) -> tuple[Simulation, dict[int, Envelope]]:
    sim = Simulation(group, t, n)
    return sim, {i: p.round0() for i, p in sim.parties.items()}


def others(d0: dict[int, Envelope], me: int) -> dict[int, Envelope]:
    return {k: v for k, v in d0.items() if k != me}


@pytest.mark.parametrize("sender", [0, 4, 65535, 65536])
def test_dkg_5_sender_not_in_committee(group: Group, sender: int) -> None:
    sim, d0 = started(group)
    inbound = others(d0, 1)
    stranger = dataclasses.replace(d0[2], sender=sender, signature=bytes(64))
    inbound[sender] = stranger
    with pytest.raises(ProtocolAbort) as exc:
        sim.parties[1].round1(inbound)
    assert exc.value.abort_reason is R.INVALID_PARTY and exc.value.culprits == frozenset()
    # terminal: the party refuses to continue
    with pytest.raises(InvalidArguments):
        sim.parties[1].round1(others(d0, 1))


def test_dkg_5_impersonation_signed_by_wrong_key(group: Group, tn: tuple[int, int]) -> None:
    """An envelope claiming sender 1 but signed by another member's (or an outsider's) key."""
    t, n = tn
    receiver = 2
    forger = node_signer(b"outsider", 99) if n == 2 else None

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == 1 and r == receiver:
            forged = dataclasses.replace(env, payload=flip(env.payload), signature=b"")
            key = forger if forger is not None else sim.signers[n]
            return key.sign(forged)
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert_abort(res, [receiver], R.BAD_ENVELOPE, set(), step="round1")
    assert_no_commit(res, sim.ids)
    for i in sim.ids:
        assert res[i].share is None


def test_dkg_5_caller_errors(group: Group) -> None:
    sim, d0 = started(group)
    p = sim.parties[1]
    with pytest.raises(InvalidArguments) as exc:
        p.round1({2: d0[2]})
    assert exc.value.reason == "MISSING_MESSAGES"
    with pytest.raises(InvalidArguments):
        p.round1(d0)  # own envelope included
    with pytest.raises(InvalidArguments) as exc:
        p.round1({2: d0[3], 3: d0[2]})
    assert exc.value.reason == "SENDER_MISMATCH"
    # caller errors are not terminal
    p.round1(others(d0, 1))


def test_dkg_5_wrong_session_is_not_blamed(group: Group) -> None:
    sim, d0 = started(group)
    inbound = others(d0, 1)
    inbound[2] = sim.resign(d0[2], sid=bytes(32))  # validly signed, other session (a replay)
    with pytest.raises(ProtocolAbort) as exc:
        sim.parties[1].round1(inbound)
    assert exc.value.abort_reason is R.WRONG_SESSION and exc.value.culprits == frozenset()


def test_dkg_5_replayed_round_is_not_blamed(group: Group) -> None:
    sim, d0 = started(group)
    d1 = {i: p.round1(others(d0, i)) for i, p in sim.parties.items()}
    inbound = others(d1, 1)
    inbound[2] = d0[2]  # a genuine D0, delivered in round 1
    with pytest.raises(ProtocolAbort) as exc:
        sim.parties[1].round2(inbound)
    assert exc.value.abort_reason is R.WRONG_SESSION and exc.value.culprits == frozenset()


def test_dkg_5_misrouted_d2_is_not_blamed(group: Group) -> None:
    sim, d0 = started(group)
    d1 = {i: p.round1(others(d0, i)) for i, p in sim.parties.items()}
    d2 = {i: p.round2(others(d1, i)) for i, p in sim.parties.items()}
    inbound = {j: d2[j][1] for j in (2, 3)}
    inbound[2] = d2[2][3]  # 2's share for party 3, delivered to party 1
    with pytest.raises(ProtocolAbort) as exc:
        sim.parties[1].round3(inbound)
    assert exc.value.abort_reason is R.WRONG_SESSION and exc.value.culprits == frozenset()


@pytest.mark.parametrize(
    "change",
    [{"msg_type": MSG_D1}, {"round": 1}, {"to": 3}, {"msg_type": "dkg/other"}],
    ids=["type", "round", "to", "unknown-type"],
)
def test_dkg_5_signed_malformed_header_names_sender(group: Group, change: dict[str, Any]) -> None:
    sim, d0 = started(group)
    inbound = others(d0, 1)
    inbound[2] = sim.resign(d0[2], **change)
    with pytest.raises(ProtocolAbort) as exc:
        sim.parties[1].round1(inbound)
    assert exc.value.abort_reason is R.BAD_ENVELOPE and exc.value.culprits == {2}
    (env,) = evidence_envelopes(sim, exc.value, 2)
    assert env == inbound[2]


def test_dkg_5_bad_signature(group: Group) -> None:
    sim, d0 = started(group)
    inbound = others(d0, 1)
    inbound[2] = dataclasses.replace(d0[2], signature=flip(d0[2].signature))
    with pytest.raises(ProtocolAbort) as exc:
        sim.parties[1].round1(inbound)
    assert exc.value.abort_reason is R.BAD_ENVELOPE and exc.value.culprits == frozenset()


# --------------------------------------------------------------------------------------------
# DKG-6: encodings in every point and scalar field
# --------------------------------------------------------------------------------------------

# Ed25519 test-only affine arithmetic (to build torsioned points)
_D = -121665 * pow(121666, -1, ED_P) % ED_P
_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def _ed_decode(b: bytes) -> tuple[int, int]:
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    u, v = (y * y - 1) % ED_P, (_D * y * y + 1) % ED_P
    x = (u * pow(v, 3, ED_P) * pow(u * pow(v, 7, ED_P), (ED_P - 5) // 8, ED_P)) % ED_P
    if (v * x * x - u) % ED_P != 0:
        x = x * _SQRT_M1 % ED_P
    assert (v * x * x - u) % ED_P == 0, "not on the curve"
    if x & 1 != sign:
        x = ED_P - x
    return x % ED_P, y


def _ed_encode(pt: tuple[int, int]) -> bytes:
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _ed_add(p: tuple[int, int], q: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p, q
    k = _D * x1 * x2 * y1 * y2 % ED_P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + k, -1, ED_P) % ED_P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - k, -1, ED_P) % ED_P
    return x3, y3


def _ed_mul(k: int, p: tuple[int, int]) -> tuple[int, int]:
    acc = (0, 1)
    while k:
        if k & 1:
            acc = _ed_add(acc, p)
        p = _ed_add(p, p)
        k >>= 1
    return acc


ED_SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]


def _ed_order(pt: tuple[int, int]) -> int:
    for k in (1, 2, 4, 8):
        if _ed_mul(k, pt) == (0, 1):
            return k
    raise AssertionError("not a small-order point")


def ed25519_bad_points() -> dict[str, bytes]:
    bad: dict[str, bytes] = {}
    small = [bytes.fromhex(h) for h in ED_SMALL_ORDER]
    orders = [_ed_order(_ed_decode(b)) for b in small]
    assert sorted(orders) == [1, 2, 4, 4, 8, 8, 8, 8]  # the 8 distinct small-order points
    for b, o in zip(small, orders, strict=True):
        bad[f"small-order-{o}-{b.hex()[:6]}{b[31]:02x}"] = b
    base = _ed_decode(ED25519.encode_point(ED25519.base_mul(31337)))
    for b, o in zip(small, orders, strict=True):
        if o in (2, 4, 8) and f"torsion-{o}" not in bad:
            bad[f"torsion-{o}"] = _ed_encode(_ed_add(base, _ed_decode(b)))
    bad["y=p"] = ED_P.to_bytes(32, "little")
    bad["y=p+1"] = (ED_P + 1).to_bytes(32, "little")
    bad["y=2^255-1"] = ((1 << 255) - 1).to_bytes(32, "little")
    bad["negative-zero-identity"] = (1 | (1 << 255)).to_bytes(32, "little")
    return bad


def secp256k1_bad_points() -> dict[str, bytes]:
    x = 1
    while pow((x**3 + 7) % K1_P, (K1_P - 1) // 2, K1_P) == 1:
        x += 1  # first x with no point on the curve
    g = SECP256K1.encode_point(SECP256K1.base_mul(31337))
    return {
        "infinity-0x00": bytes(33),
        "prefix-0x04": b"\x04" + g[1:],
        "prefix-0x05": b"\x05" + g[1:],
        "off-curve-x": b"\x02" + x.to_bytes(32, "big"),
        "x=p": b"\x02" + K1_P.to_bytes(32, "big"),
        "x=p+1": b"\x03" + (K1_P + 1).to_bytes(32, "big"),
        "x=2^256-1": b"\x02" + b"\xff" * 32,
    }


def bad_points(group: Group) -> dict[str, bytes]:
    pts = ed25519_bad_points() if group is ED25519 else secp256k1_bad_points()
    for name, b in pts.items():  # every case really is rejected by the backend
        with pytest.raises(InvalidArguments) as exc:
            group.decode_point(b)
        assert exc.value.reason == "INVALID_ENCODING", name
    return pts


def bad_scalars(group: Group) -> dict[str, bytes]:
    order = group.order
    endian = "little" if group is ED25519 else "big"
    return {
        "order": order.to_bytes(32, endian),  # type: ignore[arg-type]
        "order+1": (order + 1).to_bytes(32, endian),  # type: ignore[arg-type]
        "2^256-1": b"\xff" * 32,
    }


@pytest.mark.parametrize("field", ["C0", "Clast", "K"])
def test_dkg_6_bad_point_in_d1(group: Group, tn: tuple[int, int], field: str) -> None:
    t, n = tn
    for name, enc in bad_points(group).items():

        def put(body: D1Body, p: DkgParty, enc: bytes = enc) -> D1Body:
            if field == "K":
                return dataclasses.replace(body, pok_k=enc)
            cs = list(body.commitments)
            cs[0 if field == "C0" else -1] = enc
            return dataclasses.replace(body, commitments=tuple(cs))

        sim, res = run_with_body(group, t, n, put)
        try:
            assert_abort(res, honest(sim, n), R.INVALID_ENCODING, {n}, step="round2")
        except AssertionError as e:
            raise AssertionError(f"case {name}: {e}") from e


def test_dkg_6_every_commitment_index_is_decoded(group: Group) -> None:
    t, n = 3, 4
    bad = next(iter(bad_points(group).values()))
    for idx in range(t):

        def put(body: D1Body, p: DkgParty, idx: int = idx) -> D1Body:
            cs = list(body.commitments)
            cs[idx] = bad
            return dataclasses.replace(body, commitments=tuple(cs))

        sim, res = run_with_body(group, t, n, put)
        assert_abort(res, honest(sim, n), R.INVALID_ENCODING, {n}, step="round2")


def test_dkg_6_uncompressed_point_is_a_size_error(tn: tuple[int, int]) -> None:
    t, n = tn
    group = SECP256K1

    def put(body: D1Body, p: DkgParty) -> D1Body:
        from coincurve import PublicKey

        full = PublicKey(body.commitments[0]).format(compressed=False)
        return dataclasses.replace(body, commitments=(full, *body.commitments[1:]))

    sim, res = run_with_body(group, t, n, put)
    assert_abort(res, honest(sim, n), R.INVALID_DATA_SIZE, {n}, step="round2")


@pytest.mark.parametrize("case", ["order", "order+1", "2^256-1"])
def test_dkg_6_bad_scalar_z_in_d1(group: Group, tn: tuple[int, int], case: str) -> None:
    t, n = tn
    enc = bad_scalars(group)[case]
    sim, res = run_with_body(group, t, n, lambda body, p: dataclasses.replace(body, pok_z=enc))
    assert_abort(res, honest(sim, n), R.INVALID_ENCODING, {n}, step="round2")


@pytest.mark.parametrize("case", ["order", "order+1", "2^256-1"])
def test_dkg_6_bad_scalar_share_in_d2(group: Group, tn: tuple[int, int], case: str) -> None:
    """An undecodable share is a complaint; every member names the dealer (INVALID_ENCODING)."""
    t, n = tn
    enc = bad_scalars(group)[case]
    j = 1

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == n and r == j:
            return sim.resign(env, payload=enc + env.payload[group.scalar_len :])
        return env

    sim = Simulation(group, t, n, rule=rule)
    res = sim.run()
    assert res[j].round3 is not None and res[j].round3.complaint is not None
    for exc in assert_abort(res, sim.ids, R.INVALID_ENCODING, {n}, step="conclude"):
        (d2,) = evidence_envelopes(sim, exc, n)
        assert d2.payload[: group.scalar_len] == enc


# --------------------------------------------------------------------------------------------
# ZERO_PUBLIC_KEY
# --------------------------------------------------------------------------------------------


def test_dkg_zero_public_key(group: Group, tn: tuple[int, int]) -> None:
    """m (somehow knowing every honest a_{j,0}) makes PK = O: abort, nobody blamed."""
    t, n = tn
    holder: dict[str, Simulation] = {}

    class Cancel(DkgParty):
        def _make_polynomial(self) -> Polynomial:
            poly = super()._make_polynomial()
            peers = [holder["sim"].parties[j]._poly for j in holder["sim"].ids if j != self.me]
            a0 = -sum(p.coefficients[0] for p in peers if p is not None) % group.order
            return Polynomial([a0, *poly.coefficients[1:]], group.order)

    sim = Simulation(group, t, n, factories={n: Cancel})
    holder["sim"] = sim
    res = sim.run()
    assert_abort(res, sim.ids, R.ZERO_PUBLIC_KEY, set(), step="round3")
