"""The DKG session at one node: drives ``warifu.core.shares.dkg.DkgParty`` over the mesh.

Spec: ``specs/shares.md`` §4 (rounds D0–D2), §9.2 (prepare/switch/discard) and §10 (two-phase
commit, reduced to what a fresh key needs: ``e_old = 0``, nothing to retain or destroy).

Round schedule (every member runs the same code; the coordinator is just the member that
received ``CreateKey``):

====  ==========================  ==========================================================
0     D0 broadcast                commitment ``cm_i`` to the D1 payload
1     D1 broadcast                commitments, PoK, salt, echo of D0
2     D2 P2P                      ``f_i(j)`` with the echo of D1
3     ACK or COMPLAINT broadcast  ACK only after PENDING (``epoch/1`` + CREATING state) is
                                  durable in the node's Vault
4     DONE broadcast              after the switch CAS (``cert/1`` + ACTIVE state)
10-14 VSOT V1..V5 P2P             secp256k1 only: one base-OT setup per ordered pair
                                  (``dkls23.md`` §4, §7), after D2 and before PENDING, so the
                                  pairwise OT state is part of the same epoch record and ACK
====  ==========================  ==========================================================

Any abort before the switch discards: ``epoch/1`` is destroyed (all versions) and the state doc
deleted, so an aborted ceremony leaves no share anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from typing import Any, TypeVar

from warifu.core.curves import Group
from warifu.core.encoding import h
from warifu.core.envelope import Envelope, NodeSigner
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot.vsot import VsotAlice, VsotBob, ot_setup_id
from warifu.core.rng import Rng
from warifu.core.shares.dkg import DkgParty
from warifu.core.shares.package import Committee
from warifu.node import tracing
from warifu.node.ecdsa_state import encode_pair_state
from warifu.node.keys import KeyRecord, KeyRegistry
from warifu.node.sessions import MeshSession

log = logging.getLogger(__name__)

T = TypeVar("T")

ROUND_ACK = 3
ROUND_DONE = 4
ROUND_VSOT = (10, 11, 12, 13, 14)
MAX_ROUND = ROUND_VSOT[-1]


async def run_dkg(
    *,
    session: MeshSession,
    group: Group,
    key_id: bytes,
    committee: Committee,
    threshold: int,
    signer: NodeSigner,
    rng: Rng,
    registry: KeyRegistry,
    executor: Executor,
    meta: Mapping[str, Any],
    party_out: list[DkgParty] | None = None,
) -> KeyRecord:
    """Run the whole DKG at this node; returns the committed key or raises (after discarding)."""
    loop = asyncio.get_running_loop()

    async def cpu(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(executor, tr.cpu(fn), *args)

    me = session.me
    tr = tracing.session(f"dkg-{group.name}", me, session.sid, str(uuid.UUID(bytes=key_id)))
    others = [m.id for m in committee.members if m.id != me]
    party = DkgParty(
        group=group,
        key_id=key_id,
        committee=committee,
        threshold=threshold,
        me=me,
        sid=session.sid,
        signer=signer,
        rng=rng,
    )
    if party_out is not None:
        party_out.append(party)
    key_uuid = str(uuid.UUID(bytes=key_id))
    written = switched = False
    try:
        d0 = await cpu(party.round0)
        await tr.wait("d0.send", session.broadcast(d0))
        d1 = await cpu(party.round1, await tr.wait("d0.collect", session.collect(d0.round, others)))
        await tr.wait("d1.send", session.broadcast(d1))
        d2 = await cpu(party.round2, await tr.wait("d1.collect", session.collect(d1.round, others)))
        await tr.wait("d2.send", session.send(d2))
        r2_round = next(iter(d2.values())).round
        result = await cpu(
            party.round3, await tr.wait("d2.collect", session.collect(r2_round, others))
        )
        if result.complaint is not None:
            await session.broadcast(result.complaint)
            await cpu(party.conclude, await session.collect(result.complaint.round, others))
            raise AssertionError("conclude must raise after a complaint")  # pragma: no cover
        share = result.output
        assert share is not None
        ot_state = None
        if group.name == "secp256k1":
            ot_state = await run_vsot(session, committee, signer, rng, cpu)
        version = await tr.wait(
            "vault.write_pending",
            registry.write_pending(
                share, {**meta, "kind": "dkg", "sid": session.sid.hex()}, ot_state
            ),
        )
        written = True
        ack = await cpu(party.ack)
        await tr.wait("ack.send", session.broadcast(ack))
        cert = await cpu(
            party.conclude, await tr.wait("ack.collect", session.collect(ack.round, others))
        )
        cert_bytes = cert.encode()
        await tr.wait(
            "vault.commit",
            registry.commit(
                key_uuid, share.pkg.epoch, cert_bytes, h("ack", cert_bytes).hex(), version
            ),
        )
        switched = True
        done = await cpu(party.done)
        await session.broadcast(done)
        return registry.get(key_uuid)
    except BaseException as exc:
        if switched:
            # Committed with a certificate: the key is ours even if DONE was not delivered.
            log.warning("DKG %s committed but DONE not delivered: %s", key_uuid, exc)
            return registry.get(key_uuid)
        session.aborted = session.aborted or type(exc).__name__
        if written:
            try:
                await registry.discard(key_uuid, 1)
            except Exception as gc_exc:  # the orphan is destroyed at the next start-up
                log.error("could not discard the pending DKG share of %s: %s", key_uuid, gc_exc)
        await session.notify_abort(getattr(exc, "reason", "ABORTED"))
        raise


async def run_vsot(
    session: MeshSession,
    committee: Committee,
    signer: NodeSigner,
    rng: Rng,
    cpu: Callable[..., Awaitable[Any]],
) -> dict[int, bytes]:
    """VSOT with every peer in both directions (``dkls23.md`` §4, §7.2); returns the pair states.

    For each peer ``j``: this node is Bob (base-OT sender) of ``(me←j)`` and Alice of ``(j←me)``.
    All pairs advance in lock step, so in each of the five rounds a node sends exactly one
    envelope to each peer. Any failure aborts the ceremony naming the peer (rule V-F: nothing
    of a failed setup is kept).
    """
    me, sid = session.me, session.sid
    tr = tracing.session("vsot", me, sid)
    peers = [m.id for m in committee.members if m.id != me]
    bobs = {j: VsotBob(osid=ot_setup_id(sid, me, j), peer=j, rng=rng) for j in peers}
    alices = {j: VsotAlice(osid=ot_setup_id(sid, j, me), peer=j, rng=rng) for j in peers}
    steps: list[Callable[[int, bytes], bytes]] = [
        lambda j, _p: bobs[j].v1(),
        lambda j, p: alices[j].v2(p),
        lambda j, p: bobs[j].v3(p),
        lambda j, p: alices[j].v4(p),
        lambda j, p: bobs[j].v5(p),
    ]
    inbound: dict[int, bytes] = dict.fromkeys(peers, b"")
    for k, (step, round_) in enumerate(zip(steps, ROUND_VSOT, strict=True)):
        msg_type = f"vsot/v{k + 1}"

        def build(
            step: Callable[[int, bytes], bytes] = step,
            round_: int = round_,
            msg_type: str = msg_type,
        ) -> dict[int, Envelope]:
            return {
                j: signer.sign(
                    Envelope(
                        sid=sid,
                        round=round_,
                        sender=me,
                        to=j,
                        msg_type=msg_type,
                        payload=step(j, inbound[j]),
                    )
                )
                for j in peers
            }

        await tr.wait(f"{msg_type}.send", session.send(await cpu(build)))
        got = await tr.wait(f"{msg_type}.collect", session.collect(round_, peers, {msg_type}))
        for j, env in got.items():
            if env.to != me:
                raise ProtocolAbort(
                    AbortReason.BAD_ENVELOPE, {j}, "VSOT envelope not addressed to us"
                )
            try:
                env.verify(committee.member(j).sign_pub)
            except InvalidArguments as exc:
                raise ProtocolAbort(
                    AbortReason.BAD_ENVELOPE, (), "VSOT envelope signature invalid"
                ) from exc
            inbound[j] = env.payload

    def finish() -> dict[int, bytes]:
        return {j: encode_pair_state(bobs[j].output(), alices[j].finish(inbound[j])) for j in peers}

    states: dict[int, bytes] = await cpu(finish)
    return states


async def await_done(session: MeshSession, party: DkgParty, committee: Committee) -> None:
    """Coordinator: wait for every member's DONE (the done certificate): all have switched."""
    others = [m.id for m in committee.members if m.id != session.me]
    party.collect_done(await session.collect(ROUND_DONE, others))
    session.done = True
