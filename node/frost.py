"""FROST(Ed25519, SHA-512) over the cluster: the member side and the coordinator side.

Spec: RFC 9591 §5 (two-round signing with a coordinator),
https://www.rfc-editor.org/rfc/rfc9591#section-5 ; DESIGN §3.

Topology: the node that receives ``Signer.Sign`` coordinates. Round 1 (``Peer.FrostCommit``):
each chosen member samples a nonce pair, keeps it in memory under a fresh 16-byte commitment id
and returns the signed commitments. Round 1 can run ahead of time (precomputed commitments,
``limits.frost_precommit``). Round 2 (``Peer.FrostSign``): the coordinator forwards the
*original* request bytes and the signing package; each member re-validates the request itself,
rebuilds the message, checks the package (its own commitment unchanged, ids sorted, unique and
in the committee, at least ``t``) and only then consumes its nonce and returns its signed share.
The coordinator aggregates, names every cheater by per-share verification, and verifies the
signature with libsodium before release.

Nonces live only in process memory, are taken out of the store atomically before use (a
refused request destroys the nonce too: it is never offered twice), expire after
``nonce_ttl_s`` and vanish on restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from warifu.core import frost
from warifu.core.curves.ed25519 import L
from warifu.core.encoding import h, u64be
from warifu.core.envelope import Envelope, NodeSigner
from warifu.core.errors import (
    AbortReason,
    FailedPrecondition,
    InvalidArguments,
    InvariantViolation,
    ProtocolAbort,
    ResourceExhausted,
    TransportError,
    WarifuError,
)
from warifu.core.rng import Rng
from warifu.core.session import SessionParams, request_digest
from warifu.node import tracing
from warifu.node.keys import KeyRecord, KeyRegistry
from warifu.node.requests import PreparedSign, check_access, parse_sign_request, prepare_sign
from warifu.node.transport import PeerTransport, envelope_from_pb, envelope_to_pb
from warifu.v1 import common_pb2, peer_pb2

log = logging.getLogger(__name__)

SUITE = frost.FROST_ED25519_SHA512
MAX_COMMIT_BATCH = 256
MAX_NONCES_PER_KEY = 4096
PROTOCOL = "frost-sign"


def precommit_sid(key_id: str, epoch: int, commitment_id: bytes) -> bytes:
    """The session id a round-1 commitment envelope is bound to (before any request exists)."""
    return h("frost/precommit", uuid.UUID(key_id).bytes, u64be(epoch), commitment_id)


def signing_sid(
    key: KeyRecord,
    signers: Sequence[int],
    request_id: bytes,
    coord_nonce: bytes,
    raw_request: bytes,
) -> bytes:
    """``sid`` of one signing session (``dkls23.md`` §2.5 with protocol ``frost-sign``)."""
    return SessionParams(
        protocol=PROTOCOL,
        curve=key.curve,
        key_id=key.pkg.key_id,
        epoch_from=key.epoch,
        epoch_to=key.epoch,
        pkg_digest=key.pkg_digest,
        set_a=tuple(sorted(signers)),
        set_b=tuple(sorted(signers)),
        t_a=key.pkg.threshold,
        t_b=key.pkg.threshold,
        request_id=request_id,
        coord_nonce=coord_nonce,
        request_digest=request_digest(raw_request),
    ).sid()


@dataclass(slots=True)
class _Held:
    nonces: frost.SigningNonces
    expires: float


class NonceStore:
    """Use-once FROST nonces in memory, keyed by (key, epoch, commitment id).

    Every nonce gets the same TTL from a monotonic clock, so insertion order is expiry order:
    pruning stops at the first live entry, and a per-key counter bounds each key. The cost per
    request does not grow with the number of nonces held.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._held: dict[tuple[str, int, bytes], _Held] = {}
        self._per_key: dict[str, int] = {}

    def _forget(self, k: tuple[str, int, bytes]) -> _Held | None:
        held = self._held.pop(k, None)
        if held is not None:
            left = self._per_key[k[0]] - 1
            if left:
                self._per_key[k[0]] = left
            else:
                del self._per_key[k[0]]
        return held

    def put(self, key_id: str, epoch: int, cid: bytes, nonces: frost.SigningNonces) -> None:
        """Hold a fresh nonce pair."""
        self.prune()
        if self._per_key.get(key_id, 0) >= MAX_NONCES_PER_KEY:
            raise ResourceExhausted(
                "too many outstanding nonces for this key", reason="NONCE_POOL_FULL"
            )
        k = (key_id, epoch, cid)
        if k in self._held:
            raise InvariantViolation("commitment id reused")
        self._held[k] = _Held(nonces, self._clock() + self._ttl)
        self._per_key[key_id] = self._per_key.get(key_id, 0) + 1

    def take(self, key_id: str, epoch: int, cid: bytes) -> frost.SigningNonces:
        """Remove and return a nonce pair (atomic: the event loop is single-threaded)."""
        held = self._forget((key_id, epoch, cid))
        if held is None or held.expires < self._clock():
            raise FailedPrecondition(
                "unknown, expired or already used commitment", reason="NONCE_CONSUMED"
            )
        return held.nonces

    def drop_key(self, key_id: str) -> None:
        """Forget every nonce of a key (epoch change, quarantine)."""
        for k in [k for k in self._held if k[0] == key_id]:
            self._forget(k)

    def prune(self) -> None:
        """Drop expired nonces (from the oldest, up to the first live one)."""
        now = self._clock()
        expired = []
        for k, v in self._held.items():
            if v.expires >= now:
                break
            expired.append(k)
        for k in expired:
            self._forget(k)

    def __len__(self) -> int:
        return len(self._held)


class FrostMember:
    """What a node does when a coordinator asks it to take part in a FROST signature."""

    def __init__(
        self,
        *,
        registry: KeyRegistry,
        signer: NodeSigner,
        rng: Rng,
        nonce_ttl_s: float,
    ) -> None:
        self._registry = registry
        self._signer = signer
        self._rng = rng
        self.nonces = NonceStore(nonce_ttl_s)
        self._seen: dict[bytes, tuple[common_pb2.Envelope, float]] = {}
        self._ttl = nonce_ttl_s

    def _member_key(self, key_id: str, epoch: int, coordinator: str) -> KeyRecord:
        rec = self._registry.get(key_id)
        if epoch != rec.epoch:
            raise FailedPrecondition(
                f"request for epoch {epoch}, this node is at {rec.epoch}", reason="STALE_EPOCH"
            )
        try:
            rec.pkg.committee.by_node(coordinator)
        except InvalidArguments as exc:
            raise FailedPrecondition(
                f"{coordinator} is not a member of key {key_id}", reason="NOT_A_MEMBER"
            ) from exc
        return rec

    async def commit(self, key_id: str, epoch: int, count: int, coordinator: str) -> list[Envelope]:
        """Round 1: ``count`` fresh nonce pairs; returns one signed envelope per commitment."""
        if not 1 <= count <= MAX_COMMIT_BATCH:
            raise ResourceExhausted(
                f"count must be 1..{MAX_COMMIT_BATCH}", reason="BATCH_TOO_LARGE"
            )
        rec = self._member_key(key_id, epoch, coordinator)
        share = await self._registry.share(rec)
        tr = tracing.session("frost-commit", rec.party_id, key=rec.key_id)
        out = []
        for _ in range(count):
            cid = self._rng.random_bytes(16)
            nonces, commitments = tr.cpu(frost.commit)(SUITE, share, self._rng)
            self.nonces.put(rec.key_id, rec.epoch, cid, nonces)
            env = Envelope(
                sid=precommit_sid(rec.key_id, rec.epoch, cid),
                round=1,
                sender=rec.party_id,
                to=0,
                msg_type="frost/commit",
                payload=cid + commitments.encode(),
            )
            out.append(tr.cpu(self._signer.sign, "envelope.sign")(env))
        return out

    async def sign(
        self,
        req: peer_pb2.FrostSignRequest,
        coordinator: str,
        prepared: PreparedSign | None = None,
    ) -> common_pb2.Envelope:
        """Round 2: re-validate the request and the package, consume the nonce, return z_i.

        ``prepared`` is passed only by this node's own coordinator, which validated exactly
        these request bytes for this client a moment ago; every other member re-validates.
        """
        rec = self._member_key(req.key_id, req.epoch, coordinator)
        tr = tracing.session("frost-share", rec.party_id, key=rec.key_id)
        raw = req.request
        if prepared is None:
            prepared = tr.cpu(prepare_sign)(
                self._registry, parse_sign_request(raw), req.client_identity
            )
        if prepared.key.key_id != rec.key_id:
            raise InvalidArguments("request names another key", reason="INVALID_SIGNING_PACKAGE")
        package = tr.cpu(frost.SigningPackage.decode, "package.decode")(SUITE, req.signing_package)
        signers = sorted(c.identifier for c in package.commitments)
        if len(req.coord_nonce) != 32:
            raise InvalidArguments("coordinator nonce must be 32 bytes", reason="BAD_ENVELOPE")
        sid = signing_sid(rec, signers, prepared.request.request_id, req.coord_nonce, raw)
        self._prune_seen()
        seen = self._seen.get(sid)
        if seen is not None:
            return seen[0]  # an in-session duplicate is a no-op (SIG-8)
        # Taken out of the store before the package is judged: a refused package destroys the
        # nonce too, so its commitment is never offered a second time (SIG-7).
        nonces = self.nonces.take(rec.key_id, rec.epoch, req.commitment_id)
        if list(req.signers) != signers:
            raise ProtocolAbort(
                AbortReason.INVALID_SIGNING_PACKAGE, message="signer list differs from the package"
            )
        if package.message != prepared.message:
            raise ProtocolAbort(
                AbortReason.INVALID_SIGNING_PACKAGE,
                message="the message in the signing package is not the one this request signs",
            )
        share = await self._registry.share(rec)
        sig_share = tr.cpu(frost.sign)(SUITE, package, nonces, share)
        env = tr.cpu(self._signer.sign, "envelope.sign")(
            Envelope(
                sid=sid,
                round=2,
                sender=rec.party_id,
                to=0,
                msg_type="frost/share",
                payload=sig_share.encode(),
            )
        )
        pb = envelope_to_pb(env)
        self._seen[sid] = (pb, time.monotonic() + self._ttl)
        return pb

    def _prune_seen(self) -> None:
        # same TTL for every entry: insertion order is expiry order, stop at the first live one
        now = time.monotonic()
        expired = []
        for k, v in self._seen.items():
            if v[1] >= now:
                break
            expired.append(k)
        for k in expired:
            del self._seen[k]


@dataclass(frozen=True, slots=True)
class _Commitment:
    party: int
    cid: bytes
    commitments: frost.SigningCommitments


class FrostCoordinator:
    """Drives one FROST signature from the entry node."""

    def __init__(
        self,
        *,
        node_name: str,
        member: FrostMember,
        transport: PeerTransport,
        rng: Rng,
        round_timeout_s: float,
        precommit: int,
        liveness: PeerLiveness,
    ) -> None:
        self._node = node_name
        self._member = member
        self._transport = transport
        self._rng = rng
        self._timeout = round_timeout_s
        self._precommit = precommit
        self._pool: dict[tuple[str, int, int], deque[_Commitment]] = {}
        self._refilling: set[tuple[str, int, int]] = set()
        self._live = liveness

    # -- round 1 ----------------------------------------------------------------------------

    def _check_commit_envelope(
        self, rec: KeyRecord, party: int, pb: common_pb2.Envelope
    ) -> _Commitment:
        env = envelope_from_pb(pb)
        member = rec.pkg.committee.member(party)
        if env.sender != party or env.round != 1 or env.msg_type != "frost/commit":
            raise ProtocolAbort(
                AbortReason.BAD_ENVELOPE, {party}, "commitment envelope header is wrong"
            )
        try:
            env.verify(member.sign_pub)
        except InvalidArguments as exc:
            raise ProtocolAbort(
                AbortReason.BAD_ENVELOPE, {party}, "commitment envelope not signed by its sender"
            ) from exc
        cid = env.payload[:16]
        if len(cid) != 16 or env.sid != precommit_sid(rec.key_id, rec.epoch, cid):
            raise ProtocolAbort(
                AbortReason.WRONG_SESSION, {party}, "commitment bound to another key or epoch"
            )
        try:
            commitments = frost.SigningCommitments.decode(SUITE, env.payload[16:])
        except InvalidArguments as exc:
            raise ProtocolAbort(
                AbortReason.INVALID_ENCODING,
                {party},
                str(exc),
                evidence={party: pb.SerializeToString()},
            ) from exc
        if commitments.identifier != party:
            raise ProtocolAbort(
                AbortReason.INVALID_PARTY, {party}, "commitment carries another identifier"
            )
        return _Commitment(party, cid, commitments)

    async def _fetch(self, rec: KeyRecord, party: int, count: int) -> list[_Commitment]:
        node = rec.pkg.committee.member(party).node
        if node == self._node:
            envs = [
                envelope_to_pb(e)
                for e in await self._member.commit(rec.key_id, rec.epoch, count, self._node)
            ]
        else:
            resp = await self._transport.frost_commit(
                node,
                peer_pb2.FrostCommitRequest(key_id=rec.key_id, epoch=rec.epoch, count=count),
                timeout=self._timeout,
            )
            envs = list(resp.envelopes)
        if len(envs) != count:
            raise ProtocolAbort(
                AbortReason.INVALID_DATA_SIZE, {party}, "wrong number of commitments"
            )
        return [self._check_commit_envelope(rec, party, e) for e in envs]

    async def _commitment(self, rec: KeyRecord, party: int) -> _Commitment:
        key = (rec.key_id, rec.epoch, party)
        pool = self._pool.get(key)
        if pool:
            c = pool.popleft()
            self._schedule_refill(rec, party)
            return c
        got = await self._fetch(rec, party, 1)
        self._schedule_refill(rec, party)
        return got[0]

    def _schedule_refill(self, rec: KeyRecord, party: int) -> None:
        if self._precommit <= 0:
            return
        key = (rec.key_id, rec.epoch, party)
        pool = self._pool.setdefault(key, deque())
        if len(pool) >= self._precommit // 2 or key in self._refilling:
            return
        self._refilling.add(key)

        async def refill() -> None:
            try:
                pool.extend(await self._fetch(rec, party, self._precommit - len(pool)))
            except WarifuError as exc:
                log.info("precommit refill for party %s failed: %s", party, exc)
            finally:
                self._refilling.discard(key)

        task = asyncio.get_running_loop().create_task(refill())
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def warm(self, rec: KeyRecord) -> None:
        """Fill the precommit pools of ``rec`` now (benchmarks, after key creation)."""
        if self._precommit <= 0:
            return
        for m in rec.pkg.committee.members:
            key = (rec.key_id, rec.epoch, m.id)
            pool = self._pool.setdefault(key, deque())
            missing = self._precommit - len(pool)
            if missing > 0:
                try:
                    pool.extend(await self._fetch(rec, m.id, missing))
                except WarifuError as exc:
                    log.info("precommit for party %s failed: %s", m.id, exc)

    def drop_key(self, key_id: str) -> None:
        """Forget pooled commitments of a key."""
        for k in [k for k in self._pool if k[0] == key_id]:
            del self._pool[k]

    # -- the session ------------------------------------------------------------------------

    def _candidates(self, rec: KeyRecord) -> list[int]:
        me = rec.party_id
        others = [
            m for m in rec.pkg.committee.members if m.id != me and m.id not in rec.quarantined
        ]
        others.sort(key=lambda m: (not self._live.is_up(m.node), m.id))
        return [me, *(m.id for m in others)]

    async def sign(
        self, prepared: PreparedSign, raw_request: bytes, client: str
    ) -> tuple[bytes, list[int]]:
        """One threshold signature over ``prepared.message``; retried on liveness faults only."""
        rec = prepared.key
        t = rec.pkg.threshold
        excluded: set[int] = set()
        last: WarifuError | None = None
        for _attempt in range(3):
            candidates = [p for p in self._candidates(rec) if p not in excluded]
            if len(candidates) < t:
                break
            try:
                return await self._session(prepared, raw_request, client, candidates, t)
            except _MemberDown as down:
                excluded.add(down.party)
                last = down.error
            except _StaleCommitment as stale:
                last = stale.error  # its pool is dropped: the next attempt fetches fresh ones
            except ProtocolAbort as abort:
                self._quarantine(rec, abort.culprits)
                raise
        raise TransportError(
            f"fewer than {t} members of key {rec.key_id} are reachable"
            + (f" (last: {last})" if last else ""),
            reason="NOT_ENOUGH_SIGNERS",
        )

    def _quarantine(self, rec: KeyRecord, culprits: frozenset[int]) -> None:
        """A proven cheat is terminal for the culprit on this key (DESIGN §3): it is excluded
        from every later quorum this coordinator picks, and its pooled commitments are dropped.
        In memory only: the record is re-read (and the quarantine forgotten) at a restart."""
        culprits = frozenset(c for c in culprits if c != rec.party_id)
        if not culprits:
            return
        rec.quarantined |= culprits
        for c in culprits:
            self._pool.pop((rec.key_id, rec.epoch, c), None)
        log.warning(
            "key %s: party %s quarantined after a proven cheat", rec.key_id, sorted(culprits)
        )

    async def _session(
        self, prepared: PreparedSign, raw: bytes, client: str, candidates: list[int], t: int
    ) -> tuple[bytes, list[int]]:
        rec = prepared.key
        tr = tracing.session("frost-sign", rec.party_id, key=rec.key_id)
        chosen: dict[int, _Commitment] = {}
        queue = list(candidates)
        while len(chosen) < t:
            need = t - len(chosen)
            if len(queue) < need:
                raise TransportError(
                    f"fewer than {t} members of key {rec.key_id} are reachable",
                    reason="NOT_ENOUGH_SIGNERS",
                )
            batch, queue = queue[:need], queue[need:]
            results = await tr.wait(
                "r1.commitments",
                asyncio.gather(*(self._commitment(rec, p) for p in batch), return_exceptions=True),
            )
            for p, r in zip(batch, results, strict=True):
                if isinstance(r, TransportError):
                    self._live.mark_down(rec.pkg.committee.member(p).node)
                elif isinstance(r, BaseException):
                    raise r
                else:
                    chosen[p] = r
        signers = sorted(chosen)
        package = frost.SigningPackage(
            commitments=tuple(chosen[p].commitments for p in signers), message=prepared.message
        )
        coord_nonce = self._rng.random_bytes(32)
        sid = signing_sid(rec, signers, prepared.request.request_id, coord_nonce, raw)
        encoded = package.encode()

        async def ask(p: int) -> common_pb2.Envelope:
            member = rec.pkg.committee.member(p)
            req = peer_pb2.FrostSignRequest(
                key_id=rec.key_id,
                epoch=rec.epoch,
                request=raw,
                client_identity=client,
                coord_nonce=coord_nonce,
                signing_package=encoded,
                commitment_id=chosen[p].cid,
                signers=signers,
            )
            if member.node == self._node:
                return await self._member.sign(req, self._node, prepared)
            return await self._transport.frost_sign(member.node, req, timeout=self._timeout)

        answers = await tr.wait(
            "r2.shares", asyncio.gather(*(ask(p) for p in signers), return_exceptions=True)
        )
        for p, a in zip(signers, answers, strict=True):
            if isinstance(a, TransportError):
                self._live.mark_down(rec.pkg.committee.member(p).node)
                raise _MemberDown(p, a)
            if (
                isinstance(a, FailedPrecondition)
                and a.reason == "NONCE_CONSUMED"
                and p != rec.party_id
            ):
                # A pooled commitment whose nonce the member no longer holds (it restarted, or
                # the nonce expired): liveness, not blame. Drop its pool and try again.
                self._pool.pop((rec.key_id, rec.epoch, p), None)
                raise _StaleCommitment(p, a)
            if isinstance(a, BaseException):
                raise a
        shares: dict[int, frost.SignatureShare] = {}
        evidence: dict[int, bytes] = {}
        for p, a in zip(signers, answers, strict=True):
            assert isinstance(a, common_pb2.Envelope)
            env = envelope_from_pb(a)
            evidence[p] = a.SerializeToString()
            if env.sid != sid or env.sender != p or env.round != 2 or env.msg_type != "frost/share":
                raise ProtocolAbort(
                    AbortReason.WRONG_SESSION,
                    {p},
                    "share envelope is for another session",
                    evidence={p: evidence[p]},
                )
            try:
                tr.cpu(env.verify, "envelope.verify")(rec.pkg.committee.member(p).sign_pub)
                shares[p] = frost.SignatureShare.decode(SUITE, env.payload)
            except InvalidArguments as exc:
                raise ProtocolAbort(
                    AbortReason.INVALID_ENCODING, {p}, str(exc), evidence={p: evidence[p]}
                ) from exc
            if shares[p].identifier != p:
                raise ProtocolAbort(
                    AbortReason.INVALID_PARTY,
                    {p},
                    "share carries another identifier",
                    evidence={p: evidence[p]},
                )
        try:
            signature = tr.cpu(frost.aggregate)(SUITE, package, shares, rec.pkg)
        except ProtocolAbort as abort:
            raise ProtocolAbort(
                abort.abort_reason,
                abort.culprits,
                str(abort),
                evidence={c: evidence[c] for c in abort.culprits if c in evidence},
            ) from None
        tr.cpu(release_check)(rec, prepared.message, signature)
        return signature, signers


def release_check(rec: KeyRecord, message: bytes, signature: bytes) -> None:
    """Verify with libsodium (cofactorless, canonical R) plus rippled's S < L before release."""
    pk = rec.pkg.group.encode_point(rec.pkg.public_key)
    try:
        VerifyKey(pk).verify(message, signature)
    except (BadSignatureError, ValueError) as exc:
        raise InvariantViolation("aggregated signature failed libsodium verification") from exc
    if int.from_bytes(signature[32:], "little") >= L:
        raise InvariantViolation("aggregated signature has S >= L")


class _MemberDown(Exception):
    def __init__(self, party: int, error: WarifuError) -> None:
        super().__init__(str(error))
        self.party = party
        self.error = error


class _StaleCommitment(Exception):
    def __init__(self, party: int, error: WarifuError) -> None:
        super().__init__(str(error))
        self.party = party
        self.error = error


class PeerLiveness:
    """Which peers failed recently (liveness only; never blame)."""

    def __init__(self, backoff_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._down: dict[str, float] = {}
        self._backoff = backoff_s
        self._clock = clock

    def mark_down(self, node: str) -> None:
        """``node`` just failed a call."""
        self._down[node] = self._clock() + self._backoff

    def is_up(self, node: str) -> bool:
        """False while ``node`` is in its back-off window."""
        until = self._down.get(node)
        return until is None or until < self._clock()


__all__ = [
    "FrostCoordinator",
    "FrostMember",
    "NonceStore",
    "PeerLiveness",
    "check_access",
    "release_check",
]
