"""Real clusters for integration tests: real OpenBao servers, real nodes, mTLS on 127.0.0.1.

Two ways to run the nodes, both over the production code path (gRPC + TLS + Vault):

- :class:`ProcessCluster` (``warifu up`` style): every node is its own OS process, so a test can
  SIGKILL it, SIGSTOP it, or restart it from its Vault.
- :class:`InProcessCluster`: every node runs in this process, each in its own thread with its
  own event loop. A test can reach into one node (e.g. make it a Byzantine member that returns
  a wrong signature share) while the others stay honest; the messages still cross real TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from warifu.client import Client
from warifu.client import cluster as local
from warifu.client.openbao import api_request
from warifu.client.tls import issue_cert
from warifu.node import server as node_server
from warifu.node.config import load_config
from warifu.node.server import Node

T = TypeVar("T")


def set_limits(info: local.ClusterInfo, **limits: float | int) -> None:
    """Add a ``[limits]`` section to every node's config (before the nodes start)."""
    if not limits:
        return
    body = "\n[limits]\n" + "".join(f"{k} = {v!r}\n" for k, v in limits.items())
    for n in info.nodes:
        text = n.config.read_text()
        assert "[limits]" not in text
        n.config.write_text(text + body)


def client_for(
    info: local.ClusterInfo, *, cn: str | None = None, endpoints: list[str] | None = None, **kw: Any
) -> Client:
    """A Client for the cluster; ``cn`` issues a fresh client certificate with that name."""
    ca = info.ca.read_bytes()
    if cn is None:
        cert, key = info.client_cert.read_bytes(), info.client_key.read_bytes()
    else:
        ca_key = (info.ca.parent / "ca.key").read_bytes()
        cert, key = issue_cert(ca, ca_key, cn, server=False, client=True)
    return Client(endpoints or [n.endpoint for n in info.nodes], ca=ca, cert=cert, key=key, **kw)


def node_channel(info: local.ClusterInfo, target: str, *, as_node: str) -> grpc.Channel:
    """A channel to node ``target`` authenticated with ``as_node``'s own certificate."""
    tls = info.ca.parent
    creds = grpc.ssl_channel_credentials(
        root_certificates=info.ca.read_bytes(),
        private_key=(tls / f"{as_node}.key").read_bytes(),
        certificate_chain=(tls / f"{as_node}.pem").read_bytes(),
    )
    return grpc.secure_channel(
        info.node(target).endpoint, creds, options=[("grpc.ssl_target_name_override", target)]
    )


def health(info: local.ClusterInfo, node: str) -> str:
    """The node's overall gRPC health status name (or UNREACHABLE)."""
    ch = grpc.secure_channel(info.node(node).endpoint, info.client_credentials())
    try:
        resp = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    except grpc.RpcError:
        return "UNREACHABLE"
    finally:
        ch.close()


def vault(
    info: local.ClusterInfo, node: str, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    """Call node ``node``'s OpenBao with its root token (test-side tampering and inspection)."""
    n = info.node(node)
    return api_request(n.vault_addr, method, path, token=n.vault_token, body=body)


class ProcessCluster:
    """``warifu up`` in a temp dir; nodes are OS processes."""

    def __init__(
        self, data_dir: Path, *, nodes: int = 3, threshold: int = 2, **limits: float | int
    ) -> None:
        self.data_dir = data_dir
        self.info = local.init_cluster(data_dir, nodes=nodes, threshold=threshold)
        set_limits(self.info, **limits)
        local.start_nodes(self.info)

    def client(self, **kw: Any) -> Client:
        """A Client over every node."""
        return client_for(self.info, **kw)

    def kill(self, node: str, sig: int = 9) -> None:
        """Send ``sig`` to the node's process (SIGKILL by default) and forget its pid."""
        local.stop_node(self.info, node, sig=sig)

    def restart(self, node: str, timeout: float = 30.0) -> None:
        """Start a stopped node again and wait until it (alone) is healthy."""
        local.start_node(self.info, node)
        deadline = time.monotonic() + timeout
        while not local.check_health(self.info, node, timeout=1.0):
            if time.monotonic() > deadline:
                raise AssertionError(f"{node} did not become healthy again")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop every node and OpenBao server."""
        local.down(self.data_dir)


class _NodeThread:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: grpc.aio.Server | None = None
        self.node: Node | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def start(self) -> Node:
        cfg = load_config(self.config)
        self.server, self.node = self.run(node_server.start(cfg))
        return self.node

    def stop(self) -> None:
        if self.server is not None and self.node is not None:
            with contextlib.suppress(Exception):
                self.run(node_server.stop(self.server, self.node), timeout=10)
        self.server = self.node = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class InProcessCluster:
    """Real nodes in this process (one thread and event loop each), real OpenBao per node."""

    def __init__(
        self, data_dir: Path, *, nodes: int = 3, threshold: int = 2, **limits: float | int
    ) -> None:
        self.data_dir = data_dir
        self.info = local.init_cluster(data_dir, nodes=nodes, threshold=threshold)
        set_limits(self.info, **limits)
        self.threads = {n.id: _NodeThread(n.config) for n in self.info.nodes}
        try:
            for t in self.threads.values():
                t.start()
        except BaseException:
            self.close()
            raise

    def node(self, name: str) -> Node:
        """The running Node object of ``name``."""
        node = self.threads[name].node
        assert node is not None, f"{name} is not running"
        return node

    def run(self, name: str, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` on ``name``'s event loop."""
        return self.threads[name].run(coro, timeout)

    def stop(self, name: str) -> None:
        """Stop one node (its in-memory nonces and cached shares go with it)."""
        self.threads[name].stop()

    def start(self, name: str) -> Node:
        """Start one node again from its config and Vault."""
        return self.threads[name].start()

    def client(self, **kw: Any) -> Client:
        """A Client over every node."""
        return client_for(self.info, **kw)

    def close(self) -> None:
        """Stop every node thread and every OpenBao server."""
        for t in self.threads.values():
            t.close()
        local.down(self.data_dir)


@contextlib.contextmanager
def process_cluster(tmp: Path, **kw: Any) -> Iterator[ProcessCluster]:
    """A ProcessCluster that is always torn down."""
    c = ProcessCluster(tmp / f"cluster-{secrets.token_hex(3)}", **kw)
    try:
        yield c
    finally:
        c.close()


@contextlib.contextmanager
def inprocess_cluster(tmp: Path, **kw: Any) -> Iterator[InProcessCluster]:
    """An InProcessCluster that is always torn down."""
    c = InProcessCluster(tmp / f"cluster-{secrets.token_hex(3)}", **kw)
    try:
        yield c
    finally:
        c.close()
