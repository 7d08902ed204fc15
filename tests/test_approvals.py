"""Ceremony approvals (DESIGN §8, issue 4; test-plan REF-7 at core level).

Each refusal of REF-7 has its own reason: not enough approvals, a duplicated approver, an expired
approval, approvals over different parameters, a reused nonce (plus unknown approver and bad
signature). The statement's canonical bytes feed the ceremony's ``request_digest``/sid.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.ceremonies import COORD_NONCE, REQUEST_ID, make_key
from warifu.core.approvals import (
    Approval,
    ApproverKey,
    CeremonyKind,
    CeremonyStatement,
    verify_quorum,
)
from warifu.core.curves import ED25519, SECP256K1, Group
from warifu.core.encoding import h
from warifu.core.errors import InvalidArguments, PermissionDenied
from warifu.core.shares import refresh, reshare
from warifu.core.shares.package import Committee, Member

GROUPS = [pytest.param(ED25519, id="ed25519"), pytest.param(SECP256K1, id="secp256k1")]
NOW = 1_700_000_000
EXPIRES = NOW + 3600


@pytest.fixture(params=GROUPS)
def group(request: pytest.FixtureRequest) -> Group:
    return request.param  # type: ignore[no-any-return]


def approvers() -> list[ApproverKey]:
    return [ApproverKey(f"dev-approver-{i}", bytes([i]) * 32) for i in (1, 2, 3)]


def registry(keys: list[ApproverKey]) -> dict[str, bytes]:
    return {k.name: k.public_key for k in keys}


def statement(group: Group, **changes: Any) -> CeremonyStatement:
    key = make_key(group, 2, (1, 2, 3))
    base = CeremonyStatement(
        kind=CeremonyKind.RESHARE,
        curve=group.name,
        key_id=key.pkg.key_id,
        epoch=key.pkg.epoch,
        committee=Committee(
            members=tuple(
                Member(id=i, node=f"node-{i}", sign_pub=bytes([i]) * 32) for i in (1, 2, 4)
            )
        ),
        threshold=2,
        expires_at=EXPIRES,
        nonce=b"\x07" * 32,
    )
    return dataclasses.replace(base, **changes)


def deny(reason: str, *args: Any, **kw: Any) -> None:
    with pytest.raises(PermissionDenied) as exc:
        verify_quorum(*args, **kw)
    assert exc.value.reason == reason, exc.value


# --------------------------------------------------------------------------------------------
# the quorum rule
# --------------------------------------------------------------------------------------------


def test_quorum_of_distinct_registered_approvers(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    approvals = [k.approve(stmt) for k in keys]
    reg = registry(keys)
    verify_quorum(stmt, approvals[:2], reg, 2, NOW, set())
    verify_quorum(stmt, approvals, reg, 2, NOW, set())
    verify_quorum(stmt, approvals, reg, 3, NOW, set())
    verify_quorum(stmt, list(reversed(approvals[1:])), reg, 2, EXPIRES - 1, {b"other" * 6 + b"xx"})


def test_ref_7_not_enough_approvals(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    reg = registry(keys)
    deny("APPROVAL_QUORUM_NOT_MET", stmt, [keys[0].approve(stmt)], reg, 2, NOW, set())
    deny("APPROVAL_QUORUM_NOT_MET", stmt, [], reg, 1, NOW, set())
    deny("APPROVAL_QUORUM_NOT_MET", stmt, [k.approve(stmt) for k in keys[:2]], reg, 3, NOW, set())


def test_ref_7_duplicated_approver(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    reg = registry(keys)
    a = keys[0].approve(stmt)
    deny("APPROVER_DUPLICATED", stmt, [a, a], reg, 2, NOW, set())
    # the same engineer registered under two names still counts once
    alias = ApproverKey("alias-of-1", bytes([1]) * 32)
    reg2 = reg | {alias.name: alias.public_key}
    deny("APPROVER_DUPLICATED", stmt, [a, alias.approve(stmt)], reg2, 2, NOW, set())


def test_ref_7_expired_approval(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    approvals = [k.approve(stmt) for k in keys[:2]]
    reg = registry(keys)
    verify_quorum(stmt, approvals, reg, 2, EXPIRES - 1, set())
    deny("APPROVAL_EXPIRED", stmt, approvals, reg, 2, EXPIRES, set())
    deny("APPROVAL_EXPIRED", stmt, approvals, reg, 2, EXPIRES + 10**6, set())


@pytest.mark.parametrize(
    "change",
    [
        {"threshold": 3},
        {"epoch": 2},
        {"kind": CeremonyKind.REFRESH},
        {"nonce": b"\x08" * 32},
        {"expires_at": EXPIRES + 1},
        {"key_id": b"\x01" * 16},
        "committee_key",
        "committee_name",
    ],
    ids=["threshold", "epoch", "kind", "nonce", "expiry", "key", "node-key", "node-name"],
)
def test_ref_7_approval_over_different_parameters(group: Group, change: Any) -> None:
    keys = approvers()
    stmt = statement(group)
    if change == "committee_key":
        m = stmt.committee.members
        change = {
            "committee": Committee(
                members=(*m[:2], dataclasses.replace(m[2], sign_pub=b"\x09" * 32))
            )
        }
    elif change == "committee_name":
        m = stmt.committee.members
        change = {"committee": Committee(members=(*m[:2], dataclasses.replace(m[2], node="evil")))}
    other = dataclasses.replace(stmt, **change)
    assert other.digest() != stmt.digest()
    approvals = [keys[0].approve(stmt), keys[1].approve(other)]
    deny("APPROVAL_PARAMETERS_MISMATCH", stmt, approvals, registry(keys), 2, NOW, set())


def test_ref_7_reused_nonce(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    approvals = [k.approve(stmt) for k in keys[:2]]
    reg = registry(keys)
    verify_quorum(stmt, approvals, reg, 2, NOW, {b"\x01" * 32})
    deny("APPROVAL_NONCE_REUSED", stmt, approvals, reg, 2, NOW, {stmt.nonce})


def test_unknown_approver_and_bad_signature(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    reg = registry(keys)
    stranger = ApproverKey("mallory", b"\x66" * 32)
    deny(
        "APPROVER_UNKNOWN",
        stmt,
        [keys[0].approve(stmt), stranger.approve(stmt)],
        reg,
        2,
        NOW,
        set(),
    )
    # a registered name with someone else's signature
    forged = dataclasses.replace(stranger.approve(stmt), approver=keys[1].name)
    deny("APPROVAL_SIGNATURE_INVALID", stmt, [keys[0].approve(stmt), forged], reg, 2, NOW, set())
    good = keys[1].approve(stmt)
    flipped = dataclasses.replace(
        good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:]
    )
    deny("APPROVAL_SIGNATURE_INVALID", stmt, [keys[0].approve(stmt), flipped], reg, 2, NOW, set())
    # an approval over other parameters whose digest was rewritten to ours
    other = dataclasses.replace(stmt, threshold=3)
    relabelled = dataclasses.replace(keys[1].approve(other), statement_digest=stmt.digest())
    deny(
        "APPROVAL_SIGNATURE_INVALID", stmt, [keys[0].approve(stmt), relabelled], reg, 2, NOW, set()
    )


def test_one_bad_approval_refuses_even_with_a_quorum(group: Group) -> None:
    keys = approvers()
    stmt = statement(group)
    stranger = ApproverKey("mallory", b"\x66" * 32)
    approvals = [k.approve(stmt) for k in keys] + [stranger.approve(stmt)]
    deny("APPROVER_UNKNOWN", stmt, approvals, registry(keys), 2, NOW, set())


@pytest.mark.parametrize("m", [0, 4])
def test_policy_out_of_range_is_a_caller_error(group: Group, m: int) -> None:
    keys = approvers()
    stmt = statement(group)
    with pytest.raises(InvalidArguments):
        verify_quorum(stmt, [k.approve(stmt) for k in keys], registry(keys), m, NOW, set())


def test_check_parameters_against_the_nodes_own_state(group: Group) -> None:
    stmt = statement(group)
    ok: dict[str, Any] = {
        "kind": CeremonyKind.RESHARE,
        "curve": group.name,
        "key_id": stmt.key_id,
        "epoch": stmt.epoch,
        "committee": stmt.committee,
        "threshold": 2,
        "targets": (),
    }
    stmt.check_parameters(**ok)
    for field, value in [
        ("kind", CeremonyKind.REPAIR),
        ("curve", "secp256k1" if group.name == "ed25519" else "ed25519"),
        ("key_id", b"\x02" * 16),
        ("epoch", stmt.epoch + 1),  # the node is already at another epoch (stale approval)
        ("threshold", 3),
        ("targets", (2,)),
    ]:
        with pytest.raises(PermissionDenied) as exc:
            stmt.check_parameters(**(ok | {field: value}))
        assert exc.value.reason == "APPROVAL_PARAMETERS_MISMATCH"
        assert field.replace("key_id", "key") in exc.value.message


# --------------------------------------------------------------------------------------------
# the statement: canonical bytes, validation, binding into the sid
# --------------------------------------------------------------------------------------------


def test_statement_round_trip_and_digests(group: Group) -> None:
    stmt = statement(group)
    raw = stmt.encode()
    assert CeremonyStatement.decode(raw) == stmt
    assert stmt.digest() == h("ceremony/approval", raw)
    assert stmt.request_digest() == h("request", raw)
    a = approvers()[0].approve(stmt)
    assert Approval.decode(a.encode()) == a
    assert Approval.from_dict(a.to_dict()) == a
    repair = statement(group, kind=CeremonyKind.REPAIR, targets=(2,))
    assert CeremonyStatement.decode(repair.encode()) == repair


def test_statement_decode_is_strict(group: Group) -> None:
    raw = statement(group).encode()
    for bad in (raw + b"\x00", raw[:-1], b"", raw[:8] + b"\xff" + raw[9:]):
        with pytest.raises(InvalidArguments):
            CeremonyStatement.decode(bad)
    with pytest.raises(InvalidArguments):
        Approval.decode(raw)


@pytest.mark.parametrize("group_", [ED25519], ids=["ed25519"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_statement_mutations_never_crash(group_: Group, data: st.DataObject) -> None:
    """A mutated statement raises InvalidArguments or decodes to the statement it encodes."""
    raw = bytearray(statement(group_).encode())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        got = CeremonyStatement.decode(bytes(raw))
    except InvalidArguments:
        return
    assert got.encode() == bytes(raw)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": CeremonyKind.REPAIR}, "INVALID_STATEMENT"),  # repair without its target
        ({"kind": CeremonyKind.REPAIR, "targets": (9,)}, "INVALID_PARTY"),
        ({"targets": (1,)}, "INVALID_STATEMENT"),  # only a repair has targets
        ({"kind": CeremonyKind.DKG}, "INVALID_STATEMENT"),  # a new key starts at epoch 0
        ({"threshold": 1}, "INVALID_THRESHOLD"),
        ({"threshold": 4}, "INVALID_THRESHOLD"),
        ({"nonce": b"short"}, "INVALID_STATEMENT"),
        ({"curve": "p256"}, "INVALID_STATEMENT"),
    ],
)
def test_statement_validation(group: Group, change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidArguments) as exc:
        statement(group, **change)
    assert exc.value.reason == reason


def test_statement_digest_feeds_the_ceremony_sid(group: Group) -> None:
    key = make_key(group, 2, (1, 2, 3))
    a = statement(
        group,
        committee=Committee(
            members=(*key.committee.members, Member(id=4, node="node-4", sign_pub=b"\x04" * 32))
        ),
        threshold=3,
    )
    b = dataclasses.replace(a, threshold=2)
    sids = set()
    for s in (a, b):
        p = reshare.session_params(
            request=s, pkg=key.pkg, dealers=(1, 2), request_id=REQUEST_ID, coord_nonce=COORD_NONCE
        )
        assert p.request_digest == s.request_digest()
        sids.add(p.sid())
    assert len(sids) == 2
    r = statement(group, kind=CeremonyKind.REFRESH, committee=key.committee)
    p = refresh.session_params(
        request=r, pkg=key.pkg, request_id=REQUEST_ID, coord_nonce=COORD_NONCE
    )
    assert p.request_digest == h("request", r.encode())


def test_describe_shows_security_reductions(group: Group) -> None:
    key = make_key(group, 3, (1, 2, 3, 4, 5))
    grow = statement(group)  # committee 1, 2, 4 with other node keys, t=2
    d = grow.describe(previous=key.committee, t_old=3)
    assert d["added"] == [] and d["removed"] == [3, 5]
    assert d["threshold_lowered"] is True and d["reduces_security"] is True
    assert d["rotated_node_keys"] == [1, 2, 4]
    assert d["statement_digest"] == grow.digest().hex()


def test_approver_key_is_redacted() -> None:
    k = ApproverKey("dev-approver-1", b"\x01" * 32)
    assert "redacted" in repr(k) and "0101" not in repr(k)
