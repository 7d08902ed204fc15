#!/usr/bin/env python3
"""Initialise (trial only), unseal (trial only), audit and provision ONE node's own Vault.

Works against HashiCorp Vault and OpenBao alike (same HTTP API). In order:

1. wait until the server's API answers (``--wait`` seconds);
2. if it is not initialised: with ``--trial-state DIR`` initialise it (3 unseal key shares,
   threshold 2) and keep the shares and the root token in ``DIR/init.json`` (0600) — a
   **one-host trial only**; without it, stop and say so (production: ``operator init`` with the
   shares split among people, see deploy/README.md "Vault unseal and loss");
3. if it is sealed: with ``--trial-state`` unseal it from the stored shares; otherwise stop
   (unsealing is a human step, or auto-unseal);
4. make sure an audit device is enabled: if none is, enable a ``file`` device at
   ``--audit-file`` through the API (HashiCorp Vault); OpenBao 2.x refuses API-created audit
   devices, so for OpenBao declare it in the server config (deploy/compose/vault-2/config.hcl)
   and this step only checks that it exists. No audit device = failure;
5. provision the node with :func:`warifu.client.openbao.provision_node`: KV v2 at ``kv``
   (``cas_required``, ``max_versions = 2``), transit at ``transit`` with the node's derived,
   non-exportable ``warifu-<node>`` key, AppRole role ``warifu-<node>`` carrying only the
   policy rendered from ``deploy/vault/policy.hcl.tmpl``;
6. write ``vault-role-id`` and ``vault-secret-id`` (0600) into the node's directory
   (``--node-dir``) and destroy the secret id that was there before (each run rotates it);
7. with ``--check-config``: run ``warifu-node --check-config`` on the node's own config, i.e.
   the node's own AppRole proves its policy is exactly its own (node/storage.py self_check).

The token used for steps 4-5 is the trial root token or ``--token-file`` (production: a
root token generated for this ceremony with ``operator generate-root`` and revoked after).
Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from warifu.client import openbao

#: The policy template next to this script is the source of truth for deployments: the
#: installed package does not ship deploy/ (see deploy/README.md, "What exists today").
TEMPLATE = Path(__file__).resolve().parent.parent / "vault" / "policy.hcl.tmpl"
INIT_FILE = "init.json"
ROLE_ID_FILE = "vault-role-id"
SECRET_ID_FILE = "vault-secret-id"  # noqa: S105 - a file name
TRIAL_SHARES, TRIAL_THRESHOLD = 3, 2


class VaultBootstrapError(Exception):
    """A step could not be done safely; the message says which and why."""


def _api(
    addr: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    ca_cert: str | None = None,
) -> tuple[int, dict[str, Any]]:
    return openbao.api_request(
        addr, method, path, token=token, body=body, ca_cert=ca_cert, timeout=10.0
    )


def _ok(status: int, payload: dict[str, Any], what: str) -> dict[str, Any]:
    if status >= 400:
        errs = "; ".join(str(e) for e in payload.get("errors", [])) or f"HTTP {status}"
        raise VaultBootstrapError(f"{what} failed: {errs}")
    return payload


def _write_private(path: Path, text: str, owner: tuple[int, int] | None) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def health(addr: str, ca_cert: str | None) -> dict[str, Any] | None:
    """``sys/health`` body (any status code), or None while unreachable."""
    try:
        _, body = _api(addr, "GET", "sys/health", ca_cert=ca_cert)
    except openbao.OpenBaoError:
        return None
    return body


def wait_api(addr: str, ca_cert: str | None, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = health(addr, ca_cert)
        if body is not None and "initialized" in body:
            return body
        if time.monotonic() > deadline:
            raise VaultBootstrapError(f"{addr} did not answer within {timeout:.0f}s")
        time.sleep(0.5)


def wait_active(addr: str, ca_cert: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = _api(addr, "GET", "sys/health", ca_cert=ca_cert)
        except openbao.OpenBaoError:
            status = 0
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise VaultBootstrapError(f"{addr} did not become active (last HTTP {status})")
        time.sleep(0.2)


def init_or_unseal(
    addr: str, ca_cert: str | None, state_dir: Path | None, timeout: float
) -> str | None:
    """Steps 2-3. Returns the trial root token (None without ``--trial-state``)."""
    body = wait_api(addr, ca_cert, timeout)
    init_path = state_dir / INIT_FILE if state_dir else None
    if not body.get("initialized"):
        if init_path is None:
            raise VaultBootstrapError(
                f"{addr} is not initialised: initialise it by the runbook "
                "(operator init, shares to separate people), then run this again with "
                "--token-file"
            )
        if init_path.exists():
            raise VaultBootstrapError(
                f"{init_path} exists but {addr} is not initialised: wrong state dir, or the "
                "server's storage was lost (runbook: Vault loss)"
            )
        payload = _ok(
            *_api(
                addr,
                "PUT",
                "sys/init",
                body={"secret_shares": TRIAL_SHARES, "secret_threshold": TRIAL_THRESHOLD},
                ca_cert=ca_cert,
            ),
            "init",
        )
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # type: ignore[union-attr]
        _write_private(
            init_path,
            json.dumps(
                {
                    "warning": "one-host trial only: never keep unseal keys with the server",
                    "root_token": payload["root_token"],
                    "unseal_keys": payload["keys_base64"],
                }
            ),
            None,
        )
        print(
            f"vault_bootstrap: {addr} initialised "
            f"({TRIAL_SHARES} shares, {TRIAL_THRESHOLD} to unseal)"
        )
        body = wait_api(addr, ca_cert, timeout)
    stored: dict[str, Any] = {}
    if init_path is not None:
        try:
            stored = json.loads(init_path.read_text())
        except (OSError, ValueError) as exc:
            raise VaultBootstrapError(f"cannot read trial state {init_path}: {exc}") from None
    if body.get("sealed"):
        if not stored:
            raise VaultBootstrapError(
                f"{addr} is sealed: unseal it by the runbook (operator unseal by the key holders)"
            )
        for key in stored["unseal_keys"]:
            payload = _ok(
                *_api(addr, "PUT", "sys/unseal", body={"key": key}, ca_cert=ca_cert), "unseal"
            )
            if not payload.get("sealed", True):
                break
        print(f"vault_bootstrap: {addr} unsealed")
    wait_active(addr, ca_cert, timeout)
    return str(stored["root_token"]) if stored else None


def ensure_audit(addr: str, token: str, ca_cert: str | None, audit_file: str) -> list[str]:
    """Step 4. Returns the enabled audit device paths (never empty)."""
    devices = _ok(*_api(addr, "GET", "sys/audit", token=token, ca_cert=ca_cert), "list audit")
    table = devices.get("data", devices)
    have = sorted(k for k, v in table.items() if isinstance(v, dict) and v.get("type"))
    if have:
        return have
    status, payload = _api(
        addr,
        "PUT",
        "sys/audit/warifu-file",
        token=token,
        body={"type": "file", "options": {"file_path": audit_file}},
        ca_cert=ca_cert,
    )
    if status >= 400:
        errs = "; ".join(str(e) for e in payload.get("errors", []))
        raise VaultBootstrapError(
            f"no audit device on {addr} and enabling one by API failed ({errs}); OpenBao "
            'needs it declared in the server config (audit "file" ... stanza)'
        )
    devices = _ok(*_api(addr, "GET", "sys/audit", token=token, ca_cert=ca_cert), "list audit")
    table = devices.get("data", devices)
    have = sorted(k for k, v in table.items() if isinstance(v, dict) and v.get("type"))
    if not have:
        raise VaultBootstrapError(f"{addr} still has no audit device")
    print(f"vault_bootstrap: audit device enabled at {audit_file}")
    return have


def provision(
    addr: str,
    token: str,
    ca_cert: str | None,
    node: str,
    node_dir: Path,
    owner: tuple[int, int] | None,
) -> None:
    """Steps 5-6."""
    # provision_node() builds its own TLS contexts with the default trust store: point the
    # default store at our Vault CA for this process (SSL_CERT_FILE is read at each call).
    if ca_cert:
        os.environ["SSL_CERT_FILE"] = ca_cert
    openbao.POLICY_TEMPLATE = TEMPLATE
    try:
        creds = openbao.provision_node(addr, token, node)
    except openbao.OpenBaoError as exc:
        raise VaultBootstrapError(f"provisioning {node} failed: {exc}") from None
    old_secret = None
    with contextlib.suppress(OSError):
        old_secret = (node_dir / SECRET_ID_FILE).read_text().strip() or None
    _write_private(node_dir / ROLE_ID_FILE, creds.role_id + "\n", owner)
    _write_private(node_dir / SECRET_ID_FILE, creds.secret_id + "\n", owner)
    if old_secret and old_secret != creds.secret_id:
        # Best effort: an unknown old id (another server, already destroyed) is not an error.
        _api(
            addr,
            "POST",
            f"auth/approle/role/warifu-{node}/secret-id/destroy",
            token=token,
            body={"secret_id": old_secret},
            ca_cert=ca_cert,
        )
    print(f"vault_bootstrap: {node} provisioned (policy warifu-{node}, new secret id written)")


def check_config(config: Path) -> None:
    """Step 7: the node's own view (its AppRole, its policy, its KV/transit settings)."""
    proc = subprocess.run(
        [sys.executable, "-m", "warifu.node", "--config", str(config), "--check-config"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"},
    )
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise VaultBootstrapError(f"warifu-node --check-config failed: {proc.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vault_bootstrap.py", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--addr", required=True, help="the Vault/OpenBao API, e.g. https://vault-1:8200"
    )
    ap.add_argument("--ca-cert", help="CA bundle of the server's TLS certificate")
    ap.add_argument("--node", required=True, help="the node this Vault belongs to (node-1…)")
    ap.add_argument(
        "--node-dir", required=True, help="where the node's config and credentials live"
    )
    ap.add_argument("--node-owner", metavar="UID[:GID]", help="owner of the written credentials")
    ap.add_argument("--audit-file", default="/vault/logs/audit.log")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--trial-state", help="ONE-HOST TRIAL: init/unseal and keep unseal keys + root token here"
    )
    group.add_argument("--token-file", help="a file holding a provisioning (root) token")
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the server")
    ap.add_argument(
        "--check-config",
        action="store_true",
        help="finish with warifu-node --check-config on <node-dir>/node.toml",
    )
    args = ap.parse_args(argv)
    owner = None
    if args.node_owner:
        uid, _, gid = args.node_owner.partition(":")
        owner = (int(uid), int(gid or uid))
    ca = args.ca_cert or None
    try:
        state = Path(args.trial_state) if args.trial_state else None
        root = init_or_unseal(args.addr, ca, state, args.wait)
        if args.token_file:
            token = Path(args.token_file).read_text().strip()
        else:
            assert root is not None
            token = root
        ensure_audit(args.addr, token, ca, args.audit_file)
        node_dir = Path(args.node_dir)
        provision(args.addr, token, ca, args.node, node_dir, owner)
        if args.check_config:
            check_config(node_dir / "node.toml")
    except (VaultBootstrapError, openbao.OpenBaoError, OSError) as exc:
        print(f"vault_bootstrap: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
