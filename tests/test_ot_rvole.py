"""Random vector OLE (dkls23.md §6; §14 items 7, 8, 9 and 25 for OTE2).

A malicious Alice is assembled from the module's public building blocks (``ExtensionAlice``,
``corrections``, ``theta``, ``alice_check_values``, ``mu_digest``); with no deviation it
reproduces the honest ``RvoleAlice`` payload byte for byte (tested), so each adversarial test
differs from an honest run only in the deviation under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from warifu.core.encoding import hs, u16be
from warifu.core.errors import AbortReason, InvalidArguments, ProtocolAbort
from warifu.core.ot import extension
from warifu.core.ot.common import Q, bit
from warifu.core.ot.extension import ExtensionAlice
from warifu.core.ot.rvole import (
    OTE1_LEN,
    OTE2_LEN,
    Ote2,
    RvoleAlice,
    RvoleBob,
    alice_check_values,
    corrections,
    encode_scalars,
    gadget_vector,
    message_digest,
    mu_digest,
    pair_session_id,
    theta,
)
from warifu.core.ot.vsot import AliceSeeds, BobSeeds, VsotAlice, VsotBob, ot_setup_id
from warifu.core.rng import DeterministicRng, random_scalar

BOB = 4
ALICE = 9
SID = bytes(range(1, 33))
OSID = ot_setup_id(bytes(32), BOB, ALICE)
PSID = pair_session_id(SID, BOB, ALICE, OSID)
BAD_SCALARS = [Q, Q + 1, 2**256 - 1]


@dataclass(frozen=True)
class Seeds:
    bob: BobSeeds
    alice: AliceSeeds


@pytest.fixture(scope="module")
def seeds() -> Seeds:
    bob = VsotBob(osid=OSID, peer=ALICE, rng=DeterministicRng("rvole-vsot").fork(1))
    alice = VsotAlice(osid=OSID, peer=BOB, rng=DeterministicRng("rvole-vsot").fork(2))
    v4 = alice.v4(bob.v3(alice.v2(bob.v1())))
    a = alice.finish(bob.v5(v4))
    return Seeds(bob=bob.output(), alice=a)


def new_bob(s: Seeds, seed: str, psid: bytes = PSID) -> RvoleBob:
    return RvoleBob(psid=psid, seeds=s.bob, peer=ALICE, rng=DeterministicRng(seed).fork("bob"))


def new_alice(s: Seeds, seed: str, psid: bytes = PSID) -> RvoleAlice:
    return RvoleAlice(psid=psid, seeds=s.alice, peer=BOB, rng=DeterministicRng(seed).fork("alice"))


def beta_of(seed: str) -> list[int]:
    """Bob's choice bits, from a twin of his Rng (his first draw is x')."""
    x_prime = DeterministicRng(seed).fork("bob").random_bytes(96)
    return [bit(x_prime, c) for c in range(512)]


def assert_alice_abort(exc: pytest.ExceptionInfo[ProtocolAbort], reason: AbortReason) -> None:
    assert exc.value.abort_reason is reason, exc.value
    assert exc.value.culprits == frozenset({ALICE})


def with_scalar(payload: bytes, index: int, value: int) -> bytes:
    """Replace scalar ``index`` of ÃBYTES (0..1535), or η for ``index == 1536``."""
    off = 32 + 32 * index
    return payload[:off] + value.to_bytes(32, "big") + payload[off + 32 :]


def scalar_at(payload: bytes, index: int) -> int:
    off = 32 + 32 * index
    return int.from_bytes(payload[off : off + 32], "big")


# -- malicious Alice from the building blocks ---------------------------------------------------


def alice_reply(
    s: Seeds,
    ote1: bytes,
    a0: int,
    a1: int,
    seed: str,
    tweak: Callable[[list[int]], None] | None = None,
    psid: bytes = PSID,
) -> tuple[bytes, int, int]:
    """Alice's round 2 with the same randomness as ``new_alice(seed)``; ``tweak`` edits ã
    before θ, η and μ are computed (a *consistent* deviation)."""
    twin = DeterministicRng(seed).fork("alice")
    nu_a = twin.random_bytes(32)
    a_hat = random_scalar(twin, Q)
    ext = ExtensionAlice(psid=psid, seeds=s.alice, peer=BOB)
    msg = ext.check(ote1)
    alpha0, alpha1 = ext.sender_pads(nu_a)
    g = gadget_vector(psid)
    c0 = -sum(gj * p[0] for gj, p in zip(g, alpha0, strict=True)) % Q
    c1 = -sum(gj * p[1] for gj, p in zip(g, alpha0, strict=True)) % Q
    a_tilde = corrections(alpha0, alpha1, a0, a1, a_hat)
    if tweak is not None:
        tweak(a_tilde)
    a_tilde_bytes = encode_scalars(a_tilde)
    th0, th1 = theta(psid, msg.nu_b, nu_a, message_digest(psid, msg), a_tilde_bytes)
    eta, mus = alice_check_values(theta0=th0, theta1=th1, alpha0=alpha0, a0=a0, a1=a1, a_hat=a_hat)
    mu = mu_digest(psid, msg.nu_b, nu_a, mus)
    return nu_a + a_tilde_bytes + eta.to_bytes(32, "big") + mu, c0, c1


# -- §14 item 7: honest ---------------------------------------------------------------------------


def test_lengths_and_ids() -> None:
    assert OTE1_LEN == 32_832
    assert OTE2_LEN == 49_248 == 32 + 49_152 + 32 + 32
    assert pair_session_id(SID, BOB, ALICE, OSID) != pair_session_id(SID, ALICE, BOB, OSID)
    assert pair_session_id(SID, BOB, ALICE, OSID) != pair_session_id(SID, BOB, ALICE, SID)
    assert pair_session_id(SID, BOB, ALICE, OSID) != pair_session_id(OSID, BOB, ALICE, OSID)
    with pytest.raises(InvalidArguments):
        pair_session_id(SID, BOB, BOB, OSID)
    with pytest.raises(InvalidArguments):
        pair_session_id(SID, BOB, ALICE, OSID[:-1])


def test_gadget_equals_hs_per_index() -> None:
    g = gadget_vector(PSID)
    assert len(g) == 512
    for j in (0, 1, 300, 511):
        assert g[j] == hs("dkls23/rvole-gadget", Q, PSID, u16be(j))
    assert gadget_vector(SID) != g


def test_honest_100_runs(seeds: Seeds) -> None:
    """c_k + d_k == a_k·χ and χ == Σ β_j g_j, for 100 random inputs (fresh psid each run)."""
    inputs = DeterministicRng("rvole-inputs")
    chis = set()
    for run in range(100):
        psid = pair_session_id(run.to_bytes(32, "big"), BOB, ALICE, OSID)
        seed = f"honest-{run}"
        a0, a1 = random_scalar(inputs, Q), random_scalar(inputs, Q)
        if run == 0:
            a0, a1 = 0, Q - 1
        bob, alice = new_bob(seeds, seed, psid), new_alice(seeds, seed, psid)
        ote1, chi = bob.round1()
        assert len(ote1) == OTE1_LEN
        alice.check(ote1)
        ote2, c0, c1 = alice.round2(a0, a1)
        assert len(ote2) == OTE2_LEN
        d0, d1 = bob.round3(ote2)
        assert (c0 + d0) % Q == a0 * chi % Q
        assert (c1 + d1) % Q == a1 * chi % Q
        g = gadget_vector(psid)
        assert chi == sum(gj for gj, b in zip(g, beta_of(seed), strict=True) if b) % Q
        chis.add(chi)
    assert len(chis) == 100


def test_builder_reproduces_honest_alice(seeds: Seeds) -> None:
    bob = new_bob(seeds, "builder")
    ote1, chi = bob.round1()
    alice = new_alice(seeds, "builder")
    alice.check(ote1)
    honest = alice.round2(11, 22)
    assert alice_reply(seeds, ote1, 11, 22, "builder") == honest
    d0, _ = bob.round3(honest[0])
    assert (honest[1] + d0) % Q == 11 * chi % Q


def test_ote2_round_trip_and_redaction(seeds: Seeds) -> None:
    bob = new_bob(seeds, "rt")
    ote1, chi = bob.round1()
    alice = new_alice(seeds, "rt")
    alice.check(ote1)
    ote2, c0, _ = alice.round2(5, 6)
    assert Ote2.parse(ote2, peer=ALICE).encode() == ote2
    for obj in (bob, alice):
        text = repr(obj)
        assert "redacted" in text
        assert str(chi) not in text and str(c0) not in text


# -- §14 item 8: wrong OT corrections -------------------------------------------------------------


def _run_with(seeds: Seeds, seed: str, reply: Callable[[bytes], bytes]) -> tuple[int, int]:
    bob = new_bob(seeds, seed)
    ote1, _ = bob.round1()
    return bob.round3(reply(ote1))


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("beta_value", [0, 1])
def test_naive_a_tilde_tamper_fails(seeds: Seeds, k: int, beta_value: int) -> None:
    """θ is bound to ã by Fiat–Shamir: a changed ã without recomputation always fails."""
    seed = "naive"
    j = beta_of(seed).index(beta_value, 100)

    def reply(ote1: bytes) -> bytes:
        payload, _, _ = alice_reply(seeds, ote1, 3, 4, seed)
        index = 3 * j + k
        return with_scalar(payload, index, (scalar_at(payload, index) + 1) % Q)

    with pytest.raises(ProtocolAbort) as exc:
        _run_with(seeds, seed, reply)
    assert_alice_abort(exc, AbortReason.RVOLE_CONSISTENCY_FAILED)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_consistent_selective_failure(seeds: Seeds, k: int) -> None:
    """Alice changes one ã_{j,k} and recomputes θ, η, μ: she passes iff β_j = 0 (the DKLs19/23
    one-bit leak of β, bounded by ξ = κ + 2s and the terminal-abort rule), and then the output
    is still correct."""
    seed = "selective"
    beta = beta_of(seed)
    a0, a1 = 1234567, Q - 89
    for beta_value in (1, 0):
        j = beta.index(beta_value, 7)

        def tweak(a_tilde: list[int], index: int = 3 * j + k) -> None:
            a_tilde[index] = (a_tilde[index] + 0xBAD) % Q

        bob = new_bob(seeds, seed)
        ote1, chi = bob.round1()
        payload, c0, c1 = alice_reply(seeds, ote1, a0, a1, seed, tweak)
        if beta_value == 1:
            with pytest.raises(ProtocolAbort) as exc:
                bob.round3(payload)
            assert_alice_abort(exc, AbortReason.RVOLE_CONSISTENCY_FAILED)
            with pytest.raises(InvalidArguments):
                bob.round3(payload)  # terminal
        else:
            d0, d1 = bob.round3(payload)
            assert (c0 + d0) % Q == a0 * chi % Q
            assert (c1 + d1) % Q == a1 * chi % Q


@pytest.mark.parametrize("field", ["eta", "mu", "nu_a"])
def test_wrong_eta_mu_or_nu_a_fails(seeds: Seeds, field: str) -> None:
    seed = "eta-mu"

    def reply(ote1: bytes) -> bytes:
        payload, _, _ = alice_reply(seeds, ote1, 3, 4, seed)
        if field == "eta":
            return with_scalar(payload, 1536, (scalar_at(payload, 1536) + 1) % Q)
        pos = {"mu": OTE2_LEN - 1, "nu_a": 0}[field]
        return payload[:pos] + bytes([payload[pos] ^ 1]) + payload[pos + 1 :]

    with pytest.raises(ProtocolAbort) as exc:
        _run_with(seeds, seed, reply)
    assert_alice_abort(exc, AbortReason.RVOLE_CONSISTENCY_FAILED)


# -- §14 item 9: freshness -----------------------------------------------------------------------


def _a_tilde(payload: bytes) -> list[int]:
    return [scalar_at(payload, i) for i in range(1536)]


def test_replayed_ote1_same_psid_gives_fresh_pads(seeds: Seeds) -> None:
    """A malicious Bob replays his whole OTE1 under a repeated psid (sid reuse after a restart).
    Alice's check passes, but ν_A makes her pads fresh: no ã difference reveals a_A − a_B."""
    bob = new_bob(seeds, "fresh-bob")
    ote1, _ = bob.round1()
    a_sess, b_sess = (111, 222), (333, 444)
    alice_a = new_alice(seeds, "fresh-session-A")
    alice_a.check(ote1)
    ote2_a, _, _ = alice_a.round2(*a_sess)
    alice_b = new_alice(seeds, "fresh-session-B")
    alice_b.check(ote1)  # same psid, same U: the check passes
    ote2_b, _, _ = alice_b.round2(*b_sess)
    assert ote2_a[:32] != ote2_b[:32]  # ν_A differs
    # Alice's pads differ between the sessions
    ext = ExtensionAlice(psid=PSID, seeds=seeds.alice, peer=BOB)
    ext.check(ote1)
    pads_a = ext.sender_pads(ote2_a[:32])
    pads_b = ext.sender_pads(ote2_b[:32])
    assert all(pads_a[b][j] != pads_b[b][j] for b in (0, 1) for j in range(512))
    # no correction difference equals the input difference
    ta, tb = _a_tilde(ote2_a), _a_tilde(ote2_b)
    for k in (0, 1):
        diff = (a_sess[k] - b_sess[k]) % Q
        assert all((ta[3 * j + k] - tb[3 * j + k]) % Q != diff for j in range(512))


def test_without_fresh_nu_a_the_difference_would_leak(seeds: Seeds) -> None:
    """The counterfactual that shows the freshness assertion can fail: if ν_A (and â) repeat,
    as when both sessions draw the same randomness, ã_A − ã_B == a_A − a_B in every slot."""
    bob = new_bob(seeds, "fresh-bob")
    ote1, _ = bob.round1()
    outs = []
    for inputs in ((111, 222), (333, 444)):
        alice = new_alice(seeds, "same-randomness")
        alice.check(ote1)
        outs.append(alice.round2(*inputs)[0])
    ta, tb = _a_tilde(outs[0]), _a_tilde(outs[1])
    assert all((ta[3 * j] - tb[3 * j]) % Q == (111 - 333) % Q for j in range(512))


def test_replayed_ote1_into_another_session_fails(seeds: Seeds) -> None:
    """Under another psid, the PRG inputs differ, so a replayed OTE1 fails Alice's check."""
    bob = new_bob(seeds, "fresh-bob")
    ote1, _ = bob.round1()
    other = pair_session_id(bytes(32), BOB, ALICE, OSID)
    alice = new_alice(seeds, "other", psid=other)
    with pytest.raises(ProtocolAbort) as exc:
        alice.check(ote1)
    assert exc.value.abort_reason is AbortReason.OT_CONSISTENCY_FAILED
    assert exc.value.culprits == frozenset({BOB})
    with pytest.raises(InvalidArguments):
        alice.round2(1, 2)  # refused after a failed check


# -- out-of-range scalars and lengths (§14 item 25; erratum 9) ------------------------------------


def _honest_ote2(seeds: Seeds, seed: str) -> tuple[RvoleBob, bytes]:
    bob = new_bob(seeds, seed)
    ote1, _ = bob.round1()
    alice = new_alice(seeds, seed)
    alice.check(ote1)
    return bob, alice.round2(8, 9)[0]


def test_every_scalar_field_of_ote2_is_range_checked(seeds: Seeds) -> None:
    """All 1,536 ã_{j,k} and η, each with q, q+1 or 2^256−1: INVALID_ENCODING naming Alice."""
    _, payload = _honest_ote2(seeds, "range-all")
    Ote2.parse(payload, peer=ALICE)
    for index in range(1537):
        bad = with_scalar(payload, index, BAD_SCALARS[index % 3])
        with pytest.raises(ProtocolAbort) as exc:
            Ote2.parse(bad, peer=ALICE)
        assert_alice_abort(exc, AbortReason.INVALID_ENCODING)


@pytest.mark.parametrize("value", BAD_SCALARS, ids=["q", "q+1", "2^256-1"])
@pytest.mark.parametrize("index", [0, 1, 2, 767, 1535, 1536], ids=lambda i: f"scalar{i}")
def test_out_of_range_scalar_rejected_before_secret_work(
    seeds: Seeds, value: int, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob, payload = _honest_ote2(seeds, "range")

    def no_secret_work(*args: object, **kwargs: object) -> object:
        raise AssertionError("secret-dependent work before decoding finished")

    monkeypatch.setattr(extension.ExtensionBob, "receiver_pads", no_secret_work)
    with pytest.raises(ProtocolAbort) as exc:
        bob.round3(with_scalar(payload, index, value))
    assert_alice_abort(exc, AbortReason.INVALID_ENCODING)
    with pytest.raises(InvalidArguments):
        bob.round3(payload)  # terminal after the abort


@pytest.mark.parametrize("length", [0, 1, OTE2_LEN - 1, OTE2_LEN + 1, OTE2_LEN + 32])
def test_wrong_ote2_length(seeds: Seeds, length: int) -> None:
    bob, payload = _honest_ote2(seeds, "length")
    with pytest.raises(ProtocolAbort) as exc:
        bob.round3((payload * 2)[:length])
    assert_alice_abort(exc, AbortReason.BAD_LENGTH)


def test_wrong_ote1_length_names_bob(seeds: Seeds) -> None:
    bob = new_bob(seeds, "ote1-length")
    ote1, _ = bob.round1()
    alice = new_alice(seeds, "ote1-length")
    with pytest.raises(ProtocolAbort) as exc:
        alice.check(ote1[:-32])
    assert exc.value.abort_reason is AbortReason.BAD_LENGTH
    assert exc.value.culprits == frozenset({BOB})


# -- use-once state ------------------------------------------------------------------------------


def test_call_order_and_use_once(seeds: Seeds) -> None:
    bob = new_bob(seeds, "order")
    alice = new_alice(seeds, "order")
    with pytest.raises(InvalidArguments):
        bob.round3(bytes(OTE2_LEN))
    with pytest.raises(InvalidArguments):
        alice.round2(1, 2)  # requires check() first (rule S-1 ordering)
    ote1, _ = bob.round1()
    with pytest.raises(InvalidArguments):
        bob.round1()
    alice.check(ote1)
    with pytest.raises(InvalidArguments):
        alice.check(ote1)
    for bad in (-1, Q):
        with pytest.raises(InvalidArguments):
            alice.round2(bad, 1)
    ote2, _, _ = alice.round2(1, 2)
    with pytest.raises(InvalidArguments):
        alice.round2(1, 2)
    bob.round3(ote2)
    with pytest.raises(InvalidArguments):
        bob.round3(ote2)
