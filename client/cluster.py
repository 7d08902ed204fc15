"""The local cluster behind ``warifu up / status / down`` (DESIGN §7).

Everything lives in one data directory::

    cluster.json                 what the cluster is: nodes, endpoints, Vault addresses, threshold
    tls/ca.pem, tls/ca.key       the dev CA (key 0600)
    tls/node-k.pem, .key         node certificates, CN=node-k, serverAuth+clientAuth
    tls/client.pem, .key         the CLI/wallet client certificate, CN=warifu-cli, clientAuth
    node-k/node.toml             the node's config (format: top of node/config.py)
    node-k/node-sign.key         32-byte Ed25519 seed, hex, 0600 (envelope/statement key)
    node-k/node-sign.pub         its public key, hex
    node-k/vault-role-id         AppRole credentials for the node's own OpenBao, 0600
    node-k/vault-secret-id
    node-k/bao/                  that OpenBao server's data (client/openbao.py; bao-init.json
                                 holds its root token and unseal key, 0600)
    node-k/node.log, node.pid    the running node's output and process id

Ports: free 127.0.0.1 ports are picked once at init (or, with ``base_port``, node ``k`` listens
on ``base_port + k - 1`` and its OpenBao on ``base_port + 100 + 2(k - 1)`` and the port after,
which OpenBao uses for its cluster listener). They are written to the configs and reused on
every ``up``.

Processes are started detached (their own session), so they outlive the ``warifu`` command;
``down`` stops them by the pids in the pid files after checking that each pid still is the
process we started (pid reuse). Processes started by this Python process are also reaped here,
so tests that kill and restart nodes leave no zombies.

This module starts the node daemon as a separate program; it never imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

from warifu.client import openbao
from warifu.client.tls import issue_cert, make_ca

CLUSTER_FILE = "cluster.json"
CLUSTER_FORMAT = 1
NODE_CONFIG = "node.toml"
APPROVER_DIR = "approvers"
DEV_APPROVERS = 3
DEV_APPROVALS_NEEDED = 2
NODE_LOG = "node.log"
NODE_PID = "node.pid"
SIGN_KEY = "node-sign.key"
SIGN_PUB = "node-sign.pub"
ROLE_ID = "vault-role-id"
SECRET_ID = "vault-secret-id"  # noqa: S105 - a file name, not a secret
BAO_DIR = "bao"
CLIENT_CN = "warifu-cli"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
HEALTH_TIMEOUT_S = 2.0
# The node reads these from the environment; a stray value in the operator's shell must not
# point every local node at the same Vault or port.
_ENV_DROP_PREFIXES = ("WARIFU_", "BAO_", "VAULT_")

#: Node processes started by this Python process, by pid, so that they can be reaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ClusterError(RuntimeError):
    """The local cluster could not be created, started, stopped or read."""


@dataclass(slots=True)
class NodeInfo:
    """One node of the local cluster and its own OpenBao server."""

    id: str
    endpoint: str
    pid: int | None
    vault_addr: str
    vault_token: str
    vault_pid: int | None
    config: Path
    sign_pub: str = ""
    healthy: bool | None = None
    """``None`` unless filled in by :func:`status` (gRPC health ``SERVING`` over mTLS)."""

    @property
    def dir(self) -> Path:
        """The node's directory (where its config lives)."""
        return self.config.parent

    def __repr__(self) -> str:
        return (
            f"NodeInfo(id={self.id!r}, endpoint={self.endpoint!r}, pid={self.pid}, "
            f"vault_addr={self.vault_addr!r}, vault_pid={self.vault_pid}, "
            f"healthy={self.healthy}, vault_token=<redacted>)"
        )


@dataclass(slots=True)
class ClusterInfo:
    """The whole local cluster, as recorded in ``cluster.json`` plus the live pids."""

    data_dir: Path
    nodes: list[NodeInfo]
    threshold: int
    ca: Path
    client_cert: Path
    client_key: Path

    def node(self, node_id: str) -> NodeInfo:
        """The node called ``node_id``."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise ClusterError(f"no node {node_id!r} in the cluster at {self.data_dir}")

    def client_credentials(self) -> grpc.ChannelCredentials:
        """mTLS channel credentials of the cluster's client certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.client_key.read_bytes(),
            certificate_chain=self.client_cert.read_bytes(),
        )


# -- files --------------------------------------------------------------------------------------


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write atomically with ``mode`` (the mode is set before any byte is written)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _toml_str(value: str) -> str:
    # A JSON string with only ASCII is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=True)


def _node_toml(
    *,
    name: str,
    listen: str,
    creds: openbao.VaultCredentials,
    peers: list[tuple[str, str, str]],
    approvers: Sequence[tuple[str, str]] = (),
    approvals_needed: int = 0,
) -> str:
    """The node config, in the format documented at the top of node/config.py.

    Paths are relative to the config's own directory (``node-k/``), so the data directory can
    be moved as a whole.
    """
    q = _toml_str
    lines = [
        "# Generated by `warifu up` for the local cluster. Paths are relative to this file.",
        "[node]",
        f"name = {q(name)}",
        f"listen = {q(listen)}",
        f"sign_key_file = {q(SIGN_KEY)}",
        "",
        "[tls]",
        f"ca = {q('../tls/ca.pem')}",
        f"cert = {q(f'../tls/{name}.pem')}",
        f"key = {q(f'../tls/{name}.key')}",
        "",
        "[vault]",
        f"addr = {q(creds.addr)}",
        'ca_cert = ""',
        f"role_id_file = {q(ROLE_ID)}",
        f"secret_id_file = {q(SECRET_ID)}",
        f"kv_mount = {q(creds.kv_mount)}",
        f"transit_mount = {q(creds.transit_mount)}",
        f"transit_key = {q(creds.transit_key)}",
        f"prefix = {q(creds.prefix)}",
    ]
    for peer_name, endpoint, sign_pub in peers:
        lines += [
            "",
            "[[peers]]",
            f"name = {q(peer_name)}",
            f"endpoint = {q(endpoint)}",
            f"sign_pub = {q(sign_pub)}",
        ]
    if approvers:
        lines += ["", "[approvals]", f"m = {approvals_needed}"]
        for approver, pub in approvers:
            lines += ["", "[[approvals.approvers]]", f"name = {q(approver)}", f"pub = {q(pub)}"]
    return "\n".join(lines) + "\n"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_bytes()[-16384:].decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# -- processes ----------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str] | None:
    """The process's argv, or None if it cannot be read (gone, or no /proc)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _running(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` is alive, not a zombie, and (where /proc exists) has ``marker`` in argv."""
    if pid is None or pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:  # reaps it if it has exited
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        argv = _cmdline(pid)
        return argv is not None and any(marker in a for a in argv)
    return True


def _node_command(config: Path) -> list[str]:
    """``python -m <the module behind the warifu-node entry point> --config <config>``.

    The module name comes from the installed distribution's metadata, so this client never
    names or imports the node package itself.
    """
    eps = metadata.entry_points(group="console_scripts", name="warifu-node")
    ep = next(iter(eps), None)
    if ep is None:
        raise ClusterError("the warifu-node entry point is not installed (pip install warifu)")
    return [sys.executable, "-m", ep.module, "--config", str(config)]


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _wait_gone(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    child = _CHILDREN.get(pid)
    while True:
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.05)
        if not _running(pid, marker):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _stop_pid(pid: int | None, marker: str, sig: int, timeout: float) -> None:
    """Send ``sig``; after ``timeout`` escalate to SIGKILL; reap our own children."""
    if pid is None or not _running(pid, marker):
        _CHILDREN.pop(pid or -1, None)
        return
    _signal(pid, sig)
    gone = _wait_gone(pid, marker, timeout)
    if not gone and sig != signal.SIGKILL:
        _signal(pid, signal.SIGKILL)
        gone = _wait_gone(pid, marker, 5.0)
    if not gone:
        raise ClusterError(f"process {pid} did not exit after SIGKILL")
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()


# -- ports --------------------------------------------------------------------------------------


def _free_ports(n_nodes: int) -> list[tuple[int, int]]:
    """(node port, bao port) per node; bao also needs bao port + 1. All distinct, all free now."""
    held: list[socket.socket] = []
    taken: set[int] = set()

    def grab(port: int = 0) -> int | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            return None
        held.append(s)
        got = int(s.getsockname()[1])
        taken.add(got)
        return got

    try:
        out = []
        for _ in range(n_nodes):
            node_port = grab()
            bao_port = None
            for _attempt in range(100):
                p = grab()
                if p is not None and p < 65534 and p + 1 not in taken and grab(p + 1) is not None:
                    bao_port = p
                    break
            if node_port is None or bao_port is None:
                raise ClusterError("could not find free ports on 127.0.0.1")
            out.append((node_port, bao_port))
        return out
    finally:
        for s in held:
            s.close()


def _base_ports(base_port: int, n_nodes: int) -> list[tuple[int, int]]:
    ports = [(base_port + k, base_port + 100 + 2 * k) for k in range(n_nodes)]
    if not 1024 <= base_port or ports[-1][1] + 1 > 65535 or n_nodes > 50:
        raise ClusterError(f"base port {base_port} leaves no room for {n_nodes} nodes")
    return ports


# -- init ---------------------------------------------------------------------------------------


def _node_ids(n: int) -> list[str]:
    return [f"node-{k}" for k in range(1, n + 1)]


def init_cluster(
    data_dir: Path, *, nodes: int = 3, threshold: int = 2, base_port: int | None = None
) -> ClusterInfo:
    """Create a new local cluster in ``data_dir`` and leave its OpenBao servers running.

    Writes the TLS material, node signing keys, one provisioned OpenBao per node, the node
    configs and ``cluster.json`` (see the module docstring). Nodes are not started
    (:func:`start_nodes`). If anything fails, the servers started so far are stopped and, if
    ``data_dir`` was new or empty, it is removed again.
    """
    if nodes < 1 or not 1 <= threshold <= nodes:
        raise ClusterError(f"need 1 <= threshold <= nodes, got threshold={threshold} nodes={nodes}")
    data_dir = Path(data_dir).resolve()
    if (data_dir / CLUSTER_FILE).exists():
        raise ClusterError(f"{data_dir} already holds a cluster ({CLUSTER_FILE} exists)")
    was_empty = not data_dir.exists() or not any(data_dir.iterdir())
    data_dir.mkdir(parents=True, exist_ok=True)
    if was_empty:  # ours: private; an existing directory keeps its mode (secrets are 0600)
        os.chmod(data_dir, 0o700)
    started: list[openbao.OpenBaoServer] = []
    try:
        info = _init(data_dir, nodes, threshold, base_port, started)
    except BaseException:
        for server in started:
            with contextlib.suppress(Exception):
                openbao.stop_openbao(server)
        if was_empty:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return info


def _init(
    data_dir: Path,
    n_nodes: int,
    threshold: int,
    base_port: int | None,
    started: list[openbao.OpenBaoServer],
) -> ClusterInfo:
    ids = _node_ids(n_nodes)
    ports = _base_ports(base_port, n_nodes) if base_port is not None else _free_ports(n_nodes)
    tls = data_dir / "tls"
    tls.mkdir(mode=0o700, exist_ok=True)
    ca_pem, ca_key = make_ca("warifu local cluster CA")
    _write(tls / "ca.pem", ca_pem)
    _write(tls / "ca.key", ca_key, 0o600)
    for node_id in ids:
        cert, key = issue_cert(
            ca_pem, ca_key, node_id, server=True, client=True, dns=["localhost", node_id]
        )
        _write(tls / f"{node_id}.pem", cert)
        _write(tls / f"{node_id}.key", key, 0o600)
    cert, key = issue_cert(ca_pem, ca_key, CLIENT_CN, server=False, client=True)
    _write(tls / "client.pem", cert)
    _write(tls / "client.key", key, 0o600)

    sign_pubs: dict[str, str] = {}
    for node_id in ids:
        node_dir = data_dir / node_id
        node_dir.mkdir(mode=0o700, exist_ok=True)
        seed = secrets.token_bytes(32)
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        _write(node_dir / SIGN_KEY, seed.hex() + "\n", 0o600)
        _write(node_dir / SIGN_PUB, pub.hex() + "\n")
        sign_pubs[node_id] = pub.hex()

    def vault(node_id: str, bao_port: int) -> openbao.VaultCredentials:
        node_dir = data_dir / node_id
        server = openbao.start_openbao(node_dir / BAO_DIR, bao_port)
        started.append(server)
        _wait_active(server.addr)
        c = openbao.provision_node(server.addr, server.root_token, node_id)
        _write(node_dir / ROLE_ID, c.role_id + "\n", 0o600)
        _write(node_dir / SECRET_ID, c.secret_id + "\n", 0o600)
        return c

    # The servers start in parallel; on an error the pool still waits for the others, so
    # ``started`` is complete when the caller cleans up.
    with ThreadPoolExecutor(max_workers=n_nodes) as pool:
        jobs = {
            i: pool.submit(vault, i, bao_port) for i, (_, bao_port) in zip(ids, ports, strict=True)
        }
        creds = {i: job.result() for i, job in jobs.items()}

    # Security engineers' approval keys of the local cluster (DESIGN §8): dev-approver-1..3,
    # any 2 of them approve a ceremony. Production approvers keep their keys to themselves.
    approvers = []
    approver_dir = data_dir / APPROVER_DIR
    approver_dir.mkdir(mode=0o700, exist_ok=True)
    for k in range(1, DEV_APPROVERS + 1):
        name = f"dev-approver-{k}"
        seed = secrets.token_bytes(32)
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        _write(approver_dir / f"{name}.key", seed.hex() + "\n", 0o600)
        _write(approver_dir / f"{name}.pub", pub.hex() + "\n")
        approvers.append((name, pub.hex()))

    endpoints = {node_id: f"127.0.0.1:{p}" for node_id, (p, _) in zip(ids, ports, strict=True)}
    for node_id in ids:
        peers = [(p, endpoints[p], sign_pubs[p]) for p in ids if p != node_id]
        text = _node_toml(
            name=node_id,
            listen=endpoints[node_id],
            creds=creds[node_id],
            peers=peers,
            approvers=approvers,
            approvals_needed=DEV_APPROVALS_NEEDED,
        )
        _write(data_dir / node_id / NODE_CONFIG, text)

    doc = {
        "format": CLUSTER_FORMAT,
        "threshold": threshold,
        "ca": "tls/ca.pem",
        "client_cert": "tls/client.pem",
        "client_key": "tls/client.key",
        "nodes": [
            {
                "id": node_id,
                "endpoint": endpoints[node_id],
                "vault_addr": creds[node_id].addr,
                "config": f"{node_id}/{NODE_CONFIG}",
                "sign_pub": sign_pubs[node_id],
            }
            for node_id in ids
        ],
    }
    _write(data_dir / CLUSTER_FILE, json.dumps(doc, indent=2) + "\n", 0o600)
    return load_cluster(data_dir)


# -- reading the cluster ----------------------------------------------------------------------


def _bao_dir(node: NodeInfo) -> Path:
    return node.dir / BAO_DIR


def _root_token(bao_dir: Path) -> str:
    try:
        return str(json.loads((bao_dir / openbao.INIT_FILE).read_text())["root_token"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def load_cluster(data_dir: Path) -> ClusterInfo:
    """Read ``cluster.json`` and the pid files (a pid is reported only if that process runs)."""
    data_dir = Path(data_dir).resolve()
    try:
        doc = json.loads((data_dir / CLUSTER_FILE).read_text())
        if doc.get("format") != CLUSTER_FORMAT:
            raise ClusterError(f"{data_dir / CLUSTER_FILE}: unknown format {doc.get('format')!r}")
        nodes = []
        for n in doc["nodes"]:
            config = data_dir / n["config"]
            bao_dir = config.parent / BAO_DIR
            node_pid = _read_pid(config.parent / NODE_PID)
            bao_pid = _read_pid(bao_dir / openbao.PID_FILE)
            nodes.append(
                NodeInfo(
                    id=str(n["id"]),
                    endpoint=str(n["endpoint"]),
                    pid=node_pid if _running(node_pid, str(config)) else None,
                    vault_addr=str(n["vault_addr"]),
                    vault_token=_root_token(bao_dir),
                    vault_pid=bao_pid if _running(bao_pid, str(bao_dir)) else None,
                    config=config,
                    sign_pub=str(n.get("sign_pub", "")),
                )
            )
        return ClusterInfo(
            data_dir=data_dir,
            nodes=nodes,
            threshold=int(doc["threshold"]),
            ca=data_dir / doc["ca"],
            client_cert=data_dir / doc["client_cert"],
            client_key=data_dir / doc["client_key"],
        )
    except FileNotFoundError:
        raise ClusterError(f"no local cluster in {data_dir} (run `warifu up`)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterError(f"{data_dir / CLUSTER_FILE} is unreadable: {exc!r}") from None


# -- OpenBao ------------------------------------------------------------------------------------


def _wait_active(addr: str, timeout: float = 30.0) -> None:
    """Wait until ``sys/health`` answers 200 (initialised, unsealed, *active*).

    Right after an unseal the server can answer 429 (standby) for a moment, and a mount or
    policy write then fails with "local node not active"; provisioning waits for 200.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            code, body = openbao.api_request(addr, "GET", "sys/health", timeout=2.0)
        except openbao.OpenBaoError as exc:
            last = str(exc)
        else:
            if code == 200:
                return
            last = f"HTTP {code} {body}"
        time.sleep(0.1)
    raise ClusterError(f"OpenBao at {addr} did not become active within {timeout:.0f}s: {last}")


def _ensure_openbao(node: NodeInfo) -> None:
    """Make the node's OpenBao run, unsealed and active: start (and unseal) it if it is not
    running, unseal it if it is sealed, restart it if it runs but does not answer."""
    bao_dir = _bao_dir(node)
    if node.vault_pid is not None:
        state = openbao.server_status(node.vault_addr)
        if state == "sealed":
            keys = json.loads((bao_dir / openbao.INIT_FILE).read_text())["unseal_keys"]
            for key in keys:
                if not openbao.unseal(node.vault_addr, str(key)):
                    break
            state = openbao.server_status(node.vault_addr)
        if state == "ok":
            _wait_active(node.vault_addr)
            return
        openbao.stop_openbao(node.vault_pid)  # running but unusable: restart it
    port = int(node.vault_addr.rsplit(":", 1)[1])
    server = openbao.start_openbao(bao_dir, port)
    node.vault_pid = server.pid
    node.vault_token = server.root_token
    _wait_active(server.addr)


# -- nodes --------------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_ENV_DROP_PREFIXES)}


def start_node(info: ClusterInfo, node_id: str) -> int:
    """Start node ``node_id`` detached (no-op if it already runs); returns its pid.

    Does not wait for it to become healthy (see :func:`wait_healthy`).
    """
    node = info.node(node_id)
    if _running(node.pid, str(node.config)):
        assert node.pid is not None
        return node.pid
    log = node.dir / NODE_LOG
    with log.open("ab") as log_f:
        log_f.write(
            f"--- starting {node_id} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ---\n".encode()
        )
        log_f.flush()
        proc = subprocess.Popen(
            _node_command(node.config),
            stdin=subprocess.DEVNULL,
            stdout=log_f,
            stderr=subprocess.STDOUT,
            cwd=node.dir,
            env=_clean_env(),
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    _write(node.dir / NODE_PID, f"{proc.pid}\n")
    node.pid = proc.pid
    node.healthy = None
    return proc.pid


def stop_node(
    info: ClusterInfo, node_id: str, sig: int = signal.SIGTERM, *, timeout: float = STOP_TIMEOUT_S
) -> None:
    """Stop node ``node_id`` with ``sig`` (SIGTERM escalates to SIGKILL after ``timeout``)."""
    node = info.node(node_id)
    pid = node.pid if node.pid is not None else _read_pid(node.dir / NODE_PID)
    _stop_pid(pid, str(node.config), sig, timeout)
    with contextlib.suppress(OSError):
        (node.dir / NODE_PID).unlink()
    node.pid = None
    node.healthy = False


def check_health(info: ClusterInfo, node_id: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    """True if the node answers gRPC health ``SERVING`` over mTLS with the client cert."""
    node = info.node(node_id)
    try:
        with grpc.secure_channel(node.endpoint, info.client_credentials()) as ch:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
    except grpc.RpcError:
        return False
    return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def wait_healthy(info: ClusterInfo, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until every node is healthy; fail early, with its log, if a node process exits."""
    deadline = time.monotonic() + timeout
    pending = {n.id for n in info.nodes}
    while pending:
        for node_id in sorted(pending):
            node = info.node(node_id)
            if check_health(info, node_id, timeout=1.0):
                node.healthy = True
                pending.discard(node_id)
                continue
            if not _running(node.pid, str(node.config)):
                raise ClusterError(
                    f"{node_id} exited before becoming healthy; the end of "
                    f"{node.dir / NODE_LOG}:\n{_tail(node.dir / NODE_LOG)}"
                )
        if not pending:
            break
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {p} ({info.node(p).dir / NODE_LOG}) ---\n{_tail(info.node(p).dir / NODE_LOG)}"
                for p in sorted(pending)
            )
            raise ClusterError(
                f"nodes not healthy after {timeout:.0f}s: {sorted(pending)}\n{tails}"
            )
        time.sleep(0.2)


def start_nodes(info: ClusterInfo, *, timeout: float = START_TIMEOUT_S) -> None:
    """Start every node that is not running, then wait until all are healthy."""
    for node in info.nodes:
        start_node(info, node.id)
    wait_healthy(info, timeout)


# -- up / status / down --------------------------------------------------------------------------


def up(
    data_dir: Path, nodes: int = 3, threshold: int = 2, *, timeout: float = START_TIMEOUT_S
) -> ClusterInfo:
    """Create the cluster if ``data_dir`` has none, then make every OpenBao and node run.

    Idempotent: running processes are left alone; a sealed OpenBao is unsealed, a stopped one
    restarted. An existing cluster of a different size is an error, never silently resized.
    """
    data_dir = Path(data_dir).resolve()
    if not (data_dir / CLUSTER_FILE).exists():
        info = init_cluster(data_dir, nodes=nodes, threshold=threshold)
    else:
        info = load_cluster(data_dir)
        if len(info.nodes) != nodes or info.threshold != threshold:
            raise ClusterError(
                f"{data_dir} holds a {info.threshold}-of-{len(info.nodes)} cluster, not "
                f"{threshold}-of-{nodes}; use those values or another --data-dir"
            )
        with ThreadPoolExecutor(max_workers=len(info.nodes)) as pool:
            list(pool.map(_ensure_openbao, info.nodes))
    try:
        start_nodes(info, timeout=timeout)
    except ClusterError:
        # leave no half-started nodes behind; OpenBao keeps running (down stops it)
        for node in info.nodes:
            with contextlib.suppress(ClusterError):
                stop_node(info, node.id)
        raise
    return info


def status(data_dir: Path) -> ClusterInfo:
    """The cluster with each node's pid (if running) and ``healthy`` flag (gRPC health)."""
    info = load_cluster(data_dir)
    with ThreadPoolExecutor(max_workers=max(1, len(info.nodes))) as pool:
        flags = list(pool.map(lambda n: check_health(info, n.id), info.nodes))
    for node, ok in zip(info.nodes, flags, strict=True):
        node.healthy = ok
    return info


def status_json(info: ClusterInfo) -> dict[str, Any]:
    """The ``warifu status --json`` document."""
    return {
        "data_dir": str(info.data_dir),
        "threshold": info.threshold,
        "ca": str(info.ca),
        "client_cert": str(info.client_cert),
        "client_key": str(info.client_key),
        "nodes": [
            {
                "id": n.id,
                "endpoint": n.endpoint,
                "pid": n.pid,
                "healthy": bool(n.healthy),
                "vault_addr": n.vault_addr,
                "vault_token": n.vault_token,
                "vault_pid": n.vault_pid,
                "config": str(n.config),
            }
            for n in info.nodes
        ],
    }


def down(data_dir: Path, *, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop every node (SIGTERM, SIGKILL after ``timeout``), then every OpenBao. Idempotent.

    A directory without a cluster is not an error: there is nothing to stop.
    """
    data_dir = Path(data_dir).resolve()
    if not (data_dir / CLUSTER_FILE).exists():
        return
    info = load_cluster(data_dir)
    # signal all nodes first so they shut down in parallel, then wait for each
    for node in info.nodes:
        if node.pid is not None:
            _signal(node.pid, signal.SIGTERM)
    for node in info.nodes:
        stop_node(info, node.id, timeout=timeout)
    for node in info.nodes:
        pid = node.vault_pid
        if pid is not None:
            openbao.stop_openbao(pid, timeout=timeout)
        with contextlib.suppress(OSError):
            (_bao_dir(node) / openbao.PID_FILE).unlink()
        node.vault_pid = None


__all__ = [
    "ClusterError",
    "ClusterInfo",
    "NodeInfo",
    "check_health",
    "down",
    "init_cluster",
    "load_cluster",
    "start_node",
    "start_nodes",
    "status",
    "status_json",
    "stop_node",
    "up",
    "wait_healthy",
]
