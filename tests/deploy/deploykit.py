"""Run the deploy/ artefacts for real, without a container engine.

- :func:`bootstrap` runs ``deploy/scripts/bootstrap_tls.py`` (what the compose ``tls-bootstrap``
  job runs);
- :func:`openbao_config` turns ``deploy/compose/vault-2/config.hcl`` (the OpenBao server of the
  compose trial: TLS listener, raft storage, declared audit device) into a config for a local
  ``bao server`` by rewriting only the container paths and the listen address — every rewrite
  must match, so a drift of the compose file breaks the tests instead of being skipped;
- :func:`vault_bootstrap` runs ``deploy/scripts/vault_bootstrap.py`` (the ``vault-init-k`` jobs);
- :class:`Procs` starts long-running processes (``bao server``, ``python -m warifu.node``),
  optionally inside a network namespace (``ip netns exec``), and always stops them.

Processes get an environment without ``WARIFU_*``, ``VAULT_*``, ``BAO_*`` and proxies, so the
node demonstrably runs from its config file alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from warifu.client.openbao import bao_binary

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCRIPTS = DEPLOY / "scripts"
OPENBAO_COMPOSE_CONFIG = DEPLOY / "compose" / "vault-2" / "config.hcl"
_DROP = ("WARIFU_", "VAULT_", "BAO_", "SSL_CERT", "REQUESTS_CA", "CURL_CA")
_PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def clean_env() -> dict[str, str]:
    """This environment minus anything that could configure a node, a Vault client or a proxy."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(_DROP) and k.lower() not in _PROXIES
    }


def netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port p with p and p + 1 free on ``host`` (OpenBao binds both)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((host, 0))
            p = int(s.getsockname()[1])
        if p >= 65534:
            continue
        with socket.socket() as s1:
            try:
                s1.bind((host, p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run_script(
    name: str, args: Sequence[str], *, netns: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``deploy/scripts/<name>`` with this Python; raise with its output if it fails."""
    argv = [*netns_prefix(netns), sys.executable, str(SCRIPTS / name), *args]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=clean_env(), check=False
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{name} {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def bootstrap(out: Path, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``bootstrap_tls.py --out OUT ARGS``."""
    return run_script("bootstrap_tls.py", ["--out", str(out), *args])


def openbao_config(
    data_dir: Path, tls_dir: Path, *, host: str, port: int, node_id: str = "vault-2"
) -> Path:
    """The compose OpenBao config with container paths and addresses rewritten for ``host``."""
    text = OPENBAO_COMPOSE_CONFIG.read_text()
    (data_dir / "data").mkdir(parents=True, mode=0o700, exist_ok=True)
    (data_dir / "logs").mkdir(parents=True, mode=0o700, exist_ok=True)
    rewrites = {
        '"/openbao/file"': f'"{data_dir / "data"}"',
        '"/openbao/tls/server.pem"': f'"{tls_dir / "server.pem"}"',
        '"/openbao/tls/server.key"': f'"{tls_dir / "server.key"}"',
        '"/openbao/logs/audit.log"': f'"{data_dir / "logs" / "audit.log"}"',
        '"0.0.0.0:8200"': f'"{host}:{port}"',
        '"0.0.0.0:8201"': f'"{host}:{port + 1}"',
        '"https://vault-2:8200"': f'"https://{host}:{port}"',
        '"https://vault-2:8201"': f'"https://{host}:{port + 1}"',
        'node_id = "vault-2"': f'node_id = "{node_id}"',
    }
    for old, new in rewrites.items():
        if text.count(old) != 1:
            raise AssertionError(f"{OPENBAO_COMPOSE_CONFIG}: expected {old} exactly once")
        text = text.replace(old, new)
    path = data_dir / "config.hcl"
    path.write_text(text)
    return path


def vault_bootstrap(
    *,
    addr: str,
    ca: Path,
    node: str,
    node_dir: Path,
    state: Path,
    audit_file: Path,
    netns: str | None = None,
    check_config: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = [
        f"--addr={addr}",
        f"--ca-cert={ca}",
        f"--node={node}",
        f"--node-dir={node_dir}",
        f"--audit-file={audit_file}",
        f"--trial-state={state}",
        "--wait=60",
    ]
    if check_config:
        args.append("--check-config")
    return run_script("vault_bootstrap.py", args, netns=netns)


class Procs:
    """Long-running child processes, each in its own session; :meth:`close` stops them all."""

    def __init__(self) -> None:
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(
        self, name: str, argv: Sequence[str], log: Path, *, netns: str | None = None, cwd: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as f:
            proc = subprocess.Popen(
                [*netns_prefix(netns), *argv],
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=clean_env(),
                start_new_session=True,
            )
        self.procs[name] = (proc, log)
        return proc

    def start_bao(
        self, name: str, config: Path, *, netns: str | None = None
    ) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            [bao_binary(), "server", f"-config={config}"],
            config.parent / "bao.log",
            netns=netns,
            cwd=config.parent,
        )

    def start_node(
        self, name: str, config: Path, *, netns: str | None = None, cwd: Path
    ) -> subprocess.Popen[bytes]:
        """``python -m warifu.node --config FILE`` and nothing else."""
        return self.start(
            name,
            [sys.executable, "-m", "warifu.node", "--config", str(config)],
            cwd / f"{name}.log",
            netns=netns,
            cwd=cwd,
        )

    def log(self, name: str) -> str:
        _, path = self.procs[name]
        try:
            return path.read_bytes()[-6000:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self, name: str) -> bool:
        return self.procs[name][0].poll() is None

    def stop(self, name: str, timeout: float = 10.0) -> None:
        proc, _ = self.procs.pop(name)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def close(self) -> None:
        # nodes first (they talk to their Vaults on the way down), then everything else
        for name in sorted(self.procs, key=lambda n: not n.startswith("node")):
            with contextlib.suppress(Exception):
                self.stop(name)


def healthcheck(
    config: Path, *, netns: str | None = None, liveness: bool = False, timeout: float = 2.0
) -> subprocess.CompletedProcess[str]:
    """``python -m warifu.node.healthcheck --config FILE`` (what the images' HEALTHCHECK runs)."""
    argv = [
        *netns_prefix(netns),
        sys.executable,
        "-m",
        "warifu.node.healthcheck",
        "--config",
        str(config),
        f"--timeout={timeout}",
    ]
    if liveness:
        argv.append("--liveness")
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, env=clean_env(), check=False
    )


def wait_until(what: str, check: object, timeout: float, procs: Procs | None = None) -> None:
    """Poll ``check()`` until true; on timeout raise with the logs of ``procs``."""
    deadline = time.monotonic() + timeout
    while True:
        if check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            logs = ""
            if procs is not None:
                logs = "\n".join(f"--- {n} ---\n{procs.log(n)}" for n in procs.procs)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)
