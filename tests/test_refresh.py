"""Refresh (shares.md §5; §12 items 3, 4, 5, 8, 14; test-plan REF-1 at core level).

Every test body is written once and runs on both curves and on the (t, n) matrix t2n3, t3n5,
t2n2. The key comes from the real DKG; the refresh runs the real :class:`RefreshParty` code, a
malicious party either through a ``rule`` on the simulated network or a subclass overriding
one hook.
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
    assert_abort,
    committee_for,
    evidence_envelopes,
    flip,
    interpolate_secret,
    make_key,
    make_request,
    run_refresh,
    sign_and_verify,
    signer_for,
)
from warifu.core.approvals import CeremonyKind
from warifu.core.curves import ED25519, SECP256K1, Group, Point
from warifu.core.encoding import enc_list, h
from warifu.core.envelope import Envelope
from warifu.core.errors import AbortReason, InvalidArguments, PermissionDenied
from warifu.core.rng import DeterministicRng
from warifu.core.shares.package import Committee, Member, eval_commitments
from warifu.core.shares.refresh import (
    KIND,
    MSG_F1,
    MSG_F2,
    RefreshLayout,
    RefreshParty,
    RefreshResult,
    session_params,
)
from warifu.core.shares.statements import CommitCertificate, Decision, DoneCertificate, Statement

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


def key_for(group: Group, t: int, n: int) -> Key:
    return make_key(group, t, tuple(range(1, n + 1)))


def honest(key: Key, *bad: int) -> list[int]:
    return [i for i in key.committee.ids if i not in bad]


def f1_points(group: Group, res: Result, sender: int, t: int) -> tuple[Point, ...]:
    """E_{sender,1..t-1} as broadcast (decoded independently of the party code)."""
    env = res[sender].sent[0]
    assert env.msg_type == MSG_F1 and int.from_bytes(env.payload[:2], "big") == t - 1
    pl = group.point_len
    return tuple(
        group.decode_point(env.payload[2 + k * pl : 2 + (k + 1) * pl]) for k in range(t - 1)
    )


def factory(cls: type[RefreshParty], **extra: Any) -> Any:
    def make(**kw: Any) -> RefreshParty:
        p = cls(**kw)
        for k, v in extra.items():
            setattr(p, k, v)
        return p

    return make


# --------------------------------------------------------------------------------------------
# honest refresh (§12 item 8)
# --------------------------------------------------------------------------------------------


def test_refresh_honest(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    key = key_for(group, t, n)
    old = key.pkg
    res = run_refresh(key)
    for i, o in res.outcomes.items():
        assert o.alive, (i, o.abort, o.error, o.stalled_at)
        assert o.certificate is not None and o.done is not None
    new = res.shares()
    assert sorted(new) == list(old.committee.ids)
    pkg = new[1].pkg
    assert pkg.epoch == old.epoch + 1 and pkg.threshold == t and pkg.committee == old.committee

    # PK byte-identical, C'_0 = C_0
    assert group.encode_point(pkg.public_key) == group.encode_point(old.public_key)
    assert pkg.commitments[0] == old.commitments[0]
    # every share changed
    for i in old.committee.ids:
        assert new[i].secret != key.shares[i].secret
    # C'_m = C_m + Σ_i E_{i,m}; X'_k = X_k + Σ_i Σ_{m≥1} k^m E_{i,m} = Σ_m k^m C'_m; x'·G = X'
    es = {i: f1_points(group, res, i, t) for i in old.committee.ids}
    for m in range(1, t):
        assert pkg.commitments[m] == old.commitments[m] + group.sum_points(es[i][m - 1] for i in es)
    for k in old.committee.ids:
        shift = group.identity()
        for i in es:
            for m in range(1, t):
                shift = shift + es[i][m - 1] * pow(k, m, group.order)
        assert pkg.verification_shares[k] == old.verification_shares[k] + shift
        assert pkg.verification_shares[k] == eval_commitments(group, pkg.commitments, k)
        assert group.base_mul(new[k].secret) == pkg.verification_shares[k]
        new[k].verify()

    # any t new shares give x; a mix of t shares from e and e+1 does not
    x = key.secret
    assert group.base_mul(x) == old.public_key
    for subset in itertools.combinations(old.committee.ids, t):
        assert interpolate_secret(group.order, {i: new[i].secret for i in subset}) == x
        for n_new in range(1, t):
            mixed = {
                i: (new[i] if k < n_new else key.shares[i]).secret for k, i in enumerate(subset)
            }
            assert interpolate_secret(group.order, mixed) != x

    # one package, one transcript, one certificate; the statement is the §10.1 one
    assert len({s.pkg.digest() for s in new.values()}) == 1
    assert len({o.result.transcript_digest for o in res.outcomes.values()}) == 1
    certs = {o.certificate.encode() for o in res.outcomes.values() if o.certificate}
    assert len(certs) == 1
    cert = CommitCertificate.decode(certs.pop())
    cert.verify(pkg.committee)
    assert cert.statement == Statement(
        sid=res.sid,
        kind=KIND,
        key_id=old.key_id,
        e_old=old.epoch,
        e_new=old.epoch + 1,
        pkg_digest=pkg.digest(),
        transcript_digest=res[1].result.transcript_digest,
        decision=Decision.ACK,
    )
    dones = {o.done.encode() for o in res.outcomes.values() if o.done}
    assert len(dones) == 1
    DoneCertificate.decode(dones.pop()).verify(
        pkg.committee, expected=cert.statement.with_decision(Decision.DONE)
    )


@pytest.mark.parametrize("tn", [(2, 3), (3, 5)], ids=["t2n3", "t3n5"])
def test_refresh_signature_at_new_epoch_verifies(group: Group, tn: tuple[int, int]) -> None:
    """FROST (Ed25519) / DKLs23 (secp256k1) with the e+1 shares verify under the unchanged PK."""
    t, n = tn
    key = key_for(group, t, n)
    new = run_refresh(key).shares()
    signers = list(range(n - t + 1, n + 1))
    sig = sign_and_verify(key.seed, new, signers, b"signed at the new epoch")
    assert len(sig) == 64


def test_refresh_twice_epochs_never_mix(group: Group) -> None:
    key = key_for(group, 2, 3)
    e2 = run_refresh(key).shares()
    key2 = dataclasses.replace(key, shares=e2)
    e3 = run_refresh(key2, seed="again").shares()
    assert e3[1].pkg.epoch == 3 and e3[1].pkg.public_key == key.pkg.public_key
    x = key.secret
    assert interpolate_secret(group.order, {1: e3[1].secret, 3: e3[3].secret}) == x
    assert interpolate_secret(group.order, {1: e3[1].secret, 3: e2[3].secret}) != x
    assert interpolate_secret(group.order, {1: e3[1].secret, 3: key.shares[3].secret}) != x


def test_refresh_determinism(group: Group, tn: tuple[int, int]) -> None:
    """§12 item 14: same seeds -> byte-identical envelopes and pkg_digest; another seed differs."""
    t, n = tn
    key = key_for(group, t, n)
    a, b, c = run_refresh(key), run_refresh(key), run_refresh(key, seed="other")
    assert a.delivered == b.delivered
    assert a.shares()[1].pkg.digest() == b.shares()[1].pkg.digest()
    assert a.shares()[1].pkg.digest() != c.shares()[1].pkg.digest()


def test_refresh_transcript_digest_is_the_spec_formula(group: Group) -> None:
    key = key_for(group, 2, 3)
    res = run_refresh(key)
    envs = [res[i].sent[0] for i in (1, 2, 3)]
    expected = h("transcript", res.sid, enc_list(e.digest() for e in envs))
    assert res[2].result.transcript_digest == expected


def test_refresh_session_id_binds_the_request(group: Group) -> None:
    key = key_for(group, 2, 3)
    stmt = make_request(CeremonyKind.REFRESH, key.pkg)
    params = session_params(
        request=stmt, pkg=key.pkg, request_id=REQUEST_ID, coord_nonce=COORD_NONCE
    )
    assert params.protocol == "refresh" and params.set_a == params.set_b == (1, 2, 3)
    assert (params.epoch_from, params.epoch_to) == (1, 2) and params.t_a == params.t_b == 2
    assert params.pkg_digest == key.pkg.digest()
    assert params.request_digest == h("request", stmt.encode())
    res = run_refresh(key, request=stmt)
    assert res.sid == params.sid()
    other = run_refresh(key, request=make_request(CeremonyKind.REFRESH, key.pkg, nonce=b"m" * 32))
    assert other.sid != res.sid


def test_refresh_secrets_are_redacted_and_zeroised(group: Group) -> None:
    key = key_for(group, 2, 3)
    res = run_refresh(key)
    p = res[1].party
    share = res[1].share
    assert share is not None
    for text in (repr(p), repr(share), repr(res[1].result)):
        assert "redacted" in text
        assert str(share.secret) not in text
        assert group.encode_scalar(share.secret).hex() not in text
    assert p._poly is None and p._own_delta is None and p._old_x is None


def test_refresh_out_of_order_calls_are_refused(group: Group) -> None:
    key = key_for(group, 2, 3)
    stmt = make_request(CeremonyKind.REFRESH, key.pkg)
    p = RefreshParty(
        share=key.shares[1],
        request=stmt,
        request_id=REQUEST_ID,
        coord_nonce=COORD_NONCE,
        signer=signer_for(key.seed, 1),
        rng=DeterministicRng(1),
    )
    for call in (lambda: p.round1({}), lambda: p.round2({}), p.ack, lambda: p.conclude({})):
        with pytest.raises(InvalidArguments) as exc:
            call()
        assert exc.value.reason == "WRONG_STATE"
    p.round0()
    with pytest.raises(InvalidArguments) as exc:
        p.round0()
    assert exc.value.reason == "WRONG_STATE"
    with pytest.raises(InvalidArguments) as exc:
        p.round1({})
    assert exc.value.reason == "MISSING_MESSAGES"


# --------------------------------------------------------------------------------------------
# request / committee checks (errata 16: node-key rotation is recorded by the refresh)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["kind", "epoch", "threshold", "key_id", "curve"])
def test_refresh_refuses_a_request_for_other_parameters(group: Group, field: str) -> None:
    key = key_for(group, 2, 3)
    stmt = make_request(CeremonyKind.REFRESH, key.pkg)
    other_curve = "secp256k1" if group.name == "ed25519" else "ed25519"
    changes: dict[str, Any] = {
        "kind": {"kind": CeremonyKind.RESHARE},
        "epoch": {"epoch": 0 if key.pkg.epoch else 1},
        "threshold": {"threshold": 3},
        "key_id": {"key_id": bytes(15) + b"\x01"},
        "curve": {"curve": other_curve},
    }[field]
    bad = dataclasses.replace(stmt, **changes)
    with pytest.raises(PermissionDenied) as exc:
        run_refresh(key, request=bad)
    assert exc.value.reason == "APPROVAL_PARAMETERS_MISMATCH"


def test_refresh_refuses_a_changed_committee(group: Group) -> None:
    key = key_for(group, 2, 3)
    bigger = committee_for(key.seed, (1, 2, 3, 4))
    with pytest.raises(InvalidArguments) as exc:
        run_refresh(key, request=make_request(CeremonyKind.REFRESH, key.pkg, committee=bigger))
    assert exc.value.reason == "INVALID_PARTY"


def test_refresh_records_a_rotated_node_key(group: Group) -> None:
    """Party 2 rotates its node signing key: it signs this refresh with the new key, and the new
    key is what pkg(e+1) and the certificates carry (shares.md §1.2, erratum 16)."""
    key = key_for(group, 2, 3)
    rotated_seed = "rotated"
    members = [
        m
        if m.id != 2
        else Member(id=2, node=m.node, sign_pub=signer_for(rotated_seed, 2).public_key)
        for m in key.committee.members
    ]
    new_committee = Committee(members=tuple(members))
    stmt = make_request(CeremonyKind.REFRESH, key.pkg, committee=new_committee)

    def make(**kw: Any) -> RefreshParty:
        kw["signer"] = signer_for(rotated_seed, 2)
        return RefreshParty(**kw)

    res = run_refresh(key, request=stmt, factories={2: make})
    for i in (1, 3):
        assert res[i].alive and res[i].done is not None
    pkg = res.shares()[1].pkg
    assert pkg.committee == new_committee
    res[1].certificate.verify(new_committee)
    with pytest.raises(InvalidArguments):
        res[1].certificate.verify(key.committee)
    # the old key can no longer act for party 2 in this ceremony
    with pytest.raises(InvalidArguments) as exc:
        RefreshParty(
            share=key.shares[2],
            request=stmt,
            request_id=REQUEST_ID,
            coord_nonce=COORD_NONCE,
            signer=signer_for(key.seed, 2),
            rng=DeterministicRng(2),
        )
    assert exc.value.reason == "INVALID_PARTY"


# --------------------------------------------------------------------------------------------
# REF-1 / §12 item 3: smuggled constant, wrong degree
# --------------------------------------------------------------------------------------------


class F1Tamper(RefreshParty):
    """A member whose F1 is built by ``tamper(points, party) -> payload``."""

    tamper: Any

    def _encode_f1(self, points: tuple[Point, ...]) -> bytes:
        return self.tamper(points, self)  # type: ignore[no-any-return]


def _smuggle(case: str) -> Any:
    def tamper(points: tuple[Point, ...], p: RefreshParty) -> bytes:
        g = p._group
        enc = [g.encode_point(x) for x in points]
        constant = g.encode_point(g.base_mul(12345))  # E_0 ≠ O: a non-zero constant term
        if case == "constant":  # t entries: E_0 smuggled in front, count honest about it
            return (len(enc) + 1).to_bytes(2, "big") + constant + b"".join(enc)
        if case == "constant_count_lies":  # t entries under a count of t-1
            return (len(enc)).to_bytes(2, "big") + constant + b"".join(enc)
        if case == "degree_up":  # t+1 entries
            return (len(enc) + 2).to_bytes(2, "big") + constant + b"".join(enc) + constant
        if case == "count_lies_length_right":  # t-1 entries under a count of t
            return (len(enc) + 1).to_bytes(2, "big") + b"".join(enc)
        if case == "degree_down":  # t-2 entries
            return (len(enc) - 1).to_bytes(2, "big") + b"".join(enc[:-1])
        raise AssertionError(case)

    return tamper


@pytest.mark.parametrize(
    "case",
    ["constant", "constant_count_lies", "count_lies_length_right", "degree_up", "degree_down"],
)
def test_ref_1_smuggled_constant_or_wrong_degree(
    group: Group, tn: tuple[int, int], case: str
) -> None:
    t, n = tn
    key = key_for(group, t, n)
    m = n
    res = run_refresh(key, factories={m: factory(F1Tamper, tamper=_smuggle(case))})
    for exc in assert_abort(res, honest(key, m), R.INVALID_DATA_SIZE, {m}, step="round1"):
        (env,) = evidence_envelopes(key.seed, res, exc, m)
        assert env.msg_type == MSG_F1 and env.sender == m
    # nobody holds a new share (nothing PENDING anywhere); the old sharing is intact
    assert res.shares() == {}
    assert all(o.certificate is None for o in res.outcomes.values())
    for s in key.shares.values():
        s.verify()


def test_ref_1_nonzero_constant_in_the_deltas_names_the_dealer(
    group: Group, tn: tuple[int, int]
) -> None:
    """m broadcasts honest E_{m,1..t-1} but deals h_m + c: every δ fails Feldman -> complaints."""
    t, n = tn
    key = key_for(group, t, n)
    m = n

    class ConstantDealer(RefreshParty):
        def _delta_for(self, j: int) -> int:
            return (super()._delta_for(j) + 777) % self._group.order

    res = run_refresh(key, factories={m: ConstantDealer})
    for i in honest(key, m):
        assert res[i].result is not None and res[i].result.complaint is not None
    for exc in assert_abort(
        res, key.committee.ids, R.FELDMAN_VERIFICATION_FAILED, {m}, step="conclude"
    ):
        (f2,) = evidence_envelopes(key.seed, res, exc, m)
        assert f2.sender == m and f2.msg_type == MSG_F2
    assert all(res[i].share is None for i in honest(key, m))


@pytest.mark.parametrize("case", ["point", "identity"])
def test_refresh_bad_point_encoding_names_sender(group: Group, case: str) -> None:
    key = key_for(group, 3, 3)
    m = 3

    def tamper(points: tuple[Point, ...], p: RefreshParty) -> bytes:
        g = p._group
        enc = [g.encode_point(x) for x in points]
        if case == "point":
            bad = bytes([0x05]) + b"\x11" * (g.point_len - 1) if g.point_len == 33 else b"\xff" * 32
        else:
            bad = (1).to_bytes(32, "little") if g.point_len == 32 else b"\x00" * 33
        return (len(enc)).to_bytes(2, "big") + enc[0] + bad

    res = run_refresh(key, factories={m: factory(F1Tamper, tamper=tamper)})
    assert_abort(res, [1, 2], R.INVALID_ENCODING, {m}, step="round1")


# --------------------------------------------------------------------------------------------
# §12 item 4: bad share -> complaint names the dealer; false complaint names the complainer
# --------------------------------------------------------------------------------------------


def test_refresh_bad_delta_complaint_names_dealer(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    key = key_for(group, t, n)
    j, m = 1, n

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == m and r == j:
            sl = group.scalar_len
            delta = group.decode_scalar(env.payload[:sl])
            bad = group.encode_scalar((delta + 1) % group.order)
            return net_resign(env, payload=bad + env.payload[sl:])
        return env

    net_resign = _resigner(key)
    res = run_refresh(key, rule=rule)
    complaint = res[j].result.complaint
    assert complaint is not None and complaint.msg_type == "refresh/complaint" and complaint.to == 0
    assert res[j].share is None
    for exc in assert_abort(
        res, key.committee.ids, R.FELDMAN_VERIFICATION_FAILED, {m}, step="conclude"
    ):
        (f2,) = evidence_envelopes(key.seed, res, exc, m)
        assert (f2.sender, f2.to, f2.msg_type) == (m, j, MSG_F2)


def test_refresh_undecodable_delta_names_dealer(group: Group) -> None:
    key = key_for(group, 2, 3)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == 3 and r == 1:
            bad = b"\xff" * group.scalar_len
            return resign(env, payload=bad + env.payload[group.scalar_len :])
        return env

    resign = _resigner(key)
    res = run_refresh(key, rule=rule)
    assert_abort(res, [1, 2, 3], R.INVALID_ENCODING, {3}, step="conclude")


def test_refresh_false_complaint_names_complainer(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    key = key_for(group, t, n)
    c, accused = n, 1

    class FalseComplainer(RefreshParty):
        def round2(self, inbound: Any) -> Any:
            super().round2(inbound)
            return RefreshResult(complaint=self._complain(accused, inbound[accused]))

    res = run_refresh(key, factories={c: FalseComplainer})
    for exc in assert_abort(res, honest(key, c), R.FALSE_COMPLAINT, {c}, step="conclude"):
        (env,) = evidence_envelopes(key.seed, res, exc, c)
        assert env.msg_type == "refresh/complaint" and env.sender == c


# --------------------------------------------------------------------------------------------
# §12 item 5: equivocation, lying echo; ACK and DONE defects
# --------------------------------------------------------------------------------------------


def _resigner(key: Key) -> Any:
    def resign(env: Envelope, **changes: Any) -> Envelope:
        new = dataclasses.replace(env, signature=b"", **changes)
        return signer_for(key.seed, new.sender).sign(new)

    return resign


def test_refresh_equivocating_f1_to_different_parties(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    if n < 3:
        pytest.skip("needs two honest receivers")
    key = key_for(group, t, n)
    m = n
    resign = _resigner(key)
    other_point = group.encode_point(group.base_mul(99))

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 0 and s == m and r == 2:
            return resign(
                env, payload=env.payload[:2] + other_point + env.payload[2 + group.point_len :]
            )
        return env

    res = run_refresh(key, rule=rule)
    for exc in assert_abort(res, honest(key, m), R.EQUIVOCATION, {m}, step="round2"):
        a, b = evidence_envelopes(key.seed, res, exc, m)
        assert a.sender == b.sender == m and a.msg_type == b.msg_type == MSG_F1
        assert a.payload != b.payload
    assert res.shares() == {}


def test_refresh_lying_echo_names_the_echoer(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    key = key_for(group, t, n)
    m = n
    resign = _resigner(key)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 1 and s == m:  # corrupt the echoed F1 of party 1 inside m's F2
            return resign(env, payload=flip(env.payload, group.scalar_len + 5))
        return env

    res = run_refresh(key, rule=rule)
    for exc in assert_abort(res, honest(key, m), R.ECHO_MISMATCH, {m}, step="round2"):
        (env,) = evidence_envelopes(key.seed, res, exc, m)
        assert env.msg_type == MSG_F2


def test_refresh_ack_over_another_transcript(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    key = key_for(group, t, n)
    resign = _resigner(key)

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        if rnd == 2 and s == n:
            return resign(env, payload=flip(env.payload, 40))
        return env

    res = run_refresh(key, rule=rule)
    assert_abort(res, honest(key, n), R.ECHO_MISMATCH, {n}, step="conclude")


def test_refresh_ack_and_done_with_bad_statement_signatures(group: Group) -> None:
    key = key_for(group, 2, 3)
    resign = _resigner(key)

    def bad_ack(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        return resign(env, payload=flip(env.payload, 70)) if rnd == 2 and s == 3 else env

    res = run_refresh(key, rule=bad_ack)
    assert_abort(res, [1, 2], R.INVALID_SIGNATURE, {3}, step="conclude")

    def bad_done(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        return resign(env, payload=flip(env.payload, 3)) if rnd == 3 and s == 3 else env

    res = run_refresh(key, rule=bad_done)
    for i in (1, 2):
        o = res[i]
        assert o.certificate is not None and o.done is None
        assert o.abort is not None and o.aborted_in == "collect_done"
        assert o.abort.abort_reason is R.INVALID_SIGNATURE and o.abort.culprits == {3}


def test_refresh_replay_from_another_session_is_not_blamed(group: Group) -> None:
    key = key_for(group, 2, 3)
    first = run_refresh(key)
    old_f1 = first[3].sent[0]

    def rule(rnd: int, s: int, r: int, env: Envelope) -> Envelope | None:
        return old_f1 if rnd == 0 and s == 3 else env

    res = run_refresh(
        key, rule=rule, request=make_request(CeremonyKind.REFRESH, key.pkg, nonce=b"x" * 32)
    )
    assert_abort(res, [1, 2], R.WRONG_SESSION, set(), step="round1")


def test_refresh_layout_sizes(group: Group) -> None:
    lay = RefreshLayout(group, 3, 5)
    p, s = group.point_len, group.scalar_len
    assert lay.f1_len == 2 + 2 * p
    assert lay.f2_len == s + 5 * (2 + 2 * p + 64)
    assert lay.complaint_len == 2 + lay.f2_len + 64


@pytest.mark.parametrize(
    ("rnd", "step"),
    [(1, "round2"), (2, "conclude"), (3, "collect_done")],
    ids=["f2", "ack", "done"],
)
def test_refresh_wrong_payload_length_names_the_sender(group: Group, rnd: int, step: str) -> None:
    key = key_for(group, 2, 3)
    resign = _resigner(key)

    def rule(r: int, s: int, to: int, env: Envelope) -> Envelope | None:
        return resign(env, payload=env.payload[:-1]) if r == rnd and s == 3 else env

    res = run_refresh(key, rule=rule)
    for i in (1, 2):
        o = res[i]
        assert o.abort is not None and o.aborted_in == step, (i, o.abort, o.aborted_in)
        assert o.abort.abort_reason is R.INVALID_DATA_SIZE and o.abort.culprits == {3}
        (env,) = evidence_envelopes(key.seed, res, o.abort, 3)
        assert env.sender == 3


def test_refresh_degenerate_sharing_blames_nobody(group: Group) -> None:
    """Both members of a 2-of-2 collude with (test-only) knowledge of a_1: Σ h_{i,1} = −a_1 makes
    C'_1 = O. Every Feldman check passes; nobody can be blamed."""
    key = make_key(group, 2, (1, 2))
    x1, x2 = key.shares[1].secret, key.shares[2].secret
    a1 = (x2 - x1) % group.order  # f(i) = a0 + a1·i

    class Cancel(RefreshParty):
        def _make_polynomial(self) -> Any:
            from warifu.core.shares.polynomial import Polynomial

            h1 = 5 if self._me == 1 else (-a1 - 5) % self._group.order
            return Polynomial([0, h1], self._group.order)

    res = run_refresh(key, factories={1: Cancel, 2: Cancel})
    assert_abort(res, [1, 2], R.DEGENERATE_SHARING, set(), step="round2")
