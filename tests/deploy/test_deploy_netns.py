"""Multi-host on one machine: every node and its OpenBao in a network namespace of its own.

The test builds, and always removes, its own namespaces (root and ``ip netns`` required, else
skipped with the reason)::

    wft<id>-hub   bridge br0 10.77.0.254/24   <- the wallet client runs here
       ├─ veth ── wft<id>-1  eth0 10.77.0.1/24   node-1 :7001, its OpenBao on 127.0.0.1:8200
       ├─ veth ── wft<id>-2  eth0 10.77.0.2/24   node-2 :7001, its OpenBao on 127.0.0.1:8200
       └─ veth ── wft<id>-3  eth0 10.77.0.3/24   node-3 :7001, its OpenBao on 127.0.0.1:8200

Nothing is added to the host's own namespace and no namespace has a default route: traffic
stays between the addresses of these test hosts. Each OpenBao listens on the loopback of its
node's namespace only, so no other node can even reach it. The node certificates carry the
namespace addresses (bootstrap_tls.py ``--endpoint``/``--listen``).

Then: DKG across the namespaces and a signature; node-2's link is cut (``ip link set eth0
down`` inside its namespace) and 2-of-3 still signs through node-1 (which must pass over the
unreachable node-2) and node-3; the link is restored and node-2 catches up: it coordinates a
signature as the entry point, and node-1 takes it back into its quorum.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nacl.signing import VerifyKey
from xrpl.core.binarycodec import decode, encode_for_signing

import deploykit as dk

pytestmark = [pytest.mark.netns, pytest.mark.integration, pytest.mark.slow]

NODES = ("node-1", "node-2", "node-3")
SUBNET = "10.77.0"
HUB_ADDR = f"{SUBNET}.254"
VAULT = "https://127.0.0.1:8200"
ROUND_TIMEOUT_S = 3
CLIENT = Path(__file__).with_name("netns_client.py")


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _must(*args: str) -> str:
    proc = _ip(*args)
    if proc.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


class NetLab:
    """The namespaces, bridge and veth pairs of one test run."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.hub = f"wft{tag}-hub"
        self.ns = {n: f"wft{tag}-{i}" for i, n in enumerate(NODES, 1)}
        self.addr = {n: f"{SUBNET}.{i}" for i, n in enumerate(NODES, 1)}
        self.created: list[str] = []

    def _add_ns(self, name: str) -> None:
        _must("netns", "add", name)
        self.created.append(name)
        _must("-n", name, "link", "set", "lo", "up")

    def build(self) -> None:
        self._add_ns(self.hub)
        _must("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _must("-n", self.hub, "addr", "add", f"{HUB_ADDR}/24", "dev", "br0")
        _must("-n", self.hub, "link", "set", "br0", "up")
        for i, n in enumerate(NODES, 1):
            ns = self.ns[n]
            self._add_ns(ns)
            # both ends are created inside our namespaces: the host's namespace is untouched
            _must("-n", self.hub, "link", "add", f"h{i}", "type", "veth", "peer", "name", "eth0",
                  "netns", ns)  # fmt: skip
            _must("-n", self.hub, "link", "set", f"h{i}", "master", "br0")
            _must("-n", self.hub, "link", "set", f"h{i}", "up")
            _must("-n", ns, "addr", "add", f"{self.addr[n]}/24", "dev", "eth0")
            _must("-n", ns, "link", "set", "eth0", "up")

    def cut(self, node: str) -> None:
        _must("-n", self.ns[node], "link", "set", "eth0", "down")

    def restore(self, node: str) -> None:
        _must("-n", self.ns[node], "link", "set", "eth0", "up")

    def destroy(self) -> None:
        for name in reversed(self.created):
            _ip("netns", "del", name)
        self.created.clear()


def _netns_usable() -> str | None:
    """None if this run may build namespaces, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"wft{secrets.token_hex(3)}-probe"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"`ip netns add` refused: {made.stderr.strip()}"
    try:
        for args in (
            ("-n", probe, "link", "add", "br0", "type", "bridge"),
            ("-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"),
        ):
            got = _ip(*args)
            if got.returncode != 0:
                return f"`ip {' '.join(args[2:])}` refused: {got.stderr.strip()}"
    finally:
        _ip("netns", "del", probe)
    return None


def hub_client(lab: NetLab, out: Path, *args: str) -> dict:
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.hub, sys.executable, str(CLIENT), str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dk.clean_env(),
        check=False,
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise AssertionError(f"client {args}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def lab() -> Iterator[NetLab]:
    why = _netns_usable()
    if why is not None:
        pytest.skip(f"multi-host test skipped: {why}")
    lab = NetLab()
    try:
        lab.build()
        yield lab
    finally:
        lab.destroy()
        leftover = set(_must("netns", "list").split()) & {lab.hub, *lab.ns.values()}
        assert not leftover, f"namespaces left behind: {leftover}"


def test_cluster_across_namespaces_survives_a_cut_link(lab: NetLab, tmp_path: Path) -> None:
    started = time.monotonic()
    for ns in (lab.hub, *lab.ns.values()):  # never a way out of the lab
        assert _must("-n", ns, "route", "show", "default").strip() == "", ns
    out = tmp_path / "bootstrap"
    args = [f"--limit=round_timeout_s={ROUND_TIMEOUT_S}"]
    for n in NODES:
        args += [
            f"--endpoint={n}={lab.addr[n]}:7001",
            f"--listen={n}={lab.addr[n]}:7001",
            f"--vault={n}={VAULT}",
        ]
    dk.bootstrap(out, args)
    procs = dk.Procs()
    try:
        for n in NODES:
            cfg = dk.openbao_config(tmp_path / f"{n}-vault", out / f"{n}-vault",
                                    host="127.0.0.1", port=8200)  # fmt: skip
            procs.start_bao(f"bao-{n}", cfg, netns=lab.ns[n])

        def init(n: str) -> None:
            dk.vault_bootstrap(
                addr=VAULT,
                ca=out / n / "tls" / "vault-ca.pem",
                node=n,
                node_dir=out / n,
                state=tmp_path / f"{n}-vault" / "trial-state",
                audit_file=tmp_path / f"{n}-vault" / "logs" / "audit.log",
                netns=lab.ns[n],
                check_config=False,  # the node's start-up self-check does it below
            )

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(init, NODES))
        configs = {n: out / n / "node.toml" for n in NODES}
        for n in NODES:
            procs.start_node(n, configs[n], netns=lab.ns[n], cwd=tmp_path)
        dk.wait_until(
            "every node SERVING in its namespace",
            lambda: all(dk.healthcheck(configs[n], netns=lab.ns[n]).returncode == 0 for n in NODES),
            60,
            procs,
        )
        # the nodes are reachable from the client's host; their Vaults are not (loopback of
        # each node's own namespace)
        assert hub_client(lab, out, "health", "node-1")["status"] == "SERVING"
        for n in NODES:
            probe = subprocess.run(
                ["ip", "netns", "exec", lab.hub, sys.executable, "-c",
                 "import socket,sys; socket.create_connection((sys.argv[1], 8200), timeout=2)",
                 lab.addr[n]],
                capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
            assert probe.returncode != 0 and "Connection refused" in probe.stderr, probe.stderr

        # -- DKG and a signature across the three hosts -------------------------------------
        key = hub_client(lab, out, "create")
        assert "error" not in key, key
        party = {p["node"]: p["id"] for p in key["parties"]}
        assert sorted(party) == list(NODES)
        pub = bytes.fromhex(key["public_key"])

        def verify(signed: dict) -> set[str]:
            assert "error" not in signed, signed
            tx = decode(signed["tx_blob"])
            VerifyKey(pub).verify(
                bytes.fromhex(encode_for_signing(tx)), bytes.fromhex(tx["TxnSignature"])
            )
            names = {n for n, i in party.items() if i in signed["signers"]}
            assert len(names) == 2
            return names

        verify(hub_client(lab, out, "sign", key["key_id"], "1", "node-1"))

        # -- cut node-2 off: 2-of-3 still signs ---------------------------------------------
        lab.cut("node-2")
        assert hub_client(lab, out, "health", "node-2")["status"].startswith("UNREACHABLE")
        t0 = time.monotonic()
        assert verify(hub_client(lab, out, "sign", key["key_id"], "2", "node-1")) == {
            "node-1",
            "node-3",
        }
        assert time.monotonic() - t0 < 20 * ROUND_TIMEOUT_S
        assert verify(hub_client(lab, out, "sign", key["key_id"], "3", "node-3")) == {
            "node-1",
            "node-3",
        }
        assert procs.alive("node-2")  # cut off, not dead

        # -- restore: node-2 catches up -----------------------------------------------------
        lab.restore("node-2")
        dk.wait_until(
            "node-2 reachable again from the client",
            lambda: hub_client(lab, out, "health", "node-2")["status"] == "SERVING",
            30,
            procs,
        )
        assert "node-2" in verify(hub_client(lab, out, "sign", key["key_id"], "4", "node-2"))
        seq = 5
        deadline = time.monotonic() + 20
        while True:  # node-1 backs off from a failed peer for a few seconds, then takes it back
            names = verify(hub_client(lab, out, "sign", key["key_id"], str(seq), "node-1"))
            seq += 1
            if "node-2" in names:
                break
            assert time.monotonic() < deadline, "node-1 never took node-2 back into its quorum"
            time.sleep(1.0)
        for n in NODES:
            assert procs.alive(n), procs.log(n)
    finally:
        procs.close()
    print(f"multi-host test body: {time.monotonic() - started:.1f}s")
