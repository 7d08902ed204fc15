"""The node runs from its config file alone (issue 6), on what the compose bootstrap produces.

Three real OpenBao servers run the compose trial's OpenBao config (TLS listener, raft storage,
declared audit device; only paths and addresses rewritten), initialised, unsealed, audited and
provisioned by ``deploy/scripts/vault_bootstrap.py``; the node identities and configs come from
``deploy/scripts/bootstrap_tls.py``. Each node is then started as ``python -m warifu.node
--config FILE`` with no other argument, no ``WARIFU_*`` variable and an unrelated working
directory, and the cluster creates a key and signs an XRP payment that libsodium verifies.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nacl.signing import VerifyKey
from xrpl.core.binarycodec import decode, encode_for_signing
from xrpl.models.transactions import Payment

import deploykit as dk
from warifu.client import Client
from warifu.client.openbao import OpenBaoError, api_request, policy_hcl
from warifu.node.config import load_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = ("node-1", "node-2", "node-3")


class Trial:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.out = tmp / "bootstrap"
        self.procs = dk.Procs()
        self.node_ports = {n: dk.free_port() for n in NODES}
        self.bao_ports = {n: dk.free_port_pair() for n in NODES}

    def vault_addr(self, n: str) -> str:
        return f"https://127.0.0.1:{self.bao_ports[n]}"

    def state(self, n: str) -> Path:
        return self.tmp / f"{n}-vault" / "trial-state"

    def root_token(self, n: str) -> str:
        return str(json.loads((self.state(n) / "init.json").read_text())["root_token"])


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trial]:
    t = Trial(tmp_path_factory.mktemp("config-only"))
    args = []
    for n in NODES:
        args += [
            f"--endpoint={n}=127.0.0.1:{t.node_ports[n]}",
            f"--listen={n}=127.0.0.1:{t.node_ports[n]}",
            f"--vault={n}={t.vault_addr(n)}",
        ]
    dk.bootstrap(t.out, args)
    try:
        for n in NODES:
            cfg = dk.openbao_config(
                t.tmp / f"{n}-vault", t.out / f"{n}-vault", host="127.0.0.1", port=t.bao_ports[n]
            )
            t.procs.start_bao(f"bao-{n}", cfg)

        def init(n: str) -> None:
            dk.vault_bootstrap(
                addr=t.vault_addr(n),
                ca=t.out / n / "tls" / "vault-ca.pem",
                node=n,
                node_dir=t.out / n,
                state=t.state(n),
                audit_file=t.tmp / f"{n}-vault" / "logs" / "audit.log",
            )

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(init, NODES))
        yield t
    finally:
        t.procs.close()


def test_vault_bootstrap_left_an_audited_tls_vault_per_node(trial: Trial) -> None:
    for n in NODES:
        ca = str(trial.out / n / "tls" / "vault-ca.pem")
        token = trial.root_token(n)
        status, audit = api_request(
            trial.vault_addr(n), "GET", "sys/audit", token=token, ca_cert=ca
        )
        assert status == 200 and "warifu-file/" in audit["data"], audit
        assert (trial.tmp / f"{n}-vault" / "logs" / "audit.log").stat().st_size > 0
        status, pol = api_request(
            trial.vault_addr(n), "GET", f"sys/policies/acl/warifu-{n}", token=token, ca_cert=ca
        )
        assert status == 200 and pol["data"]["policy"] == policy_hcl(n)
        status, role = api_request(
            trial.vault_addr(n), "GET", f"auth/approle/role/warifu-{n}", token=token, ca_cert=ca
        )
        assert role["data"]["token_policies"] == [f"warifu-{n}"]
        assert role["data"]["token_no_default_policy"] is True
        # only its own node was provisioned on this Vault
        status, roles = api_request(
            trial.vault_addr(n), "LIST", "auth/approle/role", token=token, ca_cert=ca
        )
        assert roles["data"]["keys"] == [f"warifu-{n}"]
        for f in ("vault-role-id", "vault-secret-id", "node-sign.key", "tls/node.key"):
            assert stat.S_IMODE((trial.out / n / f).stat().st_mode) == 0o600, f
        # plain http to the TLS listener is refused: the Vault is reachable over TLS only
        try:
            plain, _ = api_request(f"http://127.0.0.1:{trial.bao_ports[n]}", "GET", "sys/health")
        except OpenBaoError:
            plain = None
        assert plain is None or plain >= 400


def test_vault_bootstrap_is_rerunnable_and_rotates_the_secret_id(trial: Trial) -> None:
    n = "node-3"
    before = (trial.out / n / "vault-secret-id").read_text().strip()
    dk.vault_bootstrap(
        addr=trial.vault_addr(n),
        ca=trial.out / n / "tls" / "vault-ca.pem",
        node=n,
        node_dir=trial.out / n,
        state=trial.state(n),
        audit_file=trial.tmp / f"{n}-vault" / "logs" / "audit.log",
        check_config=False,
    )
    after = (trial.out / n / "vault-secret-id").read_text().strip()
    assert after != before
    role_id = (trial.out / n / "vault-role-id").read_text().strip()
    ca = str(trial.out / n / "tls" / "vault-ca.pem")
    body = {"role_id": role_id, "secret_id": before}
    status, _ = api_request(
        trial.vault_addr(n), "POST", "auth/approle/login", body=body, ca_cert=ca
    )
    assert status >= 400  # the previous secret id was destroyed
    body["secret_id"] = after
    status, _ = api_request(
        trial.vault_addr(n), "POST", "auth/approle/login", body=body, ca_cert=ca
    )
    assert status == 200


def test_three_nodes_run_from_their_config_files_and_sign(trial: Trial) -> None:
    cwd = trial.tmp / "elsewhere"
    cwd.mkdir()
    configs = {n: trial.out / n / "node.toml" for n in NODES}
    for n in NODES:
        cfg = load_config(configs[n], env={})
        assert cfg.vault.addr == trial.vault_addr(n) and cfg.vault.ca_cert
        assert [p.name for p in cfg.peers] == [p for p in NODES if p != n]
        # before the node runs, its own health check says so (exit 1, not a crash)
        assert dk.healthcheck(configs[n], timeout=0.5).returncode == 1
    for n in NODES:
        trial.procs.start_node(n, configs[n], cwd=cwd)
    dk.wait_until(
        "every node SERVING (python -m warifu.node.healthcheck)",
        lambda: all(dk.healthcheck(configs[n]).returncode == 0 for n in NODES),
        60,
        trial.procs,
    )
    client_dir = trial.out / "client"
    endpoints = [f"127.0.0.1:{trial.node_ports[n]}" for n in NODES]
    with Client(
        endpoints,
        ca=(client_dir / "ca.pem").read_bytes(),
        cert=(client_dir / "client.pem").read_bytes(),
        key=(client_dir / "client.key").read_bytes(),
    ) as c:
        key = c.create_key("eddsa-ed25519", threshold=2)
        assert key.threshold == 2 and len(key.parties) == 3
        tx = Payment(
            account=key.xrp_address,
            destination="rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe",
            amount="1000000",
            fee="12",
            sequence=1,
        ).to_xrpl()
        signed = c.sign_xrp_transaction(key.key_id, tx)
    blob = decode(signed.tx_blob)
    assert blob["SigningPubKey"] == "ED" + key.public_key.hex().upper()
    VerifyKey(key.public_key).verify(
        bytes.fromhex(encode_for_signing(blob)), bytes.fromhex(blob["TxnSignature"])
    )
    # the shares went to each node's own Vault, under its own prefix only
    for n in NODES:
        ca = str(trial.out / n / "tls" / "vault-ca.pem")
        status, listing = api_request(
            trial.vault_addr(n),
            "LIST",
            f"kv/metadata/warifu/{n}/keys",
            token=trial.root_token(n),
            ca_cert=ca,
        )
        assert status == 200 and f"{key.key_id}/" in listing["data"]["keys"]
        status, top = api_request(
            trial.vault_addr(n), "LIST", "kv/metadata/warifu", token=trial.root_token(n), ca_cert=ca
        )
        assert top["data"]["keys"] == [f"{n}/"]
