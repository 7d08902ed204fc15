"""Mesh sessions: the inbox and the send/collect primitives a protocol driver awaits.

Spec: DESIGN §3; ``specs/shares.md`` §3 item 1 (check sid, round, from, to and length before
any cryptography); errata 9 (buffer at most one message per ``(sid, round, from)`` and message
type, per-round deadlines).

A session exists at a node only after the node accepted it (``Peer.Start`` or its own
coordinator); envelopes for unknown sessions are refused with ``UNKNOWN_SESSION`` and the sender
retries briefly, which covers the start-up race without buffering for strangers. An exact
duplicate is a no-op; a *different* second envelope for the same ``(round, from, type)`` is kept
as equivocation evidence and the first one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Collection, Iterable, Mapping
from typing import Any

from warifu.core.envelope import BROADCAST, Envelope
from warifu.core.errors import FailedPrecondition, InvalidArguments, TransportError
from warifu.node.transport import PeerTransport

log = logging.getLogger(__name__)

MAX_ENVELOPE_BYTES = 256 * 1024
#: Abort reasons that report a liveness fault (a peer or its Vault down or too slow): a session
#: aborted for one of them ends retryable (DEADLINE_EXCEEDED / UNAVAILABLE, DESIGN §5), never
#: FAILED_PRECONDITION, whichever node noticed the fault first.
LIVENESS_ABORTS = frozenset(
    {
        "DEADLINE_EXCEEDED",
        "PEER_UNAVAILABLE",
        "NOT_ENOUGH_SIGNERS",
        "START_FAILED",
        "VAULT_UNAVAILABLE",
        "VAULT_SEALED",
        "RNG_FAILURE",  # a member's RNG failed: it refuses, nobody is blamed (SIG-10)
        "LIVENESS",  # the DKLs23 notice class of a liveness abort (dkls23.md §10.1, erratum 8)
    }
)


class MeshSession:
    """One running mesh protocol at this node."""

    def __init__(
        self,
        *,
        sid: bytes,
        me: int,
        nodes: Mapping[int, str],
        transport: PeerTransport,
        round_timeout_s: float,
        max_round: int,
    ) -> None:
        self.sid = sid
        self.me = me
        self.nodes = dict(nodes)  # party id -> node name
        self._ids_by_node = {v: k for k, v in self.nodes.items()}
        self._transport = transport
        self._timeout = round_timeout_s
        self._max_round = max_round
        self._inbox: dict[tuple[int, int, str], Envelope] = {}
        self.conflicts: list[tuple[Envelope, Envelope]] = []
        self._changed = asyncio.Event()
        self._abort_event = asyncio.Event()
        self.aborted: str | None = None
        self.done = False

    # -- inbound ----------------------------------------------------------------------------

    def offer(self, env: Envelope, channel_node: str) -> None:
        """Accept one envelope from the peer authenticated as ``channel_node``.

        Header checks only (no cryptography): sender matches the TLS identity, addressed to us
        or broadcast, round in range, size bounded.
        """
        if self.aborted is not None or self.done:
            raise FailedPrecondition("session is finished", reason="WRONG_SESSION")
        sender = self._ids_by_node.get(channel_node)
        if sender is None or sender != env.sender:
            raise InvalidArguments(
                f"envelope sender {env.sender} is not the channel's node {channel_node}",
                reason="SENDER_MISMATCH",
            )
        if env.to not in (BROADCAST, self.me) or not 0 <= env.round <= self._max_round:
            raise InvalidArguments(
                "envelope header does not fit this session", reason="BAD_ENVELOPE"
            )
        if len(env.payload) > MAX_ENVELOPE_BYTES:
            raise InvalidArguments("envelope too large", reason="BAD_ENVELOPE")
        key = (env.round, env.sender, env.msg_type)
        prev = self._inbox.get(key)
        if prev is not None:
            if prev != env:
                self.conflicts.append((prev, env))
            return
        self._inbox[key] = env
        self._changed.set()

    def abort_notice(self, reason: str) -> None:
        """A peer told us the session aborted (errata 8): stop waiting and stop sending."""
        self.aborted = reason
        self._changed.set()
        self._abort_event.set()

    def _raise_if_aborted(self) -> None:
        """A peer's abort notice ends our part too: liveness stays liveness (never blame)."""
        if self.aborted in LIVENESS_ABORTS:
            raise TransportError(
                f"session aborted by a peer ({self.aborted})",
                reason="DEADLINE_EXCEEDED"
                if self.aborted == "DEADLINE_EXCEEDED"
                else "PEER_UNAVAILABLE",
            )
        if self.aborted is not None:
            raise FailedPrecondition(
                f"session aborted by a peer ({self.aborted})", reason="SESSION_ABORTED"
            )

    async def _until_aborted(self, sending: Awaitable[Any]) -> None:
        """Await ``sending`` unless an abort notice arrives first (then stop and raise)."""
        send = asyncio.ensure_future(sending)
        stop = asyncio.ensure_future(self._abort_event.wait())
        try:
            await asyncio.wait({send, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not send.done():
            send.cancel()
            with contextlib.suppress(BaseException):
                await send
            self._raise_if_aborted()
        send.result()

    def _find(self, round_: int, sender: int, types: Collection[str] | None) -> Envelope | None:
        for (r, s, t), env in self._inbox.items():
            if r == round_ and s == sender and (types is None or t in types):
                return env
        return None

    async def collect(
        self, round_: int, senders: Iterable[int], msg_types: Collection[str] | None = None
    ) -> dict[int, Envelope]:
        """Wait for one envelope of ``round_`` (of one of ``msg_types``) from every sender.

        Raises TransportError(DEADLINE_EXCEEDED) at the round deadline, naming who is missing.
        """
        want = sorted(set(senders))
        deadline = time.monotonic() + self._timeout
        while True:
            self._raise_if_aborted()
            got = {s: self._find(round_, s, msg_types) for s in want}
            missing = [s for s, e in got.items() if e is None]
            if not missing:
                return {s: e for s, e in got.items() if e is not None}
            left = deadline - time.monotonic()
            if left <= 0:
                names = ", ".join(self.nodes.get(s, str(s)) for s in missing)
                raise TransportError(
                    f"round {round_}: no message from {names} before the deadline",
                    reason="DEADLINE_EXCEEDED",
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=left)
            except TimeoutError:
                continue

    # -- outbound ---------------------------------------------------------------------------

    async def _deliver(self, party: int, env: Envelope) -> None:
        node = self.nodes[party]
        deadline = time.monotonic() + self._timeout
        delay = 0.01
        while True:
            try:
                await self._transport.deliver(node, env, timeout=self._timeout)
                return
            except FailedPrecondition as exc:
                if exc.reason == "WRONG_SESSION":
                    # The peer has already ended this session (it aborted). Drop the message:
                    # its abort notice, or else the round deadline, ends ours with the reason
                    # the peer gave, not with whichever of the two reached us first.
                    log.info("%s ended session %s: %s", node, self.sid.hex()[:16], exc)
                    return
                # The peer has not registered the session yet (start-up race): retry briefly.
                if exc.reason != "UNKNOWN_SESSION" or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def broadcast(self, env: Envelope) -> None:
        """Send one broadcast envelope to every other member (identical bytes)."""
        self._inbox[(env.round, self.me, env.msg_type)] = env
        await self._until_aborted(
            asyncio.gather(*(self._deliver(p, env) for p in self.nodes if p != self.me))
        )

    async def send(self, envs: Mapping[int, Envelope]) -> None:
        """Send P2P envelopes, one per recipient."""
        await self._until_aborted(
            asyncio.gather(*(self._deliver(p, e) for p, e in envs.items() if p != self.me))
        )

    async def notify_abort(self, reason: str) -> None:
        """Best-effort ABORT notice to every other member."""

        async def one(p: int) -> None:
            try:
                await self._transport.abort(self.nodes[p], self.sid, reason, timeout=2.0)
            except Exception as exc:
                log.info("abort notice to %s not delivered: %s", self.nodes[p], exc)

        await asyncio.gather(*(one(p) for p in self.nodes if p != self.me))
