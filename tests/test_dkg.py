"""DKG (shares.md §4, §12 item 1, 14): honest runs, determinism, ZF algebra cross-check, property.

Every test body is written once and runs on both curves and on the (t, n) matrix t2n3, t3n5,
t2n2. Adversarial cases (test-plan DKG-1..6) are in ``test_dkg_adversarial.py``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.simulation import SimResult, Simulation, interpolate_secret, node_signer
from warifu.core.curves import ED25519, SECP256K1, Group, Point
from warifu.core.errors import InvalidArguments, ProtocolAbort
from warifu.core.rng import DeterministicRng
from warifu.core.shares.dkg import (
    KIND,
    MSG_D1,
    D1Body,
    DkgLayout,
    DkgParty,
    pok_challenge,
    verify_pok,
)
from warifu.core.shares.package import Committee, Member, eval_commitments
from warifu.core.shares.polynomial import Polynomial, verify_feldman_share
from warifu.core.shares.statements import (
    CommitCertificate,
    Decision,
    DoneCertificate,
    Statement,
)

GROUPS = [pytest.param(ED25519, id="ed25519"), pytest.param(SECP256K1, id="secp256k1")]
MATRIX = [
    pytest.param((2, 3), id="t2n3"),
    pytest.param((3, 5), id="t3n5"),
    pytest.param((2, 2), id="t2n2"),
]
VECTORS = Path(__file__).parent / "vectors" / "frost" / "zf-frost"


@pytest.fixture(params=GROUPS)
def group(request: pytest.FixtureRequest) -> Group:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=MATRIX)
def tn(request: pytest.FixtureRequest) -> tuple[int, int]:
    return request.param  # type: ignore[no-any-return]


def d1_commitments(group: Group, res: SimResult, sender: int, t: int, n: int) -> tuple[Point, ...]:
    """C_{sender,·} as broadcast in its D1."""
    env = res[sender].sent[1]
    assert env.msg_type == MSG_D1
    lay = DkgLayout(group, t, n)
    body = D1Body.parse(lay, env.payload[: lay.d1_body_len])
    return tuple(group.decode_point(c) for c in body.commitments)


# --------------------------------------------------------------------------------------------
# honest runs (§12 item 1)
# --------------------------------------------------------------------------------------------


def test_dkg_honest(group: Group, tn: tuple[int, int]) -> None:
    t, n = tn
    sim = Simulation(group, t, n, seed=b"honest")
    res = sim.run()
    for i, o in res.outcomes.items():
        assert o.alive, (i, o.abort, o.error, o.stalled_at)
        assert o.share is not None and o.certificate is not None and o.done is not None
    shares = res.shares()
    assert sorted(shares) == list(sim.ids)

    pkg = shares[sim.ids[0]].pkg
    assert pkg.epoch == 1 and pkg.threshold == t and pkg.curve == group.name
    assert pkg.committee == sim.committee and pkg.key_id == sim.key_id

    # PK = Σ_j C_{j,0}; C_m = Σ_j C_{j,m}
    per_party = {j: d1_commitments(group, res, j, t, n) for j in sim.ids}
    for m in range(t):
        assert pkg.commitments[m] == group.sum_points(per_party[j][m] for j in sim.ids)
    assert pkg.public_key == group.sum_points(per_party[j][0] for j in sim.ids)
    assert not pkg.public_key.is_identity()

    # X_k = Σ_m k^m C_m, computed independently here; x_k·G == X_k
    for k in sim.ids:
        expected = group.identity()
        for m, c in enumerate(pkg.commitments):
            expected = expected + c * pow(k, m, group.order)
        assert pkg.verification_shares[k] == expected
        assert group.base_mul(shares[k].secret) == expected
        shares[k].verify()

    # every t-subset interpolates to the same x with x·G == PK
    secrets = set()
    for subset in itertools.combinations(sim.ids, t):
        secrets.add(interpolate_secret(group.order, {i: shares[i].secret for i in subset}))
    assert len(secrets) == 1
    (x,) = secrets
    assert group.base_mul(x) == pkg.public_key

    # identical package digests, transcripts and certificates everywhere
    digests = {s.pkg.digest() for s in shares.values()}
    assert len(digests) == 1
    transcripts = {o.round3.transcript_digest for o in res.outcomes.values() if o.round3}
    assert len(transcripts) == 1
    certs = {o.certificate.encode() for o in res.outcomes.values() if o.certificate}
    assert len(certs) == 1
    cert = CommitCertificate.decode(certs.pop())
    cert.verify(sim.committee)
    assert cert.signers == sim.ids
    assert cert.statement == Statement(
        sid=sim.sid,
        kind=KIND,
        key_id=sim.key_id,
        e_old=0,
        e_new=1,
        pkg_digest=digests.pop(),
        transcript_digest=transcripts.pop(),
        decision=Decision.ACK,
    )
    dones = {o.done.encode() for o in res.outcomes.values() if o.done}
    assert len(dones) == 1
    done = DoneCertificate.decode(dones.pop())
    done.verify(sim.committee, expected=cert.statement.with_decision(Decision.DONE))


def test_dkg_honest_non_contiguous_ids(group: Group) -> None:
    sim = Simulation(group, 2, 3, ids=(7, 300, 65535), seed=b"ids")
    res = sim.run()
    shares = res.shares()
    assert sorted(shares) == [7, 300, 65535]
    x = interpolate_secret(group.order, {i: shares[i].secret for i in (7, 65535)})
    assert group.base_mul(x) == shares[7].pkg.public_key
    assert all(o.done is not None for o in res.outcomes.values())


def test_dkg_determinism(group: Group, tn: tuple[int, int]) -> None:
    """§12 item 14: same seeds -> byte-identical transcript, envelopes and pkg_digest."""
    t, n = tn
    a = Simulation(group, t, n, seed=b"det").run()
    b = Simulation(group, t, n, seed=b"det").run()
    c = Simulation(group, t, n, seed=b"det-other").run()
    assert a.delivered == b.delivered
    assert [o.round3.transcript_digest for o in a.outcomes.values() if o.round3] == [
        o.round3.transcript_digest for o in b.outcomes.values() if o.round3
    ]
    assert a[1].share is not None and b[1].share is not None and c[1].share is not None
    assert a[1].share.pkg.digest() == b[1].share.pkg.digest()
    assert a[1].share.secret == b[1].share.secret
    assert a[1].certificate == b[1].certificate
    assert a[1].share.pkg.digest() != c[1].share.pkg.digest()


def test_dkg_transcript_digest_is_the_spec_formula(group: Group) -> None:
    from warifu.core.encoding import enc_list, h

    sim = Simulation(group, 2, 3, seed=b"transcript")
    res = sim.run()
    envs = [res[i].sent[0] for i in sim.ids] + [res[i].sent[1] for i in sim.ids]
    expected = h("transcript", sim.sid, enc_list(e.digest() for e in envs))
    assert res[1].round3 is not None and res[1].round3.transcript_digest == expected
    assert res[2].party.transcript_digest() == expected


def test_dkg_secrets_are_redacted_and_zeroised(group: Group) -> None:
    sim = Simulation(group, 2, 3, seed=b"redact")
    res = sim.run()
    p = res[1].party
    share = res[1].share
    assert share is not None
    for text in (repr(p), repr(share), repr(res[1].round3)):
        assert "redacted" in text
        assert str(share.secret) not in text and group.encode_scalar(share.secret).hex() not in text
    assert p._poly is None and p._own_share is None  # zeroised after round 3
    poly = Polynomial([5, 7], group.order)
    assert "5" not in repr(poly) and "7" not in repr(poly)
    poly.zeroise()
    with pytest.raises(Exception, match="zeroise"):
        poly.evaluate(1)


def test_dkg_out_of_order_calls_are_refused(group: Group) -> None:
    sim = Simulation(group, 2, 3, seed=b"order")
    p = sim.parties[1]
    with pytest.raises(InvalidArguments) as exc:
        p.round1({})
    assert exc.value.reason == "WRONG_STATE"
    p.round0()
    with pytest.raises(InvalidArguments) as exc:
        p.round0()
    assert exc.value.reason == "WRONG_STATE"
    with pytest.raises(InvalidArguments) as exc:
        p.ack()
    assert exc.value.reason == "WRONG_STATE"
    with pytest.raises(InvalidArguments) as exc:
        p.conclude({})
    assert exc.value.reason == "WRONG_STATE"


@pytest.mark.parametrize(("t", "n"), [(1, 3), (4, 3), (0, 2)])
def test_dkg_threshold_bounds(group: Group, t: int, n: int) -> None:
    signers = {i: node_signer(b"t", i) for i in range(1, n + 1)}
    committee = Committee(
        members=tuple(Member(id=i, node=f"n{i}", sign_pub=s.public_key) for i, s in signers.items())
    )
    with pytest.raises(InvalidArguments) as exc:
        DkgParty(
            group=group,
            key_id=bytes(16),
            committee=committee,
            threshold=t,
            me=1,
            sid=bytes(32),
            signer=signers[1],
            rng=DeterministicRng(1),
        )
    assert exc.value.reason == "INVALID_THRESHOLD"


def test_dkg_constructor_checks(group: Group) -> None:
    signers = {i: node_signer(b"c", i) for i in (1, 2)}
    committee = Committee(
        members=tuple(Member(id=i, node=f"n{i}", sign_pub=s.public_key) for i, s in signers.items())
    )

    def make(*, sid: bytes = bytes(32), key_id: bytes = bytes(16), signer: int = 1) -> DkgParty:
        return DkgParty(
            group=group,
            key_id=key_id,
            committee=committee,
            threshold=2,
            me=1,
            sid=sid,
            signer=signers[signer],
            rng=DeterministicRng(1),
        )

    make()
    with pytest.raises(InvalidArguments):
        make(sid=bytes(31))
    with pytest.raises(InvalidArguments):
        make(key_id=bytes(15))
    with pytest.raises(InvalidArguments) as exc:
        make(signer=2)
    assert exc.value.reason == "INVALID_PARTY"


# --------------------------------------------------------------------------------------------
# certificates (errata 17)
# --------------------------------------------------------------------------------------------


def test_certificate_validity_rules(group: Group) -> None:
    sim = Simulation(group, 2, 3, seed=b"cert")
    res = sim.run()
    cert = res[1].certificate
    assert cert is not None
    assert CommitCertificate.decode(cert.encode()) == cert
    cert.verify(sim.committee, expected=cert.statement)

    def bad(c: CommitCertificate, **kw: object) -> None:
        with pytest.raises(InvalidArguments) as exc:
            c.verify(sim.committee, **kw)  # type: ignore[arg-type]
        assert exc.value.reason == "INVALID_CERTIFICATE"

    # a signer missing
    bad(CommitCertificate(statement=cert.statement, signatures=cert.signatures[:-1]))
    # a non-member signer in place of a member
    sigs = list(cert.signatures)
    sigs[-1] = (9, sigs[-1][1])
    bad(CommitCertificate(statement=cert.statement, signatures=tuple(sigs)))
    # one signature invalid
    sigs = list(cert.signatures)
    sigs[0] = (sigs[0][0], bytes([sigs[0][1][0] ^ 1]) + sigs[0][1][1:])
    bad(CommitCertificate(statement=cert.statement, signatures=tuple(sigs)))
    # a signature over another statement (a REFUSE) is not an ACK
    other = cert.statement.with_decision(Decision.REFUSE)
    sigs = list(cert.signatures)
    sigs[1] = (sigs[1][0], other.sign(sim.signers[sigs[1][0]]))
    bad(CommitCertificate(statement=cert.statement, signatures=tuple(sigs)))
    # not our own statement
    bad(cert, expected=cert.statement.with_decision(Decision.DONE))
    # duplicate signer in the wire form
    raw = cert.encode()
    dup = raw[: -(2 + 64)] + raw[-(2 + 64) - (2 + 64) : -(2 + 64)]
    with pytest.raises(InvalidArguments) as exc:
        CommitCertificate.decode(dup)
    assert exc.value.reason == "INVALID_CERTIFICATE"
    # truncated
    with pytest.raises(InvalidArguments):
        CommitCertificate.decode(raw[:-1])
    # a DONE statement cannot make a commit certificate
    with pytest.raises(InvalidArguments):
        CommitCertificate(statement=other.with_decision(Decision.DONE), signatures=cert.signatures)


# --------------------------------------------------------------------------------------------
# ZF frost vectors_dkg.json: algebra cross-check (§12 item 1)
# --------------------------------------------------------------------------------------------


def _expand_message_xmd_sha256(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-256 (test-only)."""
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    out = [hashlib.sha256(b0 + b"\x01" + dst_prime).digest()]
    while sum(len(b) for b in out) < length:
        prev = bytes(x ^ y for x, y in zip(b0, out[-1], strict=True))
        out.append(hashlib.sha256(prev + bytes([len(out) + 1]) + dst_prime).digest())
    return b"".join(out)[:length]


def zf_hdkg(group: Group, m: bytes) -> int:
    """TEST-ONLY: ZF's HDKG (frost-ed25519 / frost-secp256k1 ``HDKG``)."""
    if group is ED25519:
        digest = hashlib.sha512(b"FROST-ED25519-SHA512-v1" + b"dkg" + m).digest()
        return int.from_bytes(digest, "little") % group.order
    uniform = _expand_message_xmd_sha256(m, b"FROST-secp256k1-SHA256-v1" + b"dkg", 48)
    return int.from_bytes(uniform, "big") % group.order


def zf_challenge(group: Group, identifier: int, phi0: bytes, r: bytes) -> int:
    """TEST-ONLY: ``c = HDKG(ser_scalar(id) ‖ ser(φ_0) ‖ ser(R))`` (ZF ``keys/dkg.rs``)."""
    return zf_hdkg(group, group.encode_scalar(identifier) + phi0 + r)


@pytest.mark.parametrize("group", GROUPS)
def test_zf_vectors_dkg_algebra(group: Group) -> None:
    path = VECTORS / group.name / "vectors_dkg.json"
    data = json.loads(path.read_text())
    assert data["config"]["group"] == group.name
    inputs = data["inputs"]
    g = group
    ids = sorted(int(k) for k in inputs if k.isdigit())
    assert ids == [1, 2, 3]
    t = data["config"]["MIN_PARTICIPANTS"]
    parts = {i: inputs[str(i)] for i in ids}

    commitments: dict[int, tuple[Point, ...]] = {}
    polys: dict[int, Polynomial] = {}
    for i, p in parts.items():
        a0 = g.decode_scalar(bytes.fromhex(p["signing_key"]))
        a1 = g.decode_scalar(bytes.fromhex(p["coefficient"]))
        polys[i] = Polynomial([a0, a1], g.order)
        cs = tuple(g.decode_point(bytes.fromhex(c)) for c in p["vss_commitments"])
        assert len(cs) == t
        assert cs == polys[i].commitments(g)
        commitments[i] = cs
        # PoK with ZF's challenge: μ·G == R + c·φ_0
        pok = bytes.fromhex(p["proof_of_knowledge"])
        assert len(pok) == g.point_len + g.scalar_len
        r_enc, z = pok[: g.point_len], g.decode_scalar(pok[g.point_len :])
        c = zf_challenge(g, i, g.encode_point(cs[0]), r_enc)
        assert g.base_mul(z) == g.decode_point(r_enc) + cs[0] * c
        # ... and a wrong id or a tweaked μ does not verify (the check can fail)
        c_wrong = zf_challenge(g, i % 3 + 1, g.encode_point(cs[0]), r_enc)
        assert g.base_mul(z) != g.decode_point(r_enc) + cs[0] * c_wrong
        # our PoK binds sid and the full vector: the ZF proof is not one of ours
        with pytest.raises(ProtocolAbort) as exc:
            verify_pok(g, bytes(32), i, cs, g.decode_point(r_enc), z)
        assert exc.value.abort_reason.value == "INVALID_POK" and exc.value.culprits == {i}
        assert pok_challenge(g, bytes(32), i, [g.encode_point(x) for x in cs], r_enc) != c

    for i, p in parts.items():
        received = {
            int(j): g.decode_scalar(bytes.fromhex(s)) for j, s in p["signing_shares"].items()
        }
        assert sorted(received) == [j for j in ids if j != i]
        for j, share in received.items():
            # f_j(i): on j's committed polynomial (our Feldman check and eval_commitments)
            verify_feldman_share(g, commitments[j], i, share, dealer=j)
            assert share == polys[j].evaluate(i)
            with pytest.raises(ProtocolAbort):
                verify_feldman_share(g, commitments[j], i, (share + 1) % g.order, dealer=j)
        x_i = g.decode_scalar(bytes.fromhex(p["signing_share"]))
        assert x_i == (sum(received.values()) + polys[i].evaluate(i)) % g.order
        x_pub = g.decode_point(bytes.fromhex(p["verifying_share"]))
        assert g.base_mul(x_i) == x_pub
        agg = [g.sum_points(commitments[j][m] for j in ids) for m in range(t)]
        assert eval_commitments(g, agg, i) == x_pub

    vk = g.decode_point(bytes.fromhex(inputs["verifying_key"]))
    assert vk == g.sum_points(commitments[j][0] for j in ids)
    signing = {i: g.decode_scalar(bytes.fromhex(parts[i]["signing_share"])) for i in ids}
    for subset in itertools.combinations(ids, t):
        x = interpolate_secret(g.order, {i: signing[i] for i in subset})
        assert g.base_mul(x) == vk
        assert x == sum(polys[j].coefficients[0] for j in ids) % g.order


# --------------------------------------------------------------------------------------------
# property: any t shares give the same secret, fewer than t do not
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", GROUPS)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_dkg_property_threshold(group: Group, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2, max_value=5), label="n")
    t = data.draw(st.integers(min_value=2, max_value=n), label="t")
    seed = data.draw(st.binary(min_size=1, max_size=16), label="seed")
    res = Simulation(group, t, n, seed=seed).run()
    shares = {i: s.secret for i, s in res.shares().items()}
    assert len(shares) == n
    pk = res[1].share.pkg.public_key if res[1].share else None
    assert pk is not None
    secrets = {
        interpolate_secret(group.order, {i: shares[i] for i in subset})
        for subset in itertools.combinations(sorted(shares), t)
    }
    assert len(secrets) == 1
    (x,) = secrets
    assert group.base_mul(x) == pk
    for subset in itertools.combinations(sorted(shares), t - 1):
        assert interpolate_secret(group.order, {i: shares[i] for i in subset}) != x
