"""The node's FROST nonce store: use-once, TTL, per-key cap, bounded work per request."""

from __future__ import annotations

import pytest

from warifu.core.errors import FailedPrecondition, ResourceExhausted
from warifu.node import frost as node_frost
from warifu.node.frost import NonceStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


NONCES = object()  # the store never looks inside the nonce object


def test_take_once_then_consumed() -> None:
    store = NonceStore(ttl_s=10, clock=Clock())
    store.put("k", 1, b"a", NONCES)  # type: ignore[arg-type]
    assert store.take("k", 1, b"a") is NONCES
    with pytest.raises(FailedPrecondition) as err:
        store.take("k", 1, b"a")
    assert err.value.reason == "NONCE_CONSUMED"
    assert len(store) == 0


def test_expired_nonces_are_refused_and_pruned_oldest_first() -> None:
    clock = Clock()
    store = NonceStore(ttl_s=10, clock=clock)
    store.put("k", 1, b"old", NONCES)  # type: ignore[arg-type]
    clock.now += 6
    store.put("k", 1, b"new", NONCES)  # type: ignore[arg-type]
    clock.now += 5  # "old" expired, "new" still live
    with pytest.raises(FailedPrecondition):
        store.take("k", 1, b"old")
    store.prune()
    assert len(store) == 1
    assert store.take("k", 1, b"new") is NONCES


def test_per_key_cap_counts_what_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_frost, "MAX_NONCES_PER_KEY", 3)
    clock = Clock()
    store = NonceStore(ttl_s=10, clock=clock)
    for cid in (b"1", b"2", b"3"):
        store.put("k", 1, cid, NONCES)  # type: ignore[arg-type]
    store.put("other", 1, b"1", NONCES)  # another key has its own budget
    with pytest.raises(ResourceExhausted):
        store.put("k", 1, b"4", NONCES)  # type: ignore[arg-type]
    store.take("k", 1, b"1")
    store.put("k", 1, b"4", NONCES)  # type: ignore[arg-type]  # room again after a take
    store.drop_key("k")
    for cid in (b"5", b"6", b"7"):  # and after drop_key
        store.put("k", 1, cid, NONCES)  # type: ignore[arg-type]
    clock.now += 11
    store.put("k", 1, b"8", NONCES)  # type: ignore[arg-type]  # expiry frees the budget
    assert len(store) == 1
