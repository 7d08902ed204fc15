"""``python -m warifu.node.healthcheck [--config FILE]``: is this node SERVING? Exit 0 or 1.

For container health checks (Dockerfile ``HEALTHCHECK``, Kubernetes ``exec`` probes). The node
listens with mutual TLS only, so a plain gRPC probe (Kubernetes ``grpc:`` probes, most
``grpc_health_probe`` set-ups) cannot reach it. This command reads the node's own
configuration file (the same one ``warifu-node --config`` runs from, with the same ``WARIFU_*``
environment overrides), dials the node's own listen address with the node's own certificate
and asks the standard ``grpc.health.v1.Health/Check``.

The node reports SERVING only after its Vault self-check passed, and NOT_SERVING while its
Vault is sealed or unreachable (``node/server.py``), so "healthy" means "can sign".

Exit codes: 0 SERVING; 1 anything else (NOT_SERVING, unreachable, TLS refused, timeout);
2 the configuration cannot be loaded. One line on stdout/stderr says which. Nothing secret
is printed.

``--liveness`` relaxes "SERVING" to "the process answers at all" (SERVING or NOT_SERVING):
a node whose Vault is sealed is alive but not ready, and restarting it would not unseal the
Vault (Kubernetes: readiness = default, liveness = ``--liveness``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from warifu.core.errors import WarifuError
from warifu.node.config import NodeConfig, load_config

DEFAULT_CONFIG = "/etc/warifu/node.toml"
_WILDCARDS = {"", "0.0.0.0", "::", "[::]", "*"}  # noqa: S104 - recognised, not bound


def probe_target(listen: str) -> str:
    """Where to dial for the node listening on ``listen`` (a wildcard -> loopback)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {listen!r} is not host:port")
    if host in _WILDCARDS:
        return f"[::1]:{port}" if host.strip("[]") == "::" else f"127.0.0.1:{port}"
    bare = host.strip("[]")
    try:
        if ipaddress.ip_address(bare).version == 6:
            return f"[{bare}]:{port}"
    except ValueError:
        pass  # a host name
    return f"{host}:{port}"


def check(cfg: NodeConfig, *, service: str = "", timeout: float = 3.0, target: str = "") -> str:
    """The node's health status name (``SERVING``, ``NOT_SERVING``, …) or ``UNREACHABLE: …``."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=cfg.tls_ca, private_key=cfg.tls_key, certificate_chain=cfg.tls_cert
    )
    # The node's certificate names the node (SAN DNS = node name), whatever address it listens on.
    options = [("grpc.ssl_target_name_override", cfg.name)]
    with grpc.secure_channel(target or probe_target(cfg.listen), creds, options=options) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            return f"UNREACHABLE: {code.name if code is not None else 'error'}"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


def main(argv: list[str] | None = None) -> int:
    """Probe the local node once; 0 if SERVING."""
    ap = argparse.ArgumentParser(
        prog="python -m warifu.node.healthcheck",
        description="gRPC health check of this node over its own mTLS identity.",
    )
    ap.add_argument(
        "--config",
        default=os.environ.get("WARIFU_CONFIG", DEFAULT_CONFIG),
        help=f"the node's TOML configuration (default: $WARIFU_CONFIG or {DEFAULT_CONFIG})",
    )
    ap.add_argument(
        "--service", default="", help="health service name ('' = the whole node, the default)"
    )
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    ap.add_argument(
        "--target", default="", help="host:port to dial (default: derived from [node] listen)"
    )
    ap.add_argument(
        "--liveness",
        action="store_true",
        help="succeed on any answer (SERVING or NOT_SERVING): the process is alive",
    )
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except WarifuError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    try:
        status = check(cfg, service=args.service, timeout=args.timeout, target=args.target)
    except ValueError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    print(f"{cfg.name}: {status}")
    if args.liveness:
        return 0 if status in ("SERVING", "NOT_SERVING") else 1
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
