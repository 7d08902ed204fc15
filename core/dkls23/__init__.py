"""DKLs23 threshold ECDSA (secp256k1): 3-round signing with presignatures.

Spec: ``specs/dkls23.md`` §0–§3, §8–§14; errata 7, 8, 9, 21. Paper: DKLs23, ePrint 2023/765,
Protocol 3.6. The OT layer (VSOT, OT extension, RVOLE) is :mod:`warifu.core.ot`.

Pure and synchronous: no I/O, no clock, no threads, randomness injected. Every call may run in
an executor thread (numpy releases the GIL in the OT matrix work). A session object is not
thread-safe; different sessions are independent.

Call sequence (one party ``i``; the node does all I/O)::

    s = SignSession(key_share=, signers=S, sid=, pairs={j: PairState(bob=, alice=)}, signer=, rng=)
    com, otes = s.round1()                    # R1_COM (to=0) + {j: R1_OTE_{i→j}}  (I am Bob)
    s.screen(channel_peer, env)               # on every arrival: DROPPED class -> drop it
    for j, check in s.ot_checks(r1_ote, r1_com):   # ascending j
        with pair_lock(key, epoch, j):        # rule S-1: re-read status, run, ban before release
            check()                           # OT_CONSISTENCY_FAILED -> BANNED (both directions)
    r2 = s.round2(r1_com)                     # {j: R2_{i→j}}  (I am Alice with (r_i, sk_i))
    presig = s.finish(r2_in)                  # checks a–f; -> Presignature (memory only)
    # ECHO_MISMATCH from finish: broadcast s.e1_disclosure(), then s.resolve_echo(disclosures).
    # A peer that did not see the mismatch must still answer with its e1_disclosure(): the
    # round-1 view is kept after finish() and after an abort for exactly this.
    env3, partial = round3(presig, m, signer=) # §8.4, consumes presig; R3 (to=0)
    sig = finalize(partial, r3_all_incl_own, committee=)   # §8.5 -> EcdsaSignature(r, s, recid)

Presign mode: run ``SignSession`` with ``sid_k = presign_sid(sid, k)``, keep each
:class:`Presignature` in a :class:`PresignatureStore`, and later ``round3(store.take(sid_k), m,
…)`` and ``finalize(…, message_bound=False)``.

Public API (exact signatures)::

    PairState(bob: BobSeeds, alice: AliceSeeds)   # bob: setup (me←j), alice: setup (j←me)
    SignSession(*, key_share, signers, sid, pairs, signer, rng)
        .round1() -> tuple[Envelope, dict[int, Envelope]]
        .screen(channel_peer: int, env: Envelope) -> None
        .ot_checks(r1_ote, r1_com=None) -> list[tuple[int, Callable[[], None]]]
        .round2(r1_com, r1_ote=None) -> dict[int, Envelope]
        .finish(r2) -> Presignature
        .e1_disclosure() -> Envelope
        .resolve_echo(disclosures: Mapping[int, Envelope]) -> ProtocolAbort
        .abort() -> None;  .phase, .holds_secrets, .me, .sid, .signers
    Presignature: .consume() -> (φ_i, u_i, v_i) once; .discard(); .consumed; .sid .key_id .epoch
        .signers .me .big_r .pk .e2
    round3(presig, digest, *, signer, pk=None, me=None) -> tuple[Envelope, PartialSignature]
    finalize(partial, r3, *, committee, message_bound=True) -> EcdsaSignature
    presign_sid(sid, k) -> bytes
    PresignatureStore(limit_per_key=64): put(ps, expires_at=), take(sid), discard(sid),
        drop_key(key_id), expire(now), clear()
    classify(exc) -> AbortClass;  pairs_to_ban(exc) -> frozenset[int];  is_dropped(exc) -> bool
    EcdsaSignature(r, s, recid): .compact() .recoverable() .der()

Errors: ``InvalidArguments`` (caller: wrong phase, missing envelopes, bad digest length),
``FailedPrecondition`` (no usable OT state with a peer: missing or banned; a check of an aborted
session), ``InvalidKeyShare`` (``SHARE_INTEGRITY``: ``x_i·G ≠ X_i`` or ``Σλ_kX_k ≠ PK``),
``AlreadyConsumed`` (reason ``PRESIG_UNKNOWN_OR_CONSUMED``), ``ProtocolAbort`` (reason and
culprits of §10; :func:`classify` gives the class; DROPPED leaves the session alive).

Notation (``specs/dkls23.md`` §1)
=====================  ===================================================================
``S``, ``t``           signing set (ascending), threshold
``x_i``, ``X_i``       Shamir share and its public verification share
``λ_i``                Lagrange coefficient at 0 over ``S``
``sk_i``, ``pk_i``     ``λ_i·x_i`` and ``λ_i·X_i`` (computed locally, never sent: §12 D1)
``r_i``, ``R_i``       nonce share, ``R_i = r_i·G``; ``R = Σ R_k``
``φ_i``                inversion mask share
``RVOLE(i←j)``         Bob ``= P_i`` (random input ``χ_ij``), Alice ``= P_j`` (input
                       ``(r_j, sk_j)``); outputs ``c_ji`` (Alice), ``d_ij`` (Bob)
``Γu_ij, Γv_ij``       ``cu_ij·G``, ``cv_ij·G`` (sent by P_i as Alice of ``RVOLE(j←i)``)
``ψ_ij``               ``φ_i − χ_ij``
``E1``, ``E2``         echo digests of the round-1 commitments / round-2 points
``u_i``, ``v_i``       presignature shares, ``Σu = r·φ``, ``Σv = x·φ``
``δ``, ``R'``          re-randomiser ``HS(rerand, sid, R, PK, m)``, ``R' = R + δ·G``
``u'_i``, ``w_i``      ``u_i + δ·φ_i``, ``e_m·φ_i + r_x·v_i``; ``s = Σw / Σu'``
=====================  ===================================================================

Departures (beyond ``specs/dkls23.md`` §12, which this code follows):
    1. ``E1`` disclosure (§10.3 step 1) has a wire form, ``E1_DISCLOSE`` (:mod:`.wire`), and a
       malformed signed disclosure makes the discloser the culprit (:mod:`.echo`).
    2. An ``E2`` mismatch in round 3 names its sender directly (:func:`finalize`): after the
       round-2 checks b and c passed at this party, an honest peer's ``E2`` equals ours.
    3. ``ot_checks`` takes ``r1_com`` optionally so that every public round-1 check precedes the
       first ``Δ``-dependent one; ``round2``'s ``r1_ote`` is optional (it must be the same).
    4. ``MESSAGE_MISMATCH`` names the sender only with ``message_bound=True`` (interactive).
    5. The presignature carries no ``created_at`` (``core`` has no clock); the store takes
       ``expires_at`` from the node.

Timing: ``r_i``, ``φ_i``, ``sk_i`` and the presignature enter variable-time Python integer
arithmetic; point multiplications run in libsecp256k1. Python ints cannot be wiped: secrets are
dropped when no longer needed (§2.4), byte buffers are overwritten.
"""

from warifu.core.dkls23.aborts import AbortClass, classify, pairs_to_ban
from warifu.core.dkls23.ecdsa import EcdsaSignature
from warifu.core.dkls23.signing import (
    MAX_PRESIGN_BATCH,
    PairState,
    PartialSignature,
    Presignature,
    SignSession,
    finalize,
    presign_sid,
    round3,
)
from warifu.core.dkls23.store import PresignatureStore
from warifu.core.dkls23.wire import is_dropped

__all__ = [
    "MAX_PRESIGN_BATCH",
    "AbortClass",
    "EcdsaSignature",
    "PairState",
    "PartialSignature",
    "Presignature",
    "PresignatureStore",
    "SignSession",
    "classify",
    "finalize",
    "is_dropped",
    "pairs_to_ban",
    "presign_sid",
    "round3",
]
