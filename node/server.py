"""The warifu node daemon: gRPC services over mutual TLS, wired to the core and the Vault store.

Spec: DESIGN §3 (services, coordinator), §4 (storage), §5 (errors).

Thin at the edge: each RPC authenticates the channel (certificate CN), hands the request to the
coordinator or member logic, and maps any WarifuError to a status in one place
(:mod:`warifu.node.errors`). Heavy crypto and every blocking Vault call run in an executor.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from warifu.core.approvals import Approval, CeremonyKind, CeremonyStatement, verify_quorum
from warifu.core.chains import eth, xrpl
from warifu.core.curves import group_by_name
from warifu.core.dkls23 import EcdsaSignature, Presignature, PresignatureStore, presign_sid
from warifu.core.envelope import NodeSigner
from warifu.core.errors import (
    AlreadyConsumed,
    FailedPrecondition,
    InvalidArguments,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StorageError,
    TransportError,
    WarifuError,
)
from warifu.core.rng import Rng, SystemRng
from warifu.core.session import SessionParams, request_digest
from warifu.core.shares.package import Committee, Member
from warifu.core.shares.refresh import session_params as refresh_session_params
from warifu.node import ceremony, dkg, ecdsa
from warifu.node.audit import AuditLog
from warifu.node.ceremony import CeremonyRun
from warifu.node.config import NodeConfig
from warifu.node.errors import AlreadyExists, Unauthenticated, to_status
from warifu.node.frost import FrostCoordinator, FrostMember, PeerLiveness
from warifu.node.keys import KeyRecord, KeyRegistry, parse_key_id
from warifu.node.requests import PreparedSign, check_request_id, parse_sign_request, prepare_sign
from warifu.node.sessions import MeshSession
from warifu.node.storage import VaultShareStore
from warifu.node.transport import PeerTransport, envelope_from_pb, envelope_to_pb
from warifu.v1 import (
    ceremony_pb2,
    ceremony_pb2_grpc,
    common_pb2,
    peer_pb2,
    peer_pb2_grpc,
    signer_pb2,
    signer_pb2_grpc,
)

log = logging.getLogger(__name__)

R = TypeVar("R")

SCHEME_TO_CURVE = {common_pb2.EDDSA_ED25519: "ed25519", common_pb2.ECDSA_SECP256K1: "secp256k1"}
MAX_COMMITTEE = 64
REQUEST_CACHE_SIZE = 10_000


def peer_identity(context: grpc.aio.ServicerContext) -> str:
    """The CN of the client certificate of this call (mTLS is mandatory)."""
    auth = context.auth_context()
    names = auth.get("x509_common_name") or []
    if not names:
        raise Unauthenticated("no client certificate", reason="UNAUTHENTICATED")
    return bytes(names[0]).decode()


def rpc(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Map every error of an RPC handler to its gRPC status (DESIGN §5), once."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await fn(self, request, context)
        except WarifuError as exc:
            if not isinstance(exc, AlreadyExists):
                log.info("%s refused: %s %s", fn.__name__, exc.reason, exc)
            await context.abort_with_status(
                to_status(exc, culprit_names=getattr(self, "culprit_names", lambda e: None)(exc))
            )
            raise  # unreachable: abort_with_status raises
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("%s failed", fn.__name__)
            await context.abort_with_status(to_status(exc))
            raise

    return wrapper


class RequestCache:
    """Idempotency: request id -> (digest of the request, first result). In memory, bounded."""

    def __init__(self, size: int = REQUEST_CACHE_SIZE) -> None:
        self._size = size
        self._done: dict[bytes, tuple[bytes, Any]] = {}
        self._inflight: dict[bytes, asyncio.Future[Any]] = {}

    async def run(self, request_id: bytes, raw: bytes, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` once per request id; a repeat gets ALREADY_EXISTS with the first result."""
        digest = hashlib.sha256(raw).digest()
        hit = self._done.get(request_id)
        if hit is not None:
            if hit[0] != digest:
                raise InvalidArguments(
                    "request id reused for a different request", reason="REQUEST_ID_REUSED"
                )
            raise AlreadyExists(hit[1])
        fut = self._inflight.get(request_id)
        if fut is not None:
            result = await asyncio.shield(fut)
            raise AlreadyExists(result)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[request_id] = fut
        try:
            result = await fn()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(request_id, None)
        fut.set_result(result)
        self._done[request_id] = (digest, result)
        while len(self._done) > self._size:
            self._done.pop(next(iter(self._done)))
        return result


class Node:
    """Everything one node holds at run time."""

    def __init__(self, cfg: NodeConfig, *, rng: Rng | None = None) -> None:
        self.cfg = cfg
        self.rng: Rng = rng or SystemRng()
        self.signer = NodeSigner(cfg.sign_key_seed)
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"{cfg.name}-worker")
        self.store = VaultShareStore(cfg.vault, cfg.name)
        self.registry = KeyRegistry(
            self.store, cfg.name, self.executor, cache_ttl_s=cfg.limits.share_cache_ttl_s
        )
        self.transport = PeerTransport(cfg)
        self.liveness = PeerLiveness()
        self.frost_member = FrostMember(
            registry=self.registry,
            signer=self.signer,
            rng=self.rng,
            nonce_ttl_s=cfg.limits.nonce_ttl_s,
        )
        self.frost = FrostCoordinator(
            node_name=cfg.name,
            member=self.frost_member,
            transport=self.transport,
            rng=self.rng,
            round_timeout_s=cfg.limits.round_timeout_s,
            precommit=cfg.limits.frost_precommit,
            liveness=self.liveness,
        )
        self.sessions: dict[bytes, MeshSession] = {}
        self.pair_locks = ecdsa.PairLocks()
        # Presignatures this node holds as a member (memory only, use-once, dkls23.md §8.6) and
        # the ones it can use as coordinator: key id -> (sid, signers, epoch, expires_at).
        self.presigs = PresignatureStore(limit_per_key=4 * ecdsa.MAX_PRESIGN_POOL)
        self.presign_pool: dict[str, deque[tuple[bytes, tuple[int, ...], int, float]]] = {}
        self._refilling: set[str] = set()
        self.ceremonies: list[CeremonyRun] = []
        self.audit = AuditLog(cfg.audit_log)
        self.requests = RequestCache()
        self.health = health.aio.HealthServicer()
        self.vault_state = "unknown"
        self._tasks: set[asyncio.Task[Any]] = set()
        self.node_keys = {p.name: p.sign_pub for p in cfg.peers} | {
            cfg.name: self.signer.public_key
        }

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        """Self-check the Vault policy and load every key."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self.store.self_check)
        await self.registry.load_all()
        self.vault_state = "ok"
        await self.set_serving(True)
        self.spawn(self._watch_vault())

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference and logging its failure."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.info("background task ended: %s", t.exception())

        task.add_done_callback(done)
        return task

    async def set_serving(self, ok: bool) -> None:
        st = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for svc in ("", "warifu.v1.Signer", "warifu.v1.Peer", "warifu.v1.Ceremony"):
            await self.health.set(svc, st)

    async def _watch_vault(self) -> None:
        """Poll the Vault: sealed or unreachable -> NOT_SERVING and drop cached shares."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.cfg.limits.vault_poll_s)
            try:
                state = await loop.run_in_executor(self.executor, self.store.health)
            except Exception as exc:  # health() should not raise; never let the watcher die
                log.warning("vault health check failed: %s", exc)
                state = "unreachable"
            if state != self.vault_state:
                log.warning("vault state %s -> %s", self.vault_state, state)
                self.vault_state = state
                if state != "ok":
                    self.registry.drop_all_cached_shares()
                await self.set_serving(state == "ok")

    def require_vault(self) -> None:
        """Refuse work while the Vault is known to be sealed or unreachable (VLT-1, VLT-2)."""
        if self.vault_state == "sealed":
            raise StorageError("this node's Vault is sealed", reason="VAULT_SEALED")
        if self.vault_state == "unreachable":
            raise StorageError("this node's Vault is unreachable", reason="VAULT_UNAVAILABLE")

    def require_rng(self) -> None:
        """Refuse to join a session whose rounds need randomness while the RNG fails (SIG-10).

        RngFailure is UNAVAILABLE (RNG_FAILURE): the coordinator treats it as a liveness fault,
        blames nobody and picks another signing set.
        """
        self.rng.random_bytes(32)

    async def shutdown(self) -> None:
        """Drop secrets from memory and close channels."""
        self.registry.drop_all_cached_shares()
        for t in list(self._tasks):
            t.cancel()
        await self.transport.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- helpers ----------------------------------------------------------------------------

    def all_nodes(self) -> list[str]:
        """This node and its peers, by name."""
        return sorted([self.cfg.name, *(p.name for p in self.cfg.peers)])

    def committee_for(self, names: list[str]) -> Committee:
        """Ids 1..n in node-name order (``shares.md`` §1.1)."""
        members = []
        for i, name in enumerate(sorted(names), start=1):
            pub = self.node_keys.get(name)
            if pub is None:
                raise InvalidArguments(f"unknown node {name!r}", reason="INVALID_COMMITTEE")
            members.append(Member(id=i, node=name, sign_pub=pub))
        return Committee(members=tuple(members))

    def key_info(self, rec: KeyRecord) -> common_pb2.KeyInfo:
        """The public description of a key."""
        pk = rec.pkg.group.encode_point(rec.pkg.public_key)
        spk = xrpl.signing_pub_key_hex(rec.curve, pk)
        return common_pb2.KeyInfo(
            key_id=rec.key_id,
            scheme=common_pb2.EDDSA_ED25519
            if rec.curve == "ed25519"
            else common_pb2.ECDSA_SECP256K1,
            threshold=rec.pkg.threshold,
            parties=[
                common_pb2.Party(id=m.id, node=m.node, sign_pub=m.sign_pub)
                for m in rec.pkg.committee.members
            ],
            epoch=rec.epoch,
            public_key=pk,
            xrp_address=xrpl.classic_address(spk),
            eth_address=eth.eth_address(pk) if rec.curve == "secp256k1" else "",
            status=rec.status,
            allow_raw_digest=rec.allow_raw_digest,
            presign_pool=rec.presign_pool,
        )

    def culprit_names(self, exc: WarifuError) -> dict[int, str] | None:
        """Party id -> node name for the key a protocol abort concerned (best effort)."""
        party_nodes: dict[int, str] | None = getattr(exc, "party_nodes", None)
        if party_nodes is not None:
            return party_nodes
        key_id = getattr(exc, "key_id", None)
        if key_id is None:
            return None
        try:
            rec = self.registry.get(key_id)
        except WarifuError:
            return None
        return {m.id: m.node for m in rec.pkg.committee.members}

    # -- DKG --------------------------------------------------------------------------------

    def _open_dkg(
        self, start: peer_pb2.StartSession, client: str
    ) -> tuple[MeshSession, Committee, bytes, signer_pb2.CreateKeyRequest]:
        """Validate a DKG start (as coordinator or member) and register its session."""
        req = signer_pb2.CreateKeyRequest()
        try:
            req.ParseFromString(start.request)
        except Exception as exc:
            raise InvalidArguments(
                "create-key request does not decode", reason="MALFORMED_REQUEST"
            ) from exc
        check_request_id(req.request_id)
        curve = SCHEME_TO_CURVE.get(req.scheme)
        if curve is None:
            raise InvalidArguments("unknown scheme", reason="INVALID_SCHEME")
        key_id = uuid.UUID(start.key_id).bytes
        committee = Committee(
            members=tuple(
                Member(id=p.id, node=p.node, sign_pub=self._node_pub(p.node))
                for p in start.committee
            )
        )
        names = [m.node for m in committee.members]
        expected = self.committee_for(list(req.committee) or self.all_nodes())
        if committee != expected or self.cfg.name not in names:
            raise InvalidArguments(
                "committee does not match the request", reason="INVALID_COMMITTEE"
            )
        t = start.threshold
        if req.threshold and t != req.threshold:
            raise InvalidArguments(
                "threshold does not match the request", reason="INVALID_THRESHOLD"
            )
        if not 2 <= t <= len(names):
            raise InvalidArguments(f"threshold must be 2..{len(names)}", reason="INVALID_THRESHOLD")
        if len(start.coord_nonce) != 32:
            raise InvalidArguments("coordinator nonce must be 32 bytes", reason="BAD_ENVELOPE")
        sid = SessionParams(
            protocol="dkg",
            curve=curve,
            key_id=key_id,
            epoch_from=0,
            epoch_to=1,
            pkg_digest=committee.digest(curve, key_id),
            set_a=committee.ids,
            set_b=committee.ids,
            t_a=t,
            t_b=t,
            request_id=req.request_id,
            coord_nonce=start.coord_nonce,
            request_digest=request_digest(start.request),
        ).sid()
        if sid in self.sessions:
            raise FailedPrecondition("session already exists", reason="WRONG_SESSION")
        me = committee.by_node(self.cfg.name).id
        session = MeshSession(
            sid=sid,
            me=me,
            nodes={m.id: m.node for m in committee.members},
            transport=self.transport,
            round_timeout_s=self.cfg.limits.round_timeout_s,
            max_round=dkg.MAX_ROUND,
        )
        self.sessions[sid] = session
        return session, committee, key_id, req

    def _node_pub(self, name: str) -> bytes:
        pub = self.node_keys.get(name)
        if pub is None:
            raise InvalidArguments(f"unknown node {name!r}", reason="INVALID_COMMITTEE")
        return pub

    async def _run_dkg(
        self,
        session: MeshSession,
        committee: Committee,
        key_id: bytes,
        start: peer_pb2.StartSession,
        req: signer_pb2.CreateKeyRequest,
        client: str,
        party_out: list[Any] | None = None,
    ) -> KeyRecord:
        try:
            return await dkg.run_dkg(
                session=session,
                group=group_by_name(SCHEME_TO_CURVE[req.scheme]),
                key_id=key_id,
                committee=committee,
                threshold=start.threshold,
                signer=self.signer,
                rng=self.rng,
                registry=self.registry,
                executor=self.executor,
                meta={
                    "allowed_clients": [client],
                    "allow_raw_digest": req.allow_raw_digest,
                    "presign_pool": req.presign_pool,
                },
                party_out=party_out,
            )
        finally:
            asyncio.get_running_loop().call_later(60, self.sessions.pop, session.sid, None)

    async def create_key(self, raw: bytes, client: str) -> common_pb2.KeyInfo:
        """Coordinator: run a DKG across the committee; returns once every member committed."""
        self.require_vault()
        req = signer_pb2.CreateKeyRequest()
        try:
            req.ParseFromString(raw)
        except Exception as exc:
            raise InvalidArguments(
                "create-key request does not decode", reason="MALFORMED_REQUEST"
            ) from exc
        check_request_id(req.request_id)
        if req.presign_pool > ecdsa.MAX_PRESIGN_POOL:
            raise InvalidArguments(
                f"presign_pool must be at most {ecdsa.MAX_PRESIGN_POOL}", reason="INVALID_ARGUMENT"
            )
        if req.presign_pool and req.scheme != common_pb2.ECDSA_SECP256K1:
            raise InvalidArguments(
                "presignatures exist only for ecdsa-secp256k1 keys", reason="INVALID_ARGUMENT"
            )
        if len(req.committee) > MAX_COMMITTEE:
            raise ResourceExhausted("committee too large", reason="COMMITTEE_TOO_LARGE")

        async def run() -> common_pb2.KeyInfo:
            names = sorted(set(req.committee)) if req.committee else self.all_nodes()
            if len(names) != len(req.committee) and req.committee:
                raise InvalidArguments("duplicate node in committee", reason="INVALID_COMMITTEE")
            committee = self.committee_for(names)
            t = req.threshold or (len(names) // 2 + 1)
            start = peer_pb2.StartSession(
                protocol="dkg",
                key_id=str(uuid.UUID(bytes=self.rng.random_bytes(16), version=4)),
                coord_nonce=self.rng.random_bytes(32),
                request=raw,
                request_type="CreateKeyRequest",
                committee=[common_pb2.Party(id=m.id, node=m.node) for m in committee.members],
                threshold=t,
                client_identity=client,
            )
            session, committee, key_id, _ = self._open_dkg(start, client)
            others = [m.node for m in committee.members if m.node != self.cfg.name]
            try:
                await asyncio.gather(
                    *(
                        self.transport.start(n, start, timeout=self.cfg.limits.round_timeout_s)
                        for n in others
                    )
                )
            except WarifuError:
                session.aborted = "START_FAILED"
                await session.notify_abort("START_FAILED")
                self.sessions.pop(session.sid, None)
                raise
            party: list[Any] = []
            try:
                rec = await self._run_dkg(session, committee, key_id, start, req, client, party)
                await dkg.await_done(session, party[0], committee)
            except WarifuError as exc:
                # No key record exists to name a culprit from (culprit_names): the committee does.
                exc.party_nodes = {m.id: m.node for m in committee.members}  # type: ignore[attr-defined]
                raise
            if rec.curve == "ed25519":
                await self.frost.warm(rec)
            elif rec.presign_pool:
                self.spawn(self._refill_presigs(rec))
            self.audit.record(
                "key.created",
                {
                    "key_id": rec.key_id,
                    "scheme": rec.scheme,
                    "threshold": rec.pkg.threshold,
                    "committee": [m.node for m in rec.pkg.committee.members],
                    "epoch": rec.epoch,
                    "public_key": rec.pkg.group.encode_point(rec.pkg.public_key).hex(),
                    "client": client,
                },
            )
            return self.key_info(rec)

        result: common_pb2.KeyInfo = await self.requests.run(req.request_id, raw, run)
        return result

    async def join_dkg(self, start: peer_pb2.StartSession, coordinator: str) -> bytes:
        """Member: validate a DKG start and run our part in the background."""
        self.require_vault()
        if start.protocol != "dkg":
            raise InvalidArguments(
                f"unknown protocol {start.protocol!r}", reason="UNKNOWN_PROTOCOL"
            )
        session, committee, key_id, req = self._open_dkg(start, start.client_identity)
        if coordinator not in session.nodes.values():
            self.sessions.pop(session.sid, None)
            raise FailedPrecondition("coordinator is not a committee member", reason="NOT_A_MEMBER")
        self.spawn(self._run_dkg(session, committee, key_id, start, req, start.client_identity))
        return session.sid

    # -- signing ----------------------------------------------------------------------------

    # -- ceremonies (refresh) ----------------------------------------------------------------

    def _check_ceremony(
        self, raw: bytes
    ) -> tuple[ceremony_pb2.CeremonyRequest, CeremonyStatement, list[Approval], KeyRecord]:
        """Decode a ceremony request and check its approvals here (every node does, DESIGN §8)."""
        req = ceremony_pb2.CeremonyRequest()
        try:
            req.ParseFromString(raw)
        except Exception as exc:
            raise InvalidArguments(
                "ceremony request does not decode", reason="MALFORMED_REQUEST"
            ) from exc
        check_request_id(req.request_id)
        if len(req.approvals) > 64:
            raise ResourceExhausted("too many approvals", reason="TOO_MANY_APPROVALS")
        stmt = CeremonyStatement.decode(req.statement)
        approvals = [Approval.decode(a) for a in req.approvals]
        policy = self.cfg.approvals
        if not policy.approvers:
            raise PermissionDenied(
                "this node has no approvers configured", reason="APPROVAL_POLICY_MISSING"
            )
        rec = self.registry.get(str(uuid.UUID(bytes=stmt.key_id)))
        verify_quorum(
            stmt,
            approvals,
            policy.approvers,
            policy.m,
            now=int(time.time()),
            seen_nonces=rec.ceremony_nonces,
        )
        if stmt.kind is not CeremonyKind.REFRESH:
            raise FailedPrecondition(
                f"{stmt.kind.value} ceremonies are not available yet",
                reason="CEREMONY_NOT_SUPPORTED",
            )
        if rec.status != "ACTIVE":
            raise FailedPrecondition(
                f"key {rec.key_id} is {rec.status}", reason=f"KEY_{rec.status}"
            )
        stmt.check_parameters(
            kind=CeremonyKind.REFRESH,
            curve=rec.curve,
            key_id=rec.pkg.key_id,
            epoch=rec.epoch,
            threshold=rec.pkg.threshold,
        )
        if stmt.committee != rec.pkg.committee:
            raise PermissionDenied(
                "a refresh keeps the committee record", reason="APPROVAL_PARAMETERS_MISMATCH"
            )
        return req, stmt, approvals, rec

    def _open_refresh(
        self, raw: bytes, coord_nonce: bytes
    ) -> tuple[
        MeshSession,
        ceremony_pb2.CeremonyRequest,
        CeremonyStatement,
        list[Approval],
        KeyRecord,
        CeremonyRun,
    ]:
        req, stmt, approvals, rec = self._check_ceremony(raw)
        if len(coord_nonce) != 32:
            raise InvalidArguments("coordinator nonce must be 32 bytes", reason="BAD_ENVELOPE")
        params = refresh_session_params(
            request=stmt, pkg=rec.pkg, request_id=req.request_id, coord_nonce=coord_nonce
        )
        sid = params.sid()
        if sid in self.sessions:
            raise FailedPrecondition("session already exists", reason="WRONG_SESSION")
        if any(r.key_id == rec.key_id and r.status == "IN_FLIGHT" for r in self.ceremonies):
            raise FailedPrecondition(
                "a ceremony of this key is in flight", reason="KEY_TRANSITIONING"
            )
        session = MeshSession(
            sid=sid,
            me=rec.party_id,
            nodes={m.id: m.node for m in rec.pkg.committee.members},
            transport=self.transport,
            round_timeout_s=self.cfg.limits.round_timeout_s,
            max_round=ceremony.MAX_ROUND,
        )
        self.sessions[sid] = session
        run = CeremonyRun(
            sid=sid,
            kind=ceremony.KIND,
            key_id=rec.key_id,
            epoch_from=rec.epoch,
            epoch_to=rec.epoch + 1,
        )
        self.ceremonies.append(run)
        del self.ceremonies[:-100]
        self.audit.record(
            "ceremony.approved",
            {
                "sid": sid.hex(),
                "kind": stmt.kind.value,
                "key_id": rec.key_id,
                "epoch": rec.epoch,
                "threshold": stmt.threshold,
                "approvers": sorted(a.approver for a in approvals),
                "statement_digest": stmt.digest().hex(),
            },
        )
        return session, req, stmt, approvals, rec, run

    async def _refresh(
        self,
        session: MeshSession,
        req: ceremony_pb2.CeremonyRequest,
        stmt: CeremonyStatement,
        rec: KeyRecord,
        run: CeremonyRun,
        coord_nonce: bytes,
    ) -> KeyRecord:
        try:
            new = await ceremony.run_refresh(
                session=session,
                rec=rec,
                stmt=stmt,
                request_id=req.request_id,
                coord_nonce=coord_nonce,
                signer=self.signer,
                rng=self.rng,
                registry=self.registry,
                executor=self.executor,
                run=run,
            )
        except WarifuError as exc:
            self.audit.record(
                "ceremony.aborted",
                {
                    "sid": session.sid.hex(),
                    "kind": run.kind,
                    "key_id": rec.key_id,
                    "reason": exc.reason,
                    "culprits": sorted(getattr(exc, "culprits", ())),
                },
            )
            raise
        finally:
            asyncio.get_running_loop().call_later(60, self.sessions.pop, session.sid, None)
        # the old epoch's nonces, commitments and presignatures are worthless now: drop them
        self.frost.drop_key(rec.key_id)
        self.frost_member.nonces.drop_key(rec.key_id)
        self.presigs.drop_key(rec.pkg.key_id)
        self.presign_pool.pop(rec.key_id, None)
        self.audit.record(
            "ceremony.committed",
            {"sid": session.sid.hex(), "kind": run.kind, "key_id": rec.key_id, "epoch": new.epoch},
        )
        return new

    async def join_refresh(self, start: peer_pb2.StartSession, coordinator: str) -> bytes:
        """Member: check the approvals and the statement ourselves, then run our part."""
        self.require_vault()
        session, req, stmt, _, rec, run = self._open_refresh(start.request, start.coord_nonce)
        if coordinator not in session.nodes.values():
            self.sessions.pop(session.sid, None)
            raise FailedPrecondition("coordinator is not a committee member", reason="NOT_A_MEMBER")
        self.spawn(self._refresh(session, req, stmt, rec, run, start.coord_nonce))
        return session.sid

    async def refresh(self, raw: bytes, client: str) -> ceremony_pb2.CeremonyReport:
        """Coordinator: every member takes part (a member that is down blocks the refresh)."""
        self.require_vault()
        req, _, _, _ = self._check_ceremony(raw)

        async def go() -> ceremony_pb2.CeremonyReport:
            coord_nonce = self.rng.random_bytes(32)
            session, req_, stmt, approvals, rec, run = self._open_refresh(raw, coord_nonce)
            start = peer_pb2.StartSession(
                protocol=ceremony.KIND,
                key_id=rec.key_id,
                coord_nonce=coord_nonce,
                request=raw,
                request_type="CeremonyRequest",
                epoch=rec.epoch,
                client_identity=client,
            )
            peers = [m for m in rec.pkg.committee.members if m.id != rec.party_id]
            try:
                await self._start_members(session, start, peers, wait=True)
            except _MemberDown as down:
                run.status, run.reason = "ABORTED", down.error.reason
                raise down.error from None
            except BaseException as exc:
                run.status, run.reason = "ABORTED", getattr(exc, "reason", "ABORTED")
                raise
            new = await self._refresh(session, req_, stmt, rec, run, coord_nonce)
            report = ceremony_pb2.CeremonyReport(
                key_id=new.key_id,
                kind=run.kind,
                epoch_from=run.epoch_from,
                epoch_to=new.epoch,
                public_key=new.pkg.group.encode_point(new.pkg.public_key),
                committee=[
                    common_pb2.Party(id=m.id, node=m.node, sign_pub=m.sign_pub)
                    for m in new.pkg.committee.members
                ],
                threshold=new.pkg.threshold,
                status=run.status,
                phases=[ceremony_pb2.CeremonyPhase(name=n, seconds=s) for n, s in run.phases],
                approvers=sorted(a.approver for a in approvals),
            )
            return report

        result: ceremony_pb2.CeremonyReport = await self.requests.run(req.request_id, raw, go)
        return result

    # -- signing ----------------------------------------------------------------------------

    async def sign(self, raw: bytes, client: str) -> signer_pb2.SignResponse:
        """Coordinator: validate, run the key's protocol with t live members, build the output."""
        req = parse_sign_request(raw)
        prepared = prepare_sign(self.registry, req, client)
        self.require_vault()

        async def run() -> signer_pb2.SignResponse:
            if prepared.key.curve == "ed25519":
                signature, signers = await self.frost.sign(prepared, raw, client)
                return ed25519_response(prepared, signature, signers)
            sig, signers = await self._sign_ecdsa(prepared, raw, client)
            return ecdsa_response(prepared, sig, signers)

        entry: dict[str, Any] = {
            "key_id": prepared.key.key_id,
            "kind": prepared.kind,
            "client": client,
            "request_id": req.request_id.hex(),
            "message_digest": hashlib.sha256(prepared.message).hexdigest(),
        }
        try:
            result: signer_pb2.SignResponse = await self.requests.run(req.request_id, raw, run)
        except AlreadyExists:
            raise
        except WarifuError as exc:
            exc.key_id = prepared.key.key_id  # type: ignore[attr-defined]
            culprits = sorted(getattr(exc, "culprits", ()))
            self.audit.record("sign.failed", {**entry, "reason": exc.reason, "culprits": culprits})
            raise
        self.audit.record("sign.released", {**entry, "signers": list(result.signers)})
        return result

    # -- ECDSA (DKLs23) ----------------------------------------------------------------------

    def _check_signers(self, rec: KeyRecord, start: peer_pb2.StartSession) -> tuple[int, ...]:
        """The signing set of a start: sorted, in the committee, ≥ t, us in it, none banned."""
        if rec.curve != "secp256k1" or start.key_id != rec.key_id:
            raise InvalidArguments("start names another key", reason="INVALID_ARGUMENT")
        if start.epoch != rec.epoch:
            raise FailedPrecondition(
                f"session for epoch {start.epoch}, this node is at {rec.epoch}",
                reason="STALE_EPOCH",
            )
        signers = tuple(start.signers)
        if (
            list(signers) != sorted(set(signers))
            or not set(signers) <= set(rec.pkg.committee.ids)
            or len(signers) < rec.pkg.threshold
            or rec.party_id not in signers
        ):
            raise InvalidArguments("invalid signing set", reason="INVALID_PARTY")
        quarantined = sorted(set(signers) & rec.quarantined)
        if quarantined:
            raise FailedPrecondition(
                f"parties {quarantined} are quarantined for this key", reason="PEER_QUARANTINED"
            )
        if len(start.coord_nonce) != 32:
            raise InvalidArguments("coordinator nonce must be 32 bytes", reason="BAD_ENVELOPE")
        return signers

    def _register(self, sid: bytes, rec: KeyRecord, signers: tuple[int, ...]) -> MeshSession:
        if sid in self.sessions:
            raise FailedPrecondition("session already exists", reason="WRONG_SESSION")
        members = {m.id: m.node for m in rec.pkg.committee.members if m.id in signers}
        session = MeshSession(
            sid=sid,
            me=rec.party_id,
            nodes=members,
            transport=self.transport,
            round_timeout_s=self.cfg.limits.round_timeout_s,
            max_round=ecdsa.MAX_ROUND,
        )
        self.sessions[sid] = session
        return session

    def _session_id(
        self,
        protocol: str,
        rec: KeyRecord,
        signers: tuple[int, ...],
        request_id: bytes,
        coord_nonce: bytes,
        raw: bytes,
    ) -> bytes:
        return SessionParams(
            protocol=protocol,
            curve=rec.curve,
            key_id=rec.pkg.key_id,
            epoch_from=rec.epoch,
            epoch_to=rec.epoch,
            pkg_digest=rec.pkg_digest,
            set_a=signers,
            set_b=signers,
            t_a=rec.pkg.threshold,
            t_b=rec.pkg.threshold,
            request_id=request_id,
            coord_nonce=coord_nonce,
            request_digest=request_digest(raw),
        ).sid()

    def _open_presign(
        self, start: peer_pb2.StartSession
    ) -> tuple[MeshSession, KeyRecord, tuple[int, ...]]:
        """Validate a presign start (rounds 1–2 only); its session id is ``presign_sid(sid, 0)``."""
        rec = self.registry.get(start.key_id)
        if rec.status != "ACTIVE":
            raise FailedPrecondition(
                f"key {rec.key_id} is {rec.status}", reason=f"KEY_{rec.status}"
            )
        if not rec.presign_pool:
            raise FailedPrecondition(
                "presignatures are off for this key", reason="PRESIGN_DISABLED"
            )
        if start.request:
            raise InvalidArguments(
                "a presign session carries no request", reason="INVALID_ARGUMENT"
            )
        signers = self._check_signers(rec, start)
        sid = self._session_id(ecdsa.PRESIGN, rec, signers, bytes(16), start.coord_nonce, b"")
        return self._register(presign_sid(sid, 0), rec, signers), rec, signers

    async def _presign(
        self, session: MeshSession, rec: KeyRecord, signers: tuple[int, ...]
    ) -> float:
        """Run rounds 1–2 and keep the presignature in memory; returns its expiry time."""
        try:
            presig = await ecdsa.run_presign(
                session=session,
                rec=rec,
                signers=signers,
                signer=self.signer,
                rng=self.rng,
                registry=self.registry,
                locks=self.pair_locks,
                executor=self.executor,
            )
            expires = time.monotonic() + self.cfg.limits.presign_ttl_s
            self.presigs.put(presig, expires_at=expires)
            return expires
        finally:
            session.done = True
            self.sessions.pop(session.sid, None)  # the online session reuses this sid

    async def join_presign(self, start: peer_pb2.StartSession, coordinator: str) -> bytes:
        """Member: validate a presign start and run rounds 1–2 in the background."""
        self.require_vault()
        self.require_rng()
        session, rec, signers = self._open_presign(start)
        if coordinator not in session.nodes.values():
            self.sessions.pop(session.sid, None)
            raise FailedPrecondition("coordinator is not in the signing set", reason="NOT_A_MEMBER")
        self.spawn(self._presign(session, rec, signers))
        return session.sid

    def _choose_signers(self, rec: KeyRecord, excluded: set[int]) -> list[Member] | None:
        others = [
            m
            for m in rec.pkg.committee.members
            if m.id != rec.party_id and m.id not in rec.quarantined and m.id not in excluded
        ]
        others.sort(key=lambda m: (not self.liveness.is_up(m.node), m.id))
        t = rec.pkg.threshold
        return others[: t - 1] if len(others) >= t - 1 else None

    async def _start_members(
        self,
        session: MeshSession,
        start: peer_pb2.StartSession,
        peers: list[Member],
        *,
        wait: bool = False,
    ) -> None:
        """Start the session at every other member; on failure abort it and raise."""
        results = await asyncio.gather(
            *(
                self.transport.start(
                    m.node, start, timeout=self.cfg.limits.round_timeout_s, wait=wait
                )
                for m in peers
            ),
            return_exceptions=True,
        )
        failed = [
            (m, r) for m, r in zip(peers, results, strict=True) if isinstance(r, BaseException)
        ]
        if not failed:
            return
        session.aborted = "START_FAILED"
        await session.notify_abort("START_FAILED")
        self.sessions.pop(session.sid, None)
        for m, r in failed:
            if isinstance(r, TransportError):
                self.liveness.mark_down(m.node)
                raise _MemberDown(m.id, r)
        raise failed[0][1]

    async def _refill_presigs(self, rec: KeyRecord) -> None:
        """Coordinator: top up this key's pool of presignatures in the background."""
        if rec.key_id in self._refilling:
            return
        self._refilling.add(rec.key_id)
        try:
            pool = self.presign_pool.setdefault(rec.key_id, deque())
            while len(pool) < rec.presign_pool and rec.status == "ACTIVE":
                peers = self._choose_signers(rec, set())
                if peers is None:
                    return
                start = peer_pb2.StartSession(
                    protocol=ecdsa.PRESIGN,
                    key_id=rec.key_id,
                    coord_nonce=self.rng.random_bytes(32),
                    signers=sorted([rec.party_id, *(m.id for m in peers)]),
                    epoch=rec.epoch,
                )
                session, _, signers = self._open_presign(start)
                await self._start_members(session, start, peers)
                expires = await self._presign(session, rec, signers)
                pool.append((session.sid, signers, rec.epoch, expires))
        except (WarifuError, _MemberDown) as exc:
            log.info("presignature refill for %s stopped: %s", rec.key_id, exc)
        finally:
            self._refilling.discard(rec.key_id)

    def _open_online(
        self, start: peer_pb2.StartSession, client: str
    ) -> tuple[MeshSession, PreparedSign, Presignature]:
        """Validate an online start: the request (re-validated here), then take the presignature."""
        prepared = prepare_sign(self.registry, parse_sign_request(start.request), client)
        rec = prepared.key
        signers = self._check_signers(rec, start)
        try:
            presig = self.presigs.take(start.presig_sid)
        except AlreadyConsumed as exc:
            raise FailedPrecondition(str(exc), reason=exc.reason) from None
        if (
            presig.signers != signers
            or presig.key_id != rec.pkg.key_id
            or presig.epoch != rec.epoch
        ):
            presig.discard()
            raise FailedPrecondition(
                "presignature does not match the session", reason="PRESIG_UNKNOWN_OR_CONSUMED"
            )
        try:
            session = self._register(start.presig_sid, rec, signers)
        except BaseException:
            presig.discard()
            raise
        return session, prepared, presig

    async def _online(
        self, session: MeshSession, prepared: PreparedSign, presig: Presignature
    ) -> EcdsaSignature:
        try:
            return await ecdsa.run_online(
                session=session,
                rec=prepared.key,
                presig=presig,
                digest=prepared.message,
                signer=self.signer,
                executor=self.executor,
                registry=self.registry,
                message_bound=False,
            )
        finally:
            asyncio.get_running_loop().call_later(60, self.sessions.pop, session.sid, None)

    async def join_online(self, start: peer_pb2.StartSession, coordinator: str) -> bytes:
        """Member: validate an online start, consume our presignature, run round 3."""
        self.require_vault()
        session, prepared, presig = self._open_online(start, start.client_identity)
        if coordinator not in session.nodes.values():
            presig.discard()
            self.sessions.pop(session.sid, None)
            raise FailedPrecondition("coordinator is not in the signing set", reason="NOT_A_MEMBER")
        self.spawn(self._online(session, prepared, presig))
        return session.sid

    async def _sign_presigned(
        self, prepared: PreparedSign, raw: bytes, client: str
    ) -> tuple[EcdsaSignature, list[int]] | None:
        """One-round signature from a pooled presignature, or None to fall back to 3 rounds."""
        rec = prepared.key
        pool = self.presign_pool.get(rec.key_id)
        now = time.monotonic()
        while pool:
            sid, signers, epoch, expires = pool.popleft()
            nodes = [rec.pkg.committee.member(j).node for j in signers if j != rec.party_id]
            if (
                epoch != rec.epoch
                or expires <= now
                or set(signers) & rec.quarantined
                or not all(self.liveness.is_up(n) for n in nodes)
            ):
                self.presigs.discard(sid)
                continue
            start = peer_pb2.StartSession(
                protocol=ecdsa.ONLINE,
                key_id=rec.key_id,
                coord_nonce=self.rng.random_bytes(32),
                request=raw,
                request_type="SignRequest",
                signers=signers,
                epoch=rec.epoch,
                client_identity=client,
                presig_sid=sid,
            )
            try:
                session, prepared_here, presig = self._open_online(start, client)
                peers = [
                    m for m in rec.pkg.committee.members if m.id in signers and m.id != rec.party_id
                ]
                await self._start_members(session, start, peers)
            except (FailedPrecondition, TransportError, _MemberDown) as exc:
                log.info("presignature %s not usable (%s); trying the next", sid.hex()[:16], exc)
                continue
            sig = await self._online(session, prepared_here, presig)
            return sig, list(signers)
        return None

    def _open_sign(
        self, start: peer_pb2.StartSession, client: str
    ) -> tuple[MeshSession, PreparedSign, tuple[int, ...]]:
        """Validate an ECDSA signing start (coordinator or member) and register its session.

        Each member re-validates the original request bytes for the client, rebuilds the digest
        and checks the signing set itself (DESIGN §3).
        """
        prepared = prepare_sign(self.registry, parse_sign_request(start.request), client)
        rec = prepared.key
        signers = self._check_signers(rec, start)
        sid = self._session_id(
            ecdsa.PROTOCOL,
            rec,
            signers,
            prepared.request.request_id,
            start.coord_nonce,
            start.request,
        )
        session = self._register(sid, rec, signers)
        return session, prepared, signers

    async def _run_sign(
        self, session: MeshSession, prepared: PreparedSign, signers: tuple[int, ...]
    ) -> EcdsaSignature:
        try:
            return await ecdsa.run_sign(
                session=session,
                rec=prepared.key,
                digest=prepared.message,
                signers=signers,
                signer=self.signer,
                rng=self.rng,
                registry=self.registry,
                locks=self.pair_locks,
                executor=self.executor,
            )
        finally:
            asyncio.get_running_loop().call_later(60, self.sessions.pop, session.sid, None)

    async def join_sign(self, start: peer_pb2.StartSession, coordinator: str) -> bytes:
        """Member: validate an ECDSA signing start and run our part in the background."""
        self.require_vault()
        self.require_rng()
        session, prepared, signers = self._open_sign(start, start.client_identity)
        if coordinator not in session.nodes.values():
            self.sessions.pop(session.sid, None)
            raise FailedPrecondition("coordinator is not in the signing set", reason="NOT_A_MEMBER")
        self.spawn(self._run_sign(session, prepared, signers))
        return session.sid

    async def _sign_ecdsa(
        self, prepared: PreparedSign, raw: bytes, client: str
    ) -> tuple[EcdsaSignature, list[int]]:
        """Coordinator: from a presignature if one is ready, else 3 rounds with t live members.

        Retried with another signing set only on liveness faults at the start (never after a
        cryptographic abort).
        """
        rec = prepared.key
        if rec.presign_pool:
            done = await self._sign_presigned(prepared, raw, client)
            self.spawn(self._refill_presigs(rec))
            if done is not None:
                return done
        excluded: set[int] = set()
        for _attempt in range(3):
            peers = self._choose_signers(rec, excluded)
            if peers is None:
                break
            start = peer_pb2.StartSession(
                protocol=ecdsa.PROTOCOL,
                key_id=rec.key_id,
                coord_nonce=self.rng.random_bytes(32),
                request=raw,
                request_type="SignRequest",
                signers=sorted([rec.party_id, *(m.id for m in peers)]),
                epoch=rec.epoch,
                client_identity=client,
            )
            session, prepared_here, signers = self._open_sign(start, client)
            try:
                await self._start_members(session, start, peers)
            except _MemberDown as down:
                excluded.add(down.party)
                continue
            sig = await self._run_sign(session, prepared_here, signers)
            return sig, list(signers)
        raise TransportError(
            f"fewer than {rec.pkg.threshold} members of key {rec.key_id} are reachable",
            reason="NOT_ENOUGH_SIGNERS",
        )


class _MemberDown(Exception):
    """A member could not be reached when a session started (liveness, never blame)."""

    def __init__(self, party: int, error: WarifuError) -> None:
        super().__init__(str(error))
        self.party = party
        self.error = error


def ed25519_response(
    prepared: PreparedSign, signature: bytes, signers: list[int]
) -> signer_pb2.SignResponse:
    """The Sign response for a FROST signature (XRPL Ed25519 accounts)."""
    resp = signer_pb2.SignResponse(
        key_id=prepared.key.key_id, epoch=prepared.key.epoch, signature=signature, signers=signers
    )
    signed = xrpl.attach_signature(prepared.tx, signature)
    resp.xrp.CopyFrom(
        signer_pb2.XrpSigned(tx_blob=signed.tx_blob, hash=signed.tx_hash, tx_json=signed.tx_json)
    )
    return resp


def ecdsa_response(
    prepared: PreparedSign, sig: EcdsaSignature, signers: list[int]
) -> signer_pb2.SignResponse:
    """The Sign response for a DKLs23 signature, in the form of the payload's chain."""
    resp = signer_pb2.SignResponse(
        key_id=prepared.key.key_id,
        epoch=prepared.key.epoch,
        signature=sig.compact(),
        recovery_id=sig.recid,
        signers=signers,
    )
    if prepared.kind == "xrp":
        signed = xrpl.attach_signature(prepared.tx, xrpl.der_signature(sig.r, sig.s))
        resp.xrp.CopyFrom(
            signer_pb2.XrpSigned(
                tx_blob=signed.tx_blob, hash=signed.tx_hash, tx_json=signed.tx_json
            )
        )
    elif prepared.kind == "eth_transaction":
        pk = prepared.key.pkg.group.encode_point(prepared.key.pkg.public_key)
        etx = prepared.tx.assemble(sig.r, sig.s, sig.recid, address=eth.eth_address(pk))
        resp.eth_transaction.CopyFrom(
            signer_pb2.EthSigned(
                raw_transaction=etx.raw_transaction,
                hash=etx.hash,
                r=f"0x{etx.r:064x}",
                s=f"0x{etx.s:064x}",
                v=etx.v,
            )
        )
    elif prepared.kind in ("eth_message", "eth_typed_data"):
        resp.eth_message.CopyFrom(
            signer_pb2.EthMessageSigned(
                signature=eth.message_signature(sig.r, sig.s, sig.recid),
                hash="0x" + prepared.message.hex(),
            )
        )
    return resp


class SignerService(signer_pb2_grpc.SignerServicer):
    """Wallet-service API."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.culprit_names = node.culprit_names

    @rpc
    async def CreateKey(
        self, request: signer_pb2.CreateKeyRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.KeyInfo:
        client = peer_identity(context)
        return await self.node.create_key(request.SerializeToString(), client)

    @rpc
    async def GetKey(
        self, request: signer_pb2.GetKeyRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.KeyInfo:
        client = peer_identity(context)
        rec = self.node.registry.get(parse_key_id(request.key_id))
        if rec.allowed_clients and client not in rec.allowed_clients:
            raise NotFound(f"no key {request.key_id}", reason="KEY_NOT_FOUND")
        return self.node.key_info(rec)

    @rpc
    async def ListKeys(
        self, request: signer_pb2.ListKeysRequest, context: grpc.aio.ServicerContext
    ) -> signer_pb2.ListKeysResponse:
        client = peer_identity(context)
        keys = [
            self.node.key_info(r)
            for r in self.node.registry.all()
            if not r.allowed_clients or client in r.allowed_clients
        ]
        return signer_pb2.ListKeysResponse(keys=keys)

    @rpc
    async def Sign(
        self, request: signer_pb2.SignRequest, context: grpc.aio.ServicerContext
    ) -> signer_pb2.SignResponse:
        client = peer_identity(context)
        return await self.node.sign(request.SerializeToString(), client)


class CeremonyService(ceremony_pb2_grpc.CeremonyServicer):
    """Security engineers' API: ceremonies run only with a quorum of approvals."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.culprit_names = node.culprit_names

    @rpc
    async def Refresh(
        self, request: ceremony_pb2.CeremonyRequest, context: grpc.aio.ServicerContext
    ) -> ceremony_pb2.CeremonyReport:
        client = peer_identity(context)
        return await self.node.refresh(request.SerializeToString(), client)

    @rpc
    async def Status(
        self, request: ceremony_pb2.CeremonyStatusRequest, context: grpc.aio.ServicerContext
    ) -> ceremony_pb2.CeremonyStatusResponse:
        peer_identity(context)
        return ceremony_pb2.CeremonyStatusResponse(
            ceremonies=[
                ceremony_pb2.CeremonyRecord(
                    sid=r.sid.hex(),
                    kind=r.kind,
                    key_id=r.key_id,
                    epoch_from=r.epoch_from,
                    epoch_to=r.epoch_to,
                    status=r.status,
                    phase=r.phase,
                    reason=r.reason,
                    started=r.started,
                )
                for r in self.node.ceremonies
            ]
        )


class PeerService(peer_pb2_grpc.PeerServicer):
    """Node-to-node API; every call must come from a peer node's certificate."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.culprit_names = node.culprit_names

    def _peer(self, context: grpc.aio.ServicerContext) -> str:
        name = peer_identity(context)
        if name not in {p.name for p in self.node.cfg.peers}:
            raise Unauthenticated(f"{name!r} is not a peer node", reason="NOT_A_PEER")
        return name

    @rpc
    async def Start(
        self, request: peer_pb2.StartSession, context: grpc.aio.ServicerContext
    ) -> peer_pb2.StartAck:
        peer = self._peer(context)
        if request.protocol == ecdsa.PROTOCOL:
            sid = await self.node.join_sign(request, peer)
        elif request.protocol == ceremony.KIND:
            sid = await self.node.join_refresh(request, peer)
        elif request.protocol == ecdsa.PRESIGN:
            sid = await self.node.join_presign(request, peer)
        elif request.protocol == ecdsa.ONLINE:
            sid = await self.node.join_online(request, peer)
        else:
            sid = await self.node.join_dkg(request, peer)
        return peer_pb2.StartAck(sid=sid)

    @rpc
    async def Deliver(
        self, request: common_pb2.Envelope, context: grpc.aio.ServicerContext
    ) -> peer_pb2.DeliverAck:
        peer = self._peer(context)
        session = self.node.sessions.get(request.sid)
        if session is None:
            raise FailedPrecondition("unknown session", reason="UNKNOWN_SESSION")
        session.offer(envelope_from_pb(request), peer)
        return peer_pb2.DeliverAck()

    @rpc
    async def Abort(
        self, request: peer_pb2.AbortNotice, context: grpc.aio.ServicerContext
    ) -> peer_pb2.DeliverAck:
        peer = self._peer(context)
        session = self.node.sessions.get(request.sid)
        if session is not None and peer in session.nodes.values():
            session.abort_notice(request.reason[:64])
        return peer_pb2.DeliverAck()

    @rpc
    async def FrostCommit(
        self, request: peer_pb2.FrostCommitRequest, context: grpc.aio.ServicerContext
    ) -> peer_pb2.FrostCommitResponse:
        peer = self._peer(context)
        self.node.require_vault()
        envs = await self.node.frost_member.commit(
            request.key_id, request.epoch, request.count, peer
        )
        return peer_pb2.FrostCommitResponse(envelopes=[envelope_to_pb(e) for e in envs])

    @rpc
    async def FrostSign(
        self, request: peer_pb2.FrostSignRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Envelope:
        peer = self._peer(context)
        self.node.require_vault()
        return await self.node.frost_member.sign(request, peer)

    @rpc
    async def KeyStatus(
        self, request: peer_pb2.KeyStatusRequest, context: grpc.aio.ServicerContext
    ) -> peer_pb2.KeyStatusResponse:
        self._peer(context)
        rec = self.node.registry.get(request.key_id)
        return peer_pb2.KeyStatusResponse(
            key_id=rec.key_id, epoch=rec.epoch, status=rec.status, pkg_digest=rec.pkg.digest()
        )


async def start(cfg: NodeConfig, *, rng: Rng | None = None) -> tuple[grpc.aio.Server, Node]:
    """Build and start a node's gRPC server; the node serves once its Vault self-check passed."""
    node = Node(cfg, rng=rng)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", cfg.limits.max_request_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    signer_pb2_grpc.add_SignerServicer_to_server(SignerService(node), server)
    peer_pb2_grpc.add_PeerServicer_to_server(PeerService(node), server)
    ceremony_pb2_grpc.add_CeremonyServicer_to_server(CeremonyService(node), server)
    health_pb2_grpc.add_HealthServicer_to_server(node.health, server)
    names = (
        signer_pb2.DESCRIPTOR.services_by_name["Signer"].full_name,
        peer_pb2.DESCRIPTOR.services_by_name["Peer"].full_name,
        ceremony_pb2.DESCRIPTOR.services_by_name["Ceremony"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, server)
    creds = grpc.ssl_server_credentials(
        [(cfg.tls_key, cfg.tls_cert)], root_certificates=cfg.tls_ca, require_client_auth=True
    )
    server.add_secure_port(cfg.listen, creds)
    await node.set_serving(False)
    await server.start()
    log.info("node %s listening on %s", cfg.name, cfg.listen)
    try:
        await node.startup()
    except BaseException:
        await server.stop(grace=None)
        await node.shutdown()
        raise
    log.info("node %s ready: %d keys", cfg.name, len(node.registry.all()))
    return server, node


async def stop(server: grpc.aio.Server, node: Node) -> None:
    """Stop serving, drop secrets from memory, close channels."""
    await server.stop(grace=1.0)
    await node.shutdown()


async def serve(cfg: NodeConfig, *, stop_event: asyncio.Event | None = None) -> None:
    """Run a node until ``stop_event`` is set (or forever)."""
    server, node = await start(cfg)
    try:
        await (stop_event.wait() if stop_event is not None else server.wait_for_termination())
    finally:
        await stop(server, node)


__all__ = ["Node", "PeerService", "SignerService", "serve", "start", "stop"]
