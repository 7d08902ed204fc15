"""DKLs23 signing under malicious deviations (``specs/dkls23.md`` §14 table items 14–28,
§10.3, errata 7, 9), at the core level.

One table of cases, one test body. Each case names the malicious party ``P_m``, how it deviates
(a delivery ``rule`` that rewrites and re-signs its envelopes with its own node key, or a
:class:`SignSession` subclass that overrides a hook), the honest parties that must detect it,
the exact reason and culprits, and whether it is CHEAT-OT (pair to BAN). For every case the test
also asserts that no honest party released a signature and that every honest party's session
holds no secret any more (the aborting ones by themselves, the others after the abort notice of
erratum 8).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from helpers.dkls23_harness import (
    R2_A_TILDE,
    R2_E1,
    R2_ETA,
    R2_GU,
    R2_GV,
    R2_PSI,
    R2_R,
    R3_E2,
    R3_U,
    R3_W,
    Fixture,
    Result,
    Run,
    delta_bit,
    make_fixture,
    make_sid,
    polychromatic_ote1,
)
from warifu.core.curves import SECP256K1
from warifu.core.curves.secp256k1 import P_FIELD
from warifu.core.dkls23 import AbortClass, SignSession, classify, pairs_to_ban
from warifu.core.envelope import Envelope
from warifu.core.errors import AbortReason, FailedPrecondition, InvalidArguments
from warifu.core.ot import rvole
from warifu.core.rng import DeterministicRng, random_nonzero_scalar

Q = SECP256K1.order
DIGEST = hashlib.sha256(b"adversarial digest").digest()
OTHER_DIGEST = hashlib.sha256(b"another transaction").digest()

Rule = Callable[[str, int, int, Envelope], "Envelope | list[Envelope] | None"]


@dataclass
class Ctx:
    """What a rule builder may use: the fixture, the run, the cast."""

    fx: Fixture
    signers: tuple[int, ...]
    bad: int
    victims: tuple[int, ...]
    sid: bytes
    run: Run | None = None


@dataclass(frozen=True)
class Case:
    name: str
    spec: tuple[int, tuple[int, ...]]
    signers: tuple[int, ...]
    bad: int
    victims: tuple[int, ...]
    reason: AbortReason
    culprits: tuple[int, ...]
    stage: str
    rule: Callable[[Ctx], Rule] | None = None
    factory: type[SignSession] | None = None
    ban: bool = False
    verdict: tuple[AbortReason, tuple[int, ...]] | None = None  # after E1 disclosure
    digests: dict[int, bytes] = field(default_factory=dict)
    message_bound: bool = True
    before_secret_work: bool = False  # assert RvoleBob.round3 never ran at the victims
    rng_seed: str = "adv"


# --------------------------------------------------------------------------------------------
# rule builders
# --------------------------------------------------------------------------------------------


def patch(
    label: str, where: slice | int, data: Callable[[Ctx, Envelope], bytes], *, to: str = "victims"
) -> Callable[[Ctx], Rule]:
    """Rewrite ``payload[where]`` of P_m's ``label`` envelopes (to the victims, or to all)."""

    def build(ctx: Ctx) -> Rule:
        def rule(lab: str, s: int, r: int, env: Envelope) -> Envelope:
            if lab == label and s == ctx.bad and (to == "all" or r in ctx.victims):
                return ctx.fx.patch(env, where, data(ctx, env))
            return env

        return rule

    return build


def replace_payload(label: str, make: Callable[[Ctx, Envelope], bytes]) -> Callable[[Ctx], Rule]:
    def build(ctx: Ctx) -> Rule:
        def rule(lab: str, s: int, r: int, env: Envelope) -> Envelope:
            if lab == label and s == ctx.bad and r in ctx.victims:
                return ctx.fx.resign(env, payload=make(ctx, env))
            return env

        return rule

    return build


def plus_one(where: slice | int) -> Callable[[Ctx, Envelope], bytes]:
    def data(ctx: Ctx, env: Envelope) -> bytes:
        sl = where if isinstance(where, slice) else slice(where, where + 32)
        return ((int.from_bytes(env.payload[sl], "big") + 1) % Q).to_bytes(32, "big")

    return data


def const(b: bytes) -> Callable[[Ctx, Envelope], bytes]:
    return lambda ctx, env: b


def a_tilde(index: int) -> int:
    return R2_A_TILDE + 32 * index


def polychromatic(ctx: Ctx, env: Envelope) -> bytes:
    victim = ctx.victims[0]
    row = next(x for x in range(256) if delta_bit(ctx.fx, victim, ctx.bad, x) == 1)
    return polychromatic_ote1(
        sid=ctx.sid,
        bob=ctx.bad,
        alice=victim,
        seeds=ctx.fx.pairs[ctx.bad][victim].bob,
        row=row,
        column=77,
        rng_label="poly",
    )


def rushing_r3(field_: str) -> Callable[[Ctx], Rule]:
    """P_m sees the honest R3s first and makes ``Σu' = 0`` or ``Σw = 0``."""

    def build(ctx: Ctx) -> Rule:
        def rule(lab: str, s: int, r: int, env: Envelope) -> Envelope:
            if lab != "r3" or s != ctx.bad:
                return env
            assert ctx.run is not None
            sl = R3_U if field_ == "u" else R3_W
            others = sum(
                int.from_bytes(ctx.run.outcomes[k].partial.envelope.payload[sl], "big")  # type: ignore[union-attr]
                for k in ctx.signers
                if k != ctx.bad
            )
            return ctx.fx.patch(env, sl, ((-others) % Q).to_bytes(32, "big"))

        return rule

    return build


def equivocate_com(ctx: Ctx) -> Rule:
    """P_m sends its real Com to the first victim and another (signed) Com to the rest."""

    def rule(lab: str, s: int, r: int, env: Envelope) -> Envelope:
        if lab == "r1-com" and s == ctx.bad and r != ctx.victims[0]:
            return ctx.fx.resign(env, payload=hashlib.sha256(b"other com").digest())
        return env

    return rule


# --------------------------------------------------------------------------------------------
# malicious SignSession hooks
# --------------------------------------------------------------------------------------------


class WrongSk(SignSession):
    """Alice input ``sk'_m ≠ λ_m x_m`` ("wrong public share"), Γ consistent with it."""

    def _alice_inputs(self, j: int, r: int, sk: int) -> tuple[int, int]:
        return r, (sk + 1) % Q


class WrongR(SignSession):
    """Alice input ``r'_m ≠ r_m`` with the honest ``R_m``."""

    def _alice_inputs(self, j: int, r: int, sk: int) -> tuple[int, int]:
        return (r + 1) % Q, sk


class CancelR(SignSession):
    """Knows the honest nonces (test-only: same seeded streams) and picks ``r_m = −Σ r_k``."""

    def _sample_nonce(self) -> int:
        total = 0
        for k in self.signers:
            if k != self.me:
                rng = DeterministicRng(f"{FIXTURE_SEED}/cancel").fork(k)
                total += random_nonzero_scalar(rng, Q)
        return (-total) % Q


FIXTURE_SEED = "dkls23-test"

# --------------------------------------------------------------------------------------------
# hostile encodings
# --------------------------------------------------------------------------------------------


def _k1_valid(b: bytes) -> bool:
    try:
        SECP256K1.decode_point(b)
    except InvalidArguments:
        return False
    return True


P256_NOT_K1 = next(
    b
    for b in (
        ec.derive_private_key(k, ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        for k in range(1, 50)
    )
    if not _k1_valid(b)
)
G_X = SECP256K1.encode_point(SECP256K1.generator())[1:]
UNCOMPRESSED_G = bytes.fromhex(
    "04" + G_X.hex() + "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
)
BAD_POINTS_IN_PLACE = {
    "off-curve-x": b"\x02" + (5).to_bytes(32, "big"),
    "x=p": b"\x02" + P_FIELD.to_bytes(32, "big"),
    "x=p+1": b"\x03" + (P_FIELD + 1).to_bytes(32, "big"),
    "x=2^256-1": b"\x02" + b"\xff" * 32,
    "prefix-00": b"\x00" + G_X,
    "prefix-04": b"\x04" + G_X,
    "prefix-05": b"\x05" + G_X,
    "p256-point": P256_NOT_K1,
}
BAD_POINTS_RESIZED = {"uncompressed-65": UNCOMPRESSED_G, "truncated-32": b"\x02" + G_X[:31]}
BAD_SCALARS = {"q": Q, "q+1": Q + 1, "2^256-1": 2**256 - 1}
POINT_FIELDS = {"R": R2_R, "Gu": R2_GU, "Gv": R2_GV}


def resize(where: slice, new: bytes) -> Callable[[Ctx, Envelope], bytes]:
    def make(ctx: Ctx, env: Envelope) -> bytes:
        p = env.payload
        return p[: where.start] + new + p[where.stop :]

    return make


def trim(delta: int) -> Callable[[Ctx, Envelope], bytes]:
    return lambda ctx, env: env.payload[:delta] if delta < 0 else env.payload + bytes(delta)


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

T23 = (2, (1, 2, 3))
T35 = (3, (1, 2, 3, 4, 5))
R = AbortReason

CASES: list[Case] = [
    # 14 wrong OT correction ã (naive tamper)
    *[
        Case(
            f"14-a_tilde[{k}]-{sp[0]}of{len(sp[1])}",
            sp,
            s,
            2,
            (1,),
            R.RVOLE_CONSISTENCY_FAILED,
            (2,),
            "finish",
            rule=patch("r2", a_tilde(k), plus_one(a_tilde(k))),
            ban=True,
        )
        for k in (0, 1, 1535)
        for sp, s in ((T23, (1, 2)), (T35, (1, 2, 4)))
    ],
    # 15 polychromatic U, seeded Δ_l = 1 at the victim
    Case(
        "15-polychromatic-2of3",
        T23,
        (1, 2),
        2,
        (1,),
        R.OT_CONSISTENCY_FAILED,
        (2,),
        "round2",
        rule=replace_payload("r1-ote", polychromatic),
        ban=True,
    ),
    Case(
        "15-polychromatic-3of5",
        T35,
        (1, 3, 5),
        5,
        (3,),
        R.OT_CONSISTENCY_FAILED,
        (5,),
        "round2",
        rule=replace_payload("r1-ote", polychromatic),
        ban=True,
    ),
    # 16 wrong Γu (a random valid point)
    Case(
        "16-gamma-u",
        T35,
        (2, 3, 4),
        3,
        (2, 4),
        R.GAMMA_U_FAILED,
        (3,),
        "finish",
        rule=patch("r2", R2_GU, const(SECP256K1.encode_point(SECP256K1.base_mul(12345)))),
        ban=True,
    ),
    # 17 wrong Γv, or Alice input sk' ≠ λ x_m
    Case(
        "17-gamma-v",
        T23,
        (1, 3),
        3,
        (1,),
        R.GAMMA_V_FAILED,
        (3,),
        "finish",
        rule=patch("r2", R2_GV, const(SECP256K1.encode_point(SECP256K1.base_mul(777)))),
        ban=True,
    ),
    Case(
        "17-wrong-sk-input",
        T35,
        (1, 2, 3),
        2,
        (1, 3),
        R.GAMMA_V_FAILED,
        (2,),
        "finish",
        factory=WrongSk,
        ban=True,
    ),
    # 18 Alice input r' ≠ r_m with honest R_m
    Case(
        "18-wrong-r-input",
        T35,
        (1, 2, 3),
        1,
        (2, 3),
        R.GAMMA_U_FAILED,
        (1,),
        "finish",
        factory=WrongR,
        ban=True,
    ),
    # 19 R_m opening different from the committed one
    Case(
        "19-open-other-R",
        T23,
        (2, 3),
        2,
        (3,),
        R.COMMITMENT_MISMATCH,
        (2,),
        "finish",
        rule=patch("r2", R2_R, const(SECP256K1.encode_point(SECP256K1.base_mul(99)))),
        ban=True,
    ),
    Case(
        "19-open-other-salt",
        T23,
        (1, 2),
        1,
        (2,),
        R.COMMITMENT_MISMATCH,
        (1,),
        "finish",
        rule=patch("r2", slice(33, 65), const(bytes(32))),
        ban=True,
    ),
    # 20 different Com_m to different peers → ECHO_MISMATCH → disclosures → EQUIVOCATION
    Case(
        "20-equivocation-n3",
        T23,
        (1, 2, 3),
        3,
        (1, 2),
        R.ECHO_MISMATCH,
        (),
        "finish",
        rule=equivocate_com,
        verdict=(R.EQUIVOCATION, (3,)),
    ),
    Case(
        "20-equivocation-3of5",
        T35,
        (1, 2, 4),
        4,
        (1, 2),
        R.ECHO_MISMATCH,
        (),
        "finish",
        rule=equivocate_com,
        verdict=(R.EQUIVOCATION, (4,)),
    ),
    # 21 different R_m to different peers: the peers that got the other R_m
    Case(
        "21-split-R",
        T23,
        (1, 2, 3),
        3,
        (2,),
        R.COMMITMENT_MISMATCH,
        (3,),
        "finish",
        rule=patch("r2", R2_R, const(SECP256K1.encode_point(SECP256K1.base_mul(4242)))),
        ban=True,
    ),
    # 22 lies in its own E1 → culprit after disclosure
    Case(
        "22-lying-e1",
        T35,
        (1, 4, 5),
        4,
        (5,),
        R.ECHO_MISMATCH,
        (),
        "finish",
        rule=patch("r2", R2_E1, const(bytes(32))),
        verdict=(R.ECHO_MISMATCH, (4,)),
    ),
    # 25 out-of-range scalars (ψ, η, ã in R2; u', w in R3), checked before secret work
    *[
        Case(
            f"25-{fname}={vname}",
            T23,
            (1, 2),
            2,
            (1,),
            R.INVALID_ENCODING,
            (2,),
            stage,
            rule=patch(label, where, const(value.to_bytes(32, "big"))),
            before_secret_work=label == "r2",
        )
        for fname, label, where, stage in (
            ("psi", "r2", R2_PSI, "finish"),
            ("eta", "r2", R2_ETA, "finish"),
            ("a_tilde[0]", "r2", a_tilde(0), "finish"),
            ("a_tilde[1000]", "r2", a_tilde(1000), "finish"),
            ("u'", "r3", R3_U, "finalize"),
            ("w", "r3", R3_W, "finalize"),
        )
        for vname, value in BAD_SCALARS.items()
    ],
    # 26 invalid points (in place: INVALID_ENCODING; resized: BAD_LENGTH, erratum 9)
    *[
        Case(
            f"26-{fname}-{pname}",
            T35,
            (1, 2, 3),
            3,
            (1, 2),
            R.INVALID_ENCODING,
            (3,),
            "finish",
            rule=patch("r2", where, const(pbytes)),
            before_secret_work=True,
        )
        for fname, where in POINT_FIELDS.items()
        for pname, pbytes in BAD_POINTS_IN_PLACE.items()
    ],
    *[
        Case(
            f"26-{fname}-{pname}",
            T23,
            (1, 2),
            2,
            (1,),
            R.BAD_LENGTH,
            (2,),
            "finish",
            rule=replace_payload("r2", resize(where, pbytes)),
            before_secret_work=True,
        )
        for fname, where in POINT_FIELDS.items()
        for pname, pbytes in BAD_POINTS_RESIZED.items()
    ],
    # wrong lengths of every message (erratum 9)
    *[
        Case(
            f"len-{label}{d:+d}",
            T23,
            (1, 2),
            2,
            (1,),
            R.BAD_LENGTH,
            (2,),
            stage,
            rule=replace_payload(label, trim(d)),
        )
        for label, stage in (
            ("r1-com", "round2"),
            ("r1-ote", "round2"),
            ("r2", "finish"),
            ("r3", "finalize"),
        )
        for d in (-1, 1)
    ],
    # 27 wrong u' or w: SIGNATURE_INVALID; culprit P_m iff |S| = 2
    *[
        Case(
            f"27-{fname}-S{len(s)}",
            sp,
            s,
            s[-1],
            tuple(k for k in s if k != s[-1]),
            R.SIGNATURE_INVALID,
            (s[-1],) if len(s) == 2 else (),
            "finalize",
            rule=patch("r3", where, plus_one(where), to="all"),
        )
        for fname, where in (("u'", R3_U), ("w", R3_W))
        for sp, s in ((T23, (1, 3)), (T35, (2, 3, 5)), (T35, (1, 2, 3, 4, 5)))
    ],
    # 28 m_m ≠ m: MESSAGE_MISMATCH; culprit in interactive mode only
    Case(
        "28-message-interactive",
        T35,
        (1, 2, 3),
        2,
        (1, 3),
        R.MESSAGE_MISMATCH,
        (2,),
        "finalize",
        digests={2: OTHER_DIGEST},
    ),
    Case(
        "28-message-presign",
        T35,
        (1, 2, 3),
        2,
        (1, 3),
        R.MESSAGE_MISMATCH,
        (),
        "finalize",
        digests={2: OTHER_DIGEST},
        message_bound=False,
    ),
    # E2 lie in round 3 (departure 2 of the package docstring)
    Case(
        "e2-lie",
        T23,
        (2, 3),
        3,
        (2,),
        R.ECHO_MISMATCH,
        (3,),
        "finalize",
        rule=patch("r3", R3_E2, const(bytes(32)), to="all"),
    ),
    # AMBIGUOUS aborts a rushing P_m can force
    Case(
        "zero-denominator",
        T35,
        (1, 2, 3),
        3,
        (1, 2),
        R.ZERO_DENOMINATOR,
        (),
        "finalize",
        rule=rushing_r3("u"),
    ),
    Case("s-zero", T23, (1, 2), 2, (1,), R.S_ZERO, (), "finalize", rule=rushing_r3("w")),
    Case(
        "R-identity",
        T35,
        (1, 2, 3),
        3,
        (1, 2),
        R.R_IDENTITY,
        (),
        "finish",
        factory=CancelR,
        rng_seed="cancel",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malicious_deviation(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    fx = make_fixture(*case.spec)
    assert fx.seed == FIXTURE_SEED
    sid = make_sid(f"adv-{case.name}")
    ctx = Ctx(fx=fx, signers=case.signers, bad=case.bad, victims=case.victims, sid=sid)
    round3_calls: list[int] = []
    if case.before_secret_work:
        real = rvole.RvoleBob.round3
        victim_psids = {
            rvole.pair_session_id(sid, v, j, fx.pairs[v][j].bob.osid)
            for v in case.victims
            for j in case.signers
            if j != v
        }

        def counting(self: rvole.RvoleBob, ote2: bytes) -> tuple[int, int]:
            if self.psid in victim_psids:  # Bob's secret-dependent step at a victim
                round3_calls.append(1)
            return real(self, ote2)

        monkeypatch.setattr(rvole.RvoleBob, "round3", counting)
    run = Run(
        fx,
        case.signers,
        sid=sid,
        rng_seed=case.rng_seed,
        rule=case.rule(ctx) if case.rule is not None else None,
        factories={case.bad: case.factory} if case.factory is not None else None,
    )
    ctx.run = run
    if case.stage == "finalize":
        res = run.presign()
        assert all(o.alive for o in res.outcomes.values()), "deviation must surface in round 3"
        res = run.online(DIGEST, message_bound=case.message_bound, digests=case.digests)
    else:
        res = run.sign(DIGEST, message_bound=case.message_bound)
    check_outcome(case, fx, res)
    if case.reason is AbortReason.OT_CONSISTENCY_FAILED:
        for v in case.victims:  # rule S-1: the ban was recorded before the lock was released
            assert run.guard.banned(v, case.bad) and run.guard.durable
    if case.before_secret_work:
        assert not round3_calls, "a decode error must abort before Bob's RVOLE round 3"


def check_outcome(case: Case, fx: Fixture, res: Result) -> None:
    honest = [k for k in case.signers if k != case.bad]
    for v in case.victims:
        o = res[v]
        assert o.abort is not None, (v, o.error, o.stage, o.stalled)
        assert (o.abort.abort_reason, o.stage) == (case.reason, case.stage), o.abort
        assert o.abort.culprits == frozenset(case.culprits)
        for c in case.culprits:  # culprits come with the culprit's signed envelope
            assert c in o.abort.evidence
        want_ban = frozenset(case.culprits) if case.ban else frozenset()
        assert pairs_to_ban(o.abort) == want_ban
        assert (classify(o.abort) is AbortClass.CHEAT_OT) == case.ban
        if case.verdict is not None:
            assert o.verdict is not None
            assert (o.verdict.abort_reason, o.verdict.culprits) == (
                case.verdict[0],
                frozenset(case.verdict[1]),
            )
            assert set(o.verdict.evidence) == set(case.verdict[1])
    for k in honest:
        o = res[k]
        assert o.signature is None, "an honest party released a signature"
        assert not o.session.holds_secrets
        assert o.presig is None or o.presig.consumed
        assert o.abort is not None or o.notified or o.stalled


@pytest.mark.parametrize("name", ["16-gamma-u", "14-a_tilde[0]-3of5", "19-open-other-R"])
def test_after_a_cheat_ot_abort_the_pair_is_refused(name: str) -> None:
    """§14 test 31: after a CHEAT-OT abort the node bans the pair (both directions) and
    withholds its OT state: a new session with that peer is refused before round 1, one
    without it still signs."""
    case = next(c for c in CASES if c.name == name)
    fx = make_fixture(*case.spec)
    sid = make_sid(f"retry-{name}")
    ctx = Ctx(fx=fx, signers=case.signers, bad=case.bad, victims=case.victims, sid=sid)
    assert case.rule is not None
    res = Run(fx, case.signers, sid=sid, rule=case.rule(ctx)).sign(DIGEST)
    victim = case.victims[0]
    abort = res[victim].abort
    assert abort is not None and pairs_to_ban(abort) == {case.bad}
    usable = {j: p for j, p in fx.pairs[victim].items() if j not in pairs_to_ban(abort)}
    with pytest.raises(FailedPrecondition):
        SignSession(
            key_share=fx.shares[victim],
            signers=case.signers,
            sid=make_sid(f"retry2-{name}"),
            pairs=usable,
            signer=fx.signers[victim],
            rng=DeterministicRng("retry"),
        )
    others = tuple(k for k in fx.ids if k != case.bad)[: case.spec[0]]
    pairs = {i: {j: p for j, p in fx.pairs[i].items() if j != case.bad} for i in fx.ids}
    ok = Run(fx, others, sid=make_sid(f"retry3-{name}"), pairs=pairs).sign(DIGEST)
    assert set(ok.signatures()) == set(others)


def test_polychromatic_row_with_delta_zero_passes_the_check() -> None:
    """§14 test 5 at the signing level: with ``Δ_l = 0`` the victim's check passes.

    This is the selective-failure channel: the outcome reveals ``Δ_l``; rule S-1 and the ban
    bound it (``test_dkls23_concurrency.py``).
    """
    fx = make_fixture(*T23)
    sid = make_sid("poly-zero")
    row = next(x for x in range(256) if delta_bit(fx, 1, 2, x) == 0)
    forged = polychromatic_ote1(
        sid=sid, bob=2, alice=1, seeds=fx.pairs[2][1].bob, row=row, column=3, rng_label="p0"
    )

    def rule(lab: str, s: int, r: int, env: Envelope) -> Envelope:
        return fx.resign(env, payload=forged) if (lab, s, r) == ("r1-ote", 2, 1) else env

    run = Run(fx, (1, 2), sid=sid, rule=rule)
    res = run.presign()
    assert run.guard.evaluations[(1, 2)] == 1 and not run.guard.banned(1, 2)
    # party 1 got through its check and sent R2; the mismatch surfaces at P_m's own Bob side
    assert res[1].stage != "round2"
    assert (
        res[2].abort is not None
        and res[2].abort.abort_reason is AbortReason.RVOLE_CONSISTENCY_FAILED
    )


def test_every_abort_reason_of_signing_is_exercised() -> None:
    """Every DKLs23 signing reason appears in the table or in test_dkls23_signing.py."""
    covered = {c.reason for c in CASES} | {c.verdict[0] for c in CASES if c.verdict}
    signing_reasons = {
        R.OT_CONSISTENCY_FAILED,
        R.RVOLE_CONSISTENCY_FAILED,
        R.GAMMA_U_FAILED,
        R.GAMMA_V_FAILED,
        R.COMMITMENT_MISMATCH,
        R.ECHO_MISMATCH,
        R.EQUIVOCATION,
        R.MESSAGE_MISMATCH,
        R.SIGNATURE_INVALID,
        R.ZERO_DENOMINATOR,
        R.S_ZERO,
        R.R_IDENTITY,
        R.INVALID_ENCODING,
        R.BAD_LENGTH,
    }
    assert signing_reasons <= covered
