"""Reshare (shares.md §6; §12 items 3, 4, 5, 9; test-plan REF-5 at core level).

Every test body runs on both curves. The honest transitions are a matrix of (old key, dealers,
new committee, t_new): grow 2-of-3 to 3-of-5 with two new ids, shrink 3-of-5 to 2-of-3 removing
two members (dealer-only members and observers), move to a disjoint committee, keep everything.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from helpers.ceremonies import (
    COORD_NONCE,
    REQUEST_ID,
    Key,
    assert_abort,
    committee_for,
    evidence_envelopes,
    flip,
    interpolate_secret,
    make_key,
    make_request,
    run_reshare,
    sign_and_verify,
    signer_for,
)
from warifu.core.approvals import CeremonyKind
from warifu.core.curves import ED25519, SECP256K1, Group
from warifu.core.encoding import h
from warifu.core.envelope import Envelope
from warifu.core.errors import AbortReason, InvalidArguments, PermissionDenied, ProtocolAbort
from warifu.core.rng import DeterministicRng
from warifu.core.shares.ceremony import verify_certificate_for
from warifu.core.shares.package import Committee, Member, eval_commitments, lagrange_at_zero
from warifu.core.shares.polynomial import Polynomial
from warifu.core.shares.reshare import (
    KIND,
    MSG_ECHO,
    MSG_S1,
    MSG_S2,
    ReshareLayout,
    ReshareParty,
    session_params,
)
from warifu.core.shares.statements import Decision

GROUPS = [pytest.param(ED25519, id="ed25519"), pytest.param(SECP256K1, id="secp256k1")]
R = AbortReason

# (t_old, old ids, dealers Q, new ids N', t_new)
TRANSITIONS = [
    pytest.param((2, (1, 2, 3), (1, 3), (1, 2, 3, 4, 5), 3), id="2of3-to-3of5-two-new-ids"),
    pytest.param((3, (1, 2, 3, 4, 5), (3, 4, 5), (1, 2, 3), 2), id="3of5-to-2of3-remove-4-5"),
    pytest.param((3, (1, 2, 3, 4, 5), (1, 2, 3), (1, 2, 3), 2), id="3of5-to-2of3-observers"),
    pytest.param((2, (1, 2, 3), (2, 3), (4, 5, 6), 2), id="2of3-to-disjoint-2of3"),
    pytest.param((2, (1, 2, 3), (1, 2), (1, 2, 3), 2), id="2of3-same"),
    pytest.param((2, (1, 2), (1, 2), (1, 2, 7), 3), id="2of2-to-3of3"),
]


@pytest.fixture(params=GROUPS)
def group(request: pytest.FixtureRequest) -> Group:
    return request.param  # type: ignore[no-any-return]


def key_of(group: Group, t: int, ids: tuple[int, ...]) -> Key:
    return make_key(group, t, ids)


def new_committee(key: Key, ids: tuple[int, ...]) -> Committee:
    return committee_for(key.seed, ids)


def resigner(key: Key) -> Any:
    def resign(env: Envelope, **changes: Any) -> Envelope:
        import dataclasses

        new = dataclasses.replace(env, signature=b"", **changes)
        return signer_for(key.seed, new.sender).sign(new)

    return resign


def factory(cls: type[ReshareParty], **extra: Any) -> Any:
    def make(**kw: Any) -> ReshareParty:
        p = cls(**kw)
        for k, v in extra.items():
            setattr(p, k, v)
        return p

    return make


# --------------------------------------------------------------------------------------------
# honest transitions (§12 item 9)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TRANSITIONS)
def test_reshare_honest(group: Group, case: tuple[Any, ...]) -> None:
    t_old, old_ids, q, new_ids, t_new = case
    key = key_of(group, t_old, old_ids)
    old = key.pkg
    committee = new_committee(key, new_ids)
    res = run_reshare(key, dealers=q, committee=committee, threshold=t_new)
    participants = sorted(set(q) | set(new_ids))
    assert sorted(res.outcomes) == participants
    for i, o in res.outcomes.items():
        assert o.alive, (i, o.abort, o.error, o.stalled_at)
        assert o.certificate is not None and o.done is not None
    shares = res.shares()
    assert sorted(shares) == list(new_ids)
    # dealer-only members compute the same pkg(e+1) but receive no share
    for i in set(q) - set(new_ids):
        assert res[i].share is None and res[i].result.output is None
        assert res[i].result.pkg.digest() == shares[new_ids[0]].pkg.digest()

    pkg = shares[new_ids[0]].pkg
    assert pkg.epoch == old.epoch + 1 and pkg.threshold == t_new and pkg.committee == committee
    assert group.encode_point(pkg.public_key) == group.encode_point(old.public_key)
    for k in new_ids:
        assert pkg.verification_shares[k] == eval_commitments(group, pkg.commitments, k)
        assert group.base_mul(shares[k].secret) == pkg.verification_shares[k]
        shares[k].verify()
    # C'_m = Σ_{i∈Q} E_{i,m}, and every E_{i,0} = λ_i X_i
    for i in q:
        s1 = res[i].sent[0]
        pl = group.point_len
        e0 = group.decode_point(s1.payload[2 : 2 + pl])
        assert e0 == old.verification_shares[i] * lagrange_at_zero(group.order, q, i)

    x = key.secret
    for subset in itertools.combinations(new_ids, t_new):
        assert interpolate_secret(group.order, {i: shares[i].secret for i in subset}) == x
    for subset in itertools.combinations(new_ids, t_new - 1):
        if len(subset) >= 2:
            assert interpolate_secret(group.order, {i: shares[i].secret for i in subset}) != x
    # old shares of removed members cannot be combined with the new epoch
    for removed in set(old_ids) - set(new_ids):
        for subset in itertools.combinations(new_ids, t_new - 1):
            mixed = {i: shares[i].secret for i in subset} | {removed: key.shares[removed].secret}
            assert interpolate_secret(group.order, mixed) != x

    certs = {o.certificate.encode() for o in res.outcomes.values()}
    assert len(certs) == 1
    cert = res[participants[0]].certificate
    assert cert.signers == tuple(new_ids)
    st = cert.statement
    assert (st.kind, st.e_old, st.e_new, st.pkg_digest) == (KIND, 1, 2, pkg.digest())
    done = res[participants[0]].done
    done.verify(committee, expected=st.with_decision(Decision.DONE))

    # an observer (old member neither dealer nor new) verifies the relayed certificates
    for obs in set(old_ids) - set(q) - set(new_ids):
        assert obs not in res.outcomes
        for c in (cert, done):
            verify_certificate_for(
                c, committee, sid=res.sid, kind=KIND, key_id=old.key_id, e_old=1, e_new=2
            )


@pytest.mark.parametrize(
    "case",
    [TRANSITIONS[0], TRANSITIONS[1]],
)
def test_reshare_new_committee_signs(group: Group, case: tuple[Any, ...]) -> None:
    t_old, old_ids, q, new_ids, t_new = case
    key = key_of(group, t_old, old_ids)
    res = run_reshare(key, dealers=q, committee=new_committee(key, new_ids), threshold=t_new)
    shares = res.shares()
    signers = list(new_ids[-t_new:])  # includes the new ids when there are any
    sign_and_verify(key.seed, shares, signers, b"new committee")


def test_reshare_determinism(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4, 5))
    a = run_reshare(key, dealers=(1, 2), committee=committee, threshold=3)
    b = run_reshare(key, dealers=(1, 2), committee=committee, threshold=3)
    assert a.delivered == b.delivered
    assert a.shares()[4].pkg.digest() == b.shares()[4].pkg.digest()


def test_reshare_session_id_binds_committee_record_and_threshold(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4, 5))
    stmt = make_request(CeremonyKind.RESHARE, key.pkg, committee=committee, threshold=3)
    p = session_params(
        request=stmt, pkg=key.pkg, dealers=(3, 1), request_id=REQUEST_ID, coord_nonce=COORD_NONCE
    )
    assert (p.protocol, p.set_a, p.set_b, p.t_a, p.t_b) == (
        "reshare",
        (1, 3),
        (1, 2, 3, 4, 5),
        2,
        3,
    )
    assert p.request_digest == h("request", stmt.encode())
    sids = {p.sid()}
    # another t_new, another node key or node name for a new member: another request, another sid
    other_key = Committee(
        members=tuple(
            m if m.id != 5 else Member(id=5, node=m.node, sign_pub=bytes(32))
            for m in committee.members
        )
    )
    other_name = Committee(
        members=tuple(
            m if m.id != 4 else Member(id=4, node="elsewhere", sign_pub=m.sign_pub)
            for m in committee.members
        )
    )
    for c, t in ((committee, 2), (other_key, 3), (other_name, 3)):
        s = make_request(CeremonyKind.RESHARE, key.pkg, committee=c, threshold=t)
        sids.add(
            session_params(
                request=s,
                pkg=key.pkg,
                dealers=(1, 3),
                request_id=REQUEST_ID,
                coord_nonce=COORD_NONCE,
            ).sid()
        )
    assert len(sids) == 4
    res = run_reshare(key, dealers=(1, 3), committee=committee, threshold=3)
    assert res.sid == p.sid()


# --------------------------------------------------------------------------------------------
# configuration checks (INVALID_PARTY before any arithmetic)
# --------------------------------------------------------------------------------------------


def _party(
    key: Key, *, me: int, q: tuple[int, ...], committee: Committee, t_new: int, **kw: Any
) -> ReshareParty:
    stmt = make_request(CeremonyKind.RESHARE, key.pkg, committee=committee, threshold=t_new)
    return ReshareParty(
        pkg=key.pkg,
        share=kw.pop("share", key.shares[me] if me in q else None),
        me=me,
        request=kw.pop("request", stmt),
        dealers=q,
        request_id=REQUEST_ID,
        coord_nonce=COORD_NONCE,
        signer=signer_for(key.seed, me),
        rng=DeterministicRng(me),
        **kw,
    )


@pytest.mark.parametrize(
    "case",
    [
        "too_few_dealers",
        "too_many_dealers",
        "dealer_not_old",
        "observer",
        "reused_id",
        "node_moves_id",
    ],
)
def test_reshare_configuration_errors(group: Group, case: str) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4, 5))
    kw: dict[str, Any] = {"me": 1, "q": (1, 2), "committee": committee, "t_new": 3}
    if case == "too_few_dealers":
        kw["q"] = (1,)
    elif case == "too_many_dealers":
        kw["q"] = (1, 2, 3)
    elif case == "dealer_not_old":
        kw["q"] = (1, 4)
    elif case == "observer":
        kw.update(me=3, committee=new_committee(key, (1, 2, 4)))
    elif case == "reused_id":
        kw["used_ids"] = (4,)
    elif case == "node_moves_id":  # node-3 reappears under a new id
        moved = [m for m in committee.members if m.id != 3]
        moved.append(Member(id=9, node="node-3", sign_pub=bytes(32)))
        kw["committee"] = Committee(members=tuple(sorted(moved, key=lambda m: m.id)))
    with pytest.raises(InvalidArguments) as exc:
        _party(key, **kw)
    assert exc.value.reason == "INVALID_PARTY"


def test_reshare_refuses_a_request_of_another_kind_or_epoch(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4))
    refresh = make_request(CeremonyKind.REFRESH, key.pkg)
    with pytest.raises(PermissionDenied) as exc:
        _party(key, me=1, q=(1, 2), committee=committee, t_new=2, request=refresh)
    assert exc.value.reason == "APPROVAL_PARAMETERS_MISMATCH"


# --------------------------------------------------------------------------------------------
# RESHARE_CONSTANT_MISMATCH, then a retry with another Q (§12 item 9)
# --------------------------------------------------------------------------------------------


class WrongConstant(ReshareParty):
    """A dealer with ``g_i(0) = w_i + 1``: ``E_{i,0} ≠ λ_i X_i``, otherwise consistent."""

    def _make_polynomial(self) -> Polynomial:
        poly = super()._make_polynomial()
        cs = list(poly.coefficients)
        cs[0] = (cs[0] + 1) % self._group.order
        return Polynomial(cs, self._group.order)


@pytest.mark.parametrize("case", [TRANSITIONS[0], TRANSITIONS[1]])
def test_reshare_constant_mismatch_names_the_dealer_and_retry_succeeds(
    group: Group, case: tuple[Any, ...]
) -> None:
    t_old, old_ids, q, new_ids, t_new = case
    key = key_of(group, t_old, old_ids)
    committee = new_committee(key, new_ids)
    m = q[-1]
    res = run_reshare(
        key, dealers=q, committee=committee, threshold=t_new, factories={m: WrongConstant}
    )
    others = [i for i in res.outcomes if i != m]
    for exc in assert_abort(res, others, R.RESHARE_CONSTANT_MISMATCH, {m}, step="round1"):
        (env,) = evidence_envelopes(key.seed, res, exc, m)
        assert env.msg_type == MSG_S1 and env.sender == m
    assert res.shares() == {}
    # the old shares are intact; another Q without m (new sid, fresh randomness) succeeds
    other_q = tuple(sorted(set(old_ids) - {m}))[:t_old]
    retry = run_reshare(
        key, dealers=other_q, committee=committee, threshold=t_new, seed="retry", nonce=b"r" * 32
    )
    assert retry.sid != res.sid
    shares = retry.shares()
    assert sorted(shares) == list(new_ids)
    subset = list(new_ids)[:t_new]
    assert interpolate_secret(group.order, {i: shares[i].secret for i in subset}) == key.secret


def test_reshare_threshold_raise_in_s1_is_a_size_error(group: Group) -> None:
    """A dealer sends t_new+1 commitments (raising the new degree): INVALID_DATA_SIZE."""
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4))

    class Raiser(ReshareParty):
        def _make_polynomial(self) -> Polynomial:
            poly = super()._make_polynomial()
            return Polynomial([*poly.coefficients, 5], self._group.order)

    res = run_reshare(key, dealers=(1, 2), committee=committee, threshold=2, factories={2: Raiser})
    assert_abort(res, [1, 3, 4], R.INVALID_DATA_SIZE, {2}, step="round1")


def test_reshare_key_mismatch_path(group: Group) -> None:
    """``C'_0 ≠ PK`` cannot follow from valid constants: a corrupted local PK exercises it."""
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3))

    class CorruptPk(ReshareParty):
        def round2(self, inbound: Any) -> Any:
            self._pk = self._pk + self._group.generator()
            return super().round2(inbound)

    res = run_reshare(
        key, dealers=(1, 2), committee=committee, threshold=2, factories={3: CorruptPk}
    )
    assert_abort(res, [3], R.RESHARE_KEY_MISMATCH, set(), step="round2")
    assert res[3].share is None


# --------------------------------------------------------------------------------------------
# complaints, equivocation, withheld shares
# --------------------------------------------------------------------------------------------


def test_reshare_bad_share_complaint_names_dealer(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4, 5))
    resign = resigner(key)
    m, j = 3, 4

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == m and r == j:
            sl = group.scalar_len
            v = group.decode_scalar(env.payload[:sl])
            return resign(
                env, payload=group.encode_scalar((v + 1) % group.order) + env.payload[sl:]
            )
        return env

    res = run_reshare(key, dealers=(1, 3), committee=committee, threshold=3, rule=rule)
    assert res[j].result.complaint is not None
    for exc in assert_abort(
        res, list(res.outcomes), R.FELDMAN_VERIFICATION_FAILED, {m}, step="conclude"
    ):
        (s2,) = evidence_envelopes(key.seed, res, exc, m)
        assert (s2.sender, s2.to, s2.msg_type) == (m, j, MSG_S2)


def test_reshare_false_complaint_names_complainer(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4, 5))
    c, accused = 5, 1

    class FalseComplainer(ReshareParty):
        def round2(self, inbound: Any) -> Any:
            from warifu.core.shares.reshare import ReshareResult

            super().round2(inbound)
            return ReshareResult(complaint=self._complain(accused, inbound[accused]))

    res = run_reshare(
        key, dealers=(1, 3), committee=committee, threshold=3, factories={c: FalseComplainer}
    )
    others = [i for i in res.outcomes if i != c]
    for exc in assert_abort(res, others, R.FALSE_COMPLAINT, {c}, step="conclude"):
        (env,) = evidence_envelopes(key.seed, res, exc, c)
        assert env.msg_type == "reshare/complaint"


def test_reshare_equivocating_s1_is_caught_by_the_new_members_echo(group: Group) -> None:
    """m sends one S1 to new member 4 and another (same valid constant) to everyone else."""
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4, 5))
    resign = resigner(key)
    m = 3
    other_point = group.encode_point(group.base_mul(4242))

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == m and r == 4:
            pl = group.point_len
            p = env.payload[: 2 + pl] + other_point + env.payload[2 + 2 * pl :]
            return resign(env, payload=p)
        return env

    res = run_reshare(key, dealers=(1, 3), committee=committee, threshold=3, rule=rule)
    others = [i for i in res.outcomes if i != m]
    for exc in assert_abort(res, others, R.EQUIVOCATION, {m}, step="round2"):
        a, b = evidence_envelopes(key.seed, res, exc, m)
        assert a.msg_type == b.msg_type == MSG_S1 and a.payload != b.payload
    assert res.shares() == {} or set(res.shares()) <= {m}


def test_reshare_colluding_dealers_cannot_split_new_members(group: Group) -> None:
    """Both dealers equivocate to new members 4 and 5 and echo each view to its own receiver:
    the new members' echo among themselves still exposes it (§6 "new parties echo among
    themselves")."""
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (4, 5, 6))
    resign = resigner(key)
    variants: dict[int, Envelope] = {}

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        pl = group.point_len
        if rnd == 0 and s in (1, 2) and r == 5:
            alt = (
                env.payload[: 2 + pl]
                + group.encode_point(group.base_mul(77 + s))
                + env.payload[2 + 2 * pl :]
            )
            variants[s] = resign(env, payload=alt)
            return variants[s]
        if rnd == 1 and s in (1, 2) and r == 5:  # echo the variant view to 5 only
            lay = ReshareLayout(group, 2, 2)
            sl = group.scalar_len if env.msg_type == MSG_S2 else 0
            echo = b"".join(variants[k].payload + variants[k].signature for k in (1, 2))
            assert len(echo) == lay.echo_len
            return resign(env, payload=env.payload[:sl] + echo)
        return env

    res = run_reshare(key, dealers=(1, 2), committee=committee, threshold=2, rule=rule)
    # 5's view differs from 4's and 6's: they catch it through each other's echoes
    for i in (4, 5, 6):
        o = res[i]
        assert o.abort is not None and o.abort.abort_reason is R.EQUIVOCATION, (i, o.abort)
        assert o.abort.culprits <= {1, 2} and o.abort.culprits
        assert o.share is None and o.certificate is None


def test_reshare_withheld_share_names_the_dealer(group: Group) -> None:
    """A dealer sends a new member the echo-only message instead of its share."""
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4))
    resign = resigner(key)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == 1 and r == 4:
            return resign(env, msg_type=MSG_ECHO, payload=env.payload[group.scalar_len :])
        return env

    res = run_reshare(key, dealers=(1, 2), committee=committee, threshold=2, rule=rule)
    assert_abort(res, [4], R.BAD_ENVELOPE, {1}, step="round2")


def test_reshare_lying_echo_names_the_echoer(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4))
    resign = resigner(key)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == 4:  # new member 4 (echo-only sender) corrupts dealer 1's entry
            return resign(env, payload=flip(env.payload, 5))
        return env

    res = run_reshare(key, dealers=(1, 2), committee=committee, threshold=2, rule=rule)
    for exc in assert_abort(res, [1, 2, 3], R.ECHO_MISMATCH, {4}, step="round2"):
        (env,) = evidence_envelopes(key.seed, res, exc, 4)
        assert env.msg_type == MSG_ECHO


def test_reshare_dealer_only_member_rejects_a_bad_ack(group: Group) -> None:
    key = key_of(group, 3, (1, 2, 3, 4, 5))
    committee = new_committee(key, (1, 2, 3))
    resign = resigner(key)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == 2:
            return resign(env, payload=flip(env.payload, 40))
        return env

    res = run_reshare(key, dealers=(3, 4, 5), committee=committee, threshold=2, rule=rule)
    assert_abort(res, [1, 3, 4, 5], R.ECHO_MISMATCH, {2}, step="conclude")


def test_observer_refuses_a_certificate_of_another_ceremony(group: Group) -> None:
    key = key_of(group, 3, (1, 2, 3, 4, 5))
    committee = new_committee(key, (1, 2, 3))
    res = run_reshare(key, dealers=(1, 2, 3), committee=committee, threshold=2)
    cert = res[1].certificate
    assert cert is not None
    with pytest.raises(InvalidArguments) as exc:
        verify_certificate_for(
            cert, committee, sid=bytes(32), kind=KIND, key_id=key.pkg.key_id, e_old=1, e_new=2
        )
    assert exc.value.reason == "INVALID_CERTIFICATE"
    with pytest.raises(InvalidArguments):
        verify_certificate_for(
            cert, key.committee, sid=res.sid, kind=KIND, key_id=key.pkg.key_id, e_old=1, e_new=2
        )


def test_reshare_layout_sizes(group: Group) -> None:
    lay = ReshareLayout(group, 3, 2)
    p, s = group.point_len, group.scalar_len
    assert lay.s1_len == 2 + 3 * p
    assert lay.echo_len == 2 * (2 + 3 * p + 64)
    assert lay.s2_len == s + lay.echo_len
    assert lay.complaint_len == 2 + lay.s2_len + 64


def test_reshare_abort_is_terminal(group: Group) -> None:
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4))
    res = run_reshare(
        key, dealers=(1, 2), committee=committee, threshold=2, factories={2: WrongConstant}
    )
    p = res[1].party
    assert p.phase == "aborted"
    with pytest.raises(InvalidArguments):
        p.round2({})
    assert isinstance(res[1].abort, ProtocolAbort)


def test_reshare_degenerate_sharing_blames_nobody(group: Group) -> None:
    """All dealers collude: their top coefficients cancel, C'_{t-1} = O (a hidden degree drop)."""
    key = key_of(group, 2, (1, 2, 3))
    committee = new_committee(key, (1, 2, 3, 4))

    class Cancel(ReshareParty):
        def _make_polynomial(self) -> Polynomial:
            cs = list(super()._make_polynomial().coefficients)
            cs[-1] = 5 if self._me == 1 else self._group.order - 5
            return Polynomial(cs, self._group.order)

    res = run_reshare(
        key, dealers=(1, 2), committee=committee, threshold=2, factories={1: Cancel, 2: Cancel}
    )
    for exc in assert_abort(res, [1, 2, 3, 4], R.DEGENERATE_SHARING, set(), step="round2"):
        assert exc.evidence == {}
    assert res.shares() == {}


def test_old_only_member_destroys_only_with_the_done_certificate(group: Group) -> None:
    """The certificates of a real 3-of-5 -> 2-of-3 run drive the §10.2 rules of a dealer-only
    member (4) and of an observer: the commit certificate stops old-epoch signing (erratum 14),
    only the done certificate allows destroying the old share."""
    from warifu.core.shares.commit import Action, CommitRules, Knowledge, NodeState

    key = key_of(group, 3, (1, 2, 3, 4, 5))
    committee = new_committee(key, (1, 2, 3))
    res = run_reshare(key, dealers=(3, 4, 5), committee=committee, threshold=2)
    cert, done = res[4].certificate, res[4].done
    assert cert is not None and done is not None
    rules = CommitRules()
    old_only = NodeState(old_member=True, new_member=False)
    k = Knowledge(new_members=frozenset(committee.ids))
    assert rules.signing_epoch(old_only, k) == "old"
    for signer in cert.signers:
        k = k.with_statement(signer, cert.statement.decision)
    assert rules.signing_epoch(old_only, k) is None
    assert not rules.can(Action.DESTROY_OLD, old_only, k, 4)
    for signer in done.signers:
        k = k.with_statement(signer, done.statement.decision)
    assert rules.enabled(old_only, k, 4) == [Action.DESTROY_OLD]
