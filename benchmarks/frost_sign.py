"""Benchmark: 2-of-3 FROST(Ed25519) signing over a local cluster, and the gRPC floor.

Run: ``make bench`` or ``python -m warifu.benchmarks.frost_sign [--count 200] [--json out.json]``.

It starts a throw-away local cluster (3 OpenBao + 3 nodes, mTLS on 127.0.0.1), creates a 2-of-3
Ed25519 key, and measures in one run, on one machine:

- ``grpc.rtt``: one unary round trip to a node (``Signer.GetKey``) on the same TLS channel;
- ``frost.sign.full``: ``Signer.Sign`` of an XRP Payment, both FROST rounds live;
- ``frost.sign.precomputed``: the same with round-1 commitments fetched ahead of time
  (``limits.frost_precommit``), so a signature needs one member round trip.

Each figure is the p50/p95 of sequential calls after a warm-up. Numbers depend on the machine
and on what else runs on it: compare figures from the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warifu.client import Client, KeyInfo, cluster

DESTINATION = "rPT1Sjq2YGrBMTttX4GZHjKu9dyfzbpAYe"


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation; ``samples`` need not be sorted."""
    if not samples:
        raise ValueError("no samples")
    xs = sorted(samples)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def measure(fn: Callable[[int], Any], count: int, warmup: int = 10) -> dict[str, float]:
    """Run ``fn(i)`` ``warmup + count`` times; latency statistics of the last ``count`` in ms."""
    for i in range(warmup):
        fn(-1 - i)
    ms = []
    for i in range(count):
        t0 = time.perf_counter()
        fn(i)
        ms.append(1000 * (time.perf_counter() - t0))
    return {
        "count": count,
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p95_ms": round(percentile(ms, 0.95), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def _set_precommit(info: cluster.ClusterInfo, n: int) -> None:
    for node in info.nodes:
        text = node.config.read_text()
        head, _, _ = text.partition("\n[limits]\n")
        node.config.write_text(head + f"\n[limits]\nfrost_precommit = {n}\n")


def _payment(xrp_address: str, seq: int) -> dict[str, Any]:
    return {
        "TransactionType": "Payment",
        "Account": xrp_address,
        "Destination": DESTINATION,
        "Amount": "1000",
        "Fee": "12",
        "Sequence": 1 + abs(seq),
    }


def run(count: int, data_dir: Path) -> dict[str, Any]:
    """The whole benchmark; returns the report."""
    info = cluster.init_cluster(data_dir, nodes=3, threshold=2)
    results: dict[str, Any] = {}
    key: KeyInfo | None = None
    try:
        for mode, precommit in (("full", 0), ("precomputed", 64)):
            _set_precommit(info, precommit)
            cluster.start_nodes(info)
            entry = info.nodes[0].endpoint
            with Client(
                [entry],
                ca=info.ca.read_bytes(),
                cert=info.client_cert.read_bytes(),
                key=info.client_key.read_bytes(),
            ) as c:
                if key is None:
                    key = c.create_key("eddsa-ed25519", threshold=2)

                    def rtt(_i: int, c: Client = c, k: KeyInfo = key) -> None:
                        c.get_key(k.key_id)

                    results["grpc.rtt"] = measure(rtt, 2 * count)

                def sign(i: int, c: Client = c, k: KeyInfo = key) -> None:
                    c.sign_xrp_transaction(k.key_id, _payment(k.xrp_address, i))

                results[f"frost.sign.{mode}"] = measure(sign, count)
            for node in info.nodes:
                cluster.stop_node(info, node.id)
    finally:
        cluster.down(data_dir)
    return {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "setup": "2-of-3 FROST(Ed25519, SHA-512); 3 nodes + 3 OpenBao on 127.0.0.1; mTLS; "
        "sequential calls",
        "results": results,
        "targets_ms": {"frost.sign.full": 4.0, "frost.sign.precomputed": 2.5},
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200, help="timed calls per figure")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="warifu-bench-") as tmp:
        report = run(args.count, Path(tmp) / "cluster")
    for name, r in report["results"].items():
        target = report["targets_ms"].get(name)
        verdict = (
            ""
            if target is None
            else (" PASS" if r["p50_ms"] <= target else " MISS") + f" (target p50 <= {target} ms)"
        )
        p50, p95, n = r["p50_ms"], r["p95_ms"], r["count"]
        print(f"{name:24s} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  n={n}{verdict}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
