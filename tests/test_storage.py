# ruff: noqa: F811  (pytest fixtures imported from fixtures_openbao are re-bound as arguments)
"""VaultShareStore against a real OpenBao (no mocks): records, CAS, destroy, tampering, outages.

Spec: DESIGN §4, ``specs/shares.md`` §9, ``specs/test-plan.md`` VLT-1..VLT-6.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from fixtures_openbao import OpenBaoEnv, free_port_pair, openbao, openbao_fresh  # noqa: F401
from helpers.dealer import eval_polynomial, make_committee
from warifu.client.openbao import (
    INIT_FILE,
    api_request,
    approle_login,
    provision_node,
    seal,
    start_openbao,
    stop_openbao,
    unseal,
)
from warifu.core.curves import ED25519, SECP256K1, Group
from warifu.core.errors import InvalidArguments, InvalidKeyShare, StorageError
from warifu.core.shares.package import KeyShare, PublicKeyPackage
from warifu.node.config import VaultConfig
from warifu.node.storage import (
    CasConflict,
    VaultDenied,
    VaultMisconfigured,
    VaultPolicyTooBroad,
    VaultSealed,
    VaultShareStore,
    VaultUnavailable,
    ot_state_aad,
    share_aad,
    transit_context,
)

IDS = (1, 2, 3)


# -- a test-only trusted dealer with a chosen key id and epoch ------------------------------------


def make_key(
    group: Group = ED25519,
    *,
    epoch: int = 1,
    key_id: bytes | None = None,
    secret: int | None = None,
    t: int = 2,
    ids: Sequence[int] = IDS,
) -> dict[int, KeyShare]:
    """Shares of a fresh polynomial (``secret`` = f(0) if given) for a committee node-1..node-n."""
    a0 = secret if secret is not None else 1 + secrets.randbelow(group.order - 1)
    coeffs = [a0] + [secrets.randbelow(group.order) for _ in range(t - 1)]
    pkg = PublicKeyPackage(
        curve=group.name,
        key_id=key_id or uuid.uuid4().bytes,
        epoch=epoch,
        threshold=t,
        committee=make_committee(ids),
        commitments=tuple(group.base_mul(a) for a in coeffs),
    )
    shares = {
        i: KeyShare(pkg=pkg, party_id=i, secret=eval_polynomial(group.order, coeffs, i))
        for i in ids
    }
    for s in shares.values():
        s.verify()
    return shares


def refreshed(shares: dict[int, KeyShare], epoch: int) -> dict[int, KeyShare]:
    """The same key (same id and group secret) re-shared at ``epoch``."""
    pkg = shares[1].pkg
    group = pkg.group
    ids = pkg.committee.ids
    lam = {i: _lagrange(group.order, ids, i) for i in ids}
    secret = sum(lam[i] * shares[i].secret for i in ids) % group.order
    return make_key(group, epoch=epoch, key_id=pkg.key_id, secret=secret, ids=ids)


def _lagrange(order: int, ids: Sequence[int], i: int) -> int:
    num, den = 1, 1
    for k in ids:
        if k != i:
            num = num * k % order
            den = den * (k - i) % order
    return num * pow(den, -1, order) % order


def store_of(env: OpenBaoEnv, node: str = "node-1", **overrides: object) -> VaultShareStore:
    return VaultShareStore(env.vault_config(node, **overrides), node)


def epoch_path(node: str, key_id: str, epoch: int) -> str:
    return f"warifu/{node}/keys/{key_id}/epoch/{epoch}"


@pytest.fixture
def store1(openbao: OpenBaoEnv) -> VaultShareStore:
    return store_of(openbao, "node-1")


@pytest.fixture
def store2(openbao: OpenBaoEnv) -> VaultShareStore:
    return store_of(openbao, "node-2")


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [ED25519, SECP256K1], ids=lambda g: g.name)
def test_share_round_trip_through_real_transit(
    openbao: OpenBaoEnv,
    store1: VaultShareStore,
    group: Group,
) -> None:
    share = make_key(group)[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)

    back = store1.load_share(kid, 1)
    assert back.secret == share.secret
    assert back.party_id == 1
    assert back.pkg.digest() == share.pkg.digest()
    assert store1.load_pkg(kid, 1).digest() == share.pkg.digest()
    assert kid in store1.list_keys()
    assert store1.list_epochs(kid) == [1]

    # What sits in KV: the public package in clear, the share only as transit ciphertext.
    rec = openbao.kv_data(epoch_path("node-1", kid, 1))
    assert set(rec) == {
        "format",
        "node",
        "key_id",
        "epoch",
        "party_id",
        "pkg",
        "pkg_digest",
        "transit_key",
        "share_ct",
    }
    assert rec["share_ct"].startswith("vault:v1:")
    assert rec["pkg"] == share.pkg.to_dict()
    assert (rec["node"], rec["key_id"], rec["epoch"], rec["party_id"]) == ("node-1", kid, 1, 1)
    dump = json.dumps(rec)
    for enc in (group.encode_scalar(share.secret).hex(), str(share.secret)):
        assert enc not in dump


def test_share_decrypts_only_with_its_context_and_aad(
    openbao: OpenBaoEnv, store1: VaultShareStore
) -> None:
    """The ciphertext is bound by transit itself: decrypting as root with the wrong context or
    AAD fails; with the documented ones it yields H(AAD) ‖ scalar."""
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    ct = openbao.kv_data(epoch_path("node-1", kid, 1))["share_ct"]
    ctx = transit_context("node-1", share.pkg.key_id, 1)
    aad = share_aad(share.pkg, 1)

    def decrypt(context: bytes, assoc: bytes) -> tuple[int, dict[str, object]]:
        return openbao.api(
            "POST",
            "transit/decrypt/warifu-node-1",
            {
                "ciphertext": ct,
                "context": base64.b64encode(context).decode(),
                "associated_data": base64.b64encode(assoc).decode(),
            },
        )

    status, payload = decrypt(ctx, aad)
    assert status == 200
    plain = base64.b64decode(str(payload["data"]["plaintext"]))  # type: ignore[index]
    assert plain[32:] == ED25519.encode_scalar(share.secret)
    assert decrypt(transit_context("node-1", share.pkg.key_id, 2), aad)[0] == 400
    assert decrypt(transit_context("node-2", share.pkg.key_id, 1), aad)[0] == 400
    assert decrypt(ctx, share_aad(share.pkg, 2))[0] == 400


def test_write_epoch_refuses_invalid_or_foreign_shares(store1: VaultShareStore) -> None:
    shares = make_key()
    bad = KeyShare(pkg=shares[1].pkg, party_id=1, secret=shares[1].secret + 1)
    with pytest.raises(InvalidKeyShare):
        store1.write_epoch(bad.pkg.key_uuid, bad)
    with pytest.raises(InvalidArguments):  # party 2 is node-2's, not ours
        store1.write_epoch(shares[2].pkg.key_uuid, shares[2])
    with pytest.raises(InvalidArguments):  # key id mismatch
        store1.write_epoch(str(uuid.uuid4()), shares[1])
    with pytest.raises(InvalidArguments):  # not a canonical UUID: never reaches a Vault path
        store1.read_state("../node-2/keys/x")
    assert store1.list_epochs(shares[1].pkg.key_uuid) == []


# -- CAS (VLT-6) ----------------------------------------------------------------------------------


def test_state_cas_create_update_and_conflict(store1: VaultShareStore) -> None:
    kid = str(uuid.uuid4())
    assert store1.read_state(kid) is None
    assert store1.cas_state(kid, {"status": "CREATING", "n": 0}, 0) == 1
    assert store1.read_state(kid) == ({"status": "CREATING", "n": 0}, 1)
    with pytest.raises(CasConflict) as ei:
        store1.cas_state(kid, {"status": "OTHER"}, 0)
    assert ei.value.reason == "CAS_CONFLICT"
    assert store1.cas_state(kid, {"status": "ACTIVE", "n": 1}, 1) == 2
    with pytest.raises(CasConflict):
        store1.cas_state(kid, {"status": "STALE"}, 1)
    assert store1.read_state(kid) == ({"status": "ACTIVE", "n": 1}, 2)


def test_vlt6_two_writers_one_wins(openbao: OpenBaoEnv) -> None:
    a, b = store_of(openbao), store_of(openbao)
    kid = str(uuid.uuid4())
    a.cas_state(kid, {"v": "base"}, 0)
    _, va = a.read_state(kid) or ({}, -1)
    _, vb = b.read_state(kid) or ({}, -1)
    assert va == vb == 1
    a.cas_state(kid, {"v": "a"}, va)
    with pytest.raises(CasConflict):
        b.cas_state(kid, {"v": "b"}, vb)
    assert a.read_state(kid) == ({"v": "a"}, 2)


def test_vlt6_concurrent_increments_lose_nothing(openbao: OpenBaoEnv) -> None:
    kid = str(uuid.uuid4())
    store_of(openbao).cas_state(kid, {"n": 0}, 0)
    workers, per_worker = 6, 5
    conflicts = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        nonlocal conflicts
        st = store_of(openbao)
        try:
            for _ in range(per_worker):
                for _attempt in range(200):
                    got = st.read_state(kid)
                    assert got is not None
                    doc, ver = got
                    try:
                        st.cas_state(kid, {"n": doc["n"] + 1}, ver)
                        break
                    except CasConflict:
                        with lock:
                            conflicts += 1
                else:
                    raise AssertionError("no progress")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    doc, ver = store_of(openbao).read_state(kid) or ({}, 0)
    assert doc["n"] == workers * per_worker
    assert ver == workers * per_worker + 1


def test_write_epoch_twice_is_a_conflict(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    with pytest.raises(CasConflict):
        store1.write_epoch(kid, share)
    other = make_key(key_id=share.pkg.key_id)[1]  # a different sharing for the same epoch
    with pytest.raises(CasConflict):
        store1.write_epoch(kid, other)
    assert store1.load_share(kid, 1).secret == share.secret
    assert (
        openbao.ok("GET", f"kv/metadata/{epoch_path('node-1', kid, 1)}")["data"]["current_version"]
        == 1
    )


def test_certificates_are_create_only_and_idempotent(store1: VaultShareStore) -> None:
    kid = str(uuid.uuid4())
    assert store1.read_cert(kid, 1) is None
    store1.write_cert(kid, 1, b"commit-cert")
    store1.write_cert(kid, 1, b"commit-cert")  # same bytes: fine
    with pytest.raises(CasConflict):
        store1.write_cert(kid, 1, b"another cert")
    assert store1.read_cert(kid, 1) == b"commit-cert"


# -- destroy (shares.md §9.3) ---------------------------------------------------------------------


def test_destroy_epoch_leaves_nothing_readable(
    openbao: OpenBaoEnv, store1: VaultShareStore
) -> None:
    share = make_key()[1]
    kid = share.pkg.key_uuid
    path = epoch_path("node-1", kid, 1)
    store1.write_epoch(kid, share)
    assert openbao.kv_get(path, 1)[0] == 200

    store1.destroy_epoch(kid, 1)

    assert openbao.api("GET", f"kv/metadata/{path}")[0] == 404  # not a soft delete: metadata gone
    assert openbao.kv_get(path, 1)[0] == 404
    assert openbao.kv_get(path)[0] == 404
    assert openbao.api("POST", f"kv/undelete/{path}", {"versions": [1]})[0] in (204, 404)
    assert openbao.kv_get(path, 1)[0] == 404
    assert store1.list_epochs(kid) == []
    with pytest.raises(InvalidKeyShare):
        store1.load_share(kid, 1)
    store1.destroy_epoch(kid, 1)  # idempotent
    store1.write_epoch(kid, share)  # the path is free again (prepare after a discard)
    assert store1.load_share(kid, 1).secret == share.secret


def test_delete_key_removes_every_record(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    store1.cas_state(kid, {"status": "CREATING"}, 0)
    store1.write_cert(kid, 1, b"c")
    store1.delete_key(kid)
    assert store1.read_state(kid) is None
    assert store1.read_cert(kid, 1) is None
    assert kid not in store1.list_keys()
    for rec in ("state", "epoch/1", "cert/1"):
        assert openbao.api("GET", f"kv/metadata/warifu/node-1/keys/{kid}/{rec}")[0] == 404
    store1.delete_key(kid)  # idempotent


# -- VLT-5: tampering at rest ---------------------------------------------------------------------


def _flip_bit(ct: str) -> str:
    prefix, _, body = ct.rpartition(":")
    raw = bytearray(base64.b64decode(body))
    raw[len(raw) // 2] ^= 0x01
    return f"{prefix}:{base64.b64encode(bytes(raw)).decode()}"


def test_vlt5_bit_flip_fails_decryption(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    path = epoch_path("node-1", kid, 1)
    rec = openbao.kv_data(path)
    rec["share_ct"] = _flip_bit(rec["share_ct"])
    openbao.kv_replace(path, rec)
    with pytest.raises(InvalidKeyShare, match="decrypt") as ei:
        store1.load_share(kid, 1)
    assert ei.value.reason == "SHARE_INTEGRITY"


def test_vlt5_ciphertext_from_another_key(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    a, b = make_key()[1], make_key()[1]
    store1.write_epoch(a.pkg.key_uuid, a)
    store1.write_epoch(b.pkg.key_uuid, b)
    pa = epoch_path("node-1", a.pkg.key_uuid, 1)
    rec = openbao.kv_data(pa)
    rec["share_ct"] = openbao.kv_data(epoch_path("node-1", b.pkg.key_uuid, 1))["share_ct"]
    openbao.kv_replace(pa, rec)
    with pytest.raises(InvalidKeyShare, match="decrypt"):
        store1.load_share(a.pkg.key_uuid, 1)
    assert store1.load_share(b.pkg.key_uuid, 1).secret == b.secret


def test_vlt5_ciphertext_from_another_epoch(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    e1 = make_key(epoch=1)
    e2 = refreshed(e1, 2)
    kid = e1[1].pkg.key_uuid
    store1.write_epoch(kid, e1[1])
    store1.write_epoch(kid, e2[1])
    p2 = epoch_path("node-1", kid, 2)
    rec = openbao.kv_data(p2)
    rec["share_ct"] = openbao.kv_data(epoch_path("node-1", kid, 1))["share_ct"]
    openbao.kv_replace(p2, rec)
    with pytest.raises(InvalidKeyShare, match="decrypt"):
        store1.load_share(kid, 2)
    # and the whole old record moved to the new epoch's path is caught too
    openbao.kv_replace(p2, openbao.kv_data(epoch_path("node-1", kid, 1)))
    with pytest.raises(InvalidKeyShare, match="another epoch"):
        store1.load_share(kid, 2)


def test_vlt5_replaced_package_fails(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    """A different valid package for the same key and epoch (with its own correct digest)."""
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    forged = make_key(key_id=share.pkg.key_id)[1].pkg
    path = epoch_path("node-1", kid, 1)
    rec = openbao.kv_data(path)
    rec["pkg"], rec["pkg_digest"] = forged.to_dict(), forged.digest().hex()
    openbao.kv_replace(path, rec)
    with pytest.raises(InvalidKeyShare, match="decrypt"):
        store1.load_share(kid, 1)


def test_vlt5_wrong_scalar_that_decrypts_fails_xi_check(
    openbao: OpenBaoEnv, store1: VaultShareStore
) -> None:
    """Someone with the transit key (here: root) encrypts a wrong scalar with the right context
    and AAD: decryption and the binding prefix pass, ``x_i·G == X_i`` does not."""
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    aad = share_aad(share.pkg, 1)
    plain = hashlib.sha256(aad).digest() + ED25519.encode_scalar(share.secret + 1)
    ct = openbao.ok(
        "POST",
        "transit/encrypt/warifu-node-1",
        {
            "plaintext": base64.b64encode(plain).decode(),
            "context": base64.b64encode(transit_context("node-1", share.pkg.key_id, 1)).decode(),
            "associated_data": base64.b64encode(aad).decode(),
        },
    )["data"]["ciphertext"]
    path = epoch_path("node-1", kid, 1)
    rec = openbao.kv_data(path)
    rec["share_ct"] = ct
    openbao.kv_replace(path, rec)
    with pytest.raises(InvalidKeyShare, match="X_i"):
        store1.load_share(kid, 1)


def test_vlt5_older_version_made_current(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    """Version 2 overwrites the record; a 'rollback' then makes version 1's content current
    again (as version 3). Epoch records are written once, so any version but 1 is tampering."""
    e1 = make_key(epoch=1)
    e2 = refreshed(e1, 2)
    kid = e1[1].pkg.key_uuid
    store1.write_epoch(kid, e1[1])
    store1.write_epoch(kid, e2[1])
    path = epoch_path("node-1", kid, 2)
    original = openbao.kv_data(path)
    assert store1.load_share(kid, 2).secret == e2[1].secret
    tampered = dict(original, share_ct=openbao.kv_data(epoch_path("node-1", kid, 1))["share_ct"])
    assert openbao.kv_put(path, tampered, 1) == 2
    with pytest.raises(InvalidKeyShare, match="rewritten"):
        store1.load_share(kid, 2)
    assert openbao.kv_put(path, original, 2) == 3  # `bao kv rollback -version=1` does this
    with pytest.raises(InvalidKeyShare, match="rewritten"):
        store1.load_share(kid, 2)
    with pytest.raises(InvalidKeyShare, match="rewritten"):
        store1.load_pkg(kid, 2)


def test_vlt5_record_of_another_party_or_node(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store1.write_epoch(kid, share)
    path = epoch_path("node-1", kid, 1)
    original = openbao.kv_data(path)
    openbao.kv_replace(path, dict(original, party_id=2))
    with pytest.raises(InvalidKeyShare, match="not run by this node"):
        store1.load_share(kid, 1)
    openbao.kv_replace(path, dict(original, node="node-2"))
    with pytest.raises(InvalidKeyShare, match="another node"):
        store1.load_share(kid, 1)
    openbao.kv_replace(path, dict(original, pkg={"curve": "ed25519"}))
    with pytest.raises(InvalidKeyShare, match="malformed"):
        store1.load_share(kid, 1)
    openbao.kv_replace(path, original)
    assert store1.load_share(kid, 1).secret == share.secret


# -- self-check and VLT-4 -------------------------------------------------------------------------


def test_self_check_passes_for_provisioned_nodes(
    store1: VaultShareStore, store2: VaultShareStore
) -> None:
    store1.self_check()
    store2.self_check()


NODE1_OWN = """
path "kv/data/warifu/node-1/*" { capabilities = ["create", "read", "update"] }
path "kv/metadata/warifu/node-1/*" { capabilities = ["read", "list", "delete"] }
path "kv/destroy/warifu/node-1/*" { capabilities = ["update"] }
path "transit/encrypt/warifu-node-1" { capabilities = ["update"] }
path "transit/decrypt/warifu-node-1" { capabilities = ["update"] }
path "transit/keys/warifu-node-1" { capabilities = ["read"] }
path "sys/capabilities-self" { capabilities = ["update"] }
"""


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("broad-all-nodes", 'path "kv/data/warifu/*" { capabilities = ["read"] }'),
        ("broad-glob-leak", 'path "kv/data/warifu/node-1*" { capabilities = ["read", "create"] }'),
        ("broad-any-key", 'path "transit/decrypt/*" { capabilities = ["update"] }'),
        ("broad-metadata", 'path "kv/metadata/*" { capabilities = ["list"] }'),
        ("broad-policy-admin", 'path "sys/policies/acl/*" { capabilities = ["update"] }'),
    ],
)
def test_self_check_rejects_a_broader_policy(openbao: OpenBaoEnv, name: str, extra: str) -> None:
    role_id, secret_id = openbao.make_role(name, NODE1_OWN + extra)
    store = store_of(openbao, role_id=role_id, secret_id=secret_id)
    with pytest.raises(VaultPolicyTooBroad) as ei:
        store.self_check()
    assert ei.value.reason == "VAULT_POLICY_TOO_BROAD"
    # the very same role without the extra line passes: the extra line is what was caught
    role_id, secret_id = openbao.make_role(f"{name}-exact", NODE1_OWN)
    store_of(openbao, role_id=role_id, secret_id=secret_id).self_check()


def test_self_check_fails_when_own_paths_are_not_usable(openbao: OpenBaoEnv) -> None:
    no_destroy = NODE1_OWN.replace(
        'path "kv/destroy/warifu/node-1/*" { capabilities = ["update"] }', ""
    )
    role_id, secret_id = openbao.make_role("node-1-no-destroy", no_destroy)
    with pytest.raises(VaultDenied, match="destroy") as ei:
        store_of(openbao, role_id=role_id, secret_id=secret_id).self_check()
    assert ei.value.reason == "VAULT_PERMISSION_DENIED"
    # node-1's credentials configured with node-2's prefix and key cannot use "its own" paths
    with pytest.raises(VaultDenied):
        store_of(openbao, prefix="warifu/node-2", transit_key="warifu-node-2").self_check()


def test_self_check_rejects_a_non_derived_transit_key(openbao: OpenBaoEnv) -> None:
    openbao.ok("POST", "transit/keys/warifu-node-7", {"type": "aes256-gcm96", "derived": False})
    policy = NODE1_OWN.replace("node-1", "node-7")
    role_id, secret_id = openbao.make_role("node-7-plain-key", policy)
    store = VaultShareStore(
        openbao.vault_config(
            role_id=role_id,
            secret_id=secret_id,
            prefix="warifu/node-7",
            transit_key="warifu-node-7",
        ),
        "node-7",
    )
    with pytest.raises(VaultMisconfigured, match="not derived"):
        store.self_check()


def test_self_check_rejects_kv_without_cas_or_with_many_versions(openbao_fresh: OpenBaoEnv) -> None:
    env = openbao_fresh
    store = store_of(env)
    store.self_check()
    env.ok("POST", "kv/config", {"cas_required": False, "max_versions": 2})
    with pytest.raises(VaultMisconfigured, match="cas_required"):
        store.self_check()
    env.ok("POST", "kv/config", {"cas_required": True, "max_versions": 10})
    with pytest.raises(VaultMisconfigured, match="max_versions"):
        store.self_check()
    env.ok("POST", "kv/config", {"cas_required": True, "max_versions": 2})
    store.self_check()


def test_vlt4_node1_cannot_touch_node2(openbao: OpenBaoEnv, store2: VaultShareStore) -> None:
    shares = make_key()
    kid = shares[2].pkg.key_uuid
    store2.write_epoch(kid, shares[2])
    store2.cas_state(kid, {"status": "ACTIVE"}, 0)

    intruder = VaultShareStore(
        openbao.vault_config("node-1", prefix="warifu/node-2", transit_key="warifu-node-2"),
        "node-2",
    )
    for attempt in (
        lambda: intruder.read_state(kid),
        lambda: intruder.load_pkg(kid, 1),
        lambda: intruder.load_share(kid, 1),
        lambda: intruder.cas_state(kid, {"status": "RETIRED"}, 1),
        lambda: intruder.destroy_epoch(kid, 1),
        lambda: intruder.list_keys(),
    ):
        with pytest.raises(VaultDenied) as ei:
            attempt()
        assert ei.value.reason == "VAULT_PERMISSION_DENIED"
    # node-1's token on node-2's transit key, directly
    c1 = openbao.creds["node-1"]
    tok = approle_login(openbao.addr, c1.role_id, c1.secret_id)
    ct = openbao.kv_data(epoch_path("node-2", kid, 1))["share_ct"]
    status, _ = openbao.api("POST", "transit/decrypt/warifu-node-2", {"ciphertext": ct}, token=tok)
    assert status == 403
    # node-2's data is untouched
    assert store2.read_state(kid) == ({"status": "ACTIVE"}, 1)
    assert store2.load_share(kid, 1).secret == shares[2].secret


# -- VLT-1, VLT-2, VLT-3: Vault down, sealed, token revoked ---------------------------------------


def test_vlt1_vault_stopped_is_unavailable_quickly(openbao_fresh: OpenBaoEnv) -> None:
    env = openbao_fresh
    store = store_of(env)
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store.write_epoch(kid, share)
    assert store.health() == "ok"
    stop_openbao(env.server)

    for op in (lambda: store.read_state(kid), lambda: store.load_share(kid, 1), store.list_keys):
        t0 = time.monotonic()
        with pytest.raises(VaultUnavailable) as ei:
            op()
        assert ei.value.reason == "VAULT_UNAVAILABLE"
        assert time.monotonic() - t0 < 3.0
    assert store.health() == "unreachable"
    # a store created while Vault is down comes up, then fails each call cleanly
    late = store_of(env)
    with pytest.raises(VaultUnavailable):
        late.read_state(kid)


def test_vlt1_hanging_vault_times_out(openbao: OpenBaoEnv) -> None:
    """A server that accepts connections and never answers: bounded by timeout_s, no retry."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)  # the kernel completes handshakes; nobody ever reads or answers
        port = srv.getsockname()[1]
        t0 = time.monotonic()
        store = store_of(openbao, addr=f"http://127.0.0.1:{port}", timeout_s=0.5)
        assert time.monotonic() - t0 < 2.0  # the start-up login timed out, did not hang
        assert store.health() == "unreachable"
        t0 = time.monotonic()
        with pytest.raises(VaultUnavailable, match="timed out"):
            store.read_state(str(uuid.uuid4()))
        assert time.monotonic() - t0 < 2.0


def test_vlt2_sealed_then_unsealed_without_new_store(openbao_fresh: OpenBaoEnv) -> None:
    env = openbao_fresh
    store = store_of(env)
    share = make_key()[1]
    kid = share.pkg.key_uuid
    store.write_epoch(kid, share)
    store.cas_state(kid, {"status": "ACTIVE"}, 0)

    seal(env.addr, env.root_token)
    assert store.health() == "sealed"
    for op in (lambda: store.read_state(kid), lambda: store.load_share(kid, 1)):
        with pytest.raises(VaultSealed) as ei:
            op()
        assert ei.value.reason == "VAULT_SEALED"
        assert isinstance(ei.value, StorageError)

    assert unseal(env.addr, env.server.unseal_keys[0]) is False
    deadline = time.monotonic() + 10
    while store.health() != "ok" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.read_state(kid) == ({"status": "ACTIVE"}, 1)
    assert store.load_share(kid, 1).secret == share.secret


def test_vlt3_revoked_token_one_relogin(openbao_fresh: OpenBaoEnv) -> None:
    env = openbao_fresh
    store = store_of(env)
    kid = str(uuid.uuid4())
    store.cas_state(kid, {"n": 1}, 0)
    assert store.logins == 1

    env.ok("PUT", "sys/leases/revoke-prefix/auth/approle/login")  # every AppRole token is gone
    assert store.read_state(kid) == ({"n": 1}, 1)
    assert store.logins == 2
    assert store.read_state(kid) == ({"n": 1}, 1)
    assert store.logins == 2  # the new token is kept

    # now the secret id is revoked as well: one login attempt, then fail closed, every time
    c = env.creds["node-1"]
    env.ok("POST", "auth/approle/role/warifu-node-1/secret-id/destroy", {"secret_id": c.secret_id})
    env.ok("PUT", "sys/leases/revoke-prefix/auth/approle/login")
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(VaultDenied) as ei:
            store.read_state(kid)
        assert ei.value.reason == "VAULT_PERMISSION_DENIED"
        assert time.monotonic() - t0 < 2.0
    assert store.logins == 2
    with pytest.raises(VaultDenied):  # and a new store with those credentials fails at once
        store_of(env)


def test_vlt3_expired_token_renewed_by_login(openbao_fresh: OpenBaoEnv) -> None:
    env = openbao_fresh
    env.ok("POST", "auth/approle/role/warifu-node-1", {"token_ttl": "2s", "token_max_ttl": "2s"})
    store = store_of(env)
    kid = str(uuid.uuid4())
    store.cas_state(kid, {"n": 1}, 0)
    time.sleep(2.5)
    assert store.read_state(kid) == ({"n": 1}, 1)
    assert store.logins == 2


def test_close_forgets_the_token_and_a_later_call_logs_in_again(store1: VaultShareStore) -> None:
    kid = str(uuid.uuid4())
    store1.cas_state(kid, {"n": 1}, 0)
    store1.close()
    assert store1._token is None
    store1.close()  # idempotent
    assert store1.read_state(kid) == ({"n": 1}, 1)
    assert store1.logins == 2


def test_tokens_never_appear_in_errors_or_repr(
    openbao_fresh: OpenBaoEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = openbao_fresh
    caplog.set_level("DEBUG")
    store = store_of(env)
    token = store._token
    assert token
    env.ok("PUT", "sys/leases/revoke-prefix/auth/approle/login")
    store.read_state(str(uuid.uuid4()))  # relogin path logs a warning
    c = env.creds["node-1"]
    env.ok("POST", "auth/approle/role/warifu-node-1/secret-id/destroy", {"secret_id": c.secret_id})
    env.ok("PUT", "sys/leases/revoke-prefix/auth/approle/login")
    with pytest.raises(VaultDenied) as ei:
        store.read_state(str(uuid.uuid4()))
    text = caplog.text + repr(store) + str(ei.value) + repr(env.vault_config())
    for secret in (token, store._token or token, c.secret_id):
        assert secret not in text


# -- raft-backed server (warifu up): init, restart, unseal with the stored key --------------------


def test_persistent_server_survives_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "bao"
    port = free_port_pair()
    srv = start_openbao(data_dir, port)
    try:
        assert oct((data_dir / INIT_FILE).stat().st_mode & 0o777) == "0o600"
        assert oct(data_dir.stat().st_mode & 0o777) == "0o700"
        creds = provision_node(srv.addr, srv.root_token, "node-1")
        fields = (
            "addr",
            "role_id",
            "secret_id",
            "kv_mount",
            "transit_mount",
            "transit_key",
            "prefix",
        )
        cfg_fields = {k: getattr(creds, k) for k in fields}
        store = VaultShareStore(VaultConfig(**cfg_fields), "node-1")
        store.self_check()
        share = make_key()[1]
        store.write_epoch(share.pkg.key_uuid, share)
    finally:
        stop_openbao(srv)
    assert not os.path.exists(data_dir / "bao.pid")

    srv2 = start_openbao(data_dir, port)  # restart: already initialised, unseal with stored key
    try:
        assert srv2.root_token == srv.root_token
        assert store.load_share(share.pkg.key_uuid, 1).secret == share.secret  # same store object
        assert provision_node(srv2.addr, srv2.root_token, "node-1").role_id == creds.role_id
    finally:
        stop_openbao(srv2)
        stop_openbao(srv2)  # idempotent


# -- DKLs23 pairwise OT state (dkls23.md §7.3) ------------------------------------------------


def test_ot_state_round_trip_and_binding(openbao: OpenBaoEnv, store1: VaultShareStore) -> None:
    share = make_key(SECP256K1)[1]
    kid = share.pkg.key_uuid
    blobs = {2: secrets.token_bytes(24_800), 3: secrets.token_bytes(24_800)}
    store1.write_epoch(kid, share, blobs)
    assert store1.load_ot_state(kid, 1, [2, 3]) == blobs
    assert store1.load_share(kid, 1).secret == share.secret

    # Each peer's ciphertext is bound to its pair by the associated data: the state with
    # party 2 does not decrypt as the state with party 3.
    status, body = api_request(
        openbao.server.addr,
        "GET",
        f"kv/data/{epoch_path('node-1', kid, 1)}",
        token=openbao.server.root_token,
    )
    assert status == 200
    ct2 = body["data"]["data"]["ot_ct"]["2"]
    context = transit_context("node-1", share.pkg.key_id, 1)
    assert store1._decrypt(ct2, context, ot_state_aad(share.pkg.key_id, 1, 1, 2)) == blobs[2]
    with pytest.raises(InvalidKeyShare):
        store1._decrypt(ct2, context, ot_state_aad(share.pkg.key_id, 1, 1, 3))
    # A peer without state is reported, never guessed.
    with pytest.raises(InvalidKeyShare):
        store1.load_ot_state(kid, 1, [4])


def test_ot_state_must_cover_every_peer(store1: VaultShareStore) -> None:
    share = make_key(SECP256K1)[1]
    with pytest.raises(InvalidArguments):
        store1.write_epoch(share.pkg.key_uuid, share, {2: b"x"})
