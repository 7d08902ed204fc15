# ruff: noqa: F811  (pytest fixtures imported from fixtures_openbao are re-bound as arguments)
"""The per-node Vault policy: rendered from one template, and checked against a real OpenBao.

Spec: DESIGN §4 ("a policy that allows only that node's paths"), ``specs/test-plan.md`` VLT-4.
"""

from __future__ import annotations

import re

import pytest

from fixtures_openbao import OpenBaoEnv, openbao  # noqa: F401
from warifu.client.openbao import (
    POLICY_TEMPLATE,
    OpenBaoError,
    api_request,
    approle_login,
    policy_hcl,
    provision_node,
)
from warifu.core.errors import InvalidArguments

PATH_RE = re.compile(r'^path\s+"([^"]+)"', re.M)

KEY = "0f0e0d0c-0b0a-0908-0706-050403020100"


def paths_of(hcl: str) -> list[str]:
    return PATH_RE.findall(hcl)


def test_policy_renders_per_node_from_the_template() -> None:
    p1, p2 = policy_hcl("node-1"), policy_hcl("node-2")
    assert p1 != p2
    assert "${" not in p1 and "$" not in p1
    assert paths_of(p1) == [
        "kv/data/warifu/node-1/*",
        "kv/data/warifu/node-1/keys/+/epoch/*",
        "kv/data/warifu/node-1/keys/+/cert/*",
        "kv/metadata/warifu/node-1/*",
        "kv/destroy/warifu/node-1/*",
        "transit/encrypt/warifu-node-1",
        "transit/decrypt/warifu-node-1",
        "transit/keys/warifu-node-1",
        "sys/capabilities-self",
    ]
    assert "node-2" not in p1 and "node-1" not in p2
    assert [p.replace("node-1", "node-2") for p in paths_of(p1)] == paths_of(p2)
    # the template is the one source: same number of path blocks as the rendered policy
    assert len(PATH_RE.findall(POLICY_TEMPLATE.read_text())) == len(paths_of(p1))
    custom = policy_hcl("node-3", kv_mount="secrets2", transit_mount="tr")
    assert paths_of(custom)[0] == "secrets2/data/warifu/node-3/*"
    assert "tr/encrypt/warifu-node-3" in paths_of(custom)


def test_every_granted_path_is_the_nodes_own() -> None:
    for path in paths_of(policy_hcl("node-1")):
        assert (
            path.startswith(("kv/data/warifu/node-1/", "kv/metadata/warifu/node-1/"))
            or path.startswith("kv/destroy/warifu/node-1/")
            or path.endswith("/warifu-node-1")
            or path == "sys/capabilities-self"
        ), path
        # no glob directly after the node name: "warifu/node-1*" would also match node-10
        assert "node-1*" not in path and "node-1+" not in path


@pytest.mark.parametrize(
    "bad", ["", "*", "node-1/*", "node-1*", 'a"b', "../node-2", "node 1", "+", "x\ny", "-lead"]
)
def test_unsafe_node_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArguments):
        policy_hcl(bad)
    with pytest.raises(InvalidArguments):
        policy_hcl("node-1", kv_mount=bad or "*")


# -- against the real server -------------------------------------------------------------------


def capabilities(env: OpenBaoEnv, token: str, paths: list[str]) -> dict[str, list[str]]:
    """sys/capabilities (as root) for ``token`` on each path."""
    status, payload = env.api("POST", "sys/capabilities", {"token": token, "paths": paths})
    assert status == 200, payload
    return {p: sorted(payload["data"][p]) for p in paths}


def node_token(env: OpenBaoEnv, node: str) -> str:
    c = env.creds[node]
    return approle_login(env.addr, c.role_id, c.secret_id)


def test_node1_token_gets_nothing_under_node2(openbao: OpenBaoEnv) -> None:
    tok = node_token(openbao, "node-1")
    foreign = [
        f"kv/data/warifu/node-2/keys/{KEY}/state",
        f"kv/data/warifu/node-2/keys/{KEY}/epoch/1",
        f"kv/data/warifu/node-2/keys/{KEY}/cert/1",
        f"kv/metadata/warifu/node-2/keys/{KEY}/epoch/1",
        "kv/metadata/warifu/node-2/keys",
        f"kv/destroy/warifu/node-2/keys/{KEY}/epoch/1",
        f"kv/delete/warifu/node-2/keys/{KEY}/epoch/1",
        f"kv/undelete/warifu/node-2/keys/{KEY}/epoch/1",
        "transit/encrypt/warifu-node-2",
        "transit/decrypt/warifu-node-2",
        "transit/keys/warifu-node-2",
        "transit/rewrap/warifu-node-2",
        # prefix-glob leaks and shared space
        f"kv/data/warifu/node-10/keys/{KEY}/state",
        "kv/data/warifu/node-1",
        "kv/data/warifu/x",
        "kv/metadata/warifu",
        "transit/encrypt/warifu-node-10",
        # administration
        "kv/config",
        "sys/policies/acl/warifu-node-1",
        "sys/mounts/kv",
        "auth/approle/role/warifu-node-1/secret-id",
        "auth/token/create",
        "transit/keys/warifu-node-1/config",
        "transit/export/encryption-key/warifu-node-1",
        "transit/backup/warifu-node-1",
        # own soft delete is not needed (epochs are destroyed for real)
        f"kv/delete/warifu/node-1/keys/{KEY}/epoch/1",
        f"kv/undelete/warifu/node-1/keys/{KEY}/epoch/1",
    ]
    caps = capabilities(openbao, tok, foreign)
    assert {p: c for p, c in caps.items() if c != ["deny"]} == {}


def test_node1_token_has_exactly_what_it_needs(openbao: OpenBaoEnv) -> None:
    tok = node_token(openbao, "node-1")
    expected = {
        f"kv/data/warifu/node-1/keys/{KEY}/state": ["create", "read", "update"],
        f"kv/data/warifu/node-1/keys/{KEY}/epoch/1": ["create", "read"],  # create-only
        f"kv/data/warifu/node-1/keys/{KEY}/cert/1": ["create", "read"],  # create-only
        f"kv/metadata/warifu/node-1/keys/{KEY}/epoch/1": ["delete", "list", "read"],
        f"kv/destroy/warifu/node-1/keys/{KEY}/epoch/1": ["update"],
        "transit/encrypt/warifu-node-1": ["update"],
        "transit/decrypt/warifu-node-1": ["update"],
        "transit/keys/warifu-node-1": ["read"],
        "sys/capabilities-self": ["update"],
    }
    assert capabilities(openbao, tok, list(expected)) == expected
    # no default policy: the token carries warifu-node-1 and nothing else
    status, info = api_request(openbao.addr, "GET", "auth/token/lookup-self", token=tok)
    assert status == 403  # not even lookup-self, which the default policy would grant
    info = openbao.ok("POST", "auth/token/lookup", {"token": tok})
    assert info["data"]["policies"] == ["warifu-node-1"]


def test_written_policy_is_the_rendered_one(openbao: OpenBaoEnv) -> None:
    for node in ("node-1", "node-2"):
        stored = openbao.ok("GET", f"sys/policies/acl/warifu-{node}")["data"]["policy"]
        assert stored == policy_hcl(node)


def test_provision_is_idempotent(openbao: OpenBaoEnv) -> None:
    before = openbao.ok("GET", "transit/keys/warifu-node-1")["data"]
    again = provision_node(openbao.addr, openbao.root_token, "node-1")
    assert again.role_id == openbao.creds["node-1"].role_id
    assert again.secret_id != openbao.creds["node-1"].secret_id  # a fresh one each time
    after = openbao.ok("GET", "transit/keys/warifu-node-1")["data"]
    assert after["latest_version"] == before["latest_version"] == 1
    assert after["keys"] == before["keys"]  # not re-created
    assert after["derived"] is True and after["exportable"] is False
    assert after["allow_plaintext_backup"] is False and after["type"] == "aes256-gcm96"
    for secret_id in (again.secret_id, openbao.creds["node-1"].secret_id):  # both still log in
        assert approle_login(openbao.addr, again.role_id, secret_id)
    kv = openbao.ok("GET", "kv/config")["data"]
    assert kv["cas_required"] is True and kv["max_versions"] == 2


def test_provision_refuses_an_unsafe_existing_transit_key(openbao: OpenBaoEnv) -> None:
    openbao.ok("POST", "transit/keys/warifu-node-8", {"type": "aes256-gcm96", "exportable": True})
    with pytest.raises(OpenBaoError, match="unsafe"):
        provision_node(openbao.addr, openbao.root_token, "node-8")
    assert openbao.api("GET", "sys/policies/acl/warifu-node-8")[0] == 404  # nothing granted
