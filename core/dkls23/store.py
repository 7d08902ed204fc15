"""The in-memory presignature store of one node (§8.4 step 1, §8.6 presign rules, §9).

Spec: ``specs/dkls23.md`` §8.4 step 1 (atomic removal), §8.6 ("Storage", "Limits",
"Destruction", "Use-once"), erratum 8 (an abort notice drops that ``sid``'s presignature).

Memory only, never persisted. :meth:`PresignatureStore.take` is one ``dict.pop``, atomic in
CPython, so two concurrent round-3 requests for one ``sid`` cannot both get it; the
presignature's own :meth:`~.signing.Presignature.consume` is a second one-shot behind it. Time
comes from the caller (``core`` has no clock): pass ``expires_at`` to :meth:`put` and ``now`` to
:meth:`expire`.
"""

from __future__ import annotations

from warifu.core.errors import AbortReason, AlreadyConsumed, InvalidArguments, ResourceExhausted

from .signing import MAX_PRESIGN_BATCH, Presignature


class PresignatureStore:
    """``sid -> Presignature`` for one node, at most ``limit`` per key. Repr shows counts only."""

    __slots__ = ("_expiry", "_items", "_limit")

    def __init__(self, *, limit_per_key: int = MAX_PRESIGN_BATCH) -> None:
        self._items: dict[bytes, Presignature] = {}
        self._expiry: dict[bytes, float] = {}
        self._limit = limit_per_key

    def put(self, presig: Presignature, *, expires_at: float) -> None:
        """Add a fresh presignature; refuse a known ``sid`` or more than the per-key limit."""
        if presig.consumed:
            raise InvalidArguments("presignature already consumed")
        if presig.sid in self._items:
            raise InvalidArguments("a presignature with this sid is already stored")
        if self.count(presig.key_id) >= self._limit:
            raise ResourceExhausted(f"at most {self._limit} presignatures per key")
        self._expiry[presig.sid] = expires_at
        self._items[presig.sid] = presig

    def take(self, sid: bytes) -> Presignature:
        """Atomically remove and return it; ``AlreadyConsumed(PRESIG_UNKNOWN_OR_CONSUMED)``."""
        presig = self._items.pop(sid, None)
        self._expiry.pop(sid, None)
        if presig is None or presig.consumed:
            raise AlreadyConsumed(
                "presignature unknown or consumed",
                reason=AbortReason.PRESIG_UNKNOWN_OR_CONSUMED.value,
            )
        return presig

    def discard(self, sid: bytes) -> None:
        """Destroy one (abort notice for ``sid``); unknown ``sid`` is a no-op."""
        presig = self._items.pop(sid, None)
        self._expiry.pop(sid, None)
        if presig is not None:
            presig.discard()

    def drop_key(self, key_id: bytes) -> int:
        """Destroy every presignature of a key (epoch change, quarantine, retirement)."""
        sids = [sid for sid, p in list(self._items.items()) if p.key_id == key_id]
        for sid in sids:
            self.discard(sid)
        return len(sids)

    def expire(self, now: float) -> int:
        """Destroy every presignature whose ``expires_at`` is ``≤ now`` (TTL, §8.6 "Limits")."""
        sids = [sid for sid, t in list(self._expiry.items()) if t <= now]
        for sid in sids:
            self.discard(sid)
        return len(sids)

    def clear(self) -> None:
        """Destroy everything (process shutdown)."""
        for sid in list(self._items):
            self.discard(sid)

    def count(self, key_id: bytes) -> int:
        """How many are stored for ``key_id``."""
        return sum(1 for p in list(self._items.values()) if p.key_id == key_id)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"PresignatureStore(count={len(self._items)})"
