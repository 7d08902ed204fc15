"""Node configuration: one TOML file, with ``WARIFU_*`` environment overrides.

Every field is documented in ``deploy/README.md`` (and below). Paths are relative to the config
file's directory unless absolute. Example::

    [node]
    name = "node-1"                       # the node's identity; must equal its TLS cert's CN
    listen = "127.0.0.1:7001"             # gRPC listen address (mTLS)
    sign_key_file = "node-1/node-sign.key"   # 32-byte Ed25519 seed, hex (envelope/statement key)

    [tls]
    ca = "tls/ca.pem"                      # the one CA for nodes and clients
    cert = "tls/node-1.pem"
    key = "tls/node-1.key"

    [vault]
    addr = "http://127.0.0.1:8201"
    ca_cert = ""                          # CA bundle for an https Vault ("" = system / http)
    role_id_file = "node-1/vault-role-id"
    secret_id_file = "node-1/vault-secret-id"
    kv_mount = "kv"
    transit_mount = "transit"
    transit_key = "warifu-node-1"
    prefix = "warifu/node-1"

    [limits]
    max_request_bytes = 65536
    round_timeout_s = 10.0
    ceremony_timeout_s = 120.0
    share_cache_ttl_s = 300.0             # 0 = always load from Vault (no share in memory)
    max_sessions_per_key = 64
    nonce_ttl_s = 600.0
    trace = false                         # per-round timings (node/tracing.py); or WARIFU_TRACE=1
    trace_file = ""                       # JSON lines; "" = node.trace.jsonl next to this file

    [[peers]]
    name = "node-2"
    endpoint = "127.0.0.1:7002"
    sign_pub = "<32-byte hex>"

    [approvals]                           # ceremonies need m approvals of these keys (DESIGN §8)
    m = 2
    [[approvals.approvers]]
    name = "dev-approver-1"
    pub = "<32-byte hex Ed25519 key>"

    # [node] audit_log = "audit.jsonl"    # the hash-chained audit log (default: next to config)

Environment overrides: ``WARIFU_NODE_LISTEN``, ``WARIFU_VAULT_ADDR``,
``WARIFU_VAULT_ROLE_ID``, ``WARIFU_VAULT_SECRET_ID`` (values, not files).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warifu.core.errors import InvalidArguments


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerConfig:
    """Another node of the cluster."""

    name: str
    endpoint: str
    sign_pub: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultConfig:
    """Where and how the node reaches its own Vault/OpenBao."""

    addr: str
    role_id: str
    secret_id: str
    kv_mount: str = "kv"
    transit_mount: str = "transit"
    transit_key: str = ""
    prefix: str = ""
    ca_cert: str = ""
    timeout_s: float = 5.0

    def __repr__(self) -> str:
        return f"VaultConfig(addr={self.addr!r}, prefix={self.prefix!r}, credentials=<redacted>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Sizes, deadlines and caches."""

    max_request_bytes: int = 64 * 1024
    round_timeout_s: float = 10.0
    ceremony_timeout_s: float = 120.0
    share_cache_ttl_s: float = 300.0
    max_sessions_per_key: int = 64
    nonce_ttl_s: float = 600.0
    vault_poll_s: float = 1.0
    frost_precommit: int = 0
    presign_ttl_s: float = 3600.0
    trace: bool = False
    trace_file: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPolicy:
    """Who may approve a ceremony (DESIGN §8): ``m`` of the registered approvers' Ed25519 keys.

    With no approvers configured every ceremony is refused (``APPROVAL_POLICY_MISSING``).
    """

    m: int = 0
    approvers: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """The whole configuration of one node."""

    name: str
    listen: str
    sign_key_seed: bytes
    tls_ca: bytes
    tls_cert: bytes
    tls_key: bytes
    vault: VaultConfig
    peers: tuple[PeerConfig, ...]
    limits: Limits = field(default_factory=Limits)
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    audit_log: str = ""

    def __repr__(self) -> str:
        peers = [p.name for p in self.peers]
        return f"NodeConfig(name={self.name!r}, listen={self.listen!r}, peers={peers})"


def _read(base: Path, rel: str) -> bytes:
    p = Path(rel)
    if not p.is_absolute():
        p = base / p
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InvalidArguments(f"cannot read {p}: {exc.strerror}", reason="CONFIG_INVALID") from exc


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    sec = data.get(name)
    if not isinstance(sec, Mapping):
        raise InvalidArguments(f"config: missing [{name}] section", reason="CONFIG_INVALID")
    return sec


def _req(sec: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in sec:
        raise InvalidArguments(f"config: missing {where}.{key}", reason="CONFIG_INVALID")
    return sec[key]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read and validate the node configuration at ``path``."""
    env = os.environ if env is None else env
    path = Path(path)
    base = path.parent
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArguments(
            f"cannot load config {path}: {exc}", reason="CONFIG_INVALID"
        ) from exc
    node = _section(data, "node")
    tls = _section(data, "tls")
    vault = _section(data, "vault")
    limits = data.get("limits", {})
    seed_hex = _read(base, str(_req(node, "sign_key_file", "node"))).decode().strip()
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError as exc:
        raise InvalidArguments("node sign key file is not hex", reason="CONFIG_INVALID") from exc
    if len(seed) != 32:
        raise InvalidArguments("node sign key must be 32 bytes", reason="CONFIG_INVALID")
    role_id = (
        env.get("WARIFU_VAULT_ROLE_ID")
        or _read(base, str(_req(vault, "role_id_file", "vault"))).decode().strip()
    )
    secret_id = (
        env.get("WARIFU_VAULT_SECRET_ID")
        or _read(base, str(_req(vault, "secret_id_file", "vault"))).decode().strip()
    )
    name = str(_req(node, "name", "node"))
    peers = []
    for p in data.get("peers", []):
        pub = bytes.fromhex(str(_req(p, "sign_pub", "peers")))
        if len(pub) != 32:
            raise InvalidArguments("peer sign_pub must be 32 bytes", reason="CONFIG_INVALID")
        peers.append(
            PeerConfig(
                name=str(_req(p, "name", "peers")),
                endpoint=str(_req(p, "endpoint", "peers")),
                sign_pub=pub,
            )
        )
    if name in {p.name for p in peers}:
        raise InvalidArguments("a node must not list itself as a peer", reason="CONFIG_INVALID")
    vault_ca = str(vault.get("ca_cert", ""))
    known_limits = set(Limits.__dataclass_fields__)
    unknown = set(limits) - known_limits
    if unknown:
        raise InvalidArguments(f"config: unknown limits {sorted(unknown)}", reason="CONFIG_INVALID")
    approvals = data.get("approvals", {})
    registry: dict[str, bytes] = {}
    for a in approvals.get("approvers", []):
        approver = str(_req(a, "name", "approvals.approvers"))
        try:
            pub = bytes.fromhex(str(_req(a, "pub", "approvals.approvers")))
        except ValueError as exc:
            raise InvalidArguments("approver pub is not hex", reason="CONFIG_INVALID") from exc
        if len(pub) != 32 or approver in registry:
            raise InvalidArguments(
                f"approver {approver!r}: bad or duplicate key", reason="CONFIG_INVALID"
            )
        registry[approver] = pub
    m = int(approvals.get("m", 0))
    if registry and not 1 <= m <= len(registry):
        raise InvalidArguments(f"approvals.m must be 1..{len(registry)}", reason="CONFIG_INVALID")
    audit = str(node.get("audit_log", "audit.jsonl"))
    return NodeConfig(
        name=name,
        listen=env.get("WARIFU_NODE_LISTEN") or str(_req(node, "listen", "node")),
        sign_key_seed=seed,
        tls_ca=_read(base, str(_req(tls, "ca", "tls"))),
        tls_cert=_read(base, str(_req(tls, "cert", "tls"))),
        tls_key=_read(base, str(_req(tls, "key", "tls"))),
        vault=VaultConfig(
            addr=env.get("WARIFU_VAULT_ADDR") or str(_req(vault, "addr", "vault")),
            role_id=role_id,
            secret_id=secret_id,
            kv_mount=str(vault.get("kv_mount", "kv")),
            transit_mount=str(vault.get("transit_mount", "transit")),
            transit_key=str(vault.get("transit_key", f"warifu-{name}")),
            prefix=str(vault.get("prefix", f"warifu/{name}")),
            ca_cert=str(base / vault_ca)
            if vault_ca and not Path(vault_ca).is_absolute()
            else vault_ca,
        ),
        peers=tuple(peers),
        limits=Limits(**{k: type(getattr(Limits(), k))(v) for k, v in limits.items()}),
        approvals=ApprovalPolicy(m=m, approvers=registry),
        audit_log=audit if Path(audit).is_absolute() else str(base / audit),
    )
