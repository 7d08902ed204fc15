#!/usr/bin/env python3
"""First bootstrap of a warifu cluster: CAs, node identities, client identity, node configs.

Run once, on the machine that is allowed to see the CA keys (the compose trial's one-shot
``tls-bootstrap`` job, or an offline admin machine in production; see deploy/README.md
"First bootstrap"). Writes, under ``--out``::

    ca/ca.pem, ca/ca.key                 the node/client CA (P-256). ca.key: keep OFFLINE
    vault-ca/ca.pem, vault-ca/ca.key     a separate CA for the Vault servers' TLS (https only)
    client/ca.pem, client.pem, .key      a wallet/CLI client identity (clientAuth only)
    cluster.json                         public summary: nodes, endpoints, sign_pub (no secrets)
    <node>/node.toml                     the node's whole configuration (node/config.py format;
                                         paths relative to this directory)
    <node>/node-sign.key, .pub           Ed25519 seed (hex, 0600) and public key of the node
    <node>/tls/ca.pem, node.pem, node.key   the node's mTLS identity (CN = SAN DNS = node name)
    <node>/tls/vault-ca.pem              trust anchor for the node's Vault (https only)
    <node>-vault/server.pem, server.key, ca.pem   TLS of that node's Vault server (https only)

The node's Vault AppRole credentials (``<node>/vault-role-id``, ``<node>/vault-secret-id``) are
written later by ``vault_bootstrap.py``, once that Vault is initialised and provisioned.

Idempotent in the only safe way: if ``--out`` already holds a bootstrap for the same nodes it
does nothing (exit 0); it never regenerates a CA or an identity over an existing one (exit 1
if the node set differs). Only the ``warifu.client.tls`` helpers and the standard library are
used, so the script runs anywhere the ``warifu`` package is installed (every node image).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warifu.client.tls import issue_cert, make_ca

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SUMMARY = "cluster.json"
CLIENT_CN = "warifu-cli"
DEFAULT_PORT = 7001


class BootstrapError(Exception):
    """The arguments or the output directory do not allow a safe bootstrap."""


def _pairs(items: list[str] | None, what: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise BootstrapError(f"--{what} wants NODE=VALUE, got {item!r}")
        out.setdefault(name, []).append(value)
    return out


def _one(pairs: dict[str, list[str]], name: str, what: str) -> str | None:
    values = pairs.get(name, [])
    if len(values) > 1:
        raise BootstrapError(f"--{what} given twice for {name}")
    return values[0] if values else None


def _split_hostport(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BootstrapError(f"{what} {value!r} is not host:port")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _toml_str(value: str) -> str:
    # An ASCII JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=True)


def _uid_gid(spec: str | None) -> tuple[int, int] | None:
    if not spec:
        return None
    uid, _, gid = spec.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise BootstrapError(f"owner must be UID[:GID], got {spec!r}")
    return int(uid), int(gid or uid)


class Writer:
    """Creates files atomically with their final mode and (when root) their final owner."""

    def __init__(self) -> None:
        self.may_chown = hasattr(os, "geteuid") and os.geteuid() == 0

    def mkdir(self, path: Path, owner: tuple[int, int] | None, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        self._chown(path, owner)

    def write(
        self, path: Path, data: bytes | str, owner: tuple[int, int] | None, mode: int = 0o644
    ) -> None:
        raw = data.encode() if isinstance(data, str) else data
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            self._chown(tmp, owner)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _chown(self, path: Path, owner: tuple[int, int] | None) -> None:
        if owner is not None and self.may_chown:
            os.chown(path, *owner)


def node_toml(
    *,
    name: str,
    listen: str,
    vault_addr: str,
    vault_tls: bool,
    peers: list[tuple[str, str, str]],
    limits: dict[str, str],
) -> str:
    """The node's configuration (format: node/config.py), paths relative to its directory."""
    q = _toml_str
    lines = [
        f"# warifu node {name}: generated by deploy/scripts/bootstrap_tls.py.",
        "# Every field is documented in deploy/README.md. Paths are relative to this file.",
        "[node]",
        f"name = {q(name)}",
        f"listen = {q(listen)}",
        'sign_key_file = "node-sign.key"',
        "",
        "[tls]",
        'ca = "tls/ca.pem"',
        'cert = "tls/node.pem"',
        'key = "tls/node.key"',
        "",
        "[vault]",
        f"addr = {q(vault_addr)}",
        f"ca_cert = {q('tls/vault-ca.pem' if vault_tls else '')}",
        "# written by deploy/scripts/vault_bootstrap.py (or set WARIFU_VAULT_ROLE_ID/SECRET_ID)",
        'role_id_file = "vault-role-id"',
        'secret_id_file = "vault-secret-id"',
        'kv_mount = "kv"',
        'transit_mount = "transit"',
        f"transit_key = {q(f'warifu-{name}')}",
        f"prefix = {q(f'warifu/{name}')}",
    ]
    if limits:
        lines += ["", "[limits]"]
        for key, value in sorted(limits.items()):
            lines.append(f"{key} = {value}")
    for peer, endpoint, pub in peers:
        lines += [
            "",
            "[[peers]]",
            f"name = {q(peer)}",
            f"endpoint = {q(endpoint)}",
            f"sign_pub = {q(pub)}",
        ]
    return "\n".join(lines) + "\n"


def _limits(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not re.match(r"^[a-z_]+$", key):
            raise BootstrapError(f"--limit wants KEY=NUMBER, got {item!r}")
        try:
            float(value)
        except ValueError:
            raise BootstrapError(f"--limit {key} must be a number, got {value!r}") from None
        out[key] = value
    return out


def bootstrap(args: argparse.Namespace) -> dict[str, object]:
    """Do the bootstrap described by ``args``; returns the public summary."""
    out = Path(args.out).resolve()
    nodes = [n.strip() for n in args.nodes.split(",") if n.strip()]
    if len(nodes) < 2 or len(set(nodes)) != len(nodes):
        raise BootstrapError("--nodes needs at least two distinct node names")
    for n in nodes:
        if not NAME_RE.match(n):
            raise BootstrapError(f"node name {n!r}: use letters, digits, '.', '_', '-'")
    if (out / "ca" / "ca.pem").exists():
        try:
            summary = json.loads((out / SUMMARY).read_text())
        except (OSError, ValueError) as exc:
            raise BootstrapError(f"{out} holds a CA but no readable {SUMMARY}: {exc}") from None
        have = [n["name"] for n in summary.get("nodes", [])]
        if have != nodes:
            raise BootstrapError(
                f"{out} was bootstrapped for {have}, not {nodes}; refusing to issue new "
                "identities over it (adding a node is a runbook step, see deploy/README.md)"
            )
        print(f"bootstrap_tls: {out} already bootstrapped for {have}; nothing to do")
        return dict(summary)

    endpoints_arg = _pairs(args.endpoint, "endpoint")
    listen_arg = _pairs(args.listen, "listen")
    vault_arg = _pairs(args.vault, "vault")
    san_arg = _pairs(args.san, "san")
    for opt in (endpoints_arg, listen_arg, vault_arg, san_arg):
        unknown = set(opt) - set(nodes)
        if unknown:
            raise BootstrapError(f"options name unknown nodes {sorted(unknown)}")
    limits = _limits(args.limit)
    node_owner = _uid_gid(args.node_owner)
    vault_owner = _uid_gid(args.vault_owner)
    client_owner = _uid_gid(args.client_owner)

    plan = {}
    for n in nodes:
        endpoint = _one(endpoints_arg, n, "endpoint") or f"{n}:{DEFAULT_PORT}"
        ep_host, ep_port = _split_hostport(endpoint, "endpoint")
        listen = _one(listen_arg, n, "listen") or f"0.0.0.0:{ep_port}"
        l_host, _ = _split_hostport(listen, "listen")
        vault = _one(vault_arg, n, "vault")
        if vault is None:
            raise BootstrapError(f"--vault {n}=http(s)://host:port is required for every node")
        m = re.match(r"^(https?)://([^/:]+|\[[^\]]+\]):(\d+)/?$", vault)
        if not m:
            raise BootstrapError(f"--vault {n}: {vault!r} is not http(s)://host:port")
        dns = {n, "localhost"}
        ips = {"127.0.0.1"}
        for host in (ep_host, l_host, *san_arg.get(n, [])):
            if host in ("0.0.0.0", "::", ""):  # noqa: S104 - wildcard listen: no SAN
                continue
            (ips if _is_ip(host) else dns).add(host)
        plan[n] = {
            "endpoint": endpoint,
            "listen": listen,
            "vault": vault,
            "vault_tls": m.group(1) == "https",
            "vault_host": m.group(2).strip("[]"),
            "dns": sorted(dns),
            "ips": sorted(ips),
        }

    w = Writer()
    w.mkdir(out, None, 0o755)
    # The CA last-written marker is ca/ca.pem; write everything else first so that a crash
    # half-way leaves no "already bootstrapped" directory behind.
    ca_pem, ca_key = make_ca(args.ca_name)
    any_tls_vault = any(p["vault_tls"] for p in plan.values())
    vca_pem = vca_key = b""
    if any_tls_vault:
        vca_pem, vca_key = make_ca(f"{args.ca_name} (Vault TLS)")
        w.mkdir(out / "vault-ca", None)
        w.write(out / "vault-ca" / "ca.pem", vca_pem, None)
        w.write(out / "vault-ca" / "ca.key", vca_key, None, 0o600)

    seeds = {n: secrets.token_bytes(32) for n in nodes}
    pubs = {
        n: Ed25519PrivateKey.from_private_bytes(s).public_key().public_bytes_raw().hex()
        for n, s in seeds.items()
    }
    for n in nodes:
        p = plan[n]
        d = out / n
        w.mkdir(d, node_owner, 0o700)
        w.mkdir(d / "tls", node_owner, 0o700)
        cert, key = issue_cert(
            ca_pem, ca_key, n, server=True, client=True, dns=p["dns"], ips=p["ips"]
        )
        w.write(d / "tls" / "ca.pem", ca_pem, node_owner)
        w.write(d / "tls" / "node.pem", cert, node_owner)
        w.write(d / "tls" / "node.key", key, node_owner, 0o600)
        w.write(d / "node-sign.key", seeds[n].hex() + "\n", node_owner, 0o600)
        w.write(d / "node-sign.pub", pubs[n] + "\n", node_owner)
        if p["vault_tls"]:
            w.write(d / "tls" / "vault-ca.pem", vca_pem, node_owner)
            vd = out / f"{n}-vault"
            w.mkdir(vd, vault_owner, 0o700)
            host = p["vault_host"]
            v_dns = {"localhost"} | (set() if _is_ip(host) else {host})
            v_ips = {"127.0.0.1"} | ({host} if _is_ip(host) else set())
            vcert, vkey = issue_cert(
                vca_pem,
                vca_key,
                host,
                server=True,
                client=False,
                dns=sorted(v_dns),
                ips=sorted(v_ips),
            )
            w.write(vd / "server.pem", vcert, vault_owner)
            w.write(vd / "server.key", vkey, vault_owner, 0o600)
            w.write(vd / "ca.pem", vca_pem, vault_owner)
        peers = [(o, plan[o]["endpoint"], pubs[o]) for o in nodes if o != n]
        text = node_toml(
            name=n,
            listen=p["listen"],
            vault_addr=p["vault"],
            vault_tls=p["vault_tls"],
            peers=peers,
            limits=limits,
        )
        w.write(d / "node.toml", text, node_owner, 0o644)

    w.mkdir(out / "client", client_owner, 0o700)
    ccert, ckey = issue_cert(ca_pem, ca_key, args.client_name, server=False, client=True)
    w.write(out / "client" / "ca.pem", ca_pem, client_owner)
    w.write(out / "client" / "client.pem", ccert, client_owner)
    w.write(out / "client" / "client.key", ckey, client_owner, 0o600)

    summary: dict[str, object] = {
        "format": 1,
        "ca": "ca/ca.pem",
        "client": {"cn": args.client_name, "cert": "client/client.pem"},
        "nodes": [
            {
                "name": n,
                "endpoint": plan[n]["endpoint"],
                "listen": plan[n]["listen"],
                "vault_addr": plan[n]["vault"],
                "sign_pub": pubs[n],
                "config": f"{n}/node.toml",
            }
            for n in nodes
        ],
    }
    w.write(out / SUMMARY, json.dumps(summary, indent=2) + "\n", None)
    w.mkdir(out / "ca", None, 0o700)
    w.write(out / "ca" / "ca.key", ca_key, None, 0o600)
    w.write(out / "ca" / "ca.pem", ca_pem, None)  # last: marks the bootstrap as complete
    print(f"bootstrap_tls: wrote CA, {len(nodes)} node identities and configs under {out}")
    return summary


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bootstrap_tls.py",
        description="Generate the CAs, node/client identities and node configs of a cluster.",
        fromfile_prefix_chars="@",  # @deploy/k8s/bootstrap.args: one argument per line
    )
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--nodes", default="node-1,node-2,node-3", help="node names, comma-separated")
    ap.add_argument(
        "--endpoint",
        action="append",
        metavar="NODE=HOST:PORT",
        help="where peers and clients dial NODE (default NODE:7001)",
    )
    ap.add_argument(
        "--listen",
        action="append",
        metavar="NODE=HOST:PORT",
        help="where NODE listens (default 0.0.0.0:<endpoint port>)",
    )
    ap.add_argument(
        "--vault",
        action="append",
        metavar="NODE=URL",
        help="NODE's own Vault/OpenBao, e.g. https://vault-1:8200 (required for every node)",
    )
    ap.add_argument(
        "--san",
        action="append",
        metavar="NODE=HOST",
        help="extra DNS name or IP for NODE's certificate",
    )
    ap.add_argument(
        "--limit", action="append", metavar="KEY=NUMBER", help="a [limits] entry for every node"
    )
    ap.add_argument("--ca-name", default="warifu cluster CA")
    ap.add_argument("--client-name", default=CLIENT_CN, help="CN of the client certificate")
    ap.add_argument(
        "--node-owner", metavar="UID[:GID]", help="owner of the node directories (when root)"
    )
    ap.add_argument(
        "--vault-owner", metavar="UID[:GID]", help="owner of the Vault TLS directories (when root)"
    )
    ap.add_argument(
        "--client-owner", metavar="UID[:GID]", help="owner of the client directory (when root)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        bootstrap(args)
    except BootstrapError as exc:
        print(f"bootstrap_tls: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
