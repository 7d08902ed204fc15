"""The node's view of its keys: public records in memory, secret shares in Vault.

Spec: DESIGN §4; ``specs/shares.md`` §1.5 (key states), §9 (records).

The registry is loaded from the node's own Vault at start-up. Secret shares are loaded on demand
(decrypted by transit and checked ``x_i·G == X_i`` on every load) and may be kept in memory for
``share_cache_ttl_s`` to keep Vault off the signing hot path (0 turns the cache off). The cache
is dropped at every epoch change, quarantine, seal and shutdown. Vault calls are blocking (hvac),
so they run in the executor.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from warifu.core.errors import FailedPrecondition, InvalidArguments, NotFound, StorageError
from warifu.core.ot.vsot import AliceSeeds, BobSeeds
from warifu.core.shares.package import KeyShare, PublicKeyPackage
from warifu.node.ecdsa_state import decode_pair_state
from warifu.node.storage import VaultShareStore

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = {"ed25519": "eddsa-ed25519", "secp256k1": "ecdsa-secp256k1"}


@dataclass(slots=True)
class KeyRecord:
    """Public, in-memory facts about one key at this node."""

    key_id: str
    curve: str
    status: str
    epoch: int
    pkg: PublicKeyPackage
    party_id: int
    allowed_clients: list[str]
    allow_raw_digest: bool
    state_version: int
    quarantined: set[int] = field(default_factory=set)
    presign_pool: int = 0
    ceremony_nonces: frozenset[bytes] = frozenset()
    retained_epoch: int | None = None
    pkg_digest: bytes = b""

    def __post_init__(self) -> None:
        self.pkg_digest = self.pkg.digest()

    @property
    def scheme(self) -> str:
        """``eddsa-ed25519`` or ``ecdsa-secp256k1``."""
        return SCHEMES[self.curve]


def parse_key_id(key_id: str) -> str:
    """Canonical UUID text, or INVALID_ARGUMENT."""
    try:
        return str(uuid.UUID(key_id))
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidArguments("key_id is not a UUID", reason="INVALID_KEY_ID") from exc


class KeyRegistry:
    """Keys of this node, backed by its Vault."""

    def __init__(
        self,
        store: VaultShareStore,
        node_name: str,
        executor: Executor,
        *,
        cache_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._node = node_name
        self._executor = executor
        self._ttl = cache_ttl_s
        self._clock = clock
        self._keys: dict[str, KeyRecord] = {}
        self._cache: dict[tuple[str, int], tuple[KeyShare, float]] = {}
        self._pairs: dict[
            tuple[str, int], tuple[dict[int, tuple[BobSeeds, AliceSeeds]], float]
        ] = {}

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load_all(self) -> None:
        """Read every key's state and public package from Vault (start-up)."""
        for key_id in await self._run(self._store.list_keys):
            try:
                await self.reload(key_id)
            except StorageError:
                raise
            except Exception as exc:  # one bad record must not stop the node; it is reported
                log.error("key %s could not be loaded: %s", key_id, exc)

    async def reload(self, key_id: str) -> KeyRecord | None:
        """Re-read one key's state; drops it from memory if it is gone or not active."""
        got = await self._run(self._store.read_state, key_id)
        self._drop_cache(key_id)
        if got is None:
            self._keys.pop(key_id, None)
            return None
        state, version = got
        if state.get("status") not in ("ACTIVE", "QUARANTINED", "TRANSITIONING") or not state.get(
            "active_epoch"
        ):
            self._keys.pop(key_id, None)
            return None
        epoch = int(state["active_epoch"])
        pkg = await self._run(self._store.load_pkg, key_id, epoch)
        member = pkg.committee.by_node(self._node)
        rec = KeyRecord(
            key_id=key_id,
            curve=pkg.curve,
            status=str(state["status"]),
            epoch=epoch,
            pkg=pkg,
            party_id=member.id,
            allowed_clients=list(state.get("allowed_clients", [])),
            allow_raw_digest=bool(state.get("allow_raw_digest", False)),
            state_version=version,
            quarantined=set(state.get("quarantined_peers", [])),
            presign_pool=int(state.get("presign_pool", 0)),
            ceremony_nonces=frozenset(bytes.fromhex(n) for n in state.get("ceremony_nonces", [])),
            retained_epoch=state.get("retained_epoch"),
        )
        self._keys[key_id] = rec
        return rec

    def get(self, key_id: str) -> KeyRecord:
        """The active key ``key_id``; NOT_FOUND if this node has none."""
        rec = self._keys.get(parse_key_id(key_id))
        if rec is None:
            raise NotFound(f"no key {key_id}", reason="KEY_NOT_FOUND")
        return rec

    def all(self) -> list[KeyRecord]:
        """Every active key, by id."""
        return [self._keys[k] for k in sorted(self._keys)]

    async def share(self, rec: KeyRecord) -> KeyShare:
        """This node's verified share of ``rec`` at its active epoch."""
        if rec.status != "ACTIVE":
            raise FailedPrecondition(
                f"key {rec.key_id} is {rec.status}", reason=f"KEY_{rec.status}"
            )
        now = self._clock()
        hit = self._cache.get((rec.key_id, rec.epoch))
        if hit is not None and hit[1] > now:
            return hit[0]
        share = await self._run(self._store.load_share, rec.key_id, rec.epoch)
        if share.pkg.digest() != rec.pkg_digest or share.party_id != rec.party_id:
            raise FailedPrecondition(
                "stored share does not match the key record", reason="SHARE_INTEGRITY"
            )
        if self._ttl > 0:
            self._cache[(rec.key_id, rec.epoch)] = (share, now + self._ttl)
        return share

    async def pair_states(
        self, rec: KeyRecord, peers: list[int]
    ) -> dict[int, tuple[BobSeeds, AliceSeeds]]:
        """This node's pairwise OT state with ``peers`` at the active epoch (secp256k1 keys).

        Cached like the share; a banned pair is never decrypted (erratum 11).
        """
        banned = sorted(set(peers) & rec.quarantined)
        if banned:
            raise FailedPrecondition(f"OT state with {banned} is banned", reason="PAIR_BANNED")
        now = self._clock()
        hit = self._pairs.get((rec.key_id, rec.epoch))
        if hit is not None and hit[1] > now and set(peers) <= set(hit[0]):
            return {j: hit[0][j] for j in peers}
        others = [
            m for m in rec.pkg.committee.ids if m != rec.party_id and m not in rec.quarantined
        ]
        blobs = await self._run(self._store.load_ot_state, rec.key_id, rec.epoch, others)
        states = {j: decode_pair_state(b) for j, b in blobs.items()}
        if self._ttl > 0:
            self._pairs[(rec.key_id, rec.epoch)] = (states, now + self._ttl)
        return {j: states[j] for j in peers}

    async def ban_pair(self, rec: KeyRecord, peer: int, reason: str) -> None:
        """Ban the OT pair with ``peer`` both ways and quarantine it for this key (dkls23 §10.1).

        Durable first (CAS on ``keys/<id>/state``), in memory in any case: if the write fails
        the pair stays banned for the process lifetime and the error is logged. Idempotent: a ban
        that is already recorded writes nothing (no new state version).
        """
        rec.quarantined.add(peer)
        self._pairs.pop((rec.key_id, rec.epoch), None)
        try:
            got = await self._run(self._store.read_state, rec.key_id)
            if got is None:
                raise FailedPrecondition("key state vanished", reason="STATE_MISSING")
            state, version = got
            if peer in state.get("banned_ot_pairs", []) and peer in state.get(
                "quarantined_peers", []
            ):
                return  # already durable (the same abort reported twice): one record, one write
            banned = sorted(set(state.get("banned_ot_pairs", [])) | {peer})
            quarantined = sorted(set(state.get("quarantined_peers", [])) | {peer})
            state.update(banned_ot_pairs=banned, quarantined_peers=quarantined)
            rec.state_version = await self._run(self._store.cas_state, rec.key_id, state, version)
            log.warning("key %s: party %s quarantined (%s)", rec.key_id, peer, reason)
        except Exception as exc:
            log.error(
                "key %s: could not record the ban of party %s durably: %s", rec.key_id, peer, exc
            )

    def _drop_cache(self, key_id: str) -> None:
        for k in [k for k in self._cache if k[0] == key_id]:
            del self._cache[k]
        for k in [k for k in self._pairs if k[0] == key_id]:
            del self._pairs[k]

    def drop_all_cached_shares(self) -> None:
        """Forget every decrypted share and OT state (seal, shutdown)."""
        self._cache.clear()
        self._pairs.clear()

    # -- ceremony writes (DKG) --------------------------------------------------------------

    async def write_pending(
        self, share: KeyShare, meta: dict[str, Any], ot_state: dict[int, bytes] | None = None
    ) -> int:
        """Prepare (``shares.md`` §9.2): create ``epoch/<e>``, then the CREATING state doc.

        ``ot_state`` is the serialized pairwise OT state per peer (secp256k1 keys).
        """
        key_id = share.pkg.key_uuid
        await self._run(self._store.write_epoch, key_id, share, ot_state)
        state = {
            "key_id": key_id,
            "curve": share.pkg.curve,
            "origin": "dkg",
            "status": "CREATING",
            "active_epoch": None,
            "retained_epoch": None,
            "pending": {
                "epoch": share.pkg.epoch,
                "kind": meta["kind"],
                "sid": meta["sid"],
                "pkg_digest": share.pkg.digest().hex(),
                "decision": "ACK",
            },
            "allowed_clients": meta["allowed_clients"],
            "allow_raw_digest": meta["allow_raw_digest"],
            "presign_pool": int(meta.get("presign_pool", 0)),
            "quarantined_peers": [],
            "certificate_digest": None,
        }
        return await self._run(self._store.cas_state, key_id, state, 0)

    async def commit(
        self, key_id: str, epoch: int, cert: bytes, cert_digest: str, version: int
    ) -> None:
        """Switch (``shares.md`` §9.2): write ``cert/<e>``, then CAS the state to ACTIVE(e)."""
        await self._run(self._store.write_cert, key_id, epoch, cert)
        got = await self._run(self._store.read_state, key_id)
        if got is None:
            raise FailedPrecondition("pending state vanished", reason="STATE_MISSING")
        state, current = got
        state.update(
            status="ACTIVE", active_epoch=epoch, pending=None, certificate_digest=cert_digest
        )
        await self._run(self._store.cas_state, key_id, state, current)
        await self.reload(key_id)

    # -- epoch transitions (refresh; shares.md §9.2) -----------------------------------------

    async def _update_state(self, key_id: str, **changes: Any) -> int:
        got = await self._run(self._store.read_state, key_id)
        if got is None:
            raise FailedPrecondition("key state vanished", reason="STATE_MISSING")
        state, version = got
        state.update(changes)
        new_version: int = await self._run(self._store.cas_state, key_id, state, version)
        return new_version

    async def prepare_epoch(
        self,
        rec: KeyRecord,
        share: KeyShare,
        ot_state: dict[int, bytes] | None,
        sid: str,
        kind: str,
    ) -> None:
        """Prepare: create ``epoch/<e+1>`` (cas=0), then record it in ``state.pending`` (ACK)."""
        await self._run(self._store.write_epoch, rec.key_id, share, ot_state)
        await self._update_state(
            rec.key_id,
            status="TRANSITIONING",
            pending={
                "epoch": share.pkg.epoch,
                "kind": kind,
                "sid": sid,
                "pkg_digest": share.pkg.digest().hex(),
                "decision": "ACK",
            },
        )

    async def switch_epoch(
        self, rec: KeyRecord, epoch: int, cert: bytes, nonce: bytes
    ) -> KeyRecord:
        """Switch: ``cert/<e+1>``, then one CAS to ``ACTIVE(e+1)`` keeping ``e`` as retained."""
        await self._run(self._store.write_cert, rec.key_id, epoch, cert)
        got = await self._run(self._store.read_state, rec.key_id)
        if got is None:
            raise FailedPrecondition("key state vanished", reason="STATE_MISSING")
        state, _ = got
        nonces = [*state.get("ceremony_nonces", []), nonce.hex()][-256:]
        await self._update_state(
            rec.key_id,
            status="ACTIVE",
            active_epoch=epoch,
            retained_epoch=rec.epoch,
            pending=None,
            ceremony_nonces=nonces,
        )
        new = await self.reload(rec.key_id)
        if new is None:
            raise FailedPrecondition("key vanished at the switch", reason="STATE_MISSING")
        return new

    async def destroy_retained(self, rec: KeyRecord, epoch: int) -> None:
        """With the done certificate: destroy all versions of ``epoch/<e>`` (§9.3), forget it."""
        await self._run(self._store.destroy_epoch, rec.key_id, epoch)
        await self._update_state(rec.key_id, retained_epoch=None)

    async def discard_pending(self, rec: KeyRecord, epoch: int) -> None:
        """Abort before the switch: destroy ``epoch/<e+1>`` and clear ``state.pending``."""
        await self._run(self._store.destroy_epoch, rec.key_id, epoch)
        await self._update_state(rec.key_id, status="ACTIVE", pending=None)
        await self.reload(rec.key_id)

    def ceremony_nonces(self, key_id: str) -> set[bytes]:
        """Nonces of approved statements this key has already committed (never reused)."""
        rec = self._keys.get(key_id)
        return set() if rec is None else set(rec.ceremony_nonces)

    async def discard(self, key_id: str, epoch: int) -> None:
        """Discard an uncommitted DKG: destroy ``epoch/<e>`` and the CREATING state (idempotent)."""
        await self._run(self._store.destroy_epoch, key_id, epoch)
        await self._run(self._store.delete_key, key_id)
        self._keys.pop(key_id, None)
        self._drop_cache(key_id)
