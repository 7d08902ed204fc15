"""The refresh ceremony at one node: ``core.shares.refresh.RefreshParty`` driven over the mesh.

Spec: ``specs/shares.md`` §5 (refresh), §9.2 (prepare / switch / destroy), §10 (two-phase
commit), ``specs/dkls23.md`` §7 (new pairwise OT state at every epoch), DESIGN §8 (approvals).

Every committee member runs :func:`run_refresh` (the coordinator is just the member that
received ``Ceremony.Refresh``); each has checked the approvals itself before it got here.

========  =====================================  ===========================================
round     message                                then
========  =====================================  ===========================================
0         F1 broadcast (zero-polynomial points)
1         F2 P2P (δ) with the echo of F1
—         Feldman checks; new share at ``e+1``
10–14     VSOT V1..V5 (secp256k1 only)           fresh OT state for every pair at ``e+1``
—         PENDING: ``epoch/<e+1>`` + ``state.pending``
2         ACK (or COMPLAINT) broadcast           commit certificate = every member's ACK
—         switch: ``cert/<e+1>``, state CAS      ``ACTIVE(e+1)``, ``retained_epoch = e``
3         DONE broadcast                         done certificate = every member's DONE
—         destroy ``epoch/<e>`` (all versions)   ``retained_epoch = null``
========  =====================================  ===========================================

An abort before the switch destroys ``epoch/<e+1>`` and leaves every node on ``e``. Once a node
has switched it stays on ``e+1``; without a done certificate it keeps ``e`` (retained, unused
for signing) so that some epoch always has a signing quorum (§10.2 rule 5).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from warifu.core.approvals import CeremonyStatement
from warifu.core.envelope import NodeSigner
from warifu.core.rng import Rng
from warifu.core.shares.refresh import RefreshParty
from warifu.node.dkg import run_vsot
from warifu.node.keys import KeyRecord, KeyRegistry
from warifu.node.sessions import MeshSession

log = logging.getLogger(__name__)

T = TypeVar("T")

KIND = "refresh"
MAX_ROUND = 14


@dataclass(slots=True)
class CeremonyRun:
    """What a node remembers of one ceremony (``Ceremony.Status``)."""

    sid: bytes
    kind: str
    key_id: str
    epoch_from: int
    epoch_to: int
    status: str = "IN_FLIGHT"
    phase: str = "started"
    reason: str = ""
    started: float = field(default_factory=time.time)
    phases: list[tuple[str, float]] = field(default_factory=list)


async def run_refresh(
    *,
    session: MeshSession,
    rec: KeyRecord,
    stmt: CeremonyStatement,
    request_id: bytes,
    coord_nonce: bytes,
    signer: NodeSigner,
    rng: Rng,
    registry: KeyRegistry,
    executor: Executor,
    run: CeremonyRun,
) -> KeyRecord:
    """Run the whole refresh at this node: the key at ``e+1``, or raise (after discarding)."""
    loop = asyncio.get_running_loop()

    async def cpu(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(executor, fn, *args)

    t_phase = time.monotonic()

    def phase(name: str) -> None:
        nonlocal t_phase
        now = time.monotonic()
        run.phases.append((run.phase, now - t_phase))
        run.phase, t_phase = name, now

    me = rec.party_id
    others = [k for k in stmt.committee.ids if k != me]
    e_old = rec.epoch
    share = await registry.share(rec)
    party = RefreshParty(
        share=share,
        request=stmt,
        request_id=request_id,
        coord_nonce=coord_nonce,
        signer=signer,
        rng=rng,
    )
    prepared = switched = False
    rec.status = "TRANSITIONING"  # signing pauses during the ceremony (shares.md §10.4)
    try:
        phase("round F1")
        f1 = await cpu(party.round0)
        await session.broadcast(f1)
        in1 = await session.collect(f1.round, others, {f1.msg_type})
        phase("round F2")
        f2 = await cpu(party.round1, in1)
        await session.send(f2)
        any_f2 = next(iter(f2.values()))
        result = await cpu(
            party.round2, await session.collect(any_f2.round, others, {any_f2.msg_type})
        )
        ack_types = {RefreshParty.MSG_ACK, RefreshParty.MSG_COMPLAINT}
        if result.complaint is not None:
            await session.broadcast(result.complaint)
            await cpu(
                party.conclude, await session.collect(RefreshParty.ROUND_ACK, others, ack_types)
            )
            raise AssertionError("conclude must raise after a complaint")  # pragma: no cover
        new_share = result.output
        assert new_share is not None
        ot_state = None
        if rec.curve == "secp256k1":
            phase("pairwise OT setup")
            ot_state = await run_vsot(session, stmt.committee, signer, rng, cpu)
        phase("prepare (PENDING)")
        await registry.prepare_epoch(rec, new_share, ot_state, session.sid.hex(), KIND)
        prepared = True
        phase("ACK")
        ack = await cpu(party.ack)
        await session.broadcast(ack)
        cert = await cpu(party.conclude, await session.collect(ack.round, others, ack_types))
        phase("switch")
        new_rec = await registry.switch_epoch(rec, new_share.pkg.epoch, cert.encode(), stmt.nonce)
        switched = True
        phase("DONE")
        done = await cpu(party.done)
        await session.broadcast(done)
        await cpu(party.collect_done, await session.collect(done.round, others, {done.msg_type}))
        phase("destroy old epoch")
        await registry.destroy_retained(new_rec, e_old)
        phase("committed")
        run.status = "COMMITTED"
        session.done = True
        return new_rec
    except BaseException as exc:
        run.reason = getattr(exc, "reason", type(exc).__name__)
        if switched:
            # Committed: the new epoch stands; the old one is kept until a done certificate.
            log.warning("refresh of %s committed but not finished: %s", rec.key_id, exc)
            run.status = "COMMITTED"
            session.done = True
            return registry.get(rec.key_id)
        run.status = "ABORTED"
        session.aborted = session.aborted or run.reason
        if prepared:
            try:
                await registry.discard_pending(rec, e_old + 1)
            except Exception as gc_exc:  # destroyed again at the next start-up
                log.error("could not discard the pending epoch of %s: %s", rec.key_id, gc_exc)
        rec.status = "ACTIVE"
        await session.notify_abort(run.reason)
        raise
