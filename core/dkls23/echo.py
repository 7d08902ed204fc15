"""Echo digests ``E1``/``E2`` and the resolution of an ``E1`` mismatch.

Spec: ``specs/dkls23.md`` §8.2 step 2 (``E1``), §8.3 step 5 (``E2``), §10.3 (resolving an echo
mismatch), §12 D8.

Resolution of an ``E1`` mismatch (§10.3), as warifu runs it:

1. Every party that saw the mismatch (and every party asked to) broadcasts one
   ``E1_DISCLOSE`` envelope (:func:`disclosure_payload`): the ``R1_COM`` payload and node
   signature it received from every ``k ∈ S``, own included, in ascending ``k``. Each entry
   re-forms a complete signed envelope.
2. :func:`resolve_e1_mismatch`, with every party's signed ``E1`` claim (the ``R2`` envelopes we
   received, plus our own ``E1``) and every disclosure we received, returns the verdict:

   - two validly signed, different ``R1_COM`` from ``k`` (anywhere: our view or any disclosure)
     → ``EQUIVOCATION``, culprit ``k``, evidence the two envelopes;
   - else a party whose disclosure is not a validly signed ``E1_DISCLOSE`` of the right length,
     or contains an entry ``k`` did not sign, or whose signed ``E1`` differs from the ``E1`` of
     its own disclosure → ``ECHO_MISMATCH``, culprit that party, evidence its ``R2`` and
     disclosure;
   - else → ``ECHO_MISMATCH``, no culprit (a party that did not disclose is a suspect, named
     in the message only).

Departures: a malformed disclosure counts as a lie (culprit) rather than a refusal, because the
disclosure is signed: it is evidence by itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from warifu.core.encoding import enc_list, h, u16be
from warifu.core.envelope import BROADCAST, Envelope
from warifu.core.errors import AbortReason, ProtocolAbort
from warifu.core.shares.evidence import encode_evidence

from .wire import (
    DIGEST_LEN,
    DISCLOSE_ENTRY_LEN,
    MSG_E1_DISCLOSE,
    MSG_R1_COM,
    R1_COM_LEN,
    R2_LEN,
    ROUND_1,
    ROUND_DISCLOSE,
    Router,
    sig_ok,
)

#: Offset of ``E1`` inside an ``R2`` payload (``R ‖ salt ‖ Γu ‖ Γv ‖ ψ ‖ E1 ‖ …``).
R2_E1_OFFSET = 33 + 32 + 33 + 33 + 32


def echo1(sid: bytes, commitments: Mapping[int, bytes]) -> bytes:
    """``E1 = H(echo1, sid, LIST(u16be(k) ‖ Com_k for k ∈ S ascending))``."""
    return h(
        "dkls23/echo1",
        sid,
        enc_list(u16be(k) + commitments[k] for k in sorted(commitments)),
    )


def echo2(sid: bytes, e1: bytes, points: Mapping[int, bytes]) -> bytes:
    """``E2 = H(echo2, sid, E1, LIST(u16be(k) ‖ ser(R_k) for k ∈ S ascending))``."""
    return h(
        "dkls23/echo2",
        sid,
        e1,
        enc_list(u16be(k) + points[k] for k in sorted(points)),
    )


def disclosure_payload(signers: Sequence[int], view: Mapping[int, Envelope]) -> bytes:
    """``Com_k ‖ sig_k`` for every ``k ∈ S`` ascending, from the ``R1_COM`` envelopes ``view``."""
    return b"".join(view[k].payload + view[k].signature for k in sorted(signers))


def _r1_com(sid: bytes, sender: int, payload: bytes, sig: bytes) -> Envelope:
    return Envelope(
        sid=sid,
        round=ROUND_1,
        sender=sender,
        to=BROADCAST,
        msg_type=MSG_R1_COM,
        payload=payload,
        signature=sig,
    )


def resolve_e1_mismatch(
    *,
    router: Router,
    own_view: Mapping[int, Envelope],
    claims: Mapping[int, Envelope],
    disclosures: Mapping[int, Envelope],
) -> ProtocolAbort:
    """The verdict of §10.3 for an ``E1`` mismatch (module docstring); returned, not raised.

    ``own_view``: the ``R1_COM`` envelopes we received, own included. ``claims``: the ``R2``
    envelope each peer sent us (its signed ``E1``). ``disclosures``: the ``E1_DISCLOSE``
    envelope of each peer that disclosed (keyed by the authenticated sender).
    """
    sid, signers = router.sid, router.signers
    # 1. every validly signed R1_COM anywhere, per sender
    seen: dict[int, dict[bytes, Envelope]] = {k: {} for k in signers}
    for k, env in own_view.items():
        seen[k].setdefault(env.payload, env)
    liars: dict[int, bytes] = {}
    disclosed_views: dict[int, dict[int, bytes]] = {}
    for p in sorted(disclosures):
        d = disclosures[p]
        if p not in router.peers:
            continue
        ok = (
            d.sender == p
            and d.sid == sid
            and d.round == ROUND_DISCLOSE
            and d.msg_type == MSG_E1_DISCLOSE
            and d.to == BROADCAST
            and sig_ok(d, router.pub(p))
        )
        if not ok:
            continue  # unverifiable: proves nothing, treated as no disclosure
        if len(d.payload) != len(signers) * DISCLOSE_ENTRY_LEN:
            liars[p] = encode_evidence([d])
            continue
        coms: dict[int, bytes] = {}
        for idx, k in enumerate(signers):
            entry = d.payload[idx * DISCLOSE_ENTRY_LEN : (idx + 1) * DISCLOSE_ENTRY_LEN]
            payload, sig = entry[:R1_COM_LEN], entry[R1_COM_LEN:]
            env = _r1_com(sid, k, payload, sig)
            if not sig_ok(env, router.pub(k)):
                liars[p] = encode_evidence([d])
                break
            seen[k].setdefault(payload, env)
            coms[k] = payload
        else:
            disclosed_views[p] = coms
    equivocators = {k: v for k, v in seen.items() if len(v) > 1}
    if equivocators:
        return ProtocolAbort(
            AbortReason.EQUIVOCATION,
            equivocators,
            f"parties {sorted(equivocators)} signed two different R1_COM broadcasts",
            evidence={k: encode_evidence(list(v.values())[:2]) for k, v in equivocators.items()},
        )
    # 2. a party whose signed E1 contradicts its own disclosure
    for p, coms in disclosed_views.items():
        claim = claims.get(p)
        if claim is None or len(claim.payload) != R2_LEN:
            continue
        claimed = claim.payload[R2_E1_OFFSET : R2_E1_OFFSET + DIGEST_LEN]
        if not hmac.compare_digest(claimed, echo1(sid, coms)):
            liars[p] = encode_evidence([claim, disclosures[p]])
    if liars:
        return ProtocolAbort(
            AbortReason.ECHO_MISMATCH,
            liars,
            f"parties {sorted(liars)} signed an E1 or a disclosure contradicting their own view",
            evidence=liars,
        )
    silent = sorted(set(router.peers) - set(disclosed_views))
    return ProtocolAbort(
        AbortReason.ECHO_MISMATCH,
        (),
        "round-1 commitments differ between parties and no one is provably at fault"
        + (f"; suspects (no disclosure): {silent}" if silent else ""),
    )
