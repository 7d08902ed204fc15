# ruff: noqa: F811  (pytest fixtures imported from fixtures_openbao are re-bound as arguments)
"""The per-node Vault policy of the deployed nodes, and the shipped OpenBao server configs.

tests/test_policy.py checks node-1 against node-2 with hand-written path lists. This module
derives the paths from the template itself, for every node the deployment defines: every path
block that ``policy_hcl(j)`` grants is instantiated to a concrete path and checked against a
real OpenBao with ``sys/capabilities``: node ``j``'s token gets exactly the block's
capabilities there, every other node's token gets ``deny``. A path added to the template is
covered without editing this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import deploykit as dk
from fixtures_openbao import OpenBaoEnv, openbao  # noqa: F401
from warifu.client.openbao import approle_login, policy_hcl, provision_node

pytestmark = pytest.mark.integration

KEY = "5f0e0d0c-0b0a-4908-8706-050403020100"
SHARED = {"sys/capabilities-self"}  # every node's token may ask what it may do


def deployed_nodes() -> list[str]:
    """The node names the compose trial and the Kubernetes manifests define."""
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((dk.DEPLOY / "compose" / "docker-compose.yml").read_text())
    from_compose = sorted(n for n in compose["services"] if re.fullmatch(r"node-\d+", n))
    from_k8s = sorted(p.name for p in (dk.DEPLOY / "k8s").glob("node-*") if p.is_dir())
    assert from_compose == from_k8s, (from_compose, from_k8s)
    return from_compose


def blocks(hcl: str) -> dict[str, list[str]]:
    """``path "P" { capabilities = [...] }`` -> {P: sorted capabilities}."""
    out = {}
    for m in re.finditer(r'path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}', hcl):
        out[m.group(1)] = sorted(c.strip().strip('"') for c in m.group(2).split(",") if c.strip())
    assert len(out) == hcl.count('path "'), "every path block was understood"
    return out


def concrete(pattern: str) -> str:
    """One concrete path the pattern matches: ``+`` = a key id, a trailing ``*`` = a leaf."""
    return pattern.replace("+", KEY).replace("*", "7")


def caps(env: OpenBaoEnv, token: str, paths: list[str]) -> dict[str, list[str]]:
    status, payload = env.api("POST", "sys/capabilities", {"token": token, "paths": paths})
    assert status == 200, payload
    return {p: sorted(payload["data"][p]) for p in paths}


def test_each_deployed_node_gets_exactly_its_own_blocks_and_nothing_of_the_others(
    openbao: OpenBaoEnv,
) -> None:
    nodes = deployed_nodes()
    assert len(nodes) == 3
    creds = dict(openbao.creds)
    for n in nodes:
        if n not in creds:
            creds[n] = provision_node(openbao.addr, openbao.root_token, n)
    tokens = {n: approle_login(openbao.addr, creds[n].role_id, creds[n].secret_id) for n in nodes}
    granted = {n: blocks(policy_hcl(n)) for n in nodes}
    for j in nodes:
        own = {concrete(p): c for p, c in granted[j].items()}
        assert caps(openbao, tokens[j], list(own)) == own, f"{j}: policy as written != enforced"
        foreign = [concrete(p) for p in granted[j] if p not in SHARED]
        assert len(foreign) >= 8
        for i in nodes:
            if i == j:
                continue
            got = caps(openbao, tokens[i], foreign)
            assert {p: c for p, c in got.items() if c != ["deny"]} == {}, f"{i} on {j}'s paths"
        # no two nodes share a granted path except the self-check endpoint
        for i in nodes:
            if i != j:
                assert set(granted[i]) & set(granted[j]) == SHARED


def test_the_kubernetes_openbao_config_starts_with_tls_and_its_audit_device(
    tmp_path: Path,
) -> None:
    """The OpenBao ConfigMap of deploy/k8s/node-2 runs (paths rewritten) and audits."""
    yaml = pytest.importorskip("yaml")
    docs = list(yaml.safe_load_all((dk.DEPLOY / "k8s" / "node-2" / "vault.yaml").read_text()))
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    text = cm["data"]["config.hcl"]
    port = dk.free_port_pair()
    out = tmp_path / "bootstrap"
    dk.bootstrap(
        out,
        [
            "--nodes=node-1,node-2",
            f"--vault=node-1=https://127.0.0.1:{port}",
            "--vault=node-2=https://127.0.0.1:1",
        ],
    )
    data = tmp_path / "bao"
    rewrites = {
        '"/openbao/file"': f'"{data / "file"}"',
        '"/openbao/tls/server.pem"': f'"{out / "node-1-vault" / "server.pem"}"',
        '"/openbao/tls/server.key"': f'"{out / "node-1-vault" / "server.key"}"',
        '"/openbao/logs/audit.log"': f'"{data / "audit.log"}"',
        '"0.0.0.0:8200"': f'"127.0.0.1:{port}"',
        '"0.0.0.0:8201"': f'"127.0.0.1:{port + 1}"',
        '"https://vault.warifu-vault-2.svc.cluster.local:8200"': f'"https://127.0.0.1:{port}"',
        '"https://vault-0.vault-internal.warifu-vault-2.svc.cluster.local:8201"': (
            f'"https://127.0.0.1:{port + 1}"'
        ),
    }
    for old, new in rewrites.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (data / "file").mkdir(parents=True)
    cfg = data / "config.hcl"
    cfg.write_text(text)
    procs = dk.Procs()
    try:
        procs.start_bao("bao", cfg)
        dk.vault_bootstrap(
            addr=f"https://127.0.0.1:{port}",
            ca=out / "node-1" / "tls" / "vault-ca.pem",
            node="node-1",
            node_dir=out / "node-1",
            state=data / "trial",
            audit_file=data / "unused-api-audit.log",
            check_config=True,
        )
    finally:
        procs.close()
    assert (data / "audit.log").stat().st_size > 0  # the declared device, not an API one
    assert not (data / "unused-api-audit.log").exists()
