"""DKLs23 threshold ECDSA over the cluster: one signing session at one node.

Spec: ``specs/dkls23.md`` §8 (rounds), §5.2 rule S-1 (one Δ-dependent check at a time per pair,
ban recorded durably before anything else), §10 (abort classes, ban and quarantine); errata 8
(abort notice), 9 (deadlines).

Every member of the signing set ``S`` runs :func:`run_sign` on its own node, driven by the same
mesh transport as the DKG (``Peer.Start`` / ``Peer.Deliver``); the coordinator is just the member
that received ``Signer.Sign``. Rounds:

=====  =======================  ===========================================================
1      R1_COM (broadcast),      commitment to ``R_i``; OT-extension message as Bob
       R1_OTE (P2P)
—      Alice's OT checks        per peer, under the pair lock; a failure bans the pair
2      R2 (P2P)                 opening of ``R_i``, RVOLE reply as Alice, Γ's, ψ, echo
—      finish                   checks a–f → presignature (memory only)
3      R3 (broadcast)           ``(u'_i, w_i, E2_i, m)`` for the digest
4      E1 disclosure            only after an echo mismatch (§10.3)
—      finalize                 ``s = Σw/Σu'``, low-s, recovery id, libsecp256k1 verify
=====  =======================  ===========================================================

Heavy work runs in the executor; the event loop only moves envelopes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from warifu.core.dkls23 import (
    AbortClass,
    EcdsaSignature,
    PairState,
    Presignature,
    SignSession,
    classify,
    finalize,
    pairs_to_ban,
    round3,
)
from warifu.core.dkls23.wire import (
    MSG_E1_DISCLOSE,
    MSG_R1_COM,
    MSG_R1_OTE,
    MSG_R2,
    MSG_R3,
    ROUND_1,
    ROUND_2,
    ROUND_3,
    ROUND_DISCLOSE,
)
from warifu.core.envelope import NodeSigner
from warifu.core.errors import (
    AbortReason,
    FailedPrecondition,
    ProtocolAbort,
    TransportError,
    WarifuError,
)
from warifu.core.rng import Rng
from warifu.node import tracing
from warifu.node.keys import KeyRecord, KeyRegistry
from warifu.node.sessions import MeshSession

log = logging.getLogger(__name__)

T = TypeVar("T")

PROTOCOL = "dkls23-sign"
PRESIGN = "dkls23-presign"
ONLINE = "dkls23-online"
MAX_ROUND = ROUND_DISCLOSE
#: The most presignatures a key may keep ready at one coordinator.
MAX_PRESIGN_POOL = 64


class PairLocks:
    """One asyncio lock per stored Alice state ``(key, epoch, peer)`` (rule S-1).

    A node is one process and owns its keys, so a process-local lock serialises every
    Δ-dependent check of a pair.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, int, int], asyncio.Lock] = {}

    def lock(self, key_id: str, epoch: int, peer: int) -> asyncio.Lock:
        """The lock of one pair."""
        return self._locks.setdefault((key_id, epoch, peer), asyncio.Lock())


async def run_sign(
    *,
    session: MeshSession,
    rec: KeyRecord,
    digest: bytes,
    signers: tuple[int, ...],
    signer: NodeSigner,
    rng: Rng,
    registry: KeyRegistry,
    locks: PairLocks,
    executor: Executor,
) -> EcdsaSignature:
    """Run one interactive DKLs23 signature at this node (every member of ``S`` does)."""
    presig = await run_presign(
        session=session,
        rec=rec,
        signers=signers,
        signer=signer,
        rng=rng,
        registry=registry,
        locks=locks,
        executor=executor,
    )
    return await run_online(
        session=session,
        rec=rec,
        presig=presig,
        digest=digest,
        signer=signer,
        executor=executor,
        registry=registry,
    )


async def run_presign(
    *,
    session: MeshSession,
    rec: KeyRecord,
    signers: tuple[int, ...],
    signer: NodeSigner,
    rng: Rng,
    registry: KeyRegistry,
    locks: PairLocks,
    executor: Executor,
) -> Presignature:
    """Rounds 1–2 (message-independent, §8.1–§8.3): a presignature bound to ``session.sid``."""
    loop = asyncio.get_running_loop()
    tr = tracing.session(PRESIGN, rec.party_id, session.sid, rec.key_id)

    async def cpu(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(executor, tr.cpu(fn), *args)

    me = rec.party_id
    others = [j for j in signers if j != me]
    refused = sorted(set(others) & rec.quarantined)
    if refused:
        raise FailedPrecondition(
            f"parties {refused} are quarantined for key {rec.key_id}", reason="PEER_QUARANTINED"
        )
    share = await registry.share(rec)
    pairs = await registry.pair_states(rec, others)
    s = SignSession(
        key_share=share,
        signers=signers,
        sid=session.sid,
        pairs={j: PairState(bob=b, alice=a) for j, (b, a) in pairs.items()},
        signer=signer,
        rng=rng,
    )
    async with _aborting(session, registry, rec, s):
        com, otes = await cpu(s.round1)
        await tr.wait("r1.send", asyncio.gather(session.broadcast(com), session.send(otes)))
        r1_com = await tr.wait("r1.collect", session.collect(ROUND_1, others, {MSG_R1_COM}))
        r1_ote = await tr.wait("r1.collect", session.collect(ROUND_1, others, {MSG_R1_OTE}))
        for j, check in await cpu(s.ot_checks, r1_ote, r1_com):
            async with locks.lock(rec.key_id, rec.epoch, j):
                if j in rec.quarantined:  # re-read under the lock: a ban may have just landed
                    raise FailedPrecondition(
                        f"the OT state with party {j} is banned", reason="PAIR_BANNED"
                    )
                try:
                    await cpu(check)
                except ProtocolAbort as exc:
                    await _ban(registry, rec, exc)
                    raise
        r2 = await cpu(s.round2, r1_com)
        await tr.wait("r2.send", session.send(r2))
        r2_in = await tr.wait("r2.collect", session.collect(ROUND_2, others, {MSG_R2}))
        try:
            presig: Presignature = await cpu(s.finish, r2_in)
        except ProtocolAbort as exc:
            if exc.abort_reason is not AbortReason.ECHO_MISMATCH:
                raise
            raise await _resolve_echo(session, s, others, cpu) from exc
    return presig


async def run_online(
    *,
    session: MeshSession,
    rec: KeyRecord,
    presig: Presignature,
    digest: bytes,
    signer: NodeSigner,
    executor: Executor,
    registry: KeyRegistry | None = None,
    message_bound: bool = True,
) -> EcdsaSignature:
    """Round 3 and finalisation (§8.4–§8.5): consumes ``presig`` and returns the signature.

    ``message_bound`` is False for a presignature made before the message was known: then a
    round-3 message mismatch names nobody (the coordinator may be at fault, §10.1 AMBIGUOUS).
    """
    loop = asyncio.get_running_loop()
    me = rec.party_id
    tr = tracing.session(PROTOCOL if message_bound else ONLINE, me, session.sid, rec.key_id)
    others = [j for j in presig.signers if j != me]
    async with _aborting(session, registry, rec, None):
        env3, partial = await loop.run_in_executor(
            executor, tr.cpu(lambda: round3(presig, digest, signer=signer), "round3")
        )
        await tr.wait("r3.send", session.broadcast(env3))
        r3 = await tr.wait("r3.collect", session.collect(ROUND_3, others, {MSG_R3}))
        sig: EcdsaSignature = await loop.run_in_executor(
            executor,
            tr.cpu(
                lambda: finalize(
                    partial,
                    {**r3, me: env3},
                    committee=rec.pkg.committee,
                    message_bound=message_bound,
                ),
                "finalize",
            ),
        )
    session.done = True
    return sig


@contextlib.asynccontextmanager
async def _aborting(
    session: MeshSession, registry: KeyRegistry | None, rec: KeyRecord, s: SignSession | None
) -> AsyncIterator[None]:
    """On any failure: zeroise, ban and quarantine a proven cheater, tell the peers (erratum 8)."""
    try:
        yield
    except ProtocolAbort as exc:
        if s is not None:
            s.abort()
        if registry is not None and _blames(exc):
            await _ban(registry, rec, exc)
        session.aborted = session.aborted or exc.abort_reason.value
        await session.notify_abort(classify(exc).value)
        raise
    except BaseException as exc:
        if s is not None:
            s.abort()
        # Tell the peers why in the terms of sessions.LIVENESS_ABORTS (a deadline, an unreachable
        # peer or Vault, a failed RNG), as the DKG does, so that whichever node noticed the fault
        # first, every node ends the session as the same kind of fault (NET-1, SIG-10).
        reason = exc.reason if isinstance(exc, WarifuError) else "ABORTED"
        session.aborted = session.aborted or reason
        await session.notify_abort(reason)
        raise


async def _resolve_echo(
    session: MeshSession,
    s: SignSession,
    others: list[int],
    cpu: Callable[..., Awaitable[Any]],
) -> ProtocolAbort:
    """§10.3: everyone discloses the R1_COM envelopes it saw; the verdict names the liar.

    Peers that did not see the mismatch themselves may not disclose (they stop on our abort
    notice); then the verdict is ECHO_MISMATCH with no culprit, never a guess.
    """
    await session.broadcast(await cpu(s.e1_disclosure))
    try:
        disclosed = await session.collect(ROUND_DISCLOSE, others, {MSG_E1_DISCLOSE})
    except (TransportError, FailedPrecondition):
        return ProtocolAbort(AbortReason.ECHO_MISMATCH, (), "peers did not disclose their view")
    verdict: ProtocolAbort = await cpu(s.resolve_echo, disclosed)
    return verdict


def _blames(exc: ProtocolAbort) -> bool:
    """Whether this abort bans and quarantines its culprits at this node.

    CHEAT-OT and CHEAT-FORMAT (§10.1), and a proven culprit of any other non-DROPPED class: with
    two signers a signature that does not verify is the peer's doing (§8.5, test-plan SIG-4), and
    DESIGN §3 quarantines every named culprit, so that it takes part in one run only (SIG-5).
    """
    cls = classify(exc)
    if cls in (AbortClass.CHEAT_OT, AbortClass.CHEAT_FORMAT):
        return True
    return bool(exc.culprits) and cls is not AbortClass.DROPPED


async def _ban(registry: KeyRegistry, rec: KeyRecord, exc: ProtocolAbort) -> None:
    """CHEAT-OT / CHEAT-FORMAT: ban the pair both ways and quarantine the culprit, durably."""
    culprits = set(pairs_to_ban(exc)) | set(exc.culprits)
    for j in sorted(culprits):
        if j == rec.party_id:
            continue
        await registry.ban_pair(rec, j, exc.abort_reason.value)
