#!/usr/bin/env python3
"""Render one node's Kubernetes ConfigMap and Secrets from the bootstrap output, to stdout.

    python deploy/scripts/k8s_secrets.py --bootstrap ./k8s-bootstrap --node node-1 \\
        | kubectl apply -f -

Writes (namespaces as in deploy/k8s/, ``warifu-node-<k>`` and ``warifu-vault-<k>``):

- ConfigMap ``warifu-node-config``: ``node.toml`` exactly as bootstrap_tls.py generated it;
- Secret ``warifu-node-tls``: ``ca.pem``, ``node.pem``, ``node.key``, ``vault-ca.pem``;
- Secret ``warifu-node-identity``: ``node-sign.key`` (the node's Ed25519 envelope key);
- Secret ``warifu-node-vault``: ``vault-role-id``, ``vault-secret-id`` (vault_bootstrap.py;
  left out with ``--no-vault-credentials`` for the first pass, before the Vault exists);
- Secret ``vault-tls`` in the Vault's namespace: ``server.pem``, ``server.key``, ``ca.pem``.

The node's StatefulSet projects them back into the bootstrap layout under /etc/warifu, so the
relative paths in node.toml hold. Output: one JSON ``v1 List`` (standard library only). It
contains private keys: pipe it, never store it.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path


def _secret(name: str, ns: str, node: str, files: dict[str, Path]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app.kubernetes.io/part-of": "warifu", "warifu.io/node": node},
        },
        "data": {k: base64.b64encode(p.read_bytes()).decode() for k, p in files.items()},
    }


def render(
    bootstrap: Path, node: str, *, vault_credentials: bool = True
) -> list[dict[str, object]]:
    """The ConfigMap and Secrets of ``node`` (namespaces of deploy/k8s/generate.py)."""
    k = node.removeprefix("node-")
    node_ns, vault_ns = f"warifu-{node}", f"warifu-vault-{k}"
    d = bootstrap / node
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "warifu-node-config",
                "namespace": node_ns,
                "labels": {"app.kubernetes.io/part-of": "warifu", "warifu.io/node": node},
            },
            "data": {"node.toml": (d / "node.toml").read_text()},
        },
        _secret(
            "warifu-node-tls",
            node_ns,
            node,
            {
                "ca.pem": d / "tls" / "ca.pem",
                "node.pem": d / "tls" / "node.pem",
                "node.key": d / "tls" / "node.key",
                "vault-ca.pem": d / "tls" / "vault-ca.pem",
            },
        ),
        _secret("warifu-node-identity", node_ns, node, {"node-sign.key": d / "node-sign.key"}),
    ]
    if vault_credentials:
        docs.append(
            _secret(
                "warifu-node-vault",
                node_ns,
                node,
                {"vault-role-id": d / "vault-role-id", "vault-secret-id": d / "vault-secret-id"},
            )
        )
    v = bootstrap / f"{node}-vault"
    docs.append(
        _secret(
            "vault-tls",
            vault_ns,
            node,
            {
                "server.pem": v / "server.pem",
                "server.key": v / "server.key",
                "ca.pem": v / "ca.pem",
            },
        )
    )
    return docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="k8s_secrets.py", description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True, help="bootstrap_tls.py --out directory")
    ap.add_argument("--node", required=True)
    ap.add_argument(
        "--no-vault-credentials",
        action="store_true",
        help="leave out warifu-node-vault (before vault_bootstrap.py has run)",
    )
    args = ap.parse_args(argv)
    try:
        docs = render(
            Path(args.bootstrap), args.node, vault_credentials=not args.no_vault_credentials
        )
    except OSError as exc:
        print(f"k8s_secrets: {exc}", file=sys.stderr)
        return 1
    # a v1 List in JSON: what `kubectl apply -f -` takes, with nothing but the standard library
    json.dump({"apiVersion": "v1", "kind": "List", "items": docs}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
