"""DKLs23 signing, honest runs and lifecycle (``specs/dkls23.md`` §14 items 10–13, 23, 24,
29–31; errata 7, 21).

Keys come from a TEST-ONLY trusted dealer; the pairwise OT state from the real VSOT run between
every ordered pair (``tests/helpers/dkls23_harness.py``). Every signature is checked by
independent verifiers: libsecp256k1 (coincurve, ``hasher=None``) verify *and* recovery, pyca
``cryptography`` (prehashed), eth-keys recovery, and the XRPL canonical-signature rule.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading

import pytest
from coincurve import PublicKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from eth_keys import KeyAPI

from helpers.dkls23_harness import (
    R2_R,
    R3_U,
    R3_W,
    Fixture,
    Run,
    make_fixture,
    make_sid,
)
from helpers.dkls23_vectors import CASES, VECTOR_FILE, build_case
from warifu.core.chains.xrpl import der_is_strict_low_s
from warifu.core.curves import SECP256K1
from warifu.core.curves.secp256k1 import P_FIELD
from warifu.core.dkls23 import (
    AbortClass,
    EcdsaSignature,
    PairState,
    Presignature,
    PresignatureStore,
    SignSession,
    classify,
    finalize,
    is_dropped,
    pairs_to_ban,
    presign_sid,
    round3,
)
from warifu.core.dkls23 import signing as signing_mod
from warifu.core.dkls23.ecdsa import (
    HALF_Q,
    der_encode,
    normalise_low_s,
    recovery_id,
    verify_with_libsecp256k1,
)
from warifu.core.dkls23.wire import R1_COM_LEN, R1_OTE_LEN, R2_LEN, R3_LEN, scalars_below_q
from warifu.core.envelope import Envelope
from warifu.core.errors import (
    AbortReason,
    AlreadyConsumed,
    FailedPrecondition,
    InvalidArguments,
    InvalidKeyShare,
    ProtocolAbort,
)
from warifu.core.rng import DeterministicRng
from warifu.core.shares.package import KeyShare

Q = SECP256K1.order
DIGEST = hashlib.sha256(b"warifu dkls23 test digest").digest()

FX23 = (2, (1, 2, 3))
FX35 = (3, (1, 2, 3, 4, 5))
FX25 = (2, (1, 2, 3, 4, 5))


def fixture(spec: tuple[int, tuple[int, ...]]) -> Fixture:
    return make_fixture(*spec)


def check_signature(fx: Fixture, digest: bytes, sig: EcdsaSignature) -> None:
    """Independent verification: libsecp256k1 verify + recover, pyca, eth-keys, XRPL rule."""
    pk = SECP256K1.encode_point(fx.pkg.public_key)
    assert 0 < sig.r < Q and 0 < sig.s <= HALF_Q and sig.recid in (0, 1)
    assert PublicKey(pk).verify(sig.der(), digest, hasher=None)
    recovered = PublicKey.from_signature_and_message(sig.recoverable(), digest, hasher=None)
    assert recovered.format(compressed=True) == pk
    pyca_pk = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), pk)
    pyca_pk.verify(sig.der(), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    eth_sig = KeyAPI.Signature(vrs=(sig.recid, sig.r, sig.s))
    assert eth_sig.recover_public_key_from_msg_hash(digest).to_compressed_bytes() == pk
    assert der_is_strict_low_s(sig.der())


def all_signed(fx: Fixture, res_signers: tuple[int, ...], run_result: object) -> EcdsaSignature:
    sigs = run_result.signatures()  # type: ignore[attr-defined]
    assert set(sigs) == set(res_signers), {
        i: (o.abort, o.error, o.stage, o.stalled)
        for i, o in run_result.outcomes.items()  # type: ignore[attr-defined]
    }
    distinct = {s.recoverable() for s in sigs.values()}
    assert len(distinct) == 1, "members must output identical bytes (§8.5 step 8)"
    return next(iter(sigs.values()))


# --------------------------------------------------------------------------------------------
# 10. honest signing over every required subset
# --------------------------------------------------------------------------------------------

SUBSETS = (
    [(FX23, s) for s in itertools.combinations((1, 2, 3), 2)]
    + [(FX35, s) for s in [(1, 2, 3), (1, 3, 5), (2, 4, 5), (3, 4, 5)]]
    + [(FX35, (1, 2, 3, 4, 5))]
    + [(FX25, s) for s in itertools.combinations((1, 2, 3, 4, 5), 2)]
)


@pytest.mark.parametrize(
    ("spec", "signers"),
    SUBSETS,
    ids=[f"t{sp[0]}n{len(sp[1])}-S{''.join(map(str, s))}" for sp, s in SUBSETS],
)
def test_honest_signing_verifies_and_recovers(
    spec: tuple[int, tuple[int, ...]], signers: tuple[int, ...]
) -> None:
    fx = fixture(spec)
    digest = hashlib.sha256(b"honest|" + bytes(signers)).digest()
    res = Run(fx, signers, sid=make_sid(f"honest-{spec}-{signers}")).sign(digest)
    sig = all_signed(fx, signers, res)
    check_signature(fx, digest, sig)
    for o in res.outcomes.values():
        assert not o.session.holds_secrets
        assert o.presig is not None and o.presig.consumed


def test_eth_and_xrpl_signatures_from_a_threshold_key() -> None:
    """§14 test 10: an Ethereum personal_sign digest recovers the key's address (eth-account),
    and an XRPL SHA512Half digest passes rippled's canonical verify (``chains.xrpl``)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from warifu.core.chains import eth, xrpl

    fx = fixture(FX35)
    pk = SECP256K1.encode_point(fx.pkg.public_key)
    text = b"warifu dkls23: sign in"
    digest = eth.personal_sign_hash(text)
    res = Run(fx, (2, 4, 5), sid=make_sid("eth")).sign(digest)
    sig = all_signed(fx, (2, 4, 5), res)
    address = Account.recover_message(
        encode_defunct(text),
        signature=bytes.fromhex(eth.message_signature(sig.r, sig.s, sig.recid)[2:]),
    )
    assert address == eth.eth_address(pk) == eth.recover_address(digest, sig.r, sig.s, sig.recid)
    blob = b"STX\x00" + hashlib.sha256(b"an XRPL transaction's fields").digest()
    res = Run(fx, (1, 3, 4), sid=make_sid("xrpl")).sign(xrpl.sha512_half(blob))
    sig = all_signed(fx, (1, 3, 4), res)
    xrpl.verify_signature(blob, sig.der(), pk)  # raises unless strict DER, low S and valid


def test_message_sizes_match_the_spec() -> None:
    """§11.1 / erratum 9: R1_COM 32, R1_OTE 32,832, R2 49,443, R3 128 bytes on the wire."""
    assert (R1_COM_LEN, R1_OTE_LEN, R2_LEN, R3_LEN) == (32, 32_832, 49_443, 128)
    fx = fixture(FX35)
    res = Run(fx, (1, 2, 3), sid=make_sid("sizes")).sign(DIGEST)
    sizes = {(e.msg_type, len(e.payload)) for e in res.transcript}
    assert sizes == {
        ("dkls23/r1-com", 32),
        ("dkls23/r1-ote", 32_832),
        ("dkls23/r2", 49_443),
        ("dkls23/r3", 128),
    }


# --------------------------------------------------------------------------------------------
# 11. determinism and the golden vector
# --------------------------------------------------------------------------------------------


def test_seeded_runs_are_byte_identical() -> None:
    fx = fixture(FX23)
    a = Run(fx, (1, 3), sid=make_sid("det"), rng_seed="det").sign(DIGEST)
    b = Run(fx, (1, 3), sid=make_sid("det"), rng_seed="det").sign(DIGEST)
    assert a.transcript == b.transcript
    assert a.transcript_digest() == b.transcript_digest()
    assert a.signatures()[1].recoverable() == b.signatures()[1].recoverable()
    c = Run(fx, (1, 3), sid=make_sid("det"), rng_seed="other").sign(DIGEST)
    assert c.transcript_digest() != a.transcript_digest()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_vector(case: dict[str, object]) -> None:
    stored = {c["name"]: c for c in json.loads(VECTOR_FILE.read_text())["cases"]}
    assert "Implementation-generated" in json.loads(VECTOR_FILE.read_text())["note"]
    want = stored[case["name"]]
    got = build_case(case)
    assert got == want
    fx = make_fixture(case["t"], tuple(case["ids"]), case["seed"])  # type: ignore[arg-type]
    s = want["signature"]
    sig = EcdsaSignature(r=int(s["r"], 16), s=int(s["s"], 16), recid=s["recid"])
    check_signature(fx, bytes.fromhex(case["digest"]), sig)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# 12. low-s
# --------------------------------------------------------------------------------------------


def raw_s(res: object, signers: tuple[int, ...]) -> int:
    """``Σw / Σu'`` from the R3 broadcasts of a run (before low-s normalisation)."""
    r3 = {
        e.sender: e.payload
        for e in res.transcript  # type: ignore[attr-defined]
        if e.msg_type == "dkls23/r3"
    }
    assert set(r3) == set(signers)
    u = sum(int.from_bytes(p[R3_U], "big") for p in r3.values()) % Q
    w = sum(int.from_bytes(p[R3_W], "big") for p in r3.values()) % Q
    return w * pow(u, -1, Q) % Q


def test_low_s_normalisation_and_recid_flip() -> None:
    """Seed search until both a high raw s and a low raw s occur; check s and the recid flip."""
    fx = fixture(FX23)
    seen = set()
    for k in range(40):
        digest = hashlib.sha256(b"low-s|%d" % k).digest()
        res = Run(fx, (1, 2), sid=make_sid(f"low-s-{k}"), rng_seed=f"low-s-{k}").sign(digest)
        sig = all_signed(fx, (1, 2), res)
        check_signature(fx, digest, sig)
        s0 = raw_s(res, (1, 2))
        r_prime = res[1].partial.r_prime  # type: ignore[union-attr]
        recid0 = recovery_id(r_prime)
        if s0 > HALF_Q:
            assert (sig.s, sig.recid) == (Q - s0, recid0 ^ 1)
            seen.add("high")
        else:
            assert (sig.s, sig.recid) == (s0, recid0)
            seen.add("low")
        if seen == {"high", "low"}:
            break
    assert seen == {"high", "low"}


#: Presignatures are use-once, so every signature of the chain is a full session. Measured on
#: the 2-vCPU dev VM: 500 sessions take ≈ 30 s idle (≈ 50 s while other jobs shared the CPUs),
#: so 1,000 would be ≈ 60–100 s; 500 keeps the test under the 60 s budget.
CHAIN = int(os.environ.get("WARIFU_DKLS23_CHAIN", "500"))  # §14 item 34 (nightly): 5000


@pytest.mark.slow
def test_chain_of_signatures_has_no_high_s() -> None:
    fx = fixture(FX23)
    rs = set()
    for k in range(CHAIN):
        digest = hashlib.sha256(b"chain|%d" % k).digest()
        signers = ((1, 2), (1, 3), (2, 3))[k % 3]
        res = Run(fx, signers, sid=make_sid(f"chain-{k}"), rng_seed=f"chain-{k}").sign(digest)
        sig = all_signed(fx, signers, res)
        assert sig.s <= HALF_Q
        assert verify_with_libsecp256k1(fx.pkg.public_key, digest, sig)
        assert PublicKey(SECP256K1.encode_point(fx.pkg.public_key)).verify(
            sig.der(), digest, hasher=None
        )
        rs.add(sig.r)
    assert len(rs) == CHAIN  # no repeated r
    assert_r_uniform(sorted(rs))


#: χ² critical values at p = 0.001 (so a correct implementation fails about once in 1,000 seeds;
#: the seeds here are fixed, so the outcome is reproducible).
CHI2_CRITICAL_0_001 = {15: 37.70, 255: 330.52}


def assert_r_uniform(rs: list[int]) -> None:
    """§14 item 34: the top bits of r are χ²-uniform (top byte when there are enough samples,
    else the top nibble so that every bin expects at least ~30)."""
    bits = 8 if len(rs) >= 256 * 10 else 4
    bins = 1 << bits
    counts = [0] * bins
    for r in rs:
        counts[r >> (256 - bits)] += 1
    expected = len(rs) / bins
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < CHI2_CRITICAL_0_001[bins - 1], (chi2, counts)


def test_uniformity_check_can_fail() -> None:
    skewed = [(k % 3) << 252 for k in range(600)]  # only three of sixteen nibbles ever appear
    with pytest.raises(AssertionError):
        assert_r_uniform(skewed)


def test_low_s_helpers() -> None:
    assert normalise_low_s(HALF_Q, 0) == (HALF_Q, 0)
    assert normalise_low_s(HALF_Q + 1, 0) == (Q - HALF_Q - 1, 1)
    assert normalise_low_s(Q - 1, 1) == (1, 0)
    assert der_is_strict_low_s(der_encode(Q - 1, 1))
    assert not der_is_strict_low_s(der_encode(1, Q - 1))
    with pytest.raises(InvalidArguments):
        der_encode(0, 1)


def _point_with_x(x: int) -> bytes | None:
    for prefix in (b"\x02", b"\x03"):
        try:
            return SECP256K1.encode_point(SECP256K1.decode_point(prefix + x.to_bytes(32, "big")))
        except InvalidArguments:
            return None
    return None


def test_recovery_id_of_a_point_with_x_at_least_q() -> None:
    """recid = (y mod 2) | (2 if x ≥ q): the high bit is set for x in [q, p)."""
    x = next(x for x in range(Q, P_FIELD) if _point_with_x(x) is not None)
    for prefix, parity in ((b"\x02", 0), (b"\x03", 1)):
        p = SECP256K1.decode_point(prefix + x.to_bytes(32, "big"))
        assert recovery_id(p) == 2 | parity
    g = SECP256K1.generator()
    assert recovery_id(g) == SECP256K1.encode_point(g)[0] & 1


# --------------------------------------------------------------------------------------------
# 13. presign mode
# --------------------------------------------------------------------------------------------


def test_presign_then_sign_a_digest_chosen_later() -> None:
    fx = fixture(FX35)
    batch_sid = make_sid("presign-batch")
    sids = [presign_sid(batch_sid, k) for k in range(3)]
    assert len(set(sids)) == 3 and batch_sid not in sids
    store = {i: PresignatureStore() for i in (1, 3, 5)}
    runs = []
    for k, sid_k in enumerate(sids):
        run = Run(fx, (1, 3, 5), sid=sid_k, rng_seed=f"presign-{k}")
        res = run.presign()
        for i, o in res.outcomes.items():
            assert o.presig is not None and not o.session.holds_secrets
            store[i].put(o.presig, expires_at=600.0)
        runs.append(run)
    assert store[1].count(fx.pkg.key_id) == 3
    # later: a digest chosen after round 2, for presignature 1
    digest = hashlib.sha256(b"chosen later").digest()
    run = runs[1]
    for i, o in run.outcomes.items():
        o.presig = store[i].take(sids[1])
    res = run.online(digest, message_bound=False)
    sig = all_signed(fx, (1, 3, 5), res)
    check_signature(fx, digest, sig)
    ps_r = None
    for o in res.outcomes.values():
        assert o.partial is not None and o.presig is not None
        ps_r = o.presig.big_r
        delta = signing_mod.rerandomiser(sids[1], o.presig.big_r, fx.pkg.public_key, digest)
        assert o.partial.r_prime == o.presig.big_r + SECP256K1.base_mul(delta)
        assert o.partial.r_prime != o.presig.big_r
    assert ps_r is not None
    # the other two presignatures are still there; the used one is gone
    assert store[1].count(fx.pkg.key_id) == 2
    with pytest.raises(AlreadyConsumed) as ei:
        store[1].take(sids[1])
    assert ei.value.reason == "PRESIG_UNKNOWN_OR_CONSUMED"


def test_presign_sid_bounds() -> None:
    with pytest.raises(InvalidArguments):
        presign_sid(make_sid("x"), 64)
    with pytest.raises(InvalidArguments):
        presign_sid(b"short", 0)
    assert presign_sid(make_sid("x"), 0) != presign_sid(make_sid("x"), 1)


# --------------------------------------------------------------------------------------------
# 23, 24. envelope screening: DROPPED class, the session continues
# --------------------------------------------------------------------------------------------


def test_replayed_envelope_from_another_session_is_dropped_and_session_continues() -> None:
    fx = fixture(FX23)
    old = Run(fx, (1, 2), sid=make_sid("replay-old"), rng_seed="old").sign(DIGEST)
    old_r2 = next(e for e in old.transcript if e.msg_type == "dkls23/r2" and e.sender == 2)

    def rule(label: str, s: int, r: int, env: Envelope) -> Envelope | list[Envelope] | None:
        if label == "r2" and s == 2:
            return [old_r2, env]  # replay first, then the live message
        return env

    res = Run(fx, (1, 2), sid=make_sid("replay-new"), rng_seed="new", rule=rule).sign(DIGEST)
    sig = all_signed(fx, (1, 2), res)
    check_signature(fx, DIGEST, sig)
    [drop] = res[1].dropped
    assert drop.abort_reason is AbortReason.WRONG_SESSION and not drop.culprits
    assert classify(drop) is AbortClass.DROPPED and pairs_to_ban(drop) == frozenset()


def _after_round1(fx: Fixture, signers: tuple[int, ...], label: str) -> dict[int, object]:
    sessions = {
        i: SignSession(
            key_share=fx.shares[i],
            signers=signers,
            sid=make_sid(label),
            pairs={j: fx.pairs[i][j] for j in signers if j != i},
            signer=fx.signers[i],
            rng=DeterministicRng(f"{label}/{i}"),
        )
        for i in signers
    }
    r1 = {i: s.round1() for i, s in sessions.items()}
    return {"sessions": sessions, "r1": r1}


def test_misplaced_valid_envelopes_are_dropped_without_blame() -> None:
    fx = fixture(FX23)
    st = _after_round1(fx, (1, 2), "misplaced")
    s1: SignSession = st["sessions"][1]  # type: ignore[index]
    com2, ote2 = st["r1"][2]  # type: ignore[index]
    # the R1_COM of party 2 handed in as its R1_OTE: valid but misplaced
    with pytest.raises(ProtocolAbort) as ei:
        s1.ot_checks({2: com2})
    assert ei.value.abort_reason is AbortReason.WRONG_SESSION and not ei.value.culprits
    assert is_dropped(ei.value) and s1.phase == "round1 sent"
    # a P2P envelope addressed to another party
    st3 = _after_round1(fx, (1, 2, 3), "misrouted")
    s1b: SignSession = st3["sessions"][1]  # type: ignore[index]
    _, otes2 = st3["r1"][2]  # type: ignore[index]
    with pytest.raises(ProtocolAbort) as ei:
        s1b.screen(2, otes2[3])
    assert ei.value.abort_reason is AbortReason.WRONG_SESSION and not ei.value.culprits
    # the session still works with the right envelopes
    checks = s1.ot_checks({2: ote2[1]}, {2: com2})
    for _, check in checks:
        check()
    assert set(s1.round2({2: com2})) == {2}


def test_sender_mismatch_and_bad_signatures_blame_nobody() -> None:
    fx = fixture((2, (1, 2, 3)))
    st = _after_round1(fx, (1, 2, 3), "sender")
    s1: SignSession = st["sessions"][1]  # type: ignore[index]
    com2, _ = st["r1"][2]  # type: ignore[index]
    with pytest.raises(ProtocolAbort) as ei:
        s1.screen(3, com2)  # arrived over party 3's channel, names party 2
    assert ei.value.abort_reason is AbortReason.SENDER_MISMATCH and not ei.value.culprits
    assert is_dropped(ei.value)
    forged = Envelope(
        sid=com2.sid,
        round=com2.round,
        sender=2,
        to=0,
        msg_type=com2.msg_type,
        payload=bytes(32),
        signature=bytes(64),
    )
    with pytest.raises(ProtocolAbort) as ei:
        s1.screen(2, forged)
    assert ei.value.abort_reason is AbortReason.BAD_ENVELOPE and not ei.value.culprits
    assert is_dropped(ei.value)
    assert s1.phase == "round1 sent" and s1.holds_secrets
    # a validly signed envelope with a header no DKLs23 message has: CHEAT-FORMAT, culprit 2
    bad = fx.resign(com2, round=7)
    with pytest.raises(ProtocolAbort) as ei:
        s1.screen(2, bad)
    assert ei.value.abort_reason is AbortReason.BAD_ENVELOPE and ei.value.culprits == {2}
    assert classify(ei.value) is AbortClass.CHEAT_FORMAT
    assert s1.phase == "aborted" and not s1.holds_secrets


# --------------------------------------------------------------------------------------------
# 29. preconditions before round 1
# --------------------------------------------------------------------------------------------


def _session(fx: Fixture, me: int, signers: tuple[int, ...], **kw: object) -> SignSession:
    args: dict[str, object] = {
        "key_share": fx.shares[me],
        "signers": signers,
        "sid": make_sid("pre"),
        "pairs": {j: fx.pairs[me][j] for j in signers if j != me and j in fx.pairs[me]},
        "signer": fx.signers[me],
        "rng": DeterministicRng("pre"),
    }
    args.update(kw)
    return SignSession(**args)  # type: ignore[arg-type]


def test_banned_or_quarantined_peer_is_refused_before_round1() -> None:
    fx = fixture(FX35)
    pairs = {j: fx.pairs[1][j] for j in (2, 3)}  # the node withholds the BANNED pair with 3
    pairs.pop(3)
    with pytest.raises(FailedPrecondition):
        _session(fx, 1, (1, 2, 3), pairs=pairs)


@pytest.mark.parametrize(
    ("signers", "reason"),
    [
        ((2, 3), "INVALID_PARTY"),  # me not in S
        ((1, 2), "NOT_ENOUGH_SIGNERS"),  # |S| < t
        ((1, 2, 2), "INVALID_PARTY"),  # duplicate
        ((1, 2, 9), "INVALID_PARTY"),  # not in the committee
        ((0, 1, 2), "INVALID_PARTY"),
    ],
)
def test_signing_set_preconditions(signers: tuple[int, ...], reason: str) -> None:
    fx = fixture(FX35)
    with pytest.raises(InvalidArguments) as ei:
        _session(fx, 1, signers, pairs={j: fx.pairs[1][j] for j in (2, 3)})
    assert ei.value.reason == reason


def test_share_integrity_self_check() -> None:
    fx = fixture(FX35)
    bad = KeyShare(pkg=fx.pkg, party_id=1, secret=(fx.shares[1].secret + 1) % Q)
    with pytest.raises(InvalidKeyShare) as ei:
        _session(fx, 1, (1, 2, 3), key_share=bad)
    assert ei.value.reason == "SHARE_INTEGRITY"
    with pytest.raises(InvalidArguments):
        _session(fx, 1, (1, 2, 3), signer=fx.signers[2])  # not our node key
    with pytest.raises(InvalidArguments):
        _session(fx, 1, (1, 2, 3), sid=b"short")


def test_secrets_are_redacted_and_never_pickled() -> None:
    import copy
    import pickle

    fx = fixture(FX23)
    res = Run(fx, (1, 2), sid=make_sid("redact")).presign()
    ps = res[1].presig
    assert ps is not None
    reprs = [repr(obj) for obj in (ps, res[1].session, fx.pairs[1][2])]
    assert all("redacted" in r for r in reprs)
    with pytest.raises(TypeError):
        pickle.dumps(ps)
    phi, u, v = ps.consume()
    for value in (phi, u, v):
        assert all(str(value) not in r and f"{value:x}" not in r for r in reprs)
    with pytest.raises(TypeError):
        pickle.dumps(ps)
    with pytest.raises(TypeError):
        copy.copy(ps)
    with pytest.raises(TypeError):
        pickle.dumps(res[1].session)


# --------------------------------------------------------------------------------------------
# 30. use-once
# --------------------------------------------------------------------------------------------


def test_presignature_reuse_is_refused_at_every_node() -> None:
    fx = fixture(FX23)
    res = Run(fx, (1, 3), sid=make_sid("reuse")).sign(DIGEST)
    all_signed(fx, (1, 3), res)
    for i, o in res.outcomes.items():
        assert o.presig is not None
        for digest in (DIGEST, hashlib.sha256(b"another").digest()):
            with pytest.raises(AlreadyConsumed) as ei:
                round3(o.presig, digest, signer=fx.signers[i])
            assert ei.value.reason == "PRESIG_UNKNOWN_OR_CONSUMED"


def test_bad_digest_does_not_burn_the_presignature() -> None:
    fx = fixture(FX23)
    res = Run(fx, (1, 2), sid=make_sid("digest-len")).presign()
    ps = res[1].presig
    assert ps is not None
    for bad in (b"", DIGEST[:31], DIGEST + b"\x00"):
        with pytest.raises(InvalidArguments):
            round3(ps, bad, signer=fx.signers[1])
    with pytest.raises(InvalidArguments):
        round3(ps, DIGEST, signer=fx.signers[1], me=2)
    assert not ps.consumed
    round3(ps, DIGEST, signer=fx.signers[1], pk=fx.pkg.public_key, me=1)
    assert ps.consumed


def race(
    ps: Presignature, store: PresignatureStore, via: str, fx: Fixture
) -> tuple[list[object], list[str]]:
    """Two threads released together try round 3 with the same presignature."""
    barrier = threading.Barrier(2)
    wins: list[object] = []
    losses: list[str] = []

    def worker(k: int) -> None:
        barrier.wait()
        try:
            p = store.take(ps.sid) if via == "store" else ps
            wins.append(round3(p, hashlib.sha256(b"%d" % k).digest(), signer=fx.signers[1]))
        except AlreadyConsumed as exc:
            losses.append(exc.reason)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, losses


@pytest.mark.parametrize("via", ["presignature", "store"])
def test_concurrent_double_use_exactly_one_wins(via: str) -> None:
    fx = fixture(FX23)
    for attempt in range(5):
        res = Run(fx, (1, 2), sid=make_sid(f"race-{via}-{attempt}")).presign()
        ps = res[1].presig
        assert ps is not None
        store = PresignatureStore()
        store.put(ps, expires_at=1.0)
        wins, losses = race(ps, store, via, fx)
        assert len(wins) == 1 and losses == ["PRESIG_UNKNOWN_OR_CONSUMED"]


def test_restart_leaves_no_usable_presignature() -> None:
    """Presignatures live in process memory only: a fresh store (a restart) knows none."""
    fx = fixture(FX23)
    res = Run(fx, (1, 2), sid=make_sid("restart")).presign()
    before = PresignatureStore()
    assert res[1].presig is not None
    before.put(res[1].presig, expires_at=5.0)
    after = PresignatureStore()
    with pytest.raises(AlreadyConsumed):
        after.take(make_sid("restart"))
    assert before.expire(now=5.0) == 1 and res[1].presig.consumed


def test_store_limits_and_destruction() -> None:
    fx = fixture(FX23)
    store = PresignatureStore(limit_per_key=2)
    made = []
    for k in range(3):
        res = Run(fx, (1, 2), sid=make_sid(f"limit-{k}"), rng_seed=f"limit-{k}").presign()
        assert res[1].presig is not None
        made.append(res[1].presig)
    store.put(made[0], expires_at=1.0)
    with pytest.raises(InvalidArguments):
        store.put(made[0], expires_at=1.0)
    store.put(made[1], expires_at=1.0)
    from warifu.core.errors import ResourceExhausted

    with pytest.raises(ResourceExhausted):
        store.put(made[2], expires_at=1.0)
    store.discard(made[0].sid)  # abort notice (erratum 8)
    assert made[0].consumed and len(store) == 1
    assert store.drop_key(fx.pkg.key_id) == 1 and made[1].consumed and len(store) == 0


# --------------------------------------------------------------------------------------------
# 31. abort then retry
# --------------------------------------------------------------------------------------------


def test_liveness_abort_then_a_new_session_uses_fresh_nonces() -> None:
    fx = fixture(FX23)
    rngs = {i: DeterministicRng(f"retry/{i}") for i in (1, 2)}

    def run(sid: bytes, *, deliver_r2: bool) -> tuple[dict[int, SignSession], dict[int, bytes]]:
        ss = {
            i: SignSession(
                key_share=fx.shares[i],
                signers=(1, 2),
                sid=sid,
                pairs={3 - i: fx.pairs[i][3 - i]},
                signer=fx.signers[i],
                rng=rngs[i],  # the same generators continue: freshness is not from the sid
            )
            for i in (1, 2)
        }
        r1 = {i: s.round1() for i, s in ss.items()}
        r2 = {}
        for i, s in ss.items():
            j = 3 - i
            for _, check in s.ot_checks({j: r1[j][1][i]}, {j: r1[j][0]}):
                check()
            r2[i] = s.round2({j: r1[j][0]})
        big_r = {i: r2[i][3 - i].payload[R2_R] for i in (1, 2)}
        if not deliver_r2:
            return ss, big_r
        ps = {i: ss[i].finish({3 - i: r2[3 - i][i]}) for i in ss}
        r3 = {i: round3(ps[i], DIGEST, signer=fx.signers[i]) for i in ss}
        sig = finalize(r3[1][1], {1: r3[1][0], 2: r3[2][0]}, committee=fx.committee)
        check_signature(fx, DIGEST, sig)
        return ss, big_r

    # session A: party 2's R2 never arrives at party 1 (a timeout, LIVENESS): drop the session
    a, r_a = run(make_sid("retry-a"), deliver_r2=False)
    with pytest.raises(InvalidArguments) as ei:
        a[1].finish({})
    assert ei.value.reason == "MISSING_MESSAGES" and a[1].holds_secrets
    for s in a.values():
        s.abort()
        assert not s.holds_secrets and s.phase == "aborted"
    with pytest.raises(InvalidArguments):
        a[1].finish({})  # an aborted session refuses everything
    # session B: new sid, the same (continuing) generators: succeeds with fresh R_i
    _, r_b = run(make_sid("retry-b"), deliver_r2=True)
    assert not set(r_a.values()) & set(r_b.values())


def test_check_of_an_aborted_session_is_not_evaluated() -> None:
    fx = fixture(FX35)
    st = _after_round1(fx, (1, 2, 3), "abort-check")
    s1: SignSession = st["sessions"][1]  # type: ignore[index]
    r1 = st["r1"]
    checks = s1.ot_checks(
        {j: r1[j][1][1] for j in (2, 3)},  # type: ignore[index]
        {j: r1[j][0] for j in (2, 3)},  # type: ignore[index]
    )
    checks[0][1]()
    with pytest.raises(InvalidArguments):
        checks[0][1]()  # never twice
    s1.abort()
    with pytest.raises(FailedPrecondition):
        checks[1][1]()


def test_round2_requires_every_check_to_pass_first() -> None:
    fx = fixture(FX35)
    st = _after_round1(fx, (1, 2, 3), "order")
    s1: SignSession = st["sessions"][1]  # type: ignore[index]
    r1 = st["r1"]
    coms = {j: r1[j][0] for j in (2, 3)}  # type: ignore[index]
    checks = s1.ot_checks({j: r1[j][1][1] for j in (2, 3)}, coms)  # type: ignore[index]
    checks[0][1]()
    with pytest.raises(InvalidArguments) as ei:
        s1.round2(coms)
    assert ei.value.reason == "WRONG_STATE"
    checks[1][1]()
    assert set(s1.round2(coms)) == {2, 3}


# --------------------------------------------------------------------------------------------
# finalisation edge cases that honest runs cannot reach (errata 7, §8.5 step 7)
# --------------------------------------------------------------------------------------------


def test_r_prime_identity_is_r_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Erratum 7: R' = O aborts with R_IDENTITY (forced by fixing δ = −r)."""
    fx = fixture(FX23)
    ps = Presignature(
        sid=make_sid("r-prime-o"),
        key_id=fx.pkg.key_id,
        epoch=1,
        signers=(1, 2),
        me=1,
        big_r=SECP256K1.base_mul(5),
        pk=fx.pkg.public_key,
        e2=bytes(32),
        phi=1,
        u=1,
        v=1,
    )
    monkeypatch.setattr(signing_mod, "rerandomiser", lambda *a: Q - 5)
    with pytest.raises(ProtocolAbort) as ei:
        round3(ps, DIGEST, signer=fx.signers[1])
    assert ei.value.abort_reason is AbortReason.R_IDENTITY and not ei.value.culprits
    assert ps.consumed  # used once even though round 3 failed


def test_unsupported_recid_is_liveness(monkeypatch: pytest.MonkeyPatch) -> None:
    """recid ≥ 2 (x(R') ≥ q, probability ~2^-128) → UNSUPPORTED_RECID after verification."""
    fx = fixture(FX23)
    res = Run(fx, (1, 2), sid=make_sid("recid")).presign()
    outs = {i: round3(res[i].presig, DIGEST, signer=fx.signers[i]) for i in (1, 2)}  # type: ignore[arg-type]
    box = {i: outs[i][0] for i in (1, 2)}
    monkeypatch.setattr(signing_mod, "recovery_id", lambda p: 2)
    monkeypatch.setattr(signing_mod, "verify_with_libsecp256k1", lambda *a: True)
    with pytest.raises(ProtocolAbort) as ei:
        finalize(outs[1][1], box, committee=fx.committee)
    assert ei.value.abort_reason is AbortReason.UNSUPPORTED_RECID
    assert classify(ei.value) is AbortClass.LIVENESS and not ei.value.culprits


def test_vectorised_scalar_range_check() -> None:
    ok = b"".join(k.to_bytes(32, "big") for k in (0, 1, Q - 1, 2**255))
    assert scalars_below_q(ok, 4)
    for bad in (Q, Q + 1, 2**256 - 1, Q | 1 << 200):
        assert not scalars_below_q(ok + bad.to_bytes(32, "big"), 5)
    assert not scalars_below_q(ok, 3)


def test_pair_state_is_required_type() -> None:
    fx = fixture(FX23)
    p = fx.pairs[1][2]
    assert isinstance(p, PairState)
    with pytest.raises(FailedPrecondition):
        _session(fx, 1, (1, 2), pairs={2: (p.bob, p.alice)})
    with pytest.raises(InvalidArguments):
        PairState(bob=p.alice, alice=p.bob)  # type: ignore[arg-type]
    with pytest.raises(InvalidArguments):
        PairState(bob=p.bob, alice=fx.pairs[2][1].alice)  # the same setup twice
