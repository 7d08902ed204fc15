"""Where a signature's time goes: the nodes' trace spans (``node/tracing.py``) for one cell.

Each node of a local cluster started with ``[limits] trace = true`` appends JSON lines to its
trace file. For one measured cell (operation, mode, committee, concurrency) the harness keeps the
spans whose start lies in the cell's wall-clock window and divides their durations by the number
of operations: milliseconds per operation, per node, per protocol step, CPU or waiting.

At the coordinator (the entry node), the spans of the operation's own protocol run one after the
other, so their sum is the part of the client's latency spent in protocol rounds; the rest
(``untraced_ms``) is outside them: the client's gRPC call to the entry node, request parsing and
checks, the ``Peer.Start`` calls to the members, building the response. ``background`` protocols
(pool refills) are listed but not counted in the coordinator's sum.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: Protocol labels (``proto`` of a span) per operation and mode: (critical path, background).
PROTOCOLS: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {
    ("eddsa-ed25519.sign", "full"): (frozenset({"frost-sign"}), frozenset()),
    ("eddsa-ed25519.sign", "presigned"): (frozenset({"frost-sign"}), frozenset({"frost-commit"})),
    ("ecdsa-secp256k1.sign", "full"): (frozenset({"dkls23-presign", "dkls23-sign"}), frozenset()),
    ("ecdsa-secp256k1.sign", "presigned"): (
        frozenset({"dkls23-online"}),
        frozenset({"dkls23-presign"}),
    ),
    ("eddsa-ed25519.keygen", "full"): (frozenset({"dkg-ed25519"}), frozenset()),
    ("ecdsa-secp256k1.keygen", "full"): (frozenset({"dkg-secp256k1", "vsot"}), frozenset()),
}


class TraceReader:
    """Follows the nodes' trace files: each :meth:`poll` reads the complete lines added since."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = list(paths)
        self._offsets = dict.fromkeys(self.paths, 0)
        self.spans: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Read what was appended; returns every span read so far (in file order per node)."""
        for path in self.paths:
            try:
                with path.open("rb") as f:
                    if f.seek(0, 2) < self._offsets[path]:
                        self._offsets[path] = 0  # rotated: start over on the new file
                    f.seek(self._offsets[path])
                    data = f.read()
            except OSError:
                continue
            end = data.rfind(b"\n") + 1  # a line being written waits for the next poll
            self._offsets[path] += end
            for line in data[:end].splitlines():
                try:
                    span = json.loads(line)
                    float(span["ts"])
                except (ValueError, KeyError, TypeError):
                    continue
                self.spans.append(span)
        return self.spans

    def window(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """Spans that started in ``[t0, t1]``, oldest first."""
        self.poll()
        return sorted(
            (s for s in self.spans if t0 <= float(s["ts"]) <= t1), key=lambda s: float(s["ts"])
        )


def breakdown(
    spans: Sequence[dict[str, Any]],
    *,
    name: str,
    mode: str,
    n: int,
    t: int,
    concurrency: int,
    ops: int,
    entry_node: str,
    latency_mean_ms: float,
) -> dict[str, Any]:
    """Milliseconds per operation by node, protocol step and kind, and the coordinator's sum."""
    if ops <= 0:
        raise ValueError("no operations")
    critical, background = PROTOCOLS.get((name, mode), (frozenset(), frozenset()))
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for s in spans:
        node, proto, step, kind = str(s["node"]), str(s["proto"]), str(s["name"]), str(s["kind"])
        row = rows.get((node, proto, step, kind))
        if row is None:
            row = rows[(node, proto, step, kind)] = {
                "node": node,
                "role": "coordinator" if node == entry_node else "member",
                "proto": proto,
                "step": step,
                "kind": kind,
                "background": proto in background,
                "calls": 0,
                "ms": 0.0,
                "cpu_ms": 0.0,
                "first": float(s["ts"]),
            }
        row["calls"] += 1
        row["ms"] += float(s["ms"])
        row["cpu_ms"] += float(s.get("cpu_ms", 0.0))
    coord = [r for r in rows.values() if r["role"] == "coordinator" and r["proto"] in critical]
    cpu_ms = sum(r["ms"] for r in coord if r["kind"] == "cpu") / ops
    on_cpu_ms = sum(r["cpu_ms"] for r in coord if r["kind"] == "cpu") / ops
    wait_ms = sum(r["ms"] for r in coord if r["kind"] == "wait") / ops
    ordered = sorted(
        rows.values(), key=lambda r: (r["role"] != "coordinator", r["node"], r["first"])
    )
    return {
        "name": name,
        "mode": mode,
        "n": n,
        "t": t,
        "concurrency": concurrency,
        "ops": ops,
        "latency_mean_ms": round(latency_mean_ms, 3),
        "coordinator": {
            "node": entry_node,
            "cpu_ms": round(cpu_ms, 3),
            "on_cpu_ms": round(on_cpu_ms, 3),
            "wait_ms": round(wait_ms, 3),
            "untraced_ms": round(latency_mean_ms - cpu_ms - wait_ms, 3),
        },
        "rows": [
            {
                "node": r["node"],
                "role": r["role"],
                "proto": r["proto"],
                "step": r["step"],
                "kind": r["kind"],
                "background": r["background"],
                "calls_per_op": round(r["calls"] / ops, 3),
                "ms_per_op": round(r["ms"] / ops, 3),
                "cpu_ms_per_op": round(r["cpu_ms"] / ops, 3),
            }
            for r in ordered
        ],
    }


def pool_level(spans: Sequence[dict[str, Any]], *, entry_node: str, key_id: str) -> int:
    """Presignatures ready at the coordinator for ``key_id``, counted from its trace.

    Each presignature the coordinator finished in a ``dkls23-presign`` session that was not the
    first half of a three-round signature (whose sid then also has ``dkls23-sign`` spans) went
    into the pool; each ``dkls23-online`` session took one out.
    """
    made: set[str] = set()
    inline: set[str] = set()
    used: set[str] = set()
    for s in spans:
        if s.get("node") != entry_node or s.get("key") != key_id:
            continue
        sid = str(s.get("sid", ""))
        if s["proto"] == "dkls23-presign" and s["name"] == "finish":
            made.add(sid)
        elif s["proto"] == "dkls23-sign":
            inline.add(sid)
        elif s["proto"] == "dkls23-online" and s["name"] == "round3":
            used.add(sid)
    return len(made - inline) - len(used)


def count_sessions(
    spans: Sequence[dict[str, Any]], *, entry_node: str, key_id: str, proto: str, step: str
) -> int:
    """Sessions of ``proto`` at the coordinator for ``key_id`` that ran ``step``."""
    return len(
        {
            s.get("sid", "")
            for s in spans
            if s.get("node") == entry_node
            and s.get("key") == key_id
            and s["proto"] == proto
            and s["name"] == step
        }
    )


__all__ = ["PROTOCOLS", "TraceReader", "breakdown", "count_sessions", "pool_level"]
