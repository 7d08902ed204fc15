"""DKLs23 three-round threshold ECDSA signing on secp256k1, with presignatures.

Spec: ``specs/dkls23.md`` §8 (rounds, checks a–f, presignature, round 3, finalisation, modes),
§9 (use-once state), §10 (aborts), §11.1 (sizes), §12 D1/D2/D8 (departures from the paper),
§13 (implementation rules); errata 7 (``R' = O``), 8 (abort notice), 9 (layouts), 21 (who
finalises). Paper: DKLs23, ePrint 2023/765, Protocol 3.6.

See the package docstring (:mod:`warifu.core.dkls23`) for the call sequence and the
notation; :mod:`.wire` for the payload layouts and the envelope screen.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from warifu.core.curves import Point
from warifu.core.encoding import h, hs, u16be, u32be
from warifu.core.envelope import BROADCAST, Envelope, NodeSigner
from warifu.core.errors import (
    AbortReason,
    AlreadyConsumed,
    FailedPrecondition,
    InvalidArguments,
    InvalidKeyShare,
    InvariantViolation,
    ProtocolAbort,
)
from warifu.core.ot.rvole import OTE2_LEN, RvoleAlice, RvoleBob, pair_session_id
from warifu.core.ot.vsot import AliceSeeds, BobSeeds
from warifu.core.rng import Rng, random_nonzero_scalar
from warifu.core.shares.package import Committee, KeyShare, check_party_ids, lagrange_at_zero

from .ecdsa import (
    EcdsaSignature,
    normalise_low_s,
    recovery_id,
    verify_with_libsecp256k1,
    x_coordinate,
)
from .echo import disclosure_payload, echo1, echo2, resolve_e1_mismatch
from .wire import (
    GROUP,
    MSG_E1_DISCLOSE,
    MSG_R1_COM,
    MSG_R1_OTE,
    MSG_R2,
    MSG_R3,
    R1_COM_LEN,
    R1_OTE_LEN,
    R2_LEN,
    ROUND_1,
    ROUND_2,
    ROUND_3,
    ROUND_DISCLOSE,
    SALT_LEN,
    SID_LEN,
    Q,
    Round2Message,
    Round3Message,
    Router,
    bad_length,
    evidence_of,
    is_dropped,
)

#: Presign batches hold at most this many presignatures (§8.6 "Batches", "Limits").
MAX_PRESIGN_BATCH = 64
DIGEST_LEN = 32


def presign_sid(sid: bytes, k: int) -> bytes:
    """``sid_k = H("warifu/v1/dkls23/presig-sid", sid, u32be(k))`` (§8.6 "Batches")."""
    if len(sid) != SID_LEN:
        raise InvalidArguments("sid must be 32 bytes")
    if not 0 <= k < MAX_PRESIGN_BATCH:
        raise InvalidArguments(f"presignature index must be 0..{MAX_PRESIGN_BATCH - 1}")
    return h("dkls23/presig-sid", sid, u32be(k))


def commitment(sid: bytes, party: int, big_r: bytes, salt: bytes) -> bytes:
    """``Com_i = H("warifu/v1/dkls23/com-R", sid, u16be(i), ser(R_i), salt_i)`` (§8.1)."""
    return h("dkls23/com-R", sid, u16be(party), big_r, salt)


def rerandomiser(sid: bytes, big_r: Point, pk: Point, digest: bytes) -> int:
    """``δ = HS("warifu/v1/dkls23/rerand", sid, ser(R), ser(PK), m)`` (§8.4 step 3)."""
    return hs("dkls23/rerand", Q, sid, GROUP.encode_point(big_r), GROUP.encode_point(pk), digest)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PairState:
    """This party's long-lived OT state with one peer ``j`` (§7.3). Secret; repr redacted.

    ``bob``: the seeds of ``RVOLE(me←j)`` (I am Bob, the base-OT sender of that setup);
    ``alice``: the seeds of ``RVOLE(j←me)`` (I am Alice, holding ``Δ``). The node passes a pair
    only when its status is ``OK`` (never after a ban, erratum 11).
    """

    bob: BobSeeds
    alice: AliceSeeds

    def __post_init__(self) -> None:
        if not isinstance(self.bob, BobSeeds) or not isinstance(self.alice, AliceSeeds):
            raise InvalidArguments("PairState needs (BobSeeds, AliceSeeds), in that order")
        if self.bob.osid == self.alice.osid:
            raise InvalidArguments("the two directions of a pair come from different setups")

    def __repr__(self) -> str:
        return "PairState(<redacted>)"


class Presignature:
    """``PS_i = {sid, key_id, e, S, R, φ_i, u_i, v_i, E2_i}`` (§8.3 step 6). Memory only.

    Use once: :meth:`consume` hands out ``(φ_i, u_i, v_i)`` the first time and raises
    :class:`~warifu.core.errors.AlreadyConsumed` (reason ``PRESIG_UNKNOWN_OR_CONSUMED``) every
    later time. The one-shot is a single ``list.pop()``, atomic in CPython, so two threads racing
    for it cannot both win. Not a dataclass (no generated ``__eq__``/``__repr__``); refuses to be
    pickled or copied (a copy would be a second use). There is no serialisation on purpose
    (§8.6: never persisted).
    """

    __slots__ = ("_slot", "big_r", "e2", "epoch", "key_id", "me", "pk", "sid", "signers")

    def __init__(
        self,
        *,
        sid: bytes,
        key_id: bytes,
        epoch: int,
        signers: tuple[int, ...],
        me: int,
        big_r: Point,
        pk: Point,
        e2: bytes,
        phi: int,
        u: int,
        v: int,
    ) -> None:
        self.sid = sid
        self.key_id = key_id
        self.epoch = epoch
        self.signers = signers
        self.me = me
        self.big_r = big_r
        self.pk = pk
        self.e2 = e2
        self._slot: list[tuple[int, int, int]] = [(phi, u, v)]

    @property
    def consumed(self) -> bool:
        """True once :meth:`consume` has handed out the secrets."""
        return not self._slot

    def consume(self) -> tuple[int, int, int]:
        """``(φ_i, u_i, v_i)`` once; then ``AlreadyConsumed(PRESIG_UNKNOWN_OR_CONSUMED)``."""
        try:
            return self._slot.pop()
        except IndexError:
            raise AlreadyConsumed(
                "presignature already used", reason=AbortReason.PRESIG_UNKNOWN_OR_CONSUMED.value
            ) from None

    def discard(self) -> None:
        """Destroy without use (abort notice, TTL, epoch change)."""
        self._slot.clear()

    def __repr__(self) -> str:
        return (
            f"Presignature(sid={self.sid.hex()}, party={self.me}, signers={list(self.signers)}, "
            f"consumed={self.consumed}, secrets=<redacted>)"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Presignature cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("a Presignature cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("a Presignature cannot be copied")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartialSignature:
    """The public result of :func:`round3` that :func:`finalize` needs. Holds no secret."""

    sid: bytes
    signers: tuple[int, ...]
    me: int
    pk: Point
    r_prime: Point
    e2: bytes
    digest: bytes
    envelope: Envelope


class _Phase(enum.Enum):
    NEW = "new"
    ROUND1 = "round1 sent"
    CHECKING = "ot checks issued"
    ROUND2 = "round2 sent"
    DONE = "presignature ready"
    ABORTED = "aborted"


def _mul_g(k: int) -> Point:
    return GROUP.base_mul(k)


class SignSession:
    """One party's rounds 1–2 of §8 (message-independent); output a :class:`Presignature`.

    Call :meth:`round1`; screen each inbound envelope on arrival with :meth:`screen`; then
    :meth:`ot_checks` (run every returned callable under its pair lock, rule S-1), then
    :meth:`round2`, then :meth:`finish`. After an ``ECHO_MISMATCH`` from :meth:`finish`,
    :meth:`e1_disclosure` and :meth:`resolve_echo` settle the blame (§10.3).

    A :class:`~warifu.core.errors.ProtocolAbort` of class DROPPED (:func:`.wire.is_dropped`)
    leaves the session as it was: drop that envelope, wait for the right one, call again. Any
    other ProtocolAbort is terminal: the secrets are dropped and every later call is refused.
    Repr is redacted; the object is never pickled.
    """

    def __init__(
        self,
        *,
        key_share: KeyShare,
        signers: Sequence[int],
        sid: bytes,
        pairs: Mapping[int, PairState],
        signer: NodeSigner,
        rng: Rng,
    ) -> None:
        pkg = key_share.pkg
        if pkg.curve != GROUP.name:
            raise InvalidArguments("DKLs23 signs with secp256k1 keys only")
        if not isinstance(sid, bytes) or len(sid) != SID_LEN:
            raise InvalidArguments("sid must be 32 bytes")
        ids = list(signers)
        check_party_ids(ids)
        me = key_share.party_id
        committee = pkg.committee
        if me not in ids:
            raise InvalidArguments(f"party {me} is not in the signing set", reason="INVALID_PARTY")
        for k in ids:
            committee.member(k)  # INVALID_PARTY if not in the committee
        if len(ids) < pkg.threshold:
            raise InvalidArguments(
                f"signing set has {len(ids)} parties, the key needs {pkg.threshold}",
                reason="NOT_ENOUGH_SIGNERS",
            )
        if signer.public_key != committee.member(me).sign_pub:
            raise InvalidArguments(
                "signer does not match our committee record", reason="INVALID_PARTY"
            )
        s = tuple(sorted(ids))
        peers = tuple(k for k in s if k != me)
        for j in peers:
            pair = pairs.get(j)
            if not isinstance(pair, PairState):
                raise FailedPrecondition(f"no usable OT state with party {j} (missing or banned)")
        # LOCAL self-check (§8 preconditions, §10.1 LOCAL): x_i·G == X_i and Σ λ_k X_k == PK
        lambdas = {k: lagrange_at_zero(Q, s, k) for k in s}
        if not 0 < key_share.secret < Q or _mul_g(key_share.secret) != key_share.verification_share:
            raise InvalidKeyShare("x_i·G does not equal the public verification share X_i")
        pks = {k: pkg.verification_shares[k] * lambdas[k] for k in s}
        if GROUP.sum_points(pks.values()) != pkg.public_key:
            raise InvalidKeyShare("Σ λ_k·X_k over the signing set is not the group public key")
        self._share = key_share
        self._me = me
        self._sid = sid
        self._signers = s
        self._peers = peers
        self._pairs = {j: pairs[j] for j in peers}
        self._signer = signer
        self._rng = rng
        self._router = Router(committee, s, me, sid)
        self._lambda = lambdas[me]
        self._pk_shares = pks  # pk_k = λ_k·X_k, public (§12 D1)
        self._phase = _Phase.NEW
        # secrets (§9): dropped at the end of finish() or on any abort
        self._r: int | None = None
        self._phi: int | None = None
        self._salt: bytearray | None = None
        self._bobs: dict[int, RvoleBob] = {}
        self._chi: dict[int, int] = {}
        self._alices: dict[int, RvoleAlice] = {}
        self._cu: dict[int, int] = {}
        self._cv: dict[int, int] = {}
        # public views (kept after an abort for the echo resolution)
        self._big_r: bytes = b""
        self._r1_com: dict[int, Envelope] = {}
        self._r1_ote: dict[int, Envelope] = {}
        self._checked: dict[int, bool] = {}
        self._r2_in: dict[int, Envelope] = {}
        self._e1: bytes = b""

    # -- read-only state ---------------------------------------------------------------------

    @property
    def me(self) -> int:
        """Our party id."""
        return self._me

    @property
    def sid(self) -> bytes:
        """The session id (``sid_k`` in a presign batch)."""
        return self._sid

    @property
    def signers(self) -> tuple[int, ...]:
        """``S``, ascending."""
        return self._signers

    @property
    def phase(self) -> str:
        """Where the state machine is (for logs)."""
        return self._phase.value

    @property
    def holds_secrets(self) -> bool:
        """Whether any per-session secret is still referenced (False after finish or abort)."""
        return bool(
            self._r is not None
            or self._phi is not None
            or self._salt is not None
            or self._bobs
            or self._alices
            or self._chi
            or self._cu
            or self._cv
        )

    def __repr__(self) -> str:
        return (
            f"SignSession(sid={self._sid.hex()}, me={self._me}, signers={list(self._signers)}, "
            f"phase={self._phase.value!r}, secrets=<redacted>)"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SignSession cannot be pickled")

    # -- rounds ------------------------------------------------------------------------------

    def round1(self) -> tuple[Envelope, dict[int, Envelope]]:
        """§8.1: sample ``r_i, φ_i, salt_i``; ``R1_COM`` (broadcast) and ``R1_OTE`` to each peer.

        In ``R1_OTE_{i→j}`` we are **Bob** of ``RVOLE(i←j)`` with random input ``χ_ij``.
        """
        self._require(_Phase.NEW)
        with self._aborting():
            r = self._sample_nonce()
            phi = random_nonzero_scalar(self._rng, Q)
            salt = bytearray(self._rng.random_bytes(SALT_LEN))
            if len(salt) != SALT_LEN:
                raise InvalidArguments("rng returned the wrong number of bytes")
            big_r = GROUP.encode_point(_mul_g(r))
            self._r, self._phi, self._salt, self._big_r = r, phi, salt, big_r
            com = commitment(self._sid, self._me, big_r, bytes(salt))
            com_env = self._sign(ROUND_1, BROADCAST, MSG_R1_COM, com)
            out: dict[int, Envelope] = {}
            for j in self._peers:
                psid = pair_session_id(self._sid, self._me, j, self._pairs[j].bob.osid)
                bob = RvoleBob(psid=psid, seeds=self._pairs[j].bob, peer=j, rng=self._rng)
                ote1, chi = bob.round1()
                if len(ote1) != R1_OTE_LEN:
                    raise InvariantViolation("OTE1 has the wrong length")
                self._bobs[j] = bob
                self._chi[j] = chi
                out[j] = self._sign(ROUND_1, j, MSG_R1_OTE, ote1)
            self._r1_com = {self._me: com_env}
            self._phase = _Phase.ROUND1
            return com_env, out

    def screen(self, channel_peer: int, env: Envelope) -> None:
        """Admission check for one inbound envelope, on arrival (``.wire`` module table).

        Raises the DROPPED-class ProtocolAbort (``SENDER_MISMATCH``, ``INVALID_PARTY``,
        ``WRONG_SESSION``, ``BAD_ENVELOPE`` without culprit) or a terminal ``BAD_ENVELOPE``
        naming a sender that signed an impossible header. Pure; the session is not changed.
        """
        try:
            self._router.screen(channel_peer, env)
        except ProtocolAbort as exc:
            if exc.culprits:
                self._abort_now()
            raise

    def ot_checks(
        self,
        r1_ote: Mapping[int, Envelope],
        r1_com: Mapping[int, Envelope] | None = None,
    ) -> list[tuple[int, Callable[[], None]]]:
        """§8.2 step 4, first half: the Δ-dependent OT-extension checks, one per peer.

        Screens every ``R1_OTE`` (and ``R1_COM`` if given: then every public round-1 check
        happens before any Δ-dependent one) and checks lengths. Returns ``(j, check)`` in
        ascending ``j``; ``check()`` runs §5.2 as **Alice** of ``RVOLE(j←i)`` on ``R1_OTE_{j→i}``.
        The node MUST run each under the lock of its ``(key, epoch, j)`` Alice state (rule S-1),
        re-reading the pair status first, and record ``BANNED`` durably before releasing the lock
        if it raises ``OT_CONSISTENCY_FAILED`` (culprit ``j``). A check refuses to run twice, or
        after the session aborted (``FailedPrecondition``, nothing evaluated).
        """
        self._require(_Phase.ROUND1)
        with self._aborting():
            envs = self._router.accept(r1_ote, round_=ROUND_1, msg_type=MSG_R1_OTE)
            for j, env in envs.items():
                if len(env.payload) != R1_OTE_LEN:
                    raise bad_length(j, env, "R1_OTE", R1_OTE_LEN)
            if r1_com is not None:
                self._accept_r1_com(r1_com)
            self._r1_ote = dict(envs)
            self._checked = dict.fromkeys(self._peers, False)
            checks: list[tuple[int, Callable[[], None]]] = []
            for j in self._peers:
                psid = pair_session_id(self._sid, j, self._me, self._pairs[j].alice.osid)
                self._alices[j] = RvoleAlice(
                    psid=psid, seeds=self._pairs[j].alice, peer=j, rng=self._rng
                )
                checks.append((j, self._make_check(j)))
            self._phase = _Phase.CHECKING
            return checks

    def round2(
        self,
        r1_com: Mapping[int, Envelope],
        r1_ote: Mapping[int, Envelope] | None = None,
    ) -> dict[int, Envelope]:
        """§8.2: after every OT check passed, act as Alice with ``a = (r_i, sk_i)``; ``R2`` P2P.

        ``r1_ote`` (optional) must be the envelopes given to :meth:`ot_checks`.
        """
        self._require(_Phase.CHECKING)
        if r1_ote is not None and dict(r1_ote) != self._r1_ote:
            raise InvalidArguments("round2 got other R1_OTE envelopes than ot_checks")
        if not all(self._checked.get(j, False) for j in self._peers):
            raise InvalidArguments(
                "round2 needs every OT check to have passed first", reason="WRONG_STATE"
            )
        with self._aborting():
            self._accept_r1_com(r1_com)
            coms = {k: env.payload for k, env in self._r1_com.items()}
            self._e1 = echo1(self._sid, coms)
            assert self._r is not None and self._phi is not None and self._salt is not None
            sk = self._lambda * self._share.secret % Q
            salt = bytes(self._salt)
            out: dict[int, Envelope] = {}
            for j in self._peers:
                a0, a1 = self._alice_inputs(j, self._r, sk)
                ote2, cu, cv = self._alices[j].round2(a0, a1)
                if len(ote2) != OTE2_LEN:
                    raise InvariantViolation("OTE2 has the wrong length")
                self._cu[j], self._cv[j] = cu, cv
                gamma_u, gamma_v = self._gammas(j, cu, cv)
                psi = (self._phi - self._chi[j]) % Q
                payload = (
                    self._big_r
                    + salt
                    + GROUP.encode_point(gamma_u)
                    + GROUP.encode_point(gamma_v)
                    + GROUP.encode_scalar(psi)
                    + self._e1
                    + ote2
                )
                if len(payload) != R2_LEN:
                    raise InvariantViolation("R2 has the wrong length")
                out[j] = self._sign(ROUND_2, j, MSG_R2, payload)
            del sk
            self._alices.clear()  # each RvoleAlice wiped its pads and columns in round2
            self._phase = _Phase.ROUND2
            return out

    def finish(self, r2: Mapping[int, Envelope]) -> Presignature:
        """§8.3: checks a–f in that order (each over all peers, ascending), then ``PS_i``.

        ===  ==========================================  ===========================  =======
        #    check                                       reason                       culprit
        ===  ==========================================  ===========================  =======
        a    screen, length, points, scalars ``< q``     ``BAD_LENGTH`` / ``INVALID_  ``j``
                                                         ENCODING``
        b    ``E1_j == E1_i``                            ``ECHO_MISMATCH``            none yet
        c    ``Com_j`` opens to ``(R_j, salt_j)``        ``COMMITMENT_MISMATCH``      ``j``
        d    Bob's round 3 of ``RVOLE(i←j)``             ``RVOLE_CONSISTENCY_FAILED`` ``j``
        e    ``χ_ij·R_j == Γu_ji + du_ij·G``             ``GAMMA_U_FAILED``           ``j``
        f    ``χ_ij·pk_j == Γv_ji + dv_ij·G``            ``GAMMA_V_FAILED``           ``j``
        ===  ==========================================  ===========================  =======

        ``R = O`` is ``R_IDENTITY`` (no culprit). After ``ECHO_MISMATCH`` use
        :meth:`e1_disclosure` / :meth:`resolve_echo`.
        """
        self._require(_Phase.ROUND2)
        with self._aborting():
            envs = self._router.accept(r2, round_=ROUND_2, msg_type=MSG_R2)
            # a: lengths, then every point and scalar, for every peer, before any secret work
            for j, env in envs.items():
                if len(env.payload) != R2_LEN:
                    raise bad_length(j, env, "R2", R2_LEN)
            msgs = {j: Round2Message.parse(j, env) for j, env in envs.items()}
            self._r2_in = dict(envs)
            # b: echo of the round-1 commitments
            bad = [j for j in self._peers if not hmac.compare_digest(msgs[j].e1, self._e1)]
            if bad:
                raise ProtocolAbort(
                    AbortReason.ECHO_MISMATCH,
                    (),
                    f"parties {bad} saw other round-1 commitments (resolve with disclosures)",
                )
            # c: commitment openings
            for j in self._peers:
                m = msgs[j]
                com = commitment(self._sid, j, m.big_r_bytes, m.salt)
                if not hmac.compare_digest(com, self._r1_com[j].payload):
                    raise ProtocolAbort(
                        AbortReason.COMMITMENT_MISMATCH,
                        {j},
                        f"R2 of party {j} does not open its round-1 commitment",
                        evidence=evidence_of(j, self._r1_com[j], envs[j]),
                    )
            # d: Bob's side of RVOLE(i←j)
            outs: dict[int, tuple[int, int]] = {}
            for j in self._peers:
                try:
                    outs[j] = self._bobs[j].round3(msgs[j].ote2)
                except ProtocolAbort as exc:
                    exc.evidence.setdefault(j, evidence_of(j, envs[j])[j])
                    raise
            # e: χ_ij·R_j == Γu_ji + du_ij·G  (P_j's RVOLE input was r_j)
            for j in self._peers:
                if msgs[j].big_r * self._chi[j] != msgs[j].gamma_u + _mul_g(outs[j][0]):
                    raise ProtocolAbort(
                        AbortReason.GAMMA_U_FAILED,
                        {j},
                        f"Γu of party {j} is inconsistent with its R_j",
                        evidence=evidence_of(j, envs[j]),
                    )
            # f: χ_ij·pk_j == Γv_ji + dv_ij·G  (P_j's RVOLE input was λ_j·x_j; pk_j local, D1)
            for j in self._peers:
                if self._pk_shares[j] * self._chi[j] != msgs[j].gamma_v + _mul_g(outs[j][1]):
                    raise ProtocolAbort(
                        AbortReason.GAMMA_V_FAILED,
                        {j},
                        f"Γv of party {j} is inconsistent with its public share",
                        evidence=evidence_of(j, envs[j]),
                    )
            # presignature
            points = {self._me: self._big_r} | {j: msgs[j].big_r_bytes for j in self._peers}
            big_r = GROUP.sum_points(
                [GROUP.decode_point(self._big_r)] + [msgs[j].big_r for j in self._peers]
            )
            if big_r.is_identity():
                raise ProtocolAbort(AbortReason.R_IDENTITY, (), "R = Σ R_k is the identity")
            assert self._r is not None and self._phi is not None
            f = (self._phi + sum(msgs[j].psi for j in self._peers)) % Q
            sk = self._lambda * self._share.secret % Q
            u = (self._r * f + sum(self._cu[j] + outs[j][0] for j in self._peers)) % Q
            v = (sk * f + sum(self._cv[j] + outs[j][1] for j in self._peers)) % Q
            del sk, f
            e2 = echo2(self._sid, self._e1, points)
            ps = Presignature(
                sid=self._sid,
                key_id=self._share.pkg.key_id,
                epoch=self._share.pkg.epoch,
                signers=self._signers,
                me=self._me,
                big_r=big_r,
                pk=self._share.pkg.public_key,
                e2=e2,
                phi=self._phi,
                u=u,
                v=v,
            )
            outs.clear()
            self._zeroise()
            self._phase = _Phase.DONE
            return ps

    def abort(self) -> None:
        """End the session from outside (timeout, peer's abort notice): drop every secret."""
        self._abort_now()

    # -- E1 resolution (§10.3) ---------------------------------------------------------------

    def e1_disclosure(self) -> Envelope:
        """Our ``E1_DISCLOSE`` broadcast: every ``R1_COM`` we received, own included (§10.3 1).

        Available once all round-1 commitments were accepted, also after an abort.
        """
        if len(self._r1_com) != len(self._signers):
            raise InvalidArguments("no complete round-1 view to disclose", reason="WRONG_STATE")
        payload = disclosure_payload(self._signers, self._r1_com)
        return self._sign(ROUND_DISCLOSE, BROADCAST, MSG_E1_DISCLOSE, payload)

    def resolve_echo(self, disclosures: Mapping[int, Envelope]) -> ProtocolAbort:
        """The verdict of §10.3 for an ``E1`` mismatch, from the peers' ``E1_DISCLOSE`` envelopes.

        ``disclosures`` maps the authenticated sender to its envelope (missing = refused).
        Returns ``EQUIVOCATION`` (culprit), ``ECHO_MISMATCH`` with the liar, or
        ``ECHO_MISMATCH`` without culprit (see :func:`.echo.resolve_e1_mismatch`).
        """
        if len(self._r1_com) != len(self._signers):
            raise InvalidArguments("no complete round-1 view", reason="WRONG_STATE")
        return resolve_e1_mismatch(
            router=self._router,
            own_view=self._r1_com,
            claims=self._r2_in,
            disclosures={k: d for k, d in disclosures.items() if k != self._me},
        )

    # -- hooks (overridden only by adversarial tests) ----------------------------------------

    def _sample_nonce(self) -> int:
        """``r_i``, nonzero (§8.1 step 1)."""
        return random_nonzero_scalar(self._rng, Q)

    def _alice_inputs(self, j: int, r: int, sk: int) -> tuple[int, int]:
        """Alice's input ``a = (r_i, sk_i)`` to ``RVOLE(j←i)`` (§8.2 step 4)."""
        del j
        return r, sk

    def _gammas(self, j: int, cu: int, cv: int) -> tuple[Point, Point]:
        """``Γu_ij = cu_ij·G``, ``Γv_ij = cv_ij·G`` (§8.2 step 5)."""
        del j
        return _mul_g(cu), _mul_g(cv)

    # -- internals ---------------------------------------------------------------------------

    def _accept_r1_com(self, r1_com: Mapping[int, Envelope]) -> None:
        """Screen and length-check the R1_COMs once; a second call must pass the same ones."""
        if len(self._r1_com) == len(self._signers):
            others = {k: e for k, e in r1_com.items() if k != self._me}
            if others != {k: e for k, e in self._r1_com.items() if k != self._me}:
                raise InvalidArguments("got other R1_COM envelopes than before")
            return
        envs = self._router.accept(r1_com, round_=ROUND_1, msg_type=MSG_R1_COM)
        for j, env in envs.items():
            if len(env.payload) != R1_COM_LEN:
                raise bad_length(j, env, "R1_COM", R1_COM_LEN)
        self._r1_com = {self._me: self._r1_com[self._me]} | dict(envs)
        self._r1_com = {k: self._r1_com[k] for k in self._signers}

    def _make_check(self, j: int) -> Callable[[], None]:
        def check() -> None:
            if self._phase is not _Phase.CHECKING:
                raise FailedPrecondition(
                    f"session is {self._phase.value}: OT check with party {j} not evaluated"
                )
            if self._checked.get(j, True):
                raise InvalidArguments(f"the OT check with party {j} already ran")
            alice = self._alices[j]
            with self._aborting():
                try:
                    alice.check(self._r1_ote[j].payload)
                except ProtocolAbort as exc:
                    exc.evidence.setdefault(j, evidence_of(j, self._r1_ote[j])[j])
                    raise
            self._checked[j] = True

        return check

    def _sign(self, round_: int, to: int, msg_type: str, payload: bytes) -> Envelope:
        return self._signer.sign(
            Envelope(
                sid=self._sid,
                round=round_,
                sender=self._me,
                to=to,
                msg_type=msg_type,
                payload=payload,
            )
        )

    def _require(self, phase: _Phase) -> None:
        if self._phase is not phase:
            raise InvalidArguments(
                f"DKLs23 call out of order: expected {phase.value!r}, at {self._phase.value!r}",
                reason="WRONG_STATE",
            )

    @contextmanager
    def _aborting(self) -> Iterator[None]:
        """A non-DROPPED ProtocolAbort (or any unexpected error) is terminal."""
        try:
            yield
        except ProtocolAbort as exc:
            if not is_dropped(exc):
                self._abort_now()
            raise
        except InvalidArguments:
            raise  # caller mistakes (missing envelopes, wrong phase) change nothing
        except BaseException:
            self._abort_now()
            raise

    def _abort_now(self) -> None:
        self._zeroise()
        self._phase = _Phase.ABORTED

    def _zeroise(self) -> None:
        """Drop every per-session secret (§8.3 step 7, §9); wipe what can be wiped (§2.4)."""
        if self._salt is not None:
            for idx in range(len(self._salt)):
                self._salt[idx] = 0
        self._salt = None
        self._r = None
        self._phi = None
        # RvoleBob/RvoleAlice wipe their own arrays when they finish or fail; an unfinished one
        # is only dropped here (core.ot offers no zeroise() on them).
        self._bobs.clear()
        self._alices.clear()
        self._chi.clear()
        self._cu.clear()
        self._cv.clear()


# --------------------------------------------------------------------------------------------
# Round 3 and finalisation
# --------------------------------------------------------------------------------------------


def round3(
    presig: Presignature,
    digest: bytes,
    *,
    signer: NodeSigner,
    pk: Point | None = None,
    me: int | None = None,
) -> tuple[Envelope, PartialSignature]:
    """§8.4: consume ``PS_i`` and broadcast ``R3_i = (u'_i, w_i, E2_i, m)``.

    Arguments are checked first (a refused call does not burn the presignature); then the
    presignature is consumed, whatever happens next (§8.6 "Use-once"). ``pk`` and ``me``, if
    given, must match the presignature. Raises ``AlreadyConsumed(PRESIG_UNKNOWN_OR_CONSUMED)``
    on reuse, ``ProtocolAbort(R_IDENTITY)`` if ``R' = O`` (erratum 7), ``R_X_ZERO``.
    """
    if not isinstance(presig, Presignature):
        raise InvalidArguments("round3 needs a Presignature")
    if not isinstance(digest, bytes) or len(digest) != DIGEST_LEN:
        raise InvalidArguments("the message digest must be exactly 32 bytes")
    if pk is not None and pk != presig.pk:
        raise InvalidArguments("presignature belongs to another public key")
    if me is not None and me != presig.me:
        raise InvalidArguments("presignature belongs to another party")
    phi, u, v = presig.consume()
    e_m = int.from_bytes(digest, "big") % Q
    delta = rerandomiser(presig.sid, presig.big_r, presig.pk, digest)
    r_prime = presig.big_r + _mul_g(delta)
    if r_prime.is_identity():
        raise ProtocolAbort(AbortReason.R_IDENTITY, (), "R' = R + δ·G is the identity")
    r_x = x_coordinate(r_prime) % Q
    if r_x == 0:
        raise ProtocolAbort(AbortReason.R_X_ZERO, (), "x(R') ≡ 0 mod q")
    u_prime = (u + delta * phi) % Q
    w = (e_m * phi + r_x * v) % Q
    del phi, u, v
    payload = Round3Message(u_prime=u_prime, w=w, e2=presig.e2, digest=digest).encode()
    env = signer.sign(
        Envelope(
            sid=presig.sid,
            round=ROUND_3,
            sender=presig.me,
            to=BROADCAST,
            msg_type=MSG_R3,
            payload=payload,
        )
    )
    partial = PartialSignature(
        sid=presig.sid,
        signers=presig.signers,
        me=presig.me,
        pk=presig.pk,
        r_prime=r_prime,
        e2=presig.e2,
        digest=digest,
        envelope=env,
    )
    return env, partial


def finalize(
    partial: PartialSignature,
    r3: Mapping[int, Envelope],
    *,
    committee: Committee,
    message_bound: bool = True,
) -> EcdsaSignature:
    """§8.5: combine every ``R3`` (own included) into a verified, low-s ECDSA signature.

    Checks, in order (each over all peers, ascending): screen and length (``BAD_LENGTH``,
    culprit ``j``); ``u'``, ``w < q`` (``INVALID_ENCODING``, ``j``); ``E2_j == E2_i``
    (``ECHO_MISMATCH`` naming ``j``: with ``E1`` and every opening agreed in round 2, an honest
    ``j`` has our ``E2``, so a different one contradicts ``j``'s own signed ``E1``, §10.3);
    ``m_j == m`` (``MESSAGE_MISMATCH``, culprit ``j`` when ``message_bound`` (interactive
    mode: ``m`` is bound in ``sid``), none in presign mode); ``Σu' ≠ 0``
    (``ZERO_DENOMINATOR``); ``s ≠ 0`` (``S_ZERO``); libsecp256k1 recover + verify with
    ``hasher=None`` (``SIGNATURE_INVALID``: culprit the peer when ``|S| = 2``, none when
    ``|S| ≥ 3``); ``recid < 2`` (``UNSUPPORTED_RECID``). Nothing is returned unless all pass.
    """
    router = Router(committee, partial.signers, partial.me, partial.sid)
    envs = router.accept(r3, round_=ROUND_3, msg_type=MSG_R3, own=partial.envelope)
    for j, env in envs.items():
        if len(env.payload) != 128:
            raise bad_length(j, env, "R3", 128)
    msgs = {j: Round3Message.parse(j, env) for j, env in envs.items()}
    own = Round3Message.parse(partial.me, partial.envelope)
    for j, m in msgs.items():
        if not hmac.compare_digest(m.e2, partial.e2):
            raise ProtocolAbort(
                AbortReason.ECHO_MISMATCH,
                {j},
                f"party {j} signed an E2 that contradicts the agreed round-2 view",
                evidence=evidence_of(j, envs[j]),
            )
    for j, m in msgs.items():
        if not hmac.compare_digest(m.digest, partial.digest):
            raise ProtocolAbort(
                AbortReason.MESSAGE_MISMATCH,
                {j} if message_bound else (),
                f"party {j} signs another message digest",
                evidence=evidence_of(j, envs[j]) if message_bound else None,
            )
    all_msgs = [own, *msgs.values()]
    big_u = sum(m.u_prime for m in all_msgs) % Q
    big_w = sum(m.w for m in all_msgs) % Q
    if big_u == 0:
        raise ProtocolAbort(AbortReason.ZERO_DENOMINATOR, (), "Σ u' = 0")
    s = big_w * pow(big_u, -1, Q) % Q
    if s == 0:
        raise ProtocolAbort(AbortReason.S_ZERO, (), "s = 0")
    r_x = x_coordinate(partial.r_prime) % Q
    s, recid = normalise_low_s(s, recovery_id(partial.r_prime))
    sig = EcdsaSignature(r=r_x, s=s, recid=recid)
    if not verify_with_libsecp256k1(partial.pk, partial.digest, sig):
        peers = router.peers
        two = len(peers) == 1
        raise ProtocolAbort(
            AbortReason.SIGNATURE_INVALID,
            peers if two else (),
            "the combined signature does not verify"
            + ("" if two else f" (suspects: {list(peers)})"),
            evidence=evidence_of(peers[0], envs[peers[0]]) if two else None,
        )
    if recid >= 2:
        raise ProtocolAbort(
            AbortReason.UNSUPPORTED_RECID, (), "recovery id ≥ 2 cannot be encoded; start anew"
        )
    return sig
