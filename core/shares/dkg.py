"""Distributed key generation: Pedersen/Feldman VSS with proof of knowledge, commit-reveal, echo.

Spec: ``specs/shares.md`` §4 (rounds and checks), §3 (messaging, evidence and blame), §10.1
(ACK/DONE statements), §11 (reasons), errata 12 (``cm_i`` field order) and 17 (certificates).
Based on FROST KeyGen (Komlo–Goldberg, ePrint 2020/852, Fig. 1) as in ZF
``frost-core/src/keys/dkg.rs``, plus the sid in the PoK challenge, a D0 commitment round and echo.

A pure state machine: the node drives it, one method per round, and does all I/O.

=====  ==================  ==============  =======================================  ====
round  method              msg_type        payload                                  to
=====  ==================  ==============  =======================================  ====
0      :meth:`round0`      dkg/d0          ``cm_i``                                 0
1      :meth:`round1`      dkg/d1          D1 body, then the echo of every D0       0
2      :meth:`round2`      dkg/d2          ``f_i(j)``, then the echo of every D1    j
3      :meth:`ack`         dkg/ack         ACK statement digests + signature        0
3      :meth:`round3`      dkg/complaint   accused id + accused's signed D2         0
4      :meth:`done`        dkg/done        DONE statement signature                 0
=====  ==================  ==============  =======================================  ====

:meth:`round3` returns either the output (then send :meth:`ack`) or the complaint;
:meth:`conclude` takes the round-3 envelopes of all others, :meth:`collect_done` the DONEs.

Notation
==============  ================================================================
``t``, ``n``    threshold, committee size (``2 ≤ t ≤ n``)
``a_{i,k}``     party ``i``'s polynomial coefficients, ``f_i(0) = a_{i,0}``
``C_{i,k}``     ``a_{i,k}·G`` (``t`` of them, erratum 12 order in ``cm_i``)
``K_i, z_i``    Schnorr PoK of ``a_{i,0}``; ``c_i = HS(dkg/pok, sid, u16be(i),
                LIST(ser C_{i,·}), ser K_i)``, ``z_i·G == K_i + c_i·C_{i,0}``
``cm_i``        ``H(dkg/commit, sid, u16be(i), LIST(ser C_{i,·}), ser K_i, ser z_i, salt_i)``
``x_i``         ``Σ_j f_j(i)``; ``C_m = Σ_j C_{j,m}``; ``PK = C_0``; ``X_k = Σ_m k^m·C_m``
==============  ================================================================

Wire layouts (fixed; every length is checked exactly before any cryptography, a wrong length
is ``INVALID_DATA_SIZE`` naming the sender; ``P``/``S`` = point/scalar length of the group,
33/32 for secp256k1 and 32/32 for Ed25519)::

    D0        = cm_i(32)
    D1 body   = u16be(t) ‖ C_{i,0}(P) ‖ … ‖ C_{i,t−1}(P) ‖ K_i(P) ‖ z_i(S) ‖ salt_i(32)
    D1        = D1 body ‖ n × (D0 payload(32) ‖ D0 signature(64))      committee id order
    D2        = f_i(j)(S) ‖ n × (D1 payload ‖ D1 signature(64))           committee id order
    COMPLAINT = u16be(accused) ‖ accused's D2 payload to me ‖ its signature(64)
    ACK       = pkg_digest(32) ‖ transcript_digest(32) ‖ sig(64) over stmt(ACK)
    DONE      = sig(64) over stmt(DONE) (same digests as the commit certificate)

The echoed envelopes are reconstructed from the fields the receiver already knows
(``sid``, round, sender = the entry's committee id, ``to = 0``, msg_type), so every echoed entry
is a complete envelope whose signature anyone can check.

Departures:
    1. **Echo carries envelopes, not a digest** (``shares.md`` §3 item 2 specifies only
       ``E_r``). D1 carries every D0 envelope the sender received (own included) and D2 every
       D1 envelope. A receiver compares each entry with its own view *before any other check of
       that round*. If the entry for ``k`` differs and is validly signed by ``k``, the two signed
       envelopes prove ``EQUIVOCATION`` by ``k``; if its signature is invalid the echoing party
       lied (``ECHO_MISMATCH``, culprit the echoer, evidence its own signed envelope). This
       resolves the evidence procedure of §3 item 4 in one step, at the cost of ``n`` envelopes
       per message.
    2. ``transcript_digest`` covers the D0 and D1 envelopes (the broadcast rounds before the
       ACK; the ACK cannot cover itself).
    3. An ACK whose ``pkg_digest`` or ``transcript_digest`` differs from ours is
       ``ECHO_MISMATCH`` naming its sender (every view was echo-checked, so only a lie explains
       it); an invalid statement signature inside a validly signed ACK envelope is
       ``INVALID_SIGNATURE`` naming its sender.
    4. A D2 share that does not decode (``≥ order``) raises no local abort: like a Feldman
       failure it becomes a COMPLAINT, so every member reaches the same verdict; the judge then
       names the dealer with ``INVALID_ENCODING`` instead of ``FELDMAN_VERIFICATION_FAILED``.
    5. Envelope filter blame: a replayed or misrouted envelope that is itself well-formed
       (another sid, another round's valid message, a D2 for another recipient) is
       ``WRONG_SESSION`` with **no** culprit, as §11 says; only a validly signed envelope
       whose own header is ill-formed for this protocol (e.g. round 1 with msg_type dkg/d0,
       a broadcast with ``to ≠ 0``) names its sender (``BAD_ENVELOPE``). An invalid signature
       proves nothing about the claimed sender (``BAD_ENVELOPE``, no culprit).
    6. With several complaints the verdict is the set of proven bad dealers if there is any,
       otherwise the set of false complainers.

Errors: ``InvalidArguments`` for caller mistakes (wrong phase, missing/extra senders, own
envelope in ``inbound``); :class:`~warifu.core.errors.ProtocolAbort` for a peer's fault. After a
ProtocolAbort the party is terminal and its secrets are dropped. Secrets are dropped
(best effort) at the end of :meth:`round3` either way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from warifu.core.curves import Group, Point
from warifu.core.encoding import enc_list, h, hs, u16be
from warifu.core.envelope import BROADCAST, Envelope, NodeSigner
from warifu.core.errors import (
    AbortReason,
    InvalidArguments,
    InvariantViolation,
    ProtocolAbort,
)
from warifu.core.rng import Rng, random_nonzero_scalar
from warifu.core.shares.evidence import encode_evidence
from warifu.core.shares.package import (
    Committee,
    KeyShare,
    PublicKeyPackage,
    check_party_ids,
    eval_commitments,
)
from warifu.core.shares.polynomial import Polynomial, verify_feldman_share
from warifu.core.shares.statements import (
    SIG_LEN,
    CommitCertificate,
    Decision,
    DoneCertificate,
    Statement,
)

KIND = "dkg"
EPOCH_OLD = 0
EPOCH_NEW = 1

ROUND_D0 = 0
ROUND_D1 = 1
ROUND_D2 = 2
ROUND_ACK = 3
ROUND_DONE = 4

MSG_D0 = "dkg/d0"
MSG_D1 = "dkg/d1"
MSG_D2 = "dkg/d2"
MSG_ACK = "dkg/ack"
MSG_COMPLAINT = "dkg/complaint"
MSG_DONE = "dkg/done"

SALT_LEN = 32
DIGEST_LEN = 32
SID_LEN = 32
KEY_ID_LEN = 16

#: msg_type -> (round, is_broadcast): what a well-formed DKG envelope looks like.
_WELL_FORMED: dict[str, tuple[int, bool]] = {
    MSG_D0: (ROUND_D0, True),
    MSG_D1: (ROUND_D1, True),
    MSG_D2: (ROUND_D2, False),
    MSG_ACK: (ROUND_ACK, True),
    MSG_COMPLAINT: (ROUND_ACK, True),
    MSG_DONE: (ROUND_DONE, True),
}


# --------------------------------------------------------------------------------------------
# Layout and message bodies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DkgLayout:
    """The exact byte sizes of every DKG payload for one ``(group, t, n)``."""

    group: Group
    threshold: int
    n: int

    @property
    def d0_len(self) -> int:
        """``cm_i``."""
        return DIGEST_LEN

    @property
    def d1_body_len(self) -> int:
        """``u16be(t) ‖ t·P ‖ P ‖ S ‖ 32``."""
        g = self.group
        return 2 + (self.threshold + 1) * g.point_len + g.scalar_len + SALT_LEN

    @property
    def d0_echo_entry_len(self) -> int:
        """One echoed D0: payload ‖ signature."""
        return self.d0_len + SIG_LEN

    @property
    def d1_len(self) -> int:
        """D1 body plus the echo of ``n`` D0 envelopes."""
        return self.d1_body_len + self.n * self.d0_echo_entry_len

    @property
    def d1_echo_entry_len(self) -> int:
        """One echoed D1: payload ‖ signature."""
        return self.d1_len + SIG_LEN

    @property
    def d2_len(self) -> int:
        """Share plus the echo of ``n`` D1 envelopes."""
        return self.group.scalar_len + self.n * self.d1_echo_entry_len

    @property
    def complaint_len(self) -> int:
        """``u16be(accused) ‖ D2 payload ‖ signature``."""
        return 2 + self.d2_len + SIG_LEN

    @property
    def ack_len(self) -> int:
        """``pkg_digest ‖ transcript_digest ‖ signature``."""
        return 2 * DIGEST_LEN + SIG_LEN

    @property
    def done_len(self) -> int:
        """A DONE statement signature."""
        return SIG_LEN

    def split_echo(self, data: bytes, entry_len: int) -> list[tuple[bytes, bytes]]:
        """``n`` echo entries ``(payload, signature)`` from an echo section of exact length."""
        if len(data) != self.n * entry_len:
            raise InvariantViolation("echo section length was not checked")
        plen = entry_len - SIG_LEN
        out = []
        for idx in range(self.n):
            entry = data[idx * entry_len : (idx + 1) * entry_len]
            out.append((entry[:plen], entry[plen:]))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class D1Body:
    """The committed part of D1 as raw fixed-width fields (decoded and validated separately)."""

    commitments: tuple[bytes, ...]
    pok_k: bytes
    pok_z: bytes
    salt: bytes

    def encode(self) -> bytes:
        """``u16be(len C) ‖ C… ‖ K ‖ z ‖ salt``."""
        return (
            u16be(len(self.commitments))
            + b"".join(self.commitments)
            + self.pok_k
            + self.pok_z
            + self.salt
        )

    def commitment(self, sid: bytes, sender: int) -> bytes:
        """``cm_i`` (erratum 12 field order)."""
        return h(
            "dkg/commit",
            sid,
            u16be(sender),
            enc_list(self.commitments),
            self.pok_k,
            self.pok_z,
            self.salt,
        )

    @classmethod
    def parse(cls, layout: DkgLayout, data: bytes) -> D1Body:
        """Split a D1 body of exactly :attr:`DkgLayout.d1_body_len` bytes with ``t`` commitments.

        Raises InvalidArguments(INVALID_DATA_SIZE); the caller names the sender.
        """
        g = layout.group
        if len(data) < 2 or int.from_bytes(data[:2], "big") != layout.threshold:
            raise InvalidArguments(
                f"D1 must carry exactly t={layout.threshold} commitments",
                reason="INVALID_DATA_SIZE",
            )
        if len(data) != layout.d1_body_len:
            raise InvalidArguments("D1 body has the wrong length", reason="INVALID_DATA_SIZE")
        pos = 2
        cs = []
        for _ in range(layout.threshold):
            cs.append(data[pos : pos + g.point_len])
            pos += g.point_len
        k = data[pos : pos + g.point_len]
        pos += g.point_len
        z = data[pos : pos + g.scalar_len]
        pos += g.scalar_len
        return cls(commitments=tuple(cs), pok_k=k, pok_z=z, salt=data[pos:])


def pok_challenge(
    group: Group, sid: bytes, party: int, commitments: Sequence[bytes], k: bytes
) -> int:
    """``c_i = HS("warifu/v1/dkg/pok", sid, u16be(i), LIST(ser C_{i,·}), ser K_i)``."""
    return hs("dkg/pok", group.order, sid, u16be(party), enc_list(commitments), k)


def verify_pok(
    group: Group, sid: bytes, party: int, commitments: Sequence[Point], k: Point, z: int
) -> None:
    """Check ``z·G == K + c·C_0``; raise ``INVALID_POK`` naming ``party``."""
    c = pok_challenge(
        group, sid, party, [group.encode_point(p) for p in commitments], group.encode_point(k)
    )
    if group.base_mul(z) != k + commitments[0] * c:
        raise ProtocolAbort(
            AbortReason.INVALID_POK, {party}, f"invalid proof of knowledge from party {party}"
        )


def transcript_digest(sid: bytes, broadcasts: Sequence[Envelope]) -> bytes:
    """``H("warifu/v1/transcript", sid, LIST(H(env) …))``, ``broadcasts`` by (round, sender)."""
    return h("transcript", sid, enc_list(env.digest() for env in broadcasts))


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DkgRound3:
    """What :meth:`DkgParty.round3` produced: exactly one of ``output`` / ``complaint``.

    ``output`` is the new share at epoch 1 (its ``.pkg`` is the public key package), not yet
    committed: write it as PENDING, then send :meth:`DkgParty.ack`. ``complaint`` is a broadcast
    envelope to send instead; :meth:`DkgParty.conclude` will then raise the verdict.
    """

    output: KeyShare | None = None
    complaint: Envelope | None = None
    transcript_digest: bytes = b""

    def __post_init__(self) -> None:
        if (self.output is None) == (self.complaint is None):
            raise InvariantViolation("DkgRound3 needs exactly one of output / complaint")

    @property
    def pkg(self) -> PublicKeyPackage | None:
        """The public key package of the output, if any."""
        return None if self.output is None else self.output.pkg

    def __repr__(self) -> str:
        if self.output is not None:
            return f"DkgRound3(output={self.output!r})"
        assert self.complaint is not None
        return f"DkgRound3(complaint from party {self.complaint.sender})"


class _Phase(enum.Enum):
    NEW = "new"
    ROUND0 = "round0 sent"
    ROUND1 = "round1 sent"
    ROUND2 = "round2 sent"
    OUTPUT = "output ready"
    COMPLAINED = "complaint sent"
    ACKED = "ack sent"
    CONCLUDED = "committed"
    ABORTED = "aborted"


def _sig_ok(env: Envelope, sign_pub: bytes) -> bool:
    """True iff ``env`` carries a valid signature under ``sign_pub`` (never raises)."""
    try:
        env.verify(sign_pub)
    except (InvalidArguments, ValueError, OverflowError, TypeError):
        return False
    return True


def _well_formed(env: Envelope, committee_ids: Sequence[int]) -> bool:
    """Whether ``env``'s header is a legitimate DKG message header (any round)."""
    spec = _WELL_FORMED.get(env.msg_type)
    if spec is None or env.round != spec[0]:
        return False
    if spec[1]:
        return env.to == BROADCAST
    return env.to in committee_ids and env.to != env.sender


class _Session:
    """The public context every envelope is checked against (shared by party and helpers)."""

    __slots__ = ("committee", "me", "sid")

    def __init__(self, committee: Committee, me: int, sid: bytes) -> None:
        self.committee = committee
        self.me = me
        self.sid = sid

    @property
    def others(self) -> tuple[int, ...]:
        return tuple(i for i in self.committee.ids if i != self.me)

    def pub(self, party: int) -> bytes:
        return self.committee.member(party).sign_pub

    def filter(
        self, inbound: Mapping[int, Envelope], *, round_: int, msg_types: frozenset[str], to: int
    ) -> dict[int, Envelope]:
        """Check the inbound envelopes of one round (module docstring, departure 5)."""
        ids = self.committee.ids
        for key, env in inbound.items():
            if not isinstance(env, Envelope):
                raise InvalidArguments("inbound values must be Envelope objects")
            if env.sender != key:
                raise InvalidArguments(
                    f"inbound key {key} differs from the envelope sender {env.sender}",
                    reason="SENDER_MISMATCH",
                )
            if env.sender not in ids:
                raise ProtocolAbort(
                    AbortReason.INVALID_PARTY, (), f"sender {env.sender} is not in the committee"
                )
            if env.sender == self.me:
                raise InvalidArguments("inbound must not contain our own envelope")
        missing = sorted(set(self.others) - set(inbound))
        if missing:
            raise InvalidArguments(f"missing envelopes from {missing}", reason="MISSING_MESSAGES")
        out: dict[int, Envelope] = {}
        for sender in sorted(inbound):
            env = inbound[sender]
            if env.sid != self.sid:
                raise ProtocolAbort(
                    AbortReason.WRONG_SESSION, (), f"envelope from {sender} has another sid"
                )
            pub = self.pub(sender)
            if env.round == round_ and env.msg_type in msg_types and env.to == to:
                if not _sig_ok(env, pub):
                    raise ProtocolAbort(
                        AbortReason.BAD_ENVELOPE,
                        (),
                        f"invalid signature on the envelope from {sender}",
                    )
            elif not _sig_ok(env, pub):
                raise ProtocolAbort(AbortReason.BAD_ENVELOPE, (), f"invalid envelope from {sender}")
            elif _well_formed(env, ids):
                raise ProtocolAbort(
                    AbortReason.WRONG_SESSION,
                    (),
                    f"envelope from {sender} belongs to round {env.round} / recipient {env.to}",
                )
            else:
                raise ProtocolAbort(
                    AbortReason.BAD_ENVELOPE,
                    {sender},
                    f"party {sender} signed a malformed envelope header",
                    evidence={sender: encode_evidence([env])},
                )
            out[sender] = env
        return out

    def echoed(
        self, *, round_: int, msg_type: str, sender: int, to: int, payload: bytes, sig: bytes
    ) -> Envelope:
        return Envelope(
            sid=self.sid,
            round=round_,
            sender=sender,
            to=to,
            msg_type=msg_type,
            payload=payload,
            signature=sig,
        )

    def check_echo(
        self,
        *,
        echoer: Envelope,
        entries: Sequence[tuple[bytes, bytes]],
        view: Mapping[int, Envelope],
        round_: int,
        msg_type: str,
    ) -> None:
        """Compare an echoed view with ours (departure 1)."""
        for k, (payload, sig) in zip(self.committee.ids, entries, strict=True):
            mine = view[k]
            if payload == mine.payload and sig == mine.signature:
                continue
            other = self.echoed(
                round_=round_, msg_type=msg_type, sender=k, to=BROADCAST, payload=payload, sig=sig
            )
            if _sig_ok(other, self.pub(k)):
                raise ProtocolAbort(
                    AbortReason.EQUIVOCATION,
                    {k},
                    f"party {k} signed two different round-{round_} broadcasts",
                    evidence={k: encode_evidence([mine, other])},
                )
            raise ProtocolAbort(
                AbortReason.ECHO_MISMATCH,
                {echoer.sender},
                f"party {echoer.sender} echoed a round-{round_} envelope that party {k} "
                "never signed",
                evidence={echoer.sender: encode_evidence([echoer])},
            )


@contextmanager
def _blame(sender: int, env: Envelope) -> Iterator[None]:
    """Turn a decode error of ``sender``'s (validly signed) payload into a ProtocolAbort."""
    try:
        yield
    except InvalidArguments as exc:
        if exc.reason == "INVALID_ENCODING":
            reason = AbortReason.INVALID_ENCODING
        elif exc.reason == "INVALID_DATA_SIZE":
            reason = AbortReason.INVALID_DATA_SIZE
        else:
            raise
        raise ProtocolAbort(
            reason,
            {sender},
            f"party {sender}: {exc.message}",
            evidence={sender: encode_evidence([env])},
        ) from exc


#: Public names of the two helpers above, shared with the other ceremonies (``ceremony.py``).
sig_ok = _sig_ok
blame_decode = _blame


# --------------------------------------------------------------------------------------------
# The party
# --------------------------------------------------------------------------------------------


class DkgParty:
    """One committee member's DKG state machine (``shares.md`` §4). Repr is redacted.

    Call :meth:`round0`, :meth:`round1`, :meth:`round2`, :meth:`round3`, then (with an output
    and a durable PENDING record) :meth:`ack` and :meth:`conclude`; after the switch,
    :meth:`done` and :meth:`collect_done`. Each ``inbound`` maps sender id -> envelope and must
    hold exactly one envelope from every *other* member.
    """

    def __init__(
        self,
        *,
        group: Group,
        key_id: bytes,
        committee: Committee,
        threshold: int,
        me: int,
        sid: bytes,
        signer: NodeSigner,
        rng: Rng,
    ) -> None:
        ids = committee.ids
        check_party_ids(ids)
        if list(ids) != sorted(ids):
            raise InvalidArguments("committee must be sorted by id", reason="INVALID_PARTY")
        check_party_ids([me])
        if me not in ids:
            raise InvalidArguments(f"party {me} is not in the committee", reason="INVALID_PARTY")
        n = len(ids)
        if not 2 <= threshold <= n:
            raise InvalidArguments(
                f"threshold must be 2..{n}, got {threshold}", reason="INVALID_THRESHOLD"
            )
        if len(sid) != SID_LEN:
            raise InvalidArguments("sid must be 32 bytes")
        if len(key_id) != KEY_ID_LEN:
            raise InvalidArguments("key id must be a 16-byte UUID")
        if signer.public_key != committee.member(me).sign_pub:
            raise InvalidArguments(
                "signer does not match our committee record", reason="INVALID_PARTY"
            )
        self._group = group
        self._key_id = key_id
        self._committee = committee
        self._t = threshold
        self._me = me
        self._sid = sid
        self._signer = signer
        self._rng = rng
        self._s = _Session(committee, me, sid)
        self._layout = DkgLayout(group, threshold, n)
        self._phase = _Phase.NEW
        self._poly: Polynomial | None = None
        self._body: D1Body | None = None
        self._own_share: int | None = None
        self._views: dict[int, dict[int, Envelope]] = {}
        self._commitments: dict[int, tuple[Point, ...]] = {}
        self._statement: Statement | None = None
        self._complaint: Envelope | None = None
        self._ack: Envelope | None = None
        self._certificate: CommitCertificate | None = None

    # -- public read-only state ---------------------------------------------------------------

    @property
    def me(self) -> int:
        """Our party id."""
        return self._me

    @property
    def sid(self) -> bytes:
        """The session id."""
        return self._sid

    @property
    def layout(self) -> DkgLayout:
        """Payload sizes for this run."""
        return self._layout

    @property
    def statement(self) -> Statement | None:
        """Our ACK statement once :meth:`round3` produced an output."""
        return self._statement

    @property
    def phase(self) -> str:
        """Where the state machine is (for logs)."""
        return self._phase.value

    def __repr__(self) -> str:
        return (
            f"DkgParty(curve={self._group.name}, me={self._me}, t={self._t}, "
            f"n={self._layout.n}, phase={self._phase.value!r}, secrets=<redacted>)"
        )

    # -- rounds ----------------------------------------------------------------------------

    def round0(self) -> Envelope:
        """D0: sample the polynomial and the PoK, broadcast ``cm_i``."""
        self._require(_Phase.NEW)
        with self._aborting():
            poly = self._make_polynomial()
            body = self._make_body(poly)
            self._poly = poly
            self._body = body
            self._commitments[self._me] = poly.commitments(self._group)
            env = self._sign(ROUND_D0, BROADCAST, MSG_D0, body.commitment(self._sid, self._me))
            self._views[ROUND_D0] = {self._me: env}
            self._phase = _Phase.ROUND0
            return env

    def round1(self, inbound: Mapping[int, Envelope]) -> Envelope:
        """D1: check every D0's length, broadcast our D1 body and the echo of all D0s."""
        self._require(_Phase.ROUND0)
        with self._aborting():
            envs = self._s.filter(
                inbound, round_=ROUND_D0, msg_types=frozenset({MSG_D0}), to=BROADCAST
            )
            for j, env in envs.items():
                if len(env.payload) != self._layout.d0_len:
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {j},
                        f"D0 of party {j} has the wrong length",
                        evidence={j: encode_evidence([env])},
                    )
            view = dict(envs)
            view[self._me] = self._views[ROUND_D0][self._me]
            assert self._body is not None
            echo = b"".join(view[k].payload + view[k].signature for k in self._committee.ids)
            env = self._sign(ROUND_D1, BROADCAST, MSG_D1, self._body.encode() + echo)
            self._views[ROUND_D0] = view
            self._views[ROUND_D1] = {self._me: env}
            self._phase = _Phase.ROUND1
            return env

    def round2(self, inbound: Mapping[int, Envelope]) -> dict[int, Envelope]:
        """D2: verify every D1 (sizes, echo, commitment, encodings, PoK); send ``f_i(j)`` to j."""
        self._require(_Phase.ROUND1)
        g, lay = self._group, self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound, round_=ROUND_D1, msg_types=frozenset({MSG_D1}), to=BROADCAST
            )
            bodies: dict[int, D1Body] = {}
            echoes: dict[int, list[tuple[bytes, bytes]]] = {}
            for j, env in envs.items():
                with _blame(j, env):
                    bodies[j] = D1Body.parse(lay, env.payload[: lay.d1_body_len])
                    if len(env.payload) != lay.d1_len:
                        raise InvalidArguments(
                            "D1 has the wrong length", reason="INVALID_DATA_SIZE"
                        )
                echoes[j] = lay.split_echo(env.payload[lay.d1_body_len :], lay.d0_echo_entry_len)
            for j, env in envs.items():
                self._s.check_echo(
                    echoer=env,
                    entries=echoes[j],
                    view=self._views[ROUND_D0],
                    round_=ROUND_D0,
                    msg_type=MSG_D0,
                )
            commitments: dict[int, tuple[Point, ...]] = {}
            for j, env in envs.items():
                body = bodies[j]
                if body.commitment(self._sid, j) != self._views[ROUND_D0][j].payload:
                    raise ProtocolAbort(
                        AbortReason.COMMITMENT_MISMATCH,
                        {j},
                        f"D1 of party {j} does not open its D0 commitment",
                        evidence={j: encode_evidence([self._views[ROUND_D0][j], env])},
                    )
                with _blame(j, env):
                    cs = tuple(g.decode_point(c) for c in body.commitments)
                    k = g.decode_point(body.pok_k)
                    z = g.decode_scalar(body.pok_z)
                try:
                    verify_pok(g, self._sid, j, cs, k, z)
                except ProtocolAbort as exc:
                    exc.evidence[j] = encode_evidence([env])
                    raise
                commitments[j] = cs
            assert self._poly is not None
            view1 = dict(envs)
            view1[self._me] = self._views[ROUND_D1][self._me]
            echo = b"".join(view1[k].payload + view1[k].signature for k in self._committee.ids)
            out = {
                j: self._sign(ROUND_D2, j, MSG_D2, g.encode_scalar(self._share_for(j)) + echo)
                for j in self._s.others
            }
            self._own_share = self._poly.evaluate(self._me)
            self._commitments.update(commitments)
            self._views[ROUND_D1] = view1
            self._phase = _Phase.ROUND2
            return out

    def round3(self, inbound: Mapping[int, Envelope]) -> DkgRound3:
        """Finish: echo check, Feldman (complaint on failure), aggregate, self-check."""
        self._require(_Phase.ROUND2)
        g, lay = self._group, self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound, round_=ROUND_D2, msg_types=frozenset({MSG_D2}), to=self._me
            )
            for j, env in envs.items():
                if len(env.payload) != lay.d2_len:
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {j},
                        f"D2 of party {j} has the wrong length",
                        evidence={j: encode_evidence([env])},
                    )
            for env in envs.values():
                entries = lay.split_echo(env.payload[g.scalar_len :], lay.d1_echo_entry_len)
                self._s.check_echo(
                    echoer=env,
                    entries=entries,
                    view=self._views[ROUND_D1],
                    round_=ROUND_D1,
                    msg_type=MSG_D1,
                )
            shares: dict[int, int] = {}
            for j, env in envs.items():
                try:
                    share = g.decode_scalar(env.payload[: g.scalar_len])
                    verify_feldman_share(g, self._commitments[j], self._me, share, dealer=j)
                except (InvalidArguments, ProtocolAbort):
                    return self._complain(j, env)
                shares[j] = share
            assert self._own_share is not None
            x = (self._own_share + sum(shares.values())) % g.order
            shares.clear()
            agg = tuple(
                g.sum_points(self._commitments[j][m] for j in self._committee.ids)
                for m in range(self._t)
            )
            if agg[0].is_identity():
                raise ProtocolAbort(
                    AbortReason.ZERO_PUBLIC_KEY, (), "the group public key is the identity"
                )
            pkg = PublicKeyPackage(
                curve=g.name,
                key_id=self._key_id,
                epoch=EPOCH_NEW,
                threshold=self._t,
                committee=self._committee,
                commitments=agg,
            )
            pkg.verify()
            share_obj = KeyShare(pkg=pkg, party_id=self._me, secret=x)
            share_obj.verify()  # x_i ≠ 0 and x_i·G == X_i (SHARE_INTEGRITY)
            tdigest = self.transcript_digest()
            self._statement = Statement(
                sid=self._sid,
                kind=KIND,
                key_id=self._key_id,
                e_old=EPOCH_OLD,
                e_new=EPOCH_NEW,
                pkg_digest=pkg.digest(),
                transcript_digest=tdigest,
                decision=Decision.ACK,
            )
            self._zeroise()
            self._phase = _Phase.OUTPUT
            return DkgRound3(output=share_obj, transcript_digest=tdigest)

    def ack(self) -> Envelope:
        """The ACK broadcast (§10.1). Send it only once the PENDING record is durable."""
        if self._phase is _Phase.ACKED and self._ack is not None:
            return self._ack
        self._require(_Phase.OUTPUT)
        assert self._statement is not None
        st = self._statement
        payload = st.pkg_digest + st.transcript_digest + st.sign(self._signer)
        self._ack = self._sign(ROUND_ACK, BROADCAST, MSG_ACK, payload)
        self._phase = _Phase.ACKED
        return self._ack

    def conclude(self, inbound: Mapping[int, Envelope]) -> CommitCertificate:
        """Collect every other member's ACK or COMPLAINT: a commit certificate, or the verdict."""
        if self._phase not in (_Phase.ACKED, _Phase.COMPLAINED):
            raise InvalidArguments(
                f"conclude() needs ack() or a complaint first (phase: {self._phase.value})",
                reason="WRONG_STATE",
            )
        lay = self._layout
        with self._aborting():
            envs = self._s.filter(
                inbound,
                round_=ROUND_ACK,
                msg_types=frozenset({MSG_ACK, MSG_COMPLAINT}),
                to=BROADCAST,
            )
            complaints: dict[int, Envelope] = {}
            for j, env in envs.items():
                want = lay.ack_len if env.msg_type == MSG_ACK else lay.complaint_len
                if len(env.payload) != want:
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {j},
                        f"{env.msg_type} of party {j} has the wrong length",
                        evidence={j: encode_evidence([env])},
                    )
                if env.msg_type == MSG_COMPLAINT:
                    complaints[j] = env
            if self._complaint is not None:
                complaints[self._me] = self._complaint
            if complaints:
                self._judge(complaints)
            st = self._statement
            assert st is not None and self._ack is not None
            sigs = {self._me: self._ack.payload[2 * DIGEST_LEN :]}
            for j, env in envs.items():
                p = env.payload
                if (
                    p[:DIGEST_LEN] != st.pkg_digest
                    or p[DIGEST_LEN : 2 * DIGEST_LEN] != st.transcript_digest
                ):
                    raise ProtocolAbort(
                        AbortReason.ECHO_MISMATCH,
                        {j},
                        f"party {j} acknowledged a different key package or transcript",
                        evidence={j: encode_evidence([env])},
                    )
                sig = p[2 * DIGEST_LEN :]
                try:
                    st.verify_signature(self._s.pub(j), sig)
                except InvalidArguments as exc:
                    raise ProtocolAbort(
                        AbortReason.INVALID_SIGNATURE,
                        {j},
                        f"ACK statement signature of party {j} is invalid",
                        evidence={j: encode_evidence([env])},
                    ) from exc
                sigs[j] = sig
            cert = CommitCertificate.collect(self._committee, st, sigs)
            self._certificate = cert
            self._phase = _Phase.CONCLUDED
            return cert

    def done(self) -> Envelope:
        """The DONE broadcast, after the switch to epoch 1 (needs :meth:`conclude` first)."""
        if self._certificate is None:
            raise InvalidArguments("done() needs the commit certificate", reason="WRONG_STATE")
        return done_envelope(signer=self._signer, me=self._me, certificate=self._certificate)

    def collect_done(self, inbound: Mapping[int, Envelope]) -> DoneCertificate:
        """Every other member's DONE -> the done certificate (old epochs may be destroyed)."""
        if self._certificate is None:
            raise InvalidArguments(
                "collect_done() needs the commit certificate", reason="WRONG_STATE"
            )
        return done_certificate(
            committee=self._committee,
            me=self._me,
            certificate=self._certificate,
            own=self.done(),
            inbound=inbound,
        )

    def transcript_digest(self) -> bytes:
        """``transcript_digest`` over our view of the D0 and D1 broadcasts (departure 2)."""
        ids = self._committee.ids
        try:
            envs = [self._views[r][k] for r in (ROUND_D0, ROUND_D1) for k in ids]
        except KeyError as exc:
            raise InvalidArguments("transcript is not complete yet", reason="WRONG_STATE") from exc
        return transcript_digest(self._sid, envs)

    # -- hooks (overridden only by adversarial tests) ------------------------------------------

    def _make_polynomial(self) -> Polynomial:
        """``a_{i,0..t−1}``, uniformly random and nonzero (D0 step 1)."""
        return Polynomial.random(self._rng, self._group.order, self._t)

    def _make_body(self, poly: Polynomial) -> D1Body:
        """The D1 body for ``poly``: commitments, PoK of ``a_{i,0}`` and salt (D0 steps 2–4)."""
        g = self._group
        cs = [g.encode_point(c) for c in poly.commitments(g)]
        k = random_nonzero_scalar(self._rng, g.order)
        k_enc = g.encode_point(g.base_mul(k))
        c = pok_challenge(g, self._sid, self._me, cs, k_enc)
        z = (k + c * poly.coefficients[0]) % g.order
        del k
        return D1Body(
            commitments=tuple(cs),
            pok_k=k_enc,
            pok_z=g.encode_scalar(z),
            salt=self._rng.random_bytes(SALT_LEN),
        )

    def _share_for(self, j: int) -> int:
        """``f_i(j)``."""
        assert self._poly is not None
        return self._poly.evaluate(j)

    # -- internals ---------------------------------------------------------------------------

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
                f"DKG call out of order: expected phase {phase.value!r}, at {self._phase.value!r}",
                reason="WRONG_STATE",
            )

    @contextmanager
    def _aborting(self) -> Iterator[None]:
        """A ProtocolAbort is terminal: drop the secrets and refuse further calls."""
        try:
            yield
        except ProtocolAbort:
            self._zeroise()
            self._phase = _Phase.ABORTED
            raise

    def _zeroise(self) -> None:
        if self._poly is not None:
            self._poly.zeroise()
        self._poly = None
        self._own_share = None

    def _complain(self, accused: int, d2: Envelope) -> DkgRound3:
        payload = u16be(accused) + d2.payload + d2.signature
        self._complaint = self._sign(ROUND_ACK, BROADCAST, MSG_COMPLAINT, payload)
        self._zeroise()
        self._phase = _Phase.COMPLAINED
        return DkgRound3(complaint=self._complaint)

    def _judge(self, complaints: Mapping[int, Envelope]) -> None:
        """Decide every complaint (§3 item 4) and raise the verdict (departure 6)."""
        g, lay = self._group, self._layout
        guilty: dict[int, tuple[AbortReason, bytes]] = {}
        false: dict[int, bytes] = {}
        for c in sorted(complaints):
            env = complaints[c]
            accused = int.from_bytes(env.payload[:2], "big")
            if accused not in self._committee.ids or accused == c:
                false[c] = encode_evidence([env])
                continue
            body = env.payload[2:]
            d2 = Envelope(
                sid=self._sid,
                round=ROUND_D2,
                sender=accused,
                to=c,
                msg_type=MSG_D2,
                payload=body[: lay.d2_len],
                signature=body[lay.d2_len :],
            )
            if not _sig_ok(d2, self._s.pub(accused)):
                false[c] = encode_evidence([env])
                continue
            try:
                share = g.decode_scalar(d2.payload[: g.scalar_len])
            except InvalidArguments:
                guilty[accused] = (AbortReason.INVALID_ENCODING, encode_evidence([d2]))
                continue
            if g.base_mul(share) != eval_commitments(g, self._commitments[accused], c):
                guilty[accused] = (AbortReason.FELDMAN_VERIFICATION_FAILED, encode_evidence([d2]))
            else:
                false[c] = encode_evidence([env])
        if guilty:
            reasons = {r for r, _ in guilty.values()}
            reason = (
                AbortReason.INVALID_ENCODING
                if reasons == {AbortReason.INVALID_ENCODING}
                else AbortReason.FELDMAN_VERIFICATION_FAILED
            )
            raise ProtocolAbort(
                reason,
                guilty,
                "a dealer sent a share that is not on its committed polynomial",
                evidence={a: ev for a, (_, ev) in guilty.items()},
            )
        raise ProtocolAbort(
            AbortReason.FALSE_COMPLAINT, false, "complaint against a valid share", evidence=false
        )


# --------------------------------------------------------------------------------------------
# DONE round helpers (usable without the DkgParty object, e.g. after a restart)
# --------------------------------------------------------------------------------------------


def done_envelope(*, signer: NodeSigner, me: int, certificate: CommitCertificate) -> Envelope:
    """Our DONE broadcast for a committed DKG: a signature over ``stmt(DONE)``."""
    st = certificate.statement.with_decision(Decision.DONE)
    return signer.sign(
        Envelope(
            sid=st.sid,
            round=ROUND_DONE,
            sender=me,
            to=BROADCAST,
            msg_type=MSG_DONE,
            payload=st.sign(signer),
        )
    )


def done_certificate(
    *,
    committee: Committee,
    me: int,
    certificate: CommitCertificate,
    own: Envelope,
    inbound: Mapping[int, Envelope],
) -> DoneCertificate:
    """Check every other member's DONE envelope and build the :class:`DoneCertificate`.

    ``certificate`` must be the (verified) commit certificate of the ceremony: the DONE statement
    is that statement with decision DONE. A DONE over anything else names its sender
    (``INVALID_SIGNATURE``: its envelope is validly signed, the statement signature is not).
    """
    certificate.verify(committee)
    st = certificate.statement.with_decision(Decision.DONE)
    session = _Session(committee, me, st.sid)
    envs = session.filter(inbound, round_=ROUND_DONE, msg_types=frozenset({MSG_DONE}), to=BROADCAST)
    sigs = {me: own.payload}
    for j, env in envs.items():
        if len(env.payload) != SIG_LEN:
            raise ProtocolAbort(
                AbortReason.INVALID_DATA_SIZE,
                {j},
                f"DONE of party {j} has the wrong length",
                evidence={j: encode_evidence([env])},
            )
        try:
            st.verify_signature(session.pub(j), env.payload)
        except InvalidArguments as exc:
            raise ProtocolAbort(
                AbortReason.INVALID_SIGNATURE,
                {j},
                f"DONE statement signature of party {j} is invalid",
                evidence={j: encode_evidence([env])},
            ) from exc
        sigs[j] = env.payload
    return DoneCertificate.collect(committee, st, sigs)
