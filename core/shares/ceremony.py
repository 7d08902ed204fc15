"""Round machinery shared by the share-rotation ceremonies (refresh, reshare, repair).

Spec: ``specs/shares.md`` §3 (envelopes, echo broadcast, evidence and blame), §10.1 (ACK and DONE
statements, certificates), §11 (reasons), erratum 17 (certificate validity).

The DKG (``dkg.py``) established the conventions; this module generalises them to ceremonies
whose participants play different roles (reshare: dealers ``Q`` and receivers ``N'``; repair:
helpers ``H`` and the party ``r``):

- **Roster.** The participants of one ceremony form a :class:`~warifu.core.shares.package.Committee`
  (id, node name, node signing key). Every envelope is checked against its sender's key in the
  roster (:func:`roster_of`).
- **Envelope filter** (:meth:`RoundSession.filter`), exactly as the DKG's (``dkg.py``
  departure 5): wrong sid or a well-formed envelope of another round/recipient is
  ``WRONG_SESSION`` with no culprit; a validly signed but ill-formed header names its sender
  (``BAD_ENVELOPE``); an invalid signature proves nothing (``BAD_ENVELOPE``, no culprit).
  ``senders`` says who must send in this round; the caller passes exactly those.
- **Echo carries envelopes** (``dkg.py`` departure 1): the message after a broadcast round
  carries every broadcast envelope its sender received, own included, ascending sender id, as
  ``payload ‖ signature``. :meth:`RoundSession.check_echo` compares each entry with our own view
  before anything else: a differing entry validly signed by its sender proves ``EQUIVOCATION``
  (two signed envelopes as evidence); an entry that sender never signed is an ``ECHO_MISMATCH``
  by the echoer (its own signed envelope as evidence).
- **Complaints** (:func:`judge_complaints`): ``COMPLAINT = u16be(accused) ‖ accused's P2P payload
  to the complainer ‖ its signature``. Everyone rebuilds the accused's envelope and re-runs the
  public check: a failing payload names the dealer, a valid one (or a forged disclosure, or an
  accusation of oneself or a non-dealer) names the complainer (``FALSE_COMPLAINT``). With
  several complaints the verdict is the set of proven bad dealers if any, else the false
  complainers (``dkg.py`` departure 6).
- **ACK / COMPLAINT round, DONE round** (:class:`CeremonyParty`): ``ACK = pkg_digest ‖
  transcript_digest ‖ sig(stmt(ACK))``; ``DONE = sig(stmt(DONE))``. An ACK over other digests is
  ``ECHO_MISMATCH`` naming its sender; a bad statement signature inside a validly signed
  envelope is ``INVALID_SIGNATURE`` naming its sender.

Observers (reshare: old members that are neither dealers nor new members) take no part in the
rounds; they verify the relayed certificates with :func:`verify_certificate_for`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import ClassVar, NoReturn

from warifu.core.encoding import u16be
from warifu.core.envelope import BROADCAST, Envelope, NodeSigner
from warifu.core.errors import AbortReason, InvalidArguments, InvariantViolation, ProtocolAbort
from warifu.core.shares.dkg import blame_decode, sig_ok, transcript_digest
from warifu.core.shares.evidence import encode_evidence
from warifu.core.shares.package import Committee, Member
from warifu.core.shares.statements import (
    SIG_LEN,
    CommitCertificate,
    Decision,
    DoneCertificate,
    Statement,
)

__all__ = [
    "DIGEST_LEN",
    "CeremonyParty",
    "RoundSession",
    "blame_decode",
    "judge_complaints",
    "roster_of",
    "sig_ok",
    "split_entries",
    "transcript_digest",
    "verify_certificate_for",
]

DIGEST_LEN = 32
SID_LEN = 32


def roster_of(*committees: Committee) -> Committee:
    """The participants of a ceremony: the union of ``committees``, later records winning.

    A party id that appears in several records must be the same node (same node name,
    ``shares.md`` §1.1); its signing key is taken from the last record that lists it (the new
    committee record, where a rotated node key is recorded, §1.2). A node name under two ids is
    ``INVALID_PARTY``.
    """
    by_id: dict[int, Member] = {}
    for committee in committees:
        for m in committee.members:
            prev = by_id.get(m.id)
            if prev is not None and prev.node != m.node:
                raise InvalidArguments(
                    f"party {m.id} is {prev.node!r} in one record and {m.node!r} in another",
                    reason="INVALID_PARTY",
                )
            by_id[m.id] = m
    return Committee(members=tuple(by_id[i] for i in sorted(by_id)))


def split_entries(data: bytes, count: int, entry_len: int) -> list[tuple[bytes, bytes]]:
    """``count`` echo entries ``(payload, signature)`` from a section of exact length."""
    if len(data) != count * entry_len:
        raise InvariantViolation("echo section length was not checked")
    plen = entry_len - SIG_LEN
    out = []
    for idx in range(count):
        entry = data[idx * entry_len : (idx + 1) * entry_len]
        out.append((entry[:plen], entry[plen:]))
    return out


class RoundSession:
    """The public context every envelope of one ceremony is checked against.

    ``well_formed`` maps each msg_type of the protocol to ``(round, is_broadcast)``.
    """

    __slots__ = ("me", "roster", "sid", "well_formed")

    def __init__(
        self,
        roster: Committee,
        me: int,
        sid: bytes,
        well_formed: Mapping[str, tuple[int, bool]],
    ) -> None:
        if me not in roster.ids:
            raise InvalidArguments(f"party {me} is not a participant", reason="INVALID_PARTY")
        if len(sid) != SID_LEN:
            raise InvalidArguments("sid must be 32 bytes")
        self.roster = roster
        self.me = me
        self.sid = sid
        self.well_formed = dict(well_formed)

    def pub(self, party: int) -> bytes:
        """The node signing key of ``party``."""
        return self.roster.member(party).sign_pub

    def _is_well_formed(self, env: Envelope) -> bool:
        spec = self.well_formed.get(env.msg_type)
        if spec is None or env.round != spec[0]:
            return False
        if spec[1]:
            return env.to == BROADCAST
        return env.to in self.roster.ids and env.to != env.sender

    def filter(
        self,
        inbound: Mapping[int, Envelope],
        *,
        senders: Collection[int],
        round_: int,
        msg_types: frozenset[str],
        to: int,
    ) -> dict[int, Envelope]:
        """Screen one round's envelopes (module docstring); ``senders`` = who must send."""
        ids = self.roster.ids
        expected = set(senders) - {self.me}
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
                    AbortReason.INVALID_PARTY, (), f"sender {env.sender} is not a participant"
                )
            if env.sender == self.me:
                raise InvalidArguments("inbound must not contain our own envelope")
            if env.sender not in expected:
                raise InvalidArguments(
                    f"party {env.sender} does not send in round {round_}",
                    reason="UNEXPECTED_SENDER",
                )
        missing = sorted(expected - set(inbound))
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
                if not sig_ok(env, pub):
                    raise ProtocolAbort(
                        AbortReason.BAD_ENVELOPE,
                        (),
                        f"invalid signature on the envelope from {sender}",
                    )
            elif not sig_ok(env, pub):
                raise ProtocolAbort(AbortReason.BAD_ENVELOPE, (), f"invalid envelope from {sender}")
            elif self._is_well_formed(env):
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

    def rebuild(
        self, *, round_: int, msg_type: str, sender: int, to: int, payload: bytes, sig: bytes
    ) -> Envelope:
        """The complete envelope of an echoed or disclosed ``(payload, signature)``."""
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
        ids: Sequence[int],
        entries: Sequence[tuple[bytes, bytes]],
        view: Mapping[int, Envelope],
        round_: int,
        msg_type: str,
    ) -> None:
        """Compare an echoed view (entries for ``ids`` ascending) with ours."""
        for k, (payload, sig) in zip(ids, entries, strict=True):
            mine = view[k]
            if payload == mine.payload and sig == mine.signature:
                continue
            other = self.rebuild(
                round_=round_, msg_type=msg_type, sender=k, to=BROADCAST, payload=payload, sig=sig
            )
            if sig_ok(other, self.pub(k)):
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


#: ``check(accused, complainer, disclosed payload) -> reason`` (``None``: the payload is valid).
ShareCheck = Callable[[int, int, bytes], AbortReason | None]


def judge_complaints(
    *,
    session: RoundSession,
    complaints: Mapping[int, Envelope],
    accusable: Collection[int],
    share_round: int,
    share_msg_type: str,
    share_len: int,
    check: ShareCheck,
    trailer_len: int = 0,
) -> NoReturn:
    """Decide every complaint (module docstring) and raise the verdict.

    ``trailer_len`` bytes after the disclosed envelope (e.g. repair's echo) are not part of it.
    """
    guilty: dict[int, tuple[AbortReason, bytes]] = {}
    false: dict[int, bytes] = {}
    for c in sorted(complaints):
        env = complaints[c]
        accused = int.from_bytes(env.payload[:2], "big")
        if accused not in accusable or accused == c:
            false[c] = encode_evidence([env])
            continue
        body = env.payload[2 : len(env.payload) - trailer_len]
        disclosed = session.rebuild(
            round_=share_round,
            msg_type=share_msg_type,
            sender=accused,
            to=c,
            payload=body[:share_len],
            sig=body[share_len:],
        )
        if not sig_ok(disclosed, session.pub(accused)):
            false[c] = encode_evidence([env])
            continue
        reason = check(accused, c, disclosed.payload)
        if reason is None:
            false[c] = encode_evidence([env])
        else:
            guilty[accused] = (reason, encode_evidence([disclosed]))
    if guilty:
        reasons = {r for r, _ in guilty.values()}
        verdict = reasons.pop() if len(reasons) == 1 else AbortReason.FELDMAN_VERIFICATION_FAILED
        raise ProtocolAbort(
            verdict,
            guilty,
            "a dealer sent a secret payload that fails its public check",
            evidence={a: ev for a, (_, ev) in guilty.items()},
        )
    raise ProtocolAbort(
        AbortReason.FALSE_COMPLAINT, false, "complaint against a valid payload", evidence=false
    )


def verify_certificate_for(
    certificate: CommitCertificate | DoneCertificate,
    committee: Committee,
    *,
    sid: bytes,
    kind: str,
    key_id: bytes,
    e_old: int,
    e_new: int,
) -> None:
    """Erratum 17 for a party that cannot recompute the digests (an observer, a restarted node).

    Checks the statement's ``sid``, kind, key and epochs, that the signers are exactly
    ``committee`` (the new committee record), and every signature. Raises
    InvalidArguments(INVALID_CERTIFICATE).
    """
    st = certificate.statement
    if (st.sid, st.kind, st.key_id, st.e_old, st.e_new) != (sid, kind, key_id, e_old, e_new):
        raise InvalidArguments("certificate is for another ceremony", reason="INVALID_CERTIFICATE")
    certificate.verify(committee)


class Phase(enum.Enum):
    """Where a ceremony party is (for logs and call-order checks)."""

    NEW = "new"
    ROUND0 = "round0 sent"
    ROUND1 = "round1 sent"
    OUTPUT = "output ready"
    FINISHED = "finished without a share"
    COMPLAINED = "complaint sent"
    ACKED = "ack sent"
    CONCLUDED = "committed"
    ABORTED = "aborted"


class CeremonyParty:
    """The ACK/COMPLAINT and DONE rounds (§10.1) shared by refresh and reshare.

    A subclass runs its own protocol rounds and then either sets :attr:`_statement` (new member
    with an output: phase OUTPUT; observer-dealer: phase FINISHED) or calls :meth:`_complain`.
    It defines the class constants below, :meth:`_broadcast_envelopes` (for the transcript),
    :meth:`_check_disclosed` (the public check of a disclosed P2P payload) and :meth:`_zeroise`.
    """

    KIND: ClassVar[str]
    ROUND_ACK: ClassVar[int]
    ROUND_DONE: ClassVar[int]
    MSG_ACK: ClassVar[str]
    MSG_COMPLAINT: ClassVar[str]
    MSG_DONE: ClassVar[str]
    #: the round / msg_type / payload length of the secret P2P message a complaint discloses
    SHARE_ROUND: ClassVar[int]
    SHARE_MSG: ClassVar[str]

    def __init__(
        self,
        *,
        session: RoundSession,
        new_committee: Committee,
        signer: NodeSigner,
        e_old: int,
        e_new: int,
        key_id: bytes,
    ) -> None:
        if signer.public_key != session.pub(session.me):
            raise InvalidArguments(
                "signer does not match our committee record", reason="INVALID_PARTY"
            )
        self._s = session
        self._me = session.me
        self._sid = session.sid
        self._new = new_committee
        self._signer = signer
        self._e_old = e_old
        self._e_new = e_new
        self._key_id = key_id
        self._phase = Phase.NEW
        self._statement: Statement | None = None
        self._complaint: Envelope | None = None
        self._ack: Envelope | None = None
        self._certificate: CommitCertificate | None = None

    # -- read-only state ------------------------------------------------------------------------

    @property
    def me(self) -> int:
        """Our party id."""
        return self._me

    @property
    def sid(self) -> bytes:
        """The session id."""
        return self._sid

    @property
    def phase(self) -> str:
        """Where the state machine is (for logs)."""
        return self._phase.value

    @property
    def statement(self) -> Statement | None:
        """The ACK statement of the ceremony, once computed."""
        return self._statement

    @property
    def certificate(self) -> CommitCertificate | None:
        """The commit certificate, after :meth:`conclude`."""
        return self._certificate

    @property
    def is_new_member(self) -> bool:
        """Whether we receive a share and ACK (member of the new committee)."""
        return self._me in self._new.ids

    # -- ACK / COMPLAINT and DONE rounds --------------------------------------------------------

    def ack(self) -> Envelope:
        """The ACK broadcast (§10.1). Send it only once the PENDING record is durable."""
        if self._phase is Phase.ACKED and self._ack is not None:
            return self._ack
        self._require(Phase.OUTPUT)
        assert self._statement is not None
        st = self._statement
        payload = st.pkg_digest + st.transcript_digest + st.sign(self._signer)
        self._ack = self._sign(self.ROUND_ACK, BROADCAST, self.MSG_ACK, payload)
        self._phase = Phase.ACKED
        return self._ack

    def conclude(self, inbound: Mapping[int, Envelope]) -> CommitCertificate:
        """Every other new member's ACK or COMPLAINT -> a commit certificate, or the verdict."""
        if self._phase not in (Phase.ACKED, Phase.COMPLAINED, Phase.FINISHED):
            raise InvalidArguments(
                f"conclude() needs ack() or a complaint first (phase: {self._phase.value})",
                reason="WRONG_STATE",
            )
        with self._aborting():
            envs = self._s.filter(
                inbound,
                senders=self._new.ids,
                round_=self.ROUND_ACK,
                msg_types=frozenset({self.MSG_ACK, self.MSG_COMPLAINT}),
                to=BROADCAST,
            )
            complaints: dict[int, Envelope] = {}
            for j, env in envs.items():
                want = self._ack_len if env.msg_type == self.MSG_ACK else self._complaint_len
                if len(env.payload) != want:
                    raise ProtocolAbort(
                        AbortReason.INVALID_DATA_SIZE,
                        {j},
                        f"{env.msg_type} of party {j} has the wrong length",
                        evidence={j: encode_evidence([env])},
                    )
                if env.msg_type == self.MSG_COMPLAINT:
                    complaints[j] = env
            if self._complaint is not None:
                complaints[self._me] = self._complaint
            if complaints:
                self._judge(complaints)
            st = self._statement
            assert st is not None
            sigs: dict[int, bytes] = {}
            if self._ack is not None:
                sigs[self._me] = self._ack.payload[2 * DIGEST_LEN :]
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
            cert = CommitCertificate.collect(self._new, st, sigs)
            self._certificate = cert
            self._phase = Phase.CONCLUDED
            return cert

    def done(self) -> Envelope:
        """The DONE broadcast, after the switch (new members only; needs :meth:`conclude`)."""
        if self._certificate is None:
            raise InvalidArguments("done() needs the commit certificate", reason="WRONG_STATE")
        if not self.is_new_member:
            raise InvalidArguments("only new members send DONE", reason="WRONG_STATE")
        st = self._certificate.statement.with_decision(Decision.DONE)
        return self._sign(self.ROUND_DONE, BROADCAST, self.MSG_DONE, st.sign(self._signer))

    def collect_done(self, inbound: Mapping[int, Envelope]) -> DoneCertificate:
        """Every other new member's DONE -> the done certificate (old epochs may be destroyed)."""
        if self._certificate is None:
            raise InvalidArguments(
                "collect_done() needs the commit certificate", reason="WRONG_STATE"
            )
        st = self._certificate.statement.with_decision(Decision.DONE)
        envs = self._s.filter(
            inbound,
            senders=self._new.ids,
            round_=self.ROUND_DONE,
            msg_types=frozenset({self.MSG_DONE}),
            to=BROADCAST,
        )
        sigs: dict[int, bytes] = {}
        if self.is_new_member:
            sigs[self._me] = self.done().payload
        for j, env in envs.items():
            if len(env.payload) != SIG_LEN:
                raise ProtocolAbort(
                    AbortReason.INVALID_DATA_SIZE,
                    {j},
                    f"DONE of party {j} has the wrong length",
                    evidence={j: encode_evidence([env])},
                )
            try:
                st.verify_signature(self._s.pub(j), env.payload)
            except InvalidArguments as exc:
                raise ProtocolAbort(
                    AbortReason.INVALID_SIGNATURE,
                    {j},
                    f"DONE statement signature of party {j} is invalid",
                    evidence={j: encode_evidence([env])},
                ) from exc
            sigs[j] = env.payload
        return DoneCertificate.collect(self._new, st, sigs)

    def transcript_digest(self) -> bytes:
        """``transcript_digest`` over our view of the broadcast rounds before the ACK."""
        return transcript_digest(self._sid, self._broadcast_envelopes())

    # -- subclass interface ---------------------------------------------------------------------

    @property
    def _share_len(self) -> int:
        raise NotImplementedError

    def _broadcast_envelopes(self) -> list[Envelope]:
        """Every broadcast envelope before the ACK, ordered by (round, sender)."""
        raise NotImplementedError

    def _check_disclosed(self, accused: int, complainer: int, payload: bytes) -> AbortReason | None:
        """The public check of ``accused``'s P2P payload to ``complainer`` (None: valid)."""
        raise NotImplementedError

    def _dealers(self) -> Collection[int]:
        """Who can be accused in a complaint."""
        raise NotImplementedError

    def _zeroise(self) -> None:
        raise NotImplementedError

    # -- internals ------------------------------------------------------------------------------

    @property
    def _ack_len(self) -> int:
        return 2 * DIGEST_LEN + SIG_LEN

    @property
    def _complaint_len(self) -> int:
        return 2 + self._share_len + SIG_LEN

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

    def _require(self, phase: Phase) -> None:
        if self._phase is not phase:
            raise InvalidArguments(
                f"{self.KIND} call out of order: expected phase {phase.value!r}, "
                f"at {self._phase.value!r}",
                reason="WRONG_STATE",
            )

    @contextmanager
    def _aborting(self) -> Iterator[None]:
        """A ProtocolAbort is terminal: drop the secrets and refuse further calls."""
        try:
            yield
        except ProtocolAbort:
            self._zeroise()
            self._phase = Phase.ABORTED
            raise

    def _complain(self, accused: int, env: Envelope) -> Envelope:
        payload = u16be(accused) + env.payload + env.signature
        self._complaint = self._sign(self.ROUND_ACK, BROADCAST, self.MSG_COMPLAINT, payload)
        self._zeroise()
        self._phase = Phase.COMPLAINED
        return self._complaint

    def _judge(self, complaints: Mapping[int, Envelope]) -> NoReturn:
        judge_complaints(
            session=self._s,
            complaints=complaints,
            accusable=self._dealers(),
            share_round=self.SHARE_ROUND,
            share_msg_type=self.SHARE_MSG,
            share_len=self._share_len,
            check=self._check_disclosed,
        )
