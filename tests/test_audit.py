"""The hash-chained audit log format (DESIGN §8; test-plan invariants 6 and 7).

Tamper detection: an edited, deleted, reordered or cut-out entry is found and reported with the
first broken seq; cutting the end is found with the recorded head. The redaction guard refuses
secret-looking field names at any depth.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warifu.core.audit import (
    GENESIS,
    AuditEntry,
    append,
    canonical_json,
    check_fields,
    entry_hash,
    verify_chain,
)
from warifu.core.encoding import h, u64be
from warifu.core.errors import AuditChainBroken, InvalidArguments


def chain(n: int = 8) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = None
    for i in range(n):
        prev = append(
            prev,
            "sign.request" if i % 2 else "ceremony.approved",
            {"key_id": f"k{i}", "epoch": i, "approvers": ["a", "b"], "ok": True, "culprit": None},
            time=1_700_000_000 + i,
        )
        entries.append(prev)
    return entries


def broken_at(entries: list[AuditEntry], **kw: Any) -> int:
    with pytest.raises(AuditChainBroken) as exc:
        verify_chain(entries, **kw)
    assert exc.value.reason == "AUDIT_CHAIN_BROKEN"
    return exc.value.seq


def test_chain_verifies_and_hash_is_the_documented_formula() -> None:
    entries = chain()
    verify_chain(entries)
    verify_chain(entries, head=entries[-1].hash)
    verify_chain([])
    e = entries[3]
    assert e.seq == 3 and e.prev_hash == entries[2].hash and entries[0].prev_hash == GENESIS
    expected = h(
        "audit/entry",
        u64be(3),
        u64be(e.time),
        e.kind.encode(),
        canonical_json(e.fields),
        e.prev_hash,
    )
    assert e.hash == expected == entry_hash(e.seq, e.time, e.kind, e.fields, e.prev_hash)
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == b'{"a":[true,null,"\\u00e9"],"b":1}'


@pytest.mark.parametrize("what", ["fields", "time", "kind"])
def test_edit_is_detected_at_its_seq(what: str) -> None:
    entries = chain()
    e = entries[4]
    change: dict[str, Any] = {
        "fields": {"fields": {**e.fields, "epoch": 99}},
        "time": {"time": e.time + 1},
        "kind": {"kind": "sign.result"},
    }[what]
    entries[4] = dataclasses.replace(e, **change)
    assert broken_at(entries) == 4


def test_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = chain()
    e = entries[4]
    fields = {**e.fields, "ok": False}
    entries[4] = dataclasses.replace(
        e, fields=fields, hash=entry_hash(e.seq, e.time, e.kind, fields, e.prev_hash)
    )
    assert broken_at(entries) == 5


def test_rewriting_everything_after_an_edit_is_caught_by_the_head() -> None:
    entries = chain()
    head = entries[-1].hash
    forged = entries[:4]
    prev = forged[-1]
    for e in entries[4:]:
        prev = append(prev, e.kind, {**e.fields, "ok": False}, e.time)
        forged.append(prev)
    verify_chain(forged)  # self-consistent ...
    assert broken_at(forged, head=head) == len(entries)  # ... but not the recorded head


def test_delete_is_detected() -> None:
    entries = chain()
    assert broken_at(entries[:3] + entries[4:]) == 3
    assert broken_at(entries[1:]) == 0  # the first entry deleted


def test_reorder_is_detected() -> None:
    entries = chain()
    entries[2], entries[5] = entries[5], entries[2]
    assert broken_at(entries) == 2


def test_truncate_in_the_middle_is_detected() -> None:
    entries = chain(12)
    assert broken_at(entries[:5] + entries[9:]) == 5


def test_truncating_the_end_needs_the_head() -> None:
    entries = chain()
    verify_chain(entries[:5])  # a shorter chain is a valid chain ...
    assert broken_at(entries[:5], head=entries[-1].hash) == 5  # ... unless the head is known


def test_suffix_verification_with_an_anchor() -> None:
    entries = chain()
    verify_chain(entries[5:], anchor=(4, entries[4].hash), head=entries[-1].hash)
    assert broken_at(entries[5:], anchor=(4, entries[3].hash)) == 5
    assert broken_at(entries[6:], anchor=(4, entries[4].hash)) == 5


def test_json_lines_round_trip_and_tamper() -> None:
    entries = chain()
    lines = [e.to_json() for e in entries]
    back = [AuditEntry.from_json(line) for line in lines]
    assert back == entries
    verify_chain(back)
    data = json.loads(lines[6])
    data["fields"]["key_id"] = "other"
    back[6] = AuditEntry.from_json(json.dumps(data))
    assert broken_at(back) == 6
    for bad in ("{", "[]", '{"seq": 1}', lines[0].replace('"hash":"', '"hash":"zz')):
        with pytest.raises(InvalidArguments):
            AuditEntry.from_json(bad)


def test_entry_is_a_snapshot_of_the_callers_fields() -> None:
    fields: dict[str, Any] = {"key_id": "k", "signers": [1, 2]}
    e = append(None, "key.created", fields, time=1)
    fields["signers"].append(3)
    fields["key_id"] = "changed"
    verify_chain([e])
    assert e.fields == {"key_id": "k", "signers": [1, 2]}


@pytest.mark.parametrize(
    "fields",
    [
        {"share": "00"},
        {"x_share": 1},
        {"key_shares": []},
        {"keyShare": "a"},
        {"nonce": "ab"},
        {"approval": {"nonce": "ab"}},
        {"seed": 1},
        {"vsot-seeds": 1},
        {"secret": "x"},
        {"delta": 3},
        {"sigma_k": 3},
        {"private_key": "a"},
        {"vault_token": "s.x"},
        {"presig": 1},
        {"items": [{"ok": 1}, {"ot.seed": 2}]},
        {"password": "hunter2"},
    ],
)
def test_redaction_guard_refuses_secret_looking_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArguments) as exc:
        append(None, "sign.request", fields, time=1)
    assert exc.value.reason == "AUDIT_SECRET_FIELD"


def test_redaction_guard_accepts_public_fields() -> None:
    check_fields(
        {
            "key_id": "e3b0",
            "epoch": 3,
            "reason": "PEER_FELDMAN_VERIFICATION_FAILED",
            "culprits": [4],
            "evidence_id": "ab12",
            "statement_digest": "00ff",
            "approvers": ["dev-approver-1", "dev-approver-2"],
            "committee": [{"id": 1, "node": "node-1", "sign_pub": "aa"}],
            "chain": "eth",
            "caller": "wallet-service",
            "result": "ok",
            "risk": "low",
        }
    )


@pytest.mark.parametrize(
    "fields", [{"amount": 1.5}, {"blob": b"\x00"}, {"n": 2**64}, {1: "x"}, {"s": {1, 2}}]
)
def test_values_must_be_canonical_json(fields: dict[Any, Any]) -> None:
    with pytest.raises(InvalidArguments) as exc:
        append(None, "sign.request", fields, time=1)
    assert exc.value.reason == "AUDIT_INVALID_ENTRY"


@pytest.mark.parametrize("kind", ["", "Sign", "a b", "x" * 65, "ünï", "ok\n"])
def test_kind_format(kind: str) -> None:
    with pytest.raises(InvalidArguments):
        append(None, kind, {}, time=1)


def test_time_is_u64() -> None:
    for bad in (-1, 2**64):
        with pytest.raises(InvalidArguments):
            append(None, "key.created", {}, time=bad)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(2, 10),
    data=st.data(),
)
def test_any_single_byte_change_of_a_stored_line_is_detected(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    lines = [e.to_json() for e in entries]
    idx = data.draw(st.integers(0, n - 1))
    line = lines[idx]
    pos = data.draw(st.integers(0, len(line) - 1))
    ch = data.draw(st.sampled_from("0123456789abcdefxyz"))
    mutated = line[:pos] + ch + line[pos + 1 :]
    if mutated == line:
        return
    lines[idx] = mutated
    try:
        parsed = [AuditEntry.from_json(x) for x in lines]
    except InvalidArguments:
        return  # unreadable: detected
    if parsed[idx] == entries[idx]:
        return  # a change that does not alter the entry (e.g. whitespace-equivalent number)
    with pytest.raises(AuditChainBroken):
        verify_chain(parsed, head=entries[-1].hash)
