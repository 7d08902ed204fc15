"""Repair (shares.md §7; §12 item 10; test-plan REF-6 at core level), enrollment of a new id.

Every test body runs on both curves; the honest case also on the (t, n) matrix t2n3, t3n5,
t3n4 (a repair needs ``t`` helpers besides ``r``, so 2-of-2 cannot be repaired).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from helpers.ceremonies import (
    COORD_NONCE,
    REQUEST_ID,
    Key,
    Result,
    committee_for,
    evidence_envelopes,
    flip,
    interpolate_secret,
    make_key,
    make_request,
    run_refresh,
    run_repair,
    sign_and_verify,
    signer_for,
)
from warifu.core.approvals import CeremonyKind
from warifu.core.curves import ED25519, SECP256K1, Group, Point
from warifu.core.envelope import Envelope
from warifu.core.errors import AbortReason, InvalidArguments, PermissionDenied
from warifu.core.rng import DeterministicRng
from warifu.core.shares.package import Committee, KeyShare, Member, PublicKeyPackage
from warifu.core.shares.repair import (
    MSG_COMPLAINT,
    MSG_DELTA,
    MSG_P1,
    MSG_SIGMA,
    EnrolledShare,
    RepairHelper,
    RepairLayout,
    RepairTarget,
    repair_coefficient,
    session_params,
)

GROUPS = [pytest.param(ED25519, id="ed25519"), pytest.param(SECP256K1, id="secp256k1")]
MATRIX = [
    pytest.param((2, 3), id="t2n3"),
    pytest.param((3, 5), id="t3n5"),
    pytest.param((3, 4), id="t3n4"),
]
R = AbortReason


@pytest.fixture(params=GROUPS)
def group(request: pytest.FixtureRequest) -> Group:
    return request.param  # type: ignore[no-any-return]


def key_for(group: Group, t: int, n: int) -> Key:
    return make_key(group, t, tuple(range(1, n + 1)))


def interpolate_at(order: int, shares: dict[int, int], x: int) -> int:
    """TEST-ONLY: the sharing polynomial through ``shares`` evaluated at ``x``."""
    total = 0
    for i, y in shares.items():
        num, den = 1, 1
        for k in shares:
            if k != i:
                num = num * (x - k) % order
                den = den * (i - k) % order
        total = (total + y * num * pow(den, -1, order)) % order
    return total


def resigner(key: Key) -> Any:
    def resign(env: Envelope, **changes: Any) -> Envelope:
        new = dataclasses.replace(env, signature=b"", **changes)
        return signer_for(key.seed, new.sender).sign(new)

    return resign


def assert_repair_abort(
    res: Result, r: int, reason: AbortReason, culprits: set[int], *, step: str = "finish"
) -> None:
    o = res[r]
    assert o.abort is not None, (o.error, o.stalled_at)
    assert o.abort.abort_reason is reason, o.abort
    assert o.abort.culprits == frozenset(culprits), o.abort
    assert o.aborted_in == step
    assert o.share is None  # nothing to store


# --------------------------------------------------------------------------------------------
# honest repair (§12 item 10: the repaired share equals the lost one)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tn", MATRIX)
def test_repair_rebuilds_the_lost_share(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    key = key_for(group, t, n)
    ids = key.committee.ids
    for r in ids:
        others = [i for i in ids if i != r]
        for helpers in list(itertools.combinations(others, t))[:3]:
            res = run_repair(key, target=r, helpers=helpers)
            for i, o in res.outcomes.items():
                assert o.alive, (r, helpers, i, o.abort, o.error, o.stalled_at)
            share = res[r].share
            assert isinstance(share, KeyShare)
            assert share.secret == key.shares[r].secret  # test oracle
            assert share.pkg is key.pkg and share.party_id == r
            share.verify()


def test_repair_coefficients_interpolate_at_r(group: Group) -> None:
    key = key_for(group, 3, 5)
    hs, r = (1, 3, 5), 2
    total = (
        sum(repair_coefficient(group.order, hs, i, r) * key.shares[i].secret for i in hs)
        % group.order
    )
    assert total == key.shares[r].secret
    with pytest.raises(InvalidArguments):
        repair_coefficient(group.order, hs, 4, r)


def test_repair_session_params(group: Group) -> None:
    key = key_for(group, 2, 3)
    stmt = make_request(CeremonyKind.REPAIR, key.pkg, targets=(2,))
    p = session_params(
        request=stmt, pkg=key.pkg, helpers=(3, 1), request_id=REQUEST_ID, coord_nonce=COORD_NONCE
    )
    assert (p.protocol, p.epoch_from, p.epoch_to, p.set_a, p.set_b) == (
        "repair",
        1,
        1,
        (1, 3),
        (2,),
    )
    assert res_sid(key) == p.sid()


def res_sid(key: Key) -> bytes:
    return run_repair(key, target=2, helpers=(1, 3)).sid


def test_repair_then_mandatory_refresh_then_r_signs(group: Group) -> None:
    """The repaired node joins the follow-up refresh (§7) and signs at e+1."""
    key = key_for(group, 2, 3)
    res = run_repair(key, target=3, helpers=(1, 2))
    repaired = res[3].share
    assert isinstance(repaired, KeyShare)
    shares = {1: key.shares[1], 2: key.shares[2], 3: repaired}
    new = run_refresh(key, shares=shares).shares()
    assert sorted(new) == [1, 2, 3] and new[3].pkg.epoch == 2
    sign_and_verify(key.seed, new, [1, 3], b"repaired node signs again")


def test_repair_of_a_rebound_replacement_node(group: Group) -> None:
    """Erratum 15: r's id re-bound to a replacement node (new node key) inside the approved repair;
    every helper record must stay as it is."""
    key = key_for(group, 2, 3)
    replacement = Member(
        id=2, node="node-2-replacement", sign_pub=signer_for("new-box", 2).public_key
    )
    members = tuple(m if m.id != 2 else replacement for m in key.committee.members)
    stmt = make_request(
        CeremonyKind.REPAIR, key.pkg, committee=Committee(members=members), targets=(2,)
    )
    res = run_repair(key, target=2, helpers=(1, 3), request=stmt, target_seed="new-box")
    assert isinstance(res[2].share, KeyShare) and res[2].share.secret == key.shares[2].secret
    # the old node key of party 2 cannot receive it
    with pytest.raises(InvalidArguments) as exc:
        RepairTarget(
            pkg=key.pkg,
            request=stmt,
            helpers=(1, 3),
            request_id=REQUEST_ID,
            coord_nonce=COORD_NONCE,
            signer=signer_for(key.seed, 2),
        )
    assert exc.value.reason == "INVALID_PARTY"
    # a request that also changes a helper's record is refused
    bad_members = tuple(
        Member(id=m.id, node=m.node, sign_pub=bytes(32)) if m.id == 1 else m for m in members
    )
    bad = make_request(
        CeremonyKind.REPAIR, key.pkg, committee=Committee(members=bad_members), targets=(2,)
    )
    with pytest.raises(InvalidArguments) as exc:
        run_repair(key, target=2, helpers=(1, 3), request=bad, target_seed="new-box")
    assert exc.value.reason == "INVALID_PARTY"


@pytest.mark.parametrize("case", ["too_few", "too_many", "target_helps", "stranger_helps"])
def test_repair_configuration_errors(group: Group, case: str) -> None:
    key = key_for(group, 2, 4)
    helpers = {
        "too_few": (1,),
        "too_many": (1, 3, 4),
        "target_helps": (1, 2),
        "stranger_helps": (1, 9),
    }[case]
    with pytest.raises(InvalidArguments) as exc:
        run_repair(key, target=2, helpers=helpers)
    assert exc.value.reason == "INVALID_PARTY"


def test_repair_refuses_a_request_for_another_target_or_kind(group: Group) -> None:
    key = key_for(group, 2, 3)
    refresh = make_request(CeremonyKind.REFRESH, key.pkg)
    with pytest.raises((PermissionDenied, InvalidArguments)):
        run_repair(key, target=2, helpers=(1, 3), request=refresh)
    # a helper cannot be tricked into repairing another party than the approved one
    stmt = make_request(CeremonyKind.REPAIR, key.pkg, targets=(3,))
    with pytest.raises(InvalidArguments) as exc:
        RepairHelper(
            share=key.shares[3],
            request=stmt,
            helpers=(1, 3),
            request_id=REQUEST_ID,
            coord_nonce=COORD_NONCE,
            signer=signer_for(key.seed, 3),
            rng=DeterministicRng(3),
        )
    assert exc.value.reason == "INVALID_PARTY"


# --------------------------------------------------------------------------------------------
# enrollment of a new id r' (§7 last paragraph), then the refresh that records it
# --------------------------------------------------------------------------------------------


def test_enrollment_of_a_new_id_then_refresh(group: Group) -> None:
    key = key_for(group, 2, 3)
    r_new = 9
    committee = committee_for(key.seed, (1, 2, 3, r_new))
    stmt = make_request(CeremonyKind.REPAIR, key.pkg, committee=committee, targets=(r_new,))
    res = run_repair(key, target=r_new, helpers=(1, 3), request=stmt)
    enrolled = res[r_new].share
    assert isinstance(enrolled, EnrolledShare)
    expected = interpolate_at(
        group.order, {1: key.shares[1].secret, 2: key.shares[2].secret}, r_new
    )
    assert enrolled.secret == expected
    enrolled.verify()
    assert "redacted" in repr(enrolled) and str(enrolled.secret) not in repr(enrolled)

    # the refresh whose committee includes r' (its own approved statement)
    refresh_req = make_request(CeremonyKind.REFRESH, key.pkg, committee=committee)
    shares: dict[int, Any] = dict(key.shares)
    shares[r_new] = enrolled
    out = run_refresh(key, shares=shares, request=refresh_req, enrolled=(r_new,))
    new = out.shares()
    assert sorted(new) == [1, 2, 3, r_new]
    assert new[r_new].pkg.committee == committee and new[r_new].pkg.epoch == 2
    assert (
        interpolate_secret(group.order, {2: new[2].secret, r_new: new[r_new].secret}) == key.secret
    )
    sign_and_verify(key.seed, new, [3, r_new], b"enrolled member signs")
    # without `enrolled`, the refresh refuses the new id
    with pytest.raises(InvalidArguments) as exc:
        run_refresh(key, shares=shares, request=refresh_req)
    assert exc.value.reason == "INVALID_PARTY"


# --------------------------------------------------------------------------------------------
# REF-6 / §12 item 10: a helper sends a wrong contribution
# --------------------------------------------------------------------------------------------


class Cheat(RepairHelper):
    """A helper whose round-0 hooks apply ``how``."""

    how: str = ""

    def _split(self) -> dict[int, int]:
        parts = super()._split()
        g = self._group
        if self.how == "inconsistent_split":  # δ no longer match D, sum of δ unchanged
            a, b = self._helpers[0], self._helpers[-1]
            parts = dict(parts)
            self._honest_parts = dict(parts)
            parts[a] = (parts[a] + 5) % g.order
            parts[b] = (parts[b] - 5) % g.order
        return parts

    def _make_points(self, parts: Any) -> list[Point]:
        g = self._group
        if self.how == "inconsistent_split":
            parts = self._honest_parts
        points = super()._make_points(parts)
        if self.how == "wrong_secret":  # splits ζ(x+1) consistently: Σ D ≠ ζ X
            points[0] = points[0] + g.base_mul(
                repair_coefficient(g.order, self._helpers, self._me, self._r)
            )
        if self.how == "shifted_points":  # Σ D unchanged, D_{m,a} no longer δ_{m,a}·G
            points[0] = points[0] + g.generator()
            points[-1] = points[-1] - g.generator()
        return points


def cheat(how: str) -> Any:
    def make(**kw: Any) -> RepairHelper:
        p = Cheat(**kw)
        p.how = how
        return p

    return make


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("wrong_secret", R.REPAIR_SPLIT_MISMATCH),
        ("shifted_points", R.FELDMAN_VERIFICATION_FAILED),
        ("inconsistent_split", R.FELDMAN_VERIFICATION_FAILED),
    ],
)
def test_ref_6_helper_with_a_wrong_split(group: Group, how: str, reason: AbortReason) -> None:
    t, n = 3, 5
    key = key_for(group, t, n)
    r, helpers, m = 2, (1, 3, 5), 5
    res = run_repair(key, target=r, helpers=helpers, factories={m: cheat(how)})
    honest_helpers = [h for h in helpers if h != m]
    if reason is R.REPAIR_SPLIT_MISMATCH:
        # every other helper refuses at once (public check), naming m; r never gets σ
        for h in honest_helpers:
            o = res[h]
            assert o.abort is not None and o.abort.abort_reason is reason
            assert o.abort.culprits == {m} and o.aborted_in == "round1"
            (env,) = evidence_envelopes(key.seed, res, o.abort, m)
            assert env.msg_type == MSG_P1
        assert res[r].share is None and res[r].stalled_at == "finish"
    else:
        # a helper whose δ from m fails complains to r; r names m (never an innocent helper)
        assert any(res[h].sent[2].msg_type == MSG_COMPLAINT for h in honest_helpers)
        assert_repair_abort(res, r, reason, {m})
        (env,) = evidence_envelopes(key.seed, res, res[r].abort, m)
        assert env.msg_type == MSG_DELTA and env.sender == m


def test_repair_split_mismatch_detected_by_r(group: Group) -> None:
    """m sends a bad-split P1 to r only: r's public check names m before anything else."""
    key = key_for(group, 2, 3)
    resign = resigner(key)
    m, r = 3, 2

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == m and to == r:
            g = group
            off = 32 + 2
            pt = g.decode_point(env.payload[off : off + g.point_len]) + g.generator()
            p = env.payload[:off] + g.encode_point(pt) + env.payload[off + g.point_len :]
            return resign(env, payload=p)
        return env

    res = run_repair(key, target=r, helpers=(1, 3), rule=rule)
    assert_repair_abort(res, r, R.REPAIR_SPLIT_MISMATCH, {m})
    (env,) = evidence_envelopes(key.seed, res, res[r].abort, m)
    assert env.msg_type == MSG_P1 and env.to == 0


def test_repair_bad_sigma_names_the_helper(group: Group) -> None:
    key = key_for(group, 3, 5)
    resign = resigner(key)
    k, r = 4, 1

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == k:
            sl = group.scalar_len
            sigma = group.decode_scalar(env.payload[:sl])
            return resign(
                env, payload=group.encode_scalar((sigma + 1) % group.order) + env.payload[sl:]
            )
        return env

    res = run_repair(key, target=r, helpers=(2, 4, 5), rule=rule)
    assert_repair_abort(res, r, R.REPAIR_SIGMA_MISMATCH, {k})
    (env,) = evidence_envelopes(key.seed, res, res[r].abort, k)
    assert env.msg_type == MSG_SIGMA and env.sender == k


def test_repair_undecodable_sigma_names_the_helper(group: Group) -> None:
    key = key_for(group, 2, 3)
    resign = resigner(key)

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == 1:
            return resign(env, payload=b"\xff" * group.scalar_len + env.payload[group.scalar_len :])
        return env

    res = run_repair(key, target=2, helpers=(1, 3), rule=rule)
    assert_repair_abort(res, 2, R.INVALID_ENCODING, {1})


def test_repair_result_mismatch_with_a_corrupted_package(group: Group) -> None:
    """r's package is corrupted after it was checked (only ``X_r`` differs): every attributable
    check passes, the end-to-end ``x_r·G == X_r`` fails, and nobody is blamed."""
    key = key_for(group, 2, 3)
    r = 3
    pkg = key.pkg
    vs = dict(pkg.verification_shares)
    vs[r] = vs[r] + group.generator()
    corrupted = PublicKeyPackage(
        curve=pkg.curve,
        key_id=pkg.key_id,
        epoch=pkg.epoch,
        threshold=pkg.threshold,
        committee=pkg.committee,
        commitments=pkg.commitments,
        verification_shares=vs,
    )
    with pytest.raises(Exception, match="inconsistent"):
        corrupted.verify()  # a corrupted package is refused when loaded ...

    def make_tampered(**kw: Any) -> RepairTarget:
        target = RepairTarget(**kw)
        target._pkg = corrupted  # ... so the test corrupts it in memory, after the load check
        return target

    res = run_repair(key, target=r, helpers=(1, 2), target_factory=make_tampered)
    assert_repair_abort(res, r, R.REPAIR_RESULT_MISMATCH, set())
    assert res[r].abort is not None and res[r].abort.evidence == {}


def test_repair_equivocating_p1_is_caught_by_r(group: Group) -> None:
    """m sends r a different (but consistent, same-sum) P1: the σ echoes expose it."""
    key = key_for(group, 3, 4)
    resign = resigner(key)
    m, r = 4, 1

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == m and to == r:
            g, off = group, 34
            pl = g.point_len
            a = g.decode_point(env.payload[off : off + pl]) + g.generator()
            b = g.decode_point(env.payload[off + pl : off + 2 * pl]) - g.generator()
            p = (
                env.payload[:off]
                + g.encode_point(a)
                + g.encode_point(b)
                + env.payload[off + 2 * pl :]
            )
            return resign(env, payload=p)
        return env

    res = run_repair(key, target=r, helpers=(2, 3, 4), rule=rule)
    assert_repair_abort(res, r, R.EQUIVOCATION, {m})
    a, b = evidence_envelopes(key.seed, res, res[r].abort, m)
    assert a.msg_type == b.msg_type == MSG_P1 and a.payload != b.payload


def test_repair_false_complaint_names_the_complainer(group: Group) -> None:
    key = key_for(group, 2, 3)
    c, accused = 1, 3

    class FalseComplainer(RepairHelper):
        def round1(self, broadcasts: Any, direct: Any) -> Envelope:
            sigma = super().round1(broadcasts, direct)
            echo = sigma.payload[self._group.scalar_len :]
            return self._complain(accused, direct[accused], echo)

    res = run_repair(key, target=2, helpers=(1, 3), factories={c: FalseComplainer})
    assert_repair_abort(res, 2, R.FALSE_COMPLAINT, {c})
    (env,) = evidence_envelopes(key.seed, res, res[2].abort, c)
    assert env.msg_type == MSG_COMPLAINT and env.sender == c


def test_repair_lying_echo_names_the_echoer(group: Group) -> None:
    key = key_for(group, 2, 3)
    resign = resigner(key)

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == 3:  # corrupt the echoed P1 of helper 1 inside 3's σ message
            return resign(env, payload=flip(env.payload, group.scalar_len + 40))
        return env

    res = run_repair(key, target=2, helpers=(1, 3), rule=rule)
    assert_repair_abort(res, 2, R.ECHO_MISMATCH, {3})


def test_repair_package_mismatch_blames_nobody(group: Group) -> None:
    """A helper working from another package (its P1 carries another pkg_digest)."""
    key = key_for(group, 2, 3)
    resign = resigner(key)

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == 3:
            return resign(env, payload=bytes(32) + env.payload[32:])
        return env

    res = run_repair(key, target=2, helpers=(1, 3), rule=rule)
    o = res[1]
    assert o.abort is not None and o.abort.abort_reason is R.PACKAGE_MISMATCH
    assert o.abort.culprits == frozenset()
    assert res[2].share is None


def test_repair_p1_with_wrong_point_count(group: Group) -> None:
    key = key_for(group, 2, 3)
    resign = resigner(key)

    def rule(rnd: int, s: int, to: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == 3:
            p = (
                env.payload[:32]
                + (3).to_bytes(2, "big")
                + env.payload[34:]
                + env.payload[34 : 34 + group.point_len]
            )
            return resign(env, payload=p)
        return env

    res = run_repair(key, target=2, helpers=(1, 3), rule=rule)
    o = res[1]
    assert o.abort is not None and o.abort.abort_reason is R.INVALID_DATA_SIZE
    assert o.abort.culprits == {3}


def test_repair_helper_zeroises_and_redacts(group: Group) -> None:
    key = key_for(group, 2, 3)
    res = run_repair(key, target=2, helpers=(1, 3))
    h = res[1].party
    assert h._parts is None and h._x is None and h.phase == "sigma sent"
    text = repr(h) + repr(res[2].party)
    assert str(key.shares[1].secret) not in text and "redacted" in text
    with pytest.raises(InvalidArguments) as exc:
        h.round0()
    assert exc.value.reason == "WRONG_STATE"
    with pytest.raises(InvalidArguments):
        res[2].party.finish({}, {})


def test_repair_layout_sizes(group: Group) -> None:
    lay = RepairLayout(group, 3)
    p, s = group.point_len, group.scalar_len
    assert lay.p1_len == 32 + 2 + 3 * p
    assert lay.sigma_len == s + 3 * (lay.p1_len + 64)
    assert lay.complaint_len == 2 + s + 64 + lay.echo_len
