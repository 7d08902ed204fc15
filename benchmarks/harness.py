"""``warifu bench``: threshold signing latency and throughput next to the floor and Vault transit.

::

    warifu bench --data-dir D --out report/            # the running local cluster, or a new one
    warifu bench --data-dir D --out report/ --quick    # the same in under a minute
    warifu bench --endpoints h1:p,h2:p,... --ca ca.pem --cert c.pem --key-file c.key --out report/

What it measures, in one run on one machine (``bench.md`` says which cells it could measure):

- ``ecdsa-secp256k1.sign`` and ``eddsa-ed25519.sign``, mode ``full`` (every round live) and
  ``presigned`` (ECDSA: from a presignature of the key's pool, ``presign_pool``; FROST: with
  round-1 commitments precomputed, ``[limits] frost_precommit``), 2-of-3 and, when the cluster
  has 5 nodes, 3-of-5, at 1, 4 and 16 concurrent callers;
- ``ecdsa-secp256k1.keygen`` and ``eddsa-ed25519.keygen`` (the DKG, ``Signer.CreateKey``);
- ``ecdsa-secp256k1.refresh`` and ``eddsa-ed25519.refresh``: the proactive refresh ceremony
  (``Ceremony.Refresh``) of a key made for it, approved with the local cluster's dev approver
  keys (``<data-dir>/approvers``, or ``--approver-dir``); without approver keys, or on a build
  without the call, it is listed as skipped with the reason (no number is made up);
- the floors: one single-key signature (coincurve, libsodium), one gRPC round trip on the same
  channel (``Signer.GetKey``), one Vault transit signature (a real OpenBao: ed25519 and
  ecdsa-p256; transit has no secp256k1).

With ``--data-dir`` of a directory without a cluster, the harness creates one (5 nodes, or 3
with ``--quick``) with ``[limits] trace = true``, measures FROST ``full`` with
``frost_precommit = 0``, restarts the nodes with ``frost_precommit`` for ``presigned``, reads
the nodes' trace files for the per-round breakdown, and stops the cluster at the end. A running
cluster is used as it is: nothing is reconfigured or restarted, FROST is measured in the mode its
config gives (``bench.md`` lists the other as not measured), and the breakdown exists only if its
nodes trace. A cluster in the directory that is not running is started as it is and stopped again.

ECDSA ``presigned``: a key with ``presign_pool`` = 64 (16 with ``--quick``), the most a node
keeps. The harness waits until the pool is full (counted from the coordinator's trace; estimated
from the measured presignature time without a trace), then signs at most a pool's worth, then
waits for the refill, and so on: every timed signature comes from the pool. The node refills the
pool in the background while the batch runs (that is how the node works), so those signatures
share the CPU with refill sessions. The throughput of this mode is that of a full pool, not a
sustained rate: at steady state every signature also costs a presignature.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from warifu.benchmarks import breakdown, floors, report
from warifu.benchmarks.stats import (
    cpu_snapshot,
    floor_row,
    machine_info,
    other_load,
    percentile,
    result_row,
)
from warifu.client import Client, KeyInfo, cluster

XRP_DESTINATION = "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe"
ETH_TO = "0x000000000000000000000000000000000000dEaD"
SCHEMES = ("ecdsa-secp256k1", "eddsa-ed25519")
FROST_PRECOMMIT = 64
#: nodes flush their trace files every 0.2 s (node/tracing.py FLUSH_S)
TRACE_FLUSH_WAIT_S = 0.4


def refresh_api() -> bool:
    """Whether this build has the refresh ceremony (``warifu.v1.Ceremony.Refresh``)."""
    try:
        from warifu.v1 import ceremony_pb2
    except ImportError:
        return False
    svc = ceremony_pb2.DESCRIPTOR.services_by_name.get("Ceremony")
    return svc is not None and "Refresh" in svc.methods_by_name


def load_approvers(directory: Path) -> list[tuple[str, bytes]]:
    """(name, 32-byte seed) of every ``NAME.key`` in ``directory`` (the local cluster's dev
    approvers live in ``<data-dir>/approvers``), sorted by name."""
    out = []
    for f in sorted(directory.glob("*.key")) if directory.is_dir() else []:
        try:
            seed = bytes.fromhex(f.read_text().strip())
        except (OSError, ValueError):
            continue
        if len(seed) == 32:
            out.append((f.stem, seed))
    return out


@dataclass(frozen=True, slots=True)
class Counts:
    """Timed calls per cell (at least the concurrency, so every caller works)."""

    eddsa_sign: int
    ecdsa_sign: int
    ecdsa_presigned: int
    keygen: int
    keygen_concurrency: tuple[int, ...]
    presign_pool: int
    floor: int
    vault: int
    rtt: int
    warmup: int


FULL = Counts(
    eddsa_sign=300,
    ecdsa_sign=100,
    ecdsa_presigned=128,
    keygen=8,
    keygen_concurrency=(1, 4),
    presign_pool=64,
    floor=5000,
    vault=500,
    rtt=500,
    warmup=10,
)
QUICK = Counts(
    eddsa_sign=20,
    ecdsa_sign=6,
    ecdsa_presigned=8,
    keygen=2,
    keygen_concurrency=(1,),
    presign_pool=16,
    floor=500,
    vault=100,
    rtt=100,
    warmup=3,
)


@dataclass(slots=True)
class Options:
    """What ``warifu bench`` was asked to do."""

    out: Path
    data_dir: Path | None = None
    endpoints: list[str] = field(default_factory=list)
    ca: Path | None = None
    cert: Path | None = None
    key_file: Path | None = None
    quick: bool = False
    nodes: int | None = None
    count: int | None = None
    concurrency: tuple[int, ...] = (1, 4, 16)
    frost_mode: str | None = None
    approver_dir: Path | None = None
    vault_addr: str | None = None
    vault_token_file: Path | None = None
    plots: bool = True
    progress: bool = True


# -- progress --------------------------------------------------------------------------------


class Progress:
    """One progress line on stderr (a bar on a terminal, a line per step otherwise)."""

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.label = ""
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._tty = enabled and self._stream.isatty()
        self._t0 = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def stage(self, label: str) -> None:
        """Name what runs now."""
        with self._lock:
            self.label = label
            if self._enabled and not self._tty:
                elapsed = time.monotonic() - self._t0
                pct = 100 * self.done // self.total
                print(f"[{pct:3d}% {elapsed:5.0f}s] {label}", file=self._stream, flush=True)
            self._draw(force=True)

    def advance(self, k: int = 1) -> None:
        """``k`` more units done."""
        with self._lock:
            self.done = min(self.total, self.done + k)
            self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self._tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        width = 28
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        elapsed = now - self._t0
        line = f"\r[{bar}] {100 * self.done // self.total:3d}% {elapsed:5.0f}s  {self.label}"
        self._stream.write(line[:120].ljust(120))
        self._stream.flush()

    def close(self) -> None:
        """End the progress line."""
        if self._tty:
            self._stream.write("\r" + " " * 120 + "\r")
            self._stream.flush()


# -- running calls ---------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """The timed calls of one cell."""

    samples_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    t0: float = 0.0  # wall clock (time.time()) of the first call
    t1: float = 0.0

    @property
    def attempted(self) -> int:
        return len(self.samples_ms) + len(self.failures)


def run_calls(
    fn: Callable[[int], Any],
    count: int,
    concurrency: int,
    *,
    progress: Progress | None = None,
    seq: Iterator[int] | None = None,
) -> Run:
    """Call ``fn(i)`` ``count`` times from ``concurrency`` threads started together."""
    seq = seq or itertools.count()
    lock = threading.Lock()
    left = [count]
    out = Run()

    def worker() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
                i = next(seq)
            t0 = time.perf_counter()
            try:
                fn(i)
            except Exception as exc:  # a failed call is counted, reported, not timed
                with lock:
                    out.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                ms = 1000.0 * (time.perf_counter() - t0)
                with lock:
                    out.samples_ms.append(ms)
            if progress is not None:
                progress.advance()

    out.t0 = time.time()
    start = time.perf_counter()
    if concurrency == 1:
        worker()
    else:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="bench") as pool:
            for f in [pool.submit(worker) for _ in range(concurrency)]:
                f.result()
    out.wall_s = time.perf_counter() - start
    out.t1 = time.time()
    return out


def _payment(account: str, i: int) -> dict[str, Any]:
    return {
        "TransactionType": "Payment",
        "Account": account,
        "Destination": XRP_DESTINATION,
        "Amount": str(1000 + i % 1000),
        "Fee": "12",
        "Sequence": 1 + i,
    }


def _eth_tx(i: int) -> dict[str, Any]:
    return {
        "type": 2,
        "chainId": 1,
        "nonce": i,
        "to": ETH_TO,
        "value": 1 + i % 1000,
        "gas": 21000,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }


# -- the cluster under test ------------------------------------------------------------------


def _read_limits(config: Path) -> dict[str, Any]:
    try:
        limits = tomllib.loads(config.read_text()).get("limits", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return dict(limits) if isinstance(limits, dict) else {}


def _trace_path(config: Path, limits: dict[str, Any]) -> Path | None:
    """Where a node writes its spans (as ``node/tracing.py`` resolves it), if it traces."""
    if not limits.get("trace"):
        return None
    p = Path(str(limits.get("trace_file") or "node.trace.jsonl"))
    return p if p.is_absolute() else config.parent / p


def _set_limits(info: cluster.ClusterInfo, **limits: Any) -> None:
    """Replace the ``[limits]`` section of every node config of a cluster the harness owns."""
    body = "".join(
        f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}\n"
        for k, v in limits.items()
    )
    for n in info.nodes:
        head = n.config.read_text().split("\n[limits]\n", 1)[0].rstrip("\n")
        n.config.write_text(f"{head}\n\n[limits]\n{body}")


def _tls_names(endpoints: Sequence[str], ca: bytes, cert: Path, key: Path) -> dict[str, str]:
    """endpoint -> node name, from the CN of each node's TLS certificate (a node's name is its
    certificate's CN). Endpoints that do not answer are left out."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=ca.decode())
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["h2"])
    out: dict[str, str] = {}
    for ep in endpoints:
        host, _, port = ep.rpartition(":")
        try:
            with (
                socket.create_connection((host.strip("[]"), int(port)), timeout=5) as raw,
                ctx.wrap_socket(raw) as s,
            ):
                subject = dict(x[0] for x in s.getpeercert()["subject"])  # type: ignore[index,misc]
                out[ep] = str(subject["commonName"])
        except (OSError, ssl.SSLError, KeyError, ValueError):
            continue
    return out


@dataclass(slots=True)
class Target:
    """The cluster under test and what the harness may do with it."""

    describe: str
    endpoints: list[str]
    ca: bytes
    cert: bytes
    key: bytes
    names: list[str]  # node names, entry first
    owned: bool = False  # created by the harness: it may reconfigure and restart it
    started: bool = False  # started by the harness: stopped again at the end
    info: cluster.ClusterInfo | None = None
    frost_precommit: int | None = None  # None = unknown (a deployed cluster)
    trace_paths: list[Path] = field(default_factory=list)
    approvals_needed: int | None = None  # [approvals] m of the entry node; None = unknown
    approver_dir: Path | None = None

    @property
    def entry(self) -> str:
        return self.names[0]

    def client(self) -> Client:
        return Client(self.endpoints, ca=self.ca, cert=self.cert, key=self.key, timeout=120.0)

    def pids(self) -> list[int]:
        """Live node and OpenBao processes of a local cluster under test."""
        if self.info is None:
            return []
        try:
            info = cluster.load_cluster(self.info.data_dir)
        except cluster.ClusterError:
            return []
        return [p for n in info.nodes for p in (n.pid, n.vault_pid) if p is not None]


def _local_target(info: cluster.ClusterInfo, describe: str) -> Target:
    limits = [_read_limits(n.config) for n in info.nodes]
    traces = [_trace_path(n.config, lim) for n, lim in zip(info.nodes, limits, strict=True)]
    try:
        approvals = tomllib.loads(info.nodes[0].config.read_text()).get("approvals", {})
    except (OSError, tomllib.TOMLDecodeError):
        approvals = {}
    return Target(
        describe=describe,
        endpoints=[n.endpoint for n in info.nodes],
        ca=info.ca.read_bytes(),
        cert=info.client_cert.read_bytes(),
        key=info.client_key.read_bytes(),
        names=[n.id for n in info.nodes],
        info=info,
        frost_precommit=int(limits[0].get("frost_precommit", 0) or 0),
        trace_paths=[p for p in traces if p is not None],
        approvals_needed=int(approvals.get("m", 0)) if isinstance(approvals, dict) else 0,
        approver_dir=info.data_dir / "approvers",
    )


def open_target(opts: Options, progress: Progress) -> Target:
    """Connect to, start, or create the cluster to measure."""
    if opts.endpoints:
        if not (opts.ca and opts.cert and opts.key_file):
            raise ValueError("--endpoints needs --ca, --cert and --key-file")
        ca = opts.ca.read_bytes()
        names = _tls_names(opts.endpoints, ca, opts.cert, opts.key_file)
        return Target(
            describe=f"deployed cluster at {', '.join(opts.endpoints)} (entry {opts.endpoints[0]})",
            endpoints=list(opts.endpoints),
            ca=ca,
            cert=opts.cert.read_bytes(),
            key=opts.key_file.read_bytes(),
            names=[names.get(e, e) for e in opts.endpoints],
            frost_precommit=None,
        )
    assert opts.data_dir is not None
    data_dir = opts.data_dir.resolve()
    if (data_dir / cluster.CLUSTER_FILE).exists():
        st = cluster.status(data_dir)
        if all(n.healthy for n in st.nodes):
            return _local_target(st, f"the running local cluster in {data_dir}, used as it is")
        progress.stage(f"starting the local cluster in {data_dir}")
        info = cluster.up(data_dir, nodes=len(st.nodes), threshold=st.threshold)
        t = _local_target(info, f"the local cluster in {data_dir}, started as it is")
        t.started = True
        return t
    nodes = opts.nodes or (3 if opts.quick else 5)
    progress.stage(f"creating a {nodes}-node local cluster in {data_dir}")
    info = cluster.init_cluster(data_dir, nodes=nodes, threshold=2)
    try:
        _set_limits(info, trace=True, frost_precommit=0)
        progress.stage(f"starting {nodes} nodes")
        cluster.start_nodes(info)
    except BaseException:
        cluster.down(data_dir)
        raise
    t = _local_target(
        info,
        f"a local cluster created for this run in {data_dir}: {nodes} nodes on 127.0.0.1, "
        "mTLS gRPC, one OpenBao per node (raft storage), `[limits] trace = true`",
    )
    t.owned = t.started = True
    return t


def restart_with(target: Target, progress: Progress, **limits: Any) -> None:
    """Stop every node of an owned cluster, rewrite its limits, start it again."""
    assert target.owned and target.info is not None
    info = target.info
    progress.stage(f"restarting the nodes with {limits}")
    with ThreadPoolExecutor(len(info.nodes)) as pool:
        list(pool.map(lambda n: cluster.stop_node(info, n.id), info.nodes))
    _set_limits(info, **limits)
    cluster.start_nodes(info)
    target.frost_precommit = int(limits.get("frost_precommit", 0))


# -- the benchmark ---------------------------------------------------------------------------


@dataclass(slots=True)
class Bench:
    """One run: the options, the target, and everything measured so far."""

    opts: Options
    counts: Counts
    target: Target
    progress: Progress
    results: list[dict[str, Any]] = field(default_factory=list)
    floors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    breakdowns: list[dict[str, Any]] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)
    refresh_phases: list[dict[str, Any]] = field(default_factory=list)
    distributions: list[tuple[str, list[float]]] = field(default_factory=list)
    presign_ms: dict[tuple[int, int], float] = field(default_factory=dict)
    seq: Iterator[int] = field(default_factory=itertools.count)
    reader: breakdown.TraceReader | None = None

    def __post_init__(self) -> None:
        if self.target.trace_paths:
            self.reader = breakdown.TraceReader(self.target.trace_paths)

    # committees: (n, t, committee node names); the entry node is in every committee
    def committees(self) -> list[tuple[int, int, list[str]]]:
        names = self.target.names
        out: list[tuple[int, int, list[str]]] = []
        if len(names) >= 3:
            out.append((3, 2, sorted(names[:3]) if len(names) > 3 else []))
        else:
            self.skipped.append(
                {"name": "2-of-3", "reason": f"the cluster has {len(names)} nodes, fewer than 3"}
            )
        if len(names) >= 5:
            out.append((5, 3, sorted(names[:5]) if len(names) > 5 else []))
        else:
            self.skipped.append(
                {"name": "3-of-5", "reason": f"the cluster has {len(names)} nodes, not 5"}
            )
        return out

    def window(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """The nodes' spans that started in ``[t0, t1]``, once the nodes flushed them."""
        assert self.reader is not None
        time.sleep(max(0.0, t1 + TRACE_FLUSH_WAIT_S - time.time()))
        return self.reader.window(t0, t1)

    def count(self, base: int, concurrency: int) -> int:
        n = self.opts.count or base
        return max(n, concurrency * (1 if self.opts.quick else 2))

    def record(
        self,
        name: str,
        mode: str,
        n: int,
        t: int,
        concurrency: int,
        run: Run,
        *,
        trace: bool = True,
    ) -> None:
        cell = f"{name} {mode} {t}-of-{n} concurrency {concurrency}"
        if run.failures:
            self.errors.append(
                {
                    "cell": cell,
                    "failed": len(run.failures),
                    "attempted": run.attempted,
                    "first_error": run.failures[0],
                }
            )
        if not run.samples_ms:
            self.skipped.append({"name": cell, "reason": "every call failed"})
            return
        self.results.append(
            result_row(
                name=name,
                mode=mode,
                n=n,
                t=t,
                concurrency=concurrency,
                samples_ms=run.samples_ms,
                wall_s=run.wall_s,
            )
        )
        if concurrency == 1:
            label = f"{name.replace('.', ' ')}{' ' + mode if '.sign' in name else ''} {t}-of-{n}"
            self.distributions.append((label, run.samples_ms))
        if trace and concurrency == 1 and (n, t) == (3, 2) and self.reader is not None:
            spans = self.window(run.t0, run.t1)
            if spans:
                self.breakdowns.append(
                    breakdown.breakdown(
                        spans,
                        name=name,
                        mode=mode,
                        n=n,
                        t=t,
                        concurrency=concurrency,
                        ops=len(run.samples_ms),
                        entry_node=self.target.entry,
                        latency_mean_ms=sum(run.samples_ms) / len(run.samples_ms),
                    )
                )

    def timed(
        self,
        label: str,
        fn: Callable[[int], Any],
        count: int,
        concurrency: int,
        warmup: int,
        settle_s: float = 0.0,
    ) -> Run:
        self.progress.stage(label)
        if warmup:
            run_calls(fn, max(warmup, concurrency), concurrency, seq=self.seq)
        time.sleep(settle_s)  # let background refills triggered by the warm-up finish
        return run_calls(fn, count, concurrency, progress=self.progress, seq=self.seq)

    # -- floors -----------------------------------------------------------------------------

    def measure_floors(self) -> None:
        c = self.counts
        self.progress.stage("floor: single-key signatures (coincurve, libsodium)")
        for name, samples in floors.single_key(c.floor).items():
            self.floors.append(floor_row(name, samples))
            self.distributions.append((name, samples))
        self.progress.advance(2)
        self.progress.stage("floor: Vault transit (OpenBao) signatures")
        token = (
            self.opts.vault_token_file.read_text().strip() if self.opts.vault_token_file else None
        )
        with floors.vault(self.opts.vault_addr, token) as v:
            for name, samples in floors.vault_transit(v, c.vault).items():
                self.floors.append(floor_row(name, samples))
                self.distributions.append((name, samples))
            where = "a dev OpenBao started for this run" if v.started else v.addr
        self.progress.advance(2)
        self.notes.append(
            f"Vault transit floors: `transit/sign` on {where} over HTTP on this machine "
            "(one new connection per call, as warifu's own OpenBao client makes); each key's "
            "signature was verified once with the engine's public key. " + floors.VAULT_NO_SECP256K1
        )

    def measure_refresh(self, client: Client, n: int, t: int, committee: list[str]) -> None:
        """The refresh ceremony (``Ceremony.Refresh``) of a fresh key of each scheme, approved
        with the approver keys of the local cluster (or ``--approver-dir``)."""
        from warifu.core.approvals import ApproverKey

        directory = self.opts.approver_dir or self.target.approver_dir
        approvers = load_approvers(directory) if directory else []
        need = self.target.approvals_needed
        why = ""
        if not refresh_api():
            why = "this build has no refresh call (warifu.v1.Ceremony.Refresh): nothing to time"
        elif not approvers and need != 0:
            why = (
                "a refresh needs the approvals of registered approvers; no approver keys "
                f"(NAME.key) in {directory or '--approver-dir'}"
            )
        if why:
            for scheme in SCHEMES:
                self.skipped.append({"name": f"{scheme}.refresh {t}-of-{n}", "reason": why})
            return
        use = approvers if need is None else approvers[:need]
        count = max(2, self.counts.keygen // 2)
        for scheme in SCHEMES:
            label = f"{scheme}.refresh {t}-of-{n}"
            self.progress.stage(label)
            key = self.create_key(client, scheme, t, committee)
            run = Run(t0=time.time())
            phases: dict[str, list[float]] = {}
            for _ in range(count):
                self.wait_ceremonies_done(client, key)
                statement = client.refresh_statement(key.key_id)
                approvals = [ApproverKey(name, seed).approve(statement) for name, seed in use]
                t0 = time.perf_counter()
                try:
                    rep = client.refresh(statement, approvals)
                except Exception as exc:  # counted and reported like a failed signature
                    run.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                    if len(run.failures) >= 2 and not run.samples_ms:
                        break
                    continue
                finally:
                    self.progress.advance()
                run.samples_ms.append(1000.0 * (time.perf_counter() - t0))
                run.wall_s += time.perf_counter() - t0
                for ph in rep.get("phases", []):
                    phases.setdefault(str(ph["name"]), []).append(1000.0 * float(ph["seconds"]))
            run.t1 = time.time()
            self.record(f"{scheme}.refresh", "full", n, t, 1, run, trace=False)
            if phases:
                self.refresh_phases.append(
                    {
                        "name": f"{scheme}.refresh",
                        "n": n,
                        "t": t,
                        "count": len(run.samples_ms),
                        "phases": [
                            {"phase": k, "mean_ms": round(sum(v) / len(v), 3)}
                            for k, v in phases.items()
                        ],
                    }
                )

    def wait_ceremonies_done(self, client: Client, key: KeyInfo, timeout: float = 30.0) -> None:
        """Wait until no node has a ceremony of ``key`` in flight (untimed).

        ``Ceremony.Refresh`` answers once the coordinator is done; a member may still be
        destroying the old epoch, and a refresh started then is refused (KEY_TRANSITIONING)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = False
            for ep in self.target.endpoints:
                try:
                    rows = client.ceremony_status(endpoint=ep)
                except Exception:  # a node that does not answer cannot be waited for
                    rows = []
                busy = busy or any(
                    r["key_id"] == key.key_id and r["status"] == "IN_FLIGHT" for r in rows
                )
            if not busy:
                return
            time.sleep(0.05)

    def measure_rtt(self, client: Client, key: KeyInfo) -> None:
        self.progress.stage("floor: gRPC round trip (Signer.GetKey)")
        run_calls(lambda _i: client.get_key(key.key_id), self.counts.warmup, 1)
        run = run_calls(lambda _i: client.get_key(key.key_id), self.counts.rtt, 1)
        self.progress.advance()
        self.floors.append(floor_row("grpc.rtt", run.samples_ms))
        self.distributions.append(("grpc.rtt", run.samples_ms))
        self.notes.append(
            f"`grpc.rtt`: one unary `Signer.GetKey` to the entry node ({self.target.entry}) on "
            "the same mTLS channel the signatures use."
        )

    # -- keys and signatures ----------------------------------------------------------------

    def create_key(
        self, client: Client, scheme: str, t: int, committee: list[str], pool: int = 0
    ) -> KeyInfo:
        return client.create_key(scheme, threshold=t, committee=committee, presign_pool=pool)

    def measure_keygen(self, client: Client, n: int, t: int, committee: list[str]) -> None:
        for scheme in SCHEMES:

            def keygen(_i: int, scheme: str = scheme) -> KeyInfo:
                return self.create_key(client, scheme, t, committee)

            for conc in self.counts.keygen_concurrency:
                run = self.timed(
                    f"{scheme}.keygen {t}-of-{n} concurrency {conc}",
                    keygen,
                    max(self.counts.keygen, conc),
                    conc,
                    1 if conc == 1 else 0,
                )
                self.record(f"{scheme}.keygen", "full", n, t, conc, run)

    def signer(self, client: Client, key: KeyInfo) -> Callable[[int], Any]:
        if key.scheme == "eddsa-ed25519":
            return lambda i: client.sign_xrp_transaction(key.key_id, _payment(key.xrp_address, i))
        return lambda i: client.sign_eth_transaction(key.key_id, _eth_tx(i))

    def measure_sign(self, client: Client, key: KeyInfo, mode: str, n: int, t: int) -> None:
        name = f"{key.scheme}.sign"
        base = self.counts.eddsa_sign if key.scheme == "eddsa-ed25519" else self.counts.ecdsa_sign
        for conc in self.opts.concurrency:
            run = self.timed(
                f"{name} {mode} {t}-of-{n} concurrency {conc}",
                self.signer(client, key),
                self.count(base, conc),
                conc,
                self.counts.warmup + conc,
                0.5 if mode == "presigned" else 0.0,
            )
            self.record(name, mode, n, t, conc, run)
            if key.scheme == "ecdsa-secp256k1" and conc == 1 and run.samples_ms:
                self.presign_ms[(n, t)] = percentile(run.samples_ms, 0.5)

    # -- ECDSA from the presignature pool ----------------------------------------------------

    def wait_pool(self, key: KeyInfo, n: int, t: int, used: int) -> bool:
        """Wait until the coordinator's pool for ``key`` is full again; True if observed."""
        size = self.counts.presign_pool
        if self.reader is None:
            per = self.presign_ms.get((n, t), 300.0) / 1000.0
            time.sleep(min(120.0, used * per * 1.5 + 0.5))
            return False
        deadline = time.monotonic() + 30.0 + size * 3.0
        last, last_change = -(10**9), time.monotonic()
        while time.monotonic() < deadline:
            level = breakdown.pool_level(
                self.reader.poll(), entry_node=self.target.entry, key_id=key.key_id
            )
            if level >= size:
                return True
            if level != last:
                last, last_change = level, time.monotonic()
            elif time.monotonic() - last_change > 20.0:
                break  # the refill stopped (a node down?): measure what there is
            time.sleep(0.1)
        self.notes.append(
            f"the presignature pool of the {t}-of-{n} ECDSA key did not refill to {size} "
            f"(last seen {last}); some signatures may have fallen back to three rounds"
        )
        return True

    def measure_presigned(self, client: Client, n: int, t: int, committee: list[str]) -> None:
        size = self.counts.presign_pool
        name = "ecdsa-secp256k1.sign"
        self.progress.stage(f"{name} presigned {t}-of-{n}: key with a pool of {size}, filling")
        key = self.create_key(client, "ecdsa-secp256k1", t, committee, pool=size)
        sign = self.signer(client, key)
        observed = self.wait_pool(key, n, t, size)
        run_calls(sign, 2, 1, seq=self.seq)  # warm-up (caches at the members)
        hits = total = 0
        for conc in self.opts.concurrency:
            count = self.count(self.counts.ecdsa_presigned, conc)
            label = f"{name} presigned {t}-of-{n} concurrency {conc}"
            run = Run()
            left, used = count, 2
            while left > 0:
                self.progress.stage(f"{label}: waiting for the pool to refill")
                self.wait_pool(key, n, t, used)
                self.progress.stage(label)
                batch = run_calls(sign, min(size, left), conc, progress=self.progress, seq=self.seq)
                run.t0 = run.t0 or batch.t0
                run.t1 = batch.t1
                run.samples_ms += batch.samples_ms
                run.failures += batch.failures
                run.wall_s += batch.wall_s
                used = min(size, left)
                left -= used
                if self.reader is not None:
                    spans = self.window(batch.t0, batch.t1)
                    hits += breakdown.count_sessions(
                        spans,
                        entry_node=self.target.entry,
                        key_id=key.key_id,
                        proto="dkls23-online",
                        step="round3",
                    )
                    total += batch.attempted
            self.record(name, "presigned", n, t, conc, run)
        self.wait_pool(key, n, t, size)  # leave the machine quiet for the next cell
        self.pools.append(
            {
                "n": n,
                "t": t,
                "presign_pool": size,
                "timed": sum(
                    r["count"]
                    for r in self.results
                    if r["name"] == name and r["mode"] == "presigned" and (r["n"], r["t"]) == (n, t)
                ),
                "from_pool": hits if self.reader is not None else None,
                "refill_observed": observed,
            }
        )
        how = (
            f"batches of at most {size} (the pool size), each after the pool was seen full again "
            "in the coordinator's trace"
            if observed
            else f"batches of at most {size}, each after a pause estimated from the measured "
            "presignature time (no trace to observe the pool)"
        )
        verified = (
            f"; {hits} of {total} timed signatures were one-round signatures from the pool "
            "(coordinator trace)"
            if self.reader is not None
            else "; not verified (no trace)"
        )
        self.notes.append(
            f"ECDSA presigned {t}-of-{n}: key with `presign_pool = {size}`, measured in {how}"
            f"{verified}. The node refills the pool in the background during a batch, so these "
            "signatures share the CPU with presigning sessions; their throughput is a full "
            "pool's, not a sustained rate."
        )

    # -- the whole run ------------------------------------------------------------------------

    def frost_modes(self) -> list[str]:
        p = self.target.frost_precommit
        if p is None:
            return [self.opts.frost_mode or "full"]
        return ["presigned" if p > 0 else "full"]

    def run(self) -> None:
        tgt = self.target
        committees = self.committees()
        if not committees:
            raise ValueError(f"a cluster of {len(tgt.names)} nodes is too small (3 or more)")
        self.measure_floors()
        keys: dict[tuple[int, int], dict[str, KeyInfo]] = {}
        with tgt.client() as client:
            for n, t, committee in committees:
                self.measure_keygen(client, n, t, committee)
                self.measure_refresh(client, n, t, committee)
                keys[(n, t)] = {s: self.create_key(client, s, t, committee) for s in SCHEMES}
            self.measure_rtt(client, keys[committees[0][:2]]["eddsa-ed25519"])
            for mode in self.frost_modes():
                for n, t, _ in committees:
                    self.measure_sign(client, keys[(n, t)]["eddsa-ed25519"], mode, n, t)
            for n, t, _ in committees:
                self.measure_sign(client, keys[(n, t)]["ecdsa-secp256k1"], "full", n, t)
            for n, t, committee in committees:
                self.measure_presigned(client, n, t, committee)
        measured = self.frost_modes()
        if tgt.owned and measured == ["full"]:
            restart_with(self.target, self.progress, trace=True, frost_precommit=FROST_PRECOMMIT)
            with tgt.client() as client:
                for n, t, _ in committees:
                    # the pools of a restarted node are empty: the warm-up calls fill them
                    self.measure_sign(client, keys[(n, t)]["eddsa-ed25519"], "presigned", n, t)
            measured.append("presigned")
            self.notes.append(
                f"FROST presigned: the nodes were restarted with `[limits] frost_precommit = "
                f"{FROST_PRECOMMIT}` (round-1 commitments fetched ahead, refilled in the "
                "background below half); full: `frost_precommit = 0`."
            )
        for mode in ("full", "presigned"):
            if mode not in measured:
                why = (
                    "the running cluster's nodes have `frost_precommit = "
                    f"{tgt.frost_precommit}`; the harness does not reconfigure a cluster it did "
                    "not create (run with an empty --data-dir to measure both modes)"
                    if tgt.frost_precommit is not None
                    else "a deployed cluster is measured as configured (--frost-mode says which "
                    "mode that is)"
                )
                self.skipped.append({"name": f"eddsa-ed25519.sign {mode}", "reason": why})
        if not tgt.trace_paths:
            self.notes.append(
                "no per-round breakdown: the nodes do not trace (`[limits] trace = true`)"
            )


def planned_units(opts: Options, counts: Counts, nodes: int) -> int:
    """Timed calls the run will make, each floor as one (for the progress bar; an estimate)."""
    committees = 1 + (nodes >= 5)
    cs = opts.concurrency

    def cnt(base: int) -> int:
        return sum(max(opts.count or base, c * (1 if opts.quick else 2)) for c in cs)

    per = (
        sum(max(counts.keygen, c) for c in counts.keygen_concurrency) * 2
        + max(2, counts.keygen // 2) * 2
        + cnt(counts.eddsa_sign) * 2
        + cnt(counts.ecdsa_sign)
        + cnt(counts.ecdsa_presigned)
    )
    return 5 + committees * per


def run(opts: Options) -> dict[str, Any]:
    """Run the benchmark and write ``bench.json``, ``bench.md`` and the plots to ``opts.out``."""
    counts = QUICK if opts.quick else FULL
    opts.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    started = dt.datetime.now(dt.UTC)
    progress = Progress(1, enabled=opts.progress)
    target = open_target(opts, progress)
    cpu0 = cpu_snapshot(target.pids())
    progress.total = planned_units(opts, counts, len(target.names))
    bench = Bench(opts, counts, target, progress)
    try:
        bench.run()
    finally:
        if target.started and target.info is not None:
            progress.stage("stopping the local cluster")
            cluster.down(target.info.data_dir)
        progress.close()
    machine["loadavg_end"] = list(os.getloadavg())
    # the nodes and OpenBao servers of the cluster under test are ours: live ones by pid, those
    # we started (stopped and reaped by now) through our children's CPU time
    machine["other_load_cores"] = round(other_load(cpu0, cpu_snapshot(target.pids())), 2)
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    doc: dict[str, Any] = {
        "machine": machine,
        "results": bench.results,
        "floors": bench.floors,
        "skipped": bench.skipped,
        "setup": {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "cluster": target.describe,
            "client": "this process: one mTLS gRPC channel per node (the first endpoint is the "
            f"entry node, {target.entry}, which coordinates); `concurrency` threads share it",
            "run": f"{'--quick' if opts.quick else 'full'} run, {elapsed:.0f} s; warm-up calls "
            "before each cell are not timed",
            "entry_node": target.entry,
            "nodes": len(target.names),
            "quick": opts.quick,
        },
        "notes": bench.notes,
        "errors": bench.errors,
        "breakdown": bench.breakdowns,
        "presigned_ecdsa": bench.pools,
        "refresh_phases": bench.refresh_phases,
    }
    cores = machine.get("usable_cores") or machine["cores"]
    other = machine["other_load_cores"]
    if other > 0.2 or machine["loadavg_start"][0] > 0.5 * cores:
        doc["notes"].insert(
            0,
            f"the machine was shared: other processes used {other:.2f} of its {cores} cores on "
            f"average during the run (load average {machine['loadavg_start'][0]:.2f} before it "
            "started); numbers are higher than on an idle machine",
        )
    else:
        doc["notes"].insert(
            0,
            f"the machine was otherwise quiet: other processes used {other:.2f} of its {cores} "
            "cores on average during the run",
        )
    doc["targets"] = report.evaluate_targets(doc)
    problems = report.check_report(doc)
    if problems:
        raise RuntimeError("the report does not match bench.schema.json: " + "; ".join(problems))
    (opts.out / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    plots: list[str] = []
    if opts.plots:
        try:
            plots = report.plot(doc, bench.distributions, opts.out)
        except ImportError:
            doc["notes"].append("no plots: matplotlib is not installed (pip install warifu[bench])")
    (opts.out / "bench.md").write_text(report.markdown(doc, plots))
    return doc


# -- command line ----------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``warifu bench`` options (besides --data-dir/--endpoints/--ca/--cert/--key-file)."""
    p.add_argument("--out", default="bench-report", help="directory for bench.json, bench.md, PNGs")
    p.add_argument("--quick", action="store_true", help="small counts: done in under a minute")
    p.add_argument(
        "--nodes",
        type=int,
        help="nodes of a cluster the harness creates (default 5, or 3 with --quick)",
    )
    p.add_argument("--count", type=int, help="timed signatures per cell (default by operation)")
    p.add_argument(
        "--concurrency",
        default="1,4,16",
        help="concurrent callers per cell, comma-separated (default 1,4,16)",
    )
    p.add_argument(
        "--frost-mode",
        choices=["full", "presigned"],
        help="deployed cluster: whether its nodes precompute FROST commitments",
    )
    p.add_argument(
        "--approver-dir",
        help="approver keys (NAME.key, hex seed) to approve the refresh ceremonies "
        "(default: the local cluster's <data-dir>/approvers)",
    )
    p.add_argument("--vault-addr", help="Vault/OpenBao for the transit floor (default: a dev one)")
    p.add_argument("--vault-token-file", help="token for --vault-addr (transit mount rights)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")


def options_from(args: argparse.Namespace) -> Options:
    """:class:`Options` from parsed ``warifu bench`` arguments."""
    conc = tuple(int(x) for x in str(args.concurrency).split(",") if x.strip())
    if not conc or min(conc) < 1:
        raise ValueError("--concurrency needs positive integers")
    return Options(
        out=Path(args.out),
        data_dir=None if args.endpoints else Path(args.data_dir),
        endpoints=[e.strip() for e in (args.endpoints or "").split(",") if e.strip()],
        ca=Path(args.ca) if args.ca else None,
        cert=Path(args.cert) if args.cert else None,
        key_file=Path(args.key_file) if args.key_file else None,
        quick=args.quick,
        nodes=args.nodes,
        count=args.count,
        concurrency=conc,
        frost_mode=args.frost_mode,
        approver_dir=Path(args.approver_dir) if args.approver_dir else None,
        vault_addr=args.vault_addr,
        vault_token_file=Path(args.vault_token_file) if args.vault_token_file else None,
        plots=not args.no_plots,
        progress=not args.no_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m warifu.benchmarks``: the same as ``warifu bench``."""
    ap = argparse.ArgumentParser(prog="warifu-bench", description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--endpoints")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key-file")
    ap.add_argument("--json", action="store_true", help="print bench.json instead of the table")
    add_arguments(ap)
    args = ap.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if not args.endpoints and args.data_dir is None:
            args.data_dir = str(
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="warifu-bench-")))
                / "cluster"
            )
        doc = run(options_from(args))
    print(json.dumps(doc, indent=2) if args.json else report.terminal_table(doc))
    print(f"\nreport: {Path(args.out).resolve()}/bench.md", file=sys.stderr)
    return 0


__all__ = ["FULL", "QUICK", "Counts", "Options", "Progress", "main", "run", "run_calls"]
