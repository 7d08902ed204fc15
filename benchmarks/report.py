"""The report: ``bench.json`` (checked against ``bench.schema.json``), ``bench.md``, the terminal
table, the targets of issue 5 and the PNG plots.

Nothing here measures; everything takes the finished report (and, for the distribution plot,
the raw samples), so it can be tested on known data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from warifu.benchmarks.stats import FLOOR_KEYS, MODES, RESULT_KEYS

SCHEMA_FILE = Path(__file__).resolve().parent / "bench.schema.json"
_NAME = re.compile(r"^(ecdsa-secp256k1|eddsa-ed25519)\.(sign|keygen|refresh)$")
PLOTS = ("latency_distribution.png", "latency_vs_concurrency.png", "throughput_vs_concurrency.png")

#: Issue 5's targets: 2-of-3 on a 2-core machine. (label, name, mode, field, limit, unit, kind)
LATENCY_TARGETS = (
    ("ECDSA 2-of-3 sign, full, p50", "ecdsa-secp256k1.sign", "full", 40.0),
    ("ECDSA 2-of-3 sign, presigned, p50", "ecdsa-secp256k1.sign", "presigned", 3.0),
    ("EdDSA 2-of-3 sign, full, p50", "eddsa-ed25519.sign", "full", 4.0),
    ("EdDSA 2-of-3 sign, precomputed, p50", "eddsa-ed25519.sign", "presigned", 2.5),
)
VAULT_TARGETS = (
    ("ECDSA presigned p50 / Vault transit ecdsa-p256 p50", "ecdsa-secp256k1.sign",
     "vault-transit.ecdsa-p256.sign", 1.5),
    ("EdDSA precomputed p50 / Vault transit ed25519 p50", "eddsa-ed25519.sign",
     "vault-transit.ed25519.sign", 1.5),
)  # fmt: skip
THROUGHPUT_TARGETS = (
    ("ECDSA 2-of-3 throughput at concurrency 16, full", "ecdsa-secp256k1.sign", "full", 30.0),
    ("ECDSA 2-of-3 throughput at concurrency 16, presigned", "ecdsa-secp256k1.sign", "presigned",
     30.0),
    ("EdDSA 2-of-3 throughput at concurrency 16, full", "eddsa-ed25519.sign", "full", 300.0),
    ("EdDSA 2-of-3 throughput at concurrency 16, precomputed", "eddsa-ed25519.sign", "presigned",
     300.0),
)  # fmt: skip


FLOOR_PREFIXES = ("single-key.", "vault-transit.", "grpc.")
#: distribution labels (as the harness writes them) -> the issue's p50 target in ms
TARGET_BY_LABEL = {
    f"{name.replace('.', ' ')} {mode} 2-of-3": limit for _, name, mode, limit in LATENCY_TARGETS
}


# -- the schema ------------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return (isinstance(x, int | float) and not isinstance(x, bool)) and math.isfinite(x)


def check_report(doc: Any) -> list[str]:
    """Every way ``doc`` departs from ``bench.schema.json`` (plus p50 ≤ p95 ≤ p99); [] = valid.

    A strict hand-written check, used by the harness before it writes ``bench.json`` and by the
    tests next to ``jsonschema``.
    """
    errs: list[str] = []
    if not isinstance(doc, dict):
        return ["report is not an object"]
    for key in ("machine", "results", "floors"):
        if key not in doc:
            errs.append(f"missing {key}")
    m = doc.get("machine")
    if "machine" in doc:
        if not isinstance(m, dict):
            errs.append("machine is not an object")
        else:
            if not isinstance(m.get("cpu"), str) or not m.get("cpu"):
                errs.append("machine.cpu must be a non-empty string")
            if not _is_int(m.get("cores")) or m["cores"] < 1:
                errs.append("machine.cores must be an integer >= 1")
            if not isinstance(m.get("python"), str) or not m.get("python"):
                errs.append("machine.python must be a non-empty string")
            v = m.get("versions")
            if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                errs.append("machine.versions must map names to strings")
    for i, r in enumerate(doc.get("results", []) if isinstance(doc.get("results"), list) else []):
        where = f"results[{i}]"
        if not isinstance(r, dict):
            errs.append(f"{where} is not an object")
            continue
        if set(r) != set(RESULT_KEYS):
            errs.append(f"{where} keys {sorted(r)} != {sorted(RESULT_KEYS)}")
            continue
        if not isinstance(r["name"], str) or not _NAME.match(r["name"]):
            errs.append(f"{where}.name {r['name']!r} is not <scheme>.<sign|keygen|refresh>")
        if r["mode"] not in MODES:
            errs.append(f"{where}.mode {r['mode']!r} not in {MODES}")
        for k in ("n", "t", "concurrency", "count"):
            if not _is_int(r[k]) or r[k] < 1:
                errs.append(f"{where}.{k} must be an integer >= 1")
        for k in ("p50_ms", "p95_ms", "p99_ms"):
            if not _is_num(r[k]) or r[k] < 0:
                errs.append(f"{where}.{k} must be a number >= 0")
        if not _is_num(r["throughput_per_s"]) or r["throughput_per_s"] <= 0:
            errs.append(f"{where}.throughput_per_s must be a number > 0")
        if all(_is_num(r[k]) for k in ("p50_ms", "p95_ms", "p99_ms")) and not (
            r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        ):
            errs.append(f"{where}: p50 <= p95 <= p99 does not hold")
        if _is_int(r["t"]) and _is_int(r["n"]) and r["t"] > r["n"]:
            errs.append(f"{where}: t > n")
    if "results" in doc and not isinstance(doc["results"], list):
        errs.append("results is not an array")
    floors = doc.get("floors", [])
    if "floors" in doc and not isinstance(floors, list):
        errs.append("floors is not an array")
        floors = []
    for i, f in enumerate(floors):
        where = f"floors[{i}]"
        if not isinstance(f, dict) or set(f) != set(FLOOR_KEYS):
            errs.append(f"{where} must have exactly the keys {list(FLOOR_KEYS)}")
            continue
        if not isinstance(f["name"], str) or not f["name"]:
            errs.append(f"{where}.name must be a non-empty string")
        for k in ("p50_ms", "p95_ms"):
            if not _is_num(f[k]) or f[k] < 0:
                errs.append(f"{where}.{k} must be a number >= 0")
    for i, s in enumerate(doc.get("skipped", [])):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s.get("reason"):
            errs.append(f"skipped[{i}] needs a name and a reason")
    return errs


def load_schema() -> dict[str, Any]:
    """``bench.schema.json`` (the JSON Schema of the report)."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


# -- targets ---------------------------------------------------------------------------------


def _row(
    results: Sequence[Mapping[str, Any]], name: str, mode: str, concurrency: int
) -> Mapping[str, Any] | None:
    for r in results:
        if (r["name"], r["mode"], r["n"], r["t"], r["concurrency"]) == (
            name,
            mode,
            3,
            2,
            concurrency,
        ):
            return r
    return None


def evaluate_targets(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pass/fail of every target; ``value``/``pass`` are None when the cell was not measured."""
    results = report.get("results", [])
    floors = {f["name"]: f for f in report.get("floors", [])}
    out: list[dict[str, Any]] = []

    def add(label: str, value: float | None, limit: float, op: str, unit: str) -> None:
        ok = None if value is None else (value <= limit if op == "<=" else value >= limit)
        out.append(
            {
                "target": label,
                "value": None if value is None else round(value, 3),
                "limit": limit,
                "op": op,
                "unit": unit,
                "pass": ok,
            }
        )

    for label, name, mode, limit in LATENCY_TARGETS:
        r = _row(results, name, mode, 1)
        add(label, None if r is None else float(r["p50_ms"]), limit, "<=", "ms")
    for label, name, floor, limit in VAULT_TARGETS:
        r = _row(results, name, "presigned", 1)
        f = floors.get(floor)
        value = None if r is None or f is None or not f["p50_ms"] else r["p50_ms"] / f["p50_ms"]
        add(label, value, limit, "<=", "x")
    for label, name, mode, limit in THROUGHPUT_TARGETS:
        r = _row(results, name, mode, 16)
        add(label, None if r is None else float(r["throughput_per_s"]), limit, ">=", "sig/s")
    return out


# -- text ------------------------------------------------------------------------------------


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}" if x >= 0.1 else f"{x:.3f}"


def _verdict(t: Mapping[str, Any]) -> str:
    return "not measured" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")


def _sorted_results(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    order = {"sign": 0, "keygen": 1, "refresh": 2}
    return sorted(
        results,
        key=lambda r: (
            order.get(r["name"].split(".")[1], 9),
            r["name"],
            r["mode"],
            r["n"],
            r["concurrency"],
        ),
    )


def terminal_table(report: Mapping[str, Any]) -> str:
    """The results, floors and targets as fixed-width text."""
    lines = [
        f"{'operation':24s} {'mode':9s} {'t/n':>4s} {'conc':>4s} {'count':>5s} "
        f"{'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'sig/s':>8s}"
    ]
    for r in _sorted_results(report.get("results", [])):
        lines.append(
            f"{r['name']:24s} {r['mode']:9s} {r['t']}/{r['n']:<2d} {r['concurrency']:>4d} "
            f"{r['count']:>5d} {_fmt(r['p50_ms']):>8s} {_fmt(r['p95_ms']):>8s} "
            f"{_fmt(r['p99_ms']):>8s} {_fmt(r['throughput_per_s']):>8s}"
        )
    lines.append("")
    lines.append(f"{'floor':34s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for f in report.get("floors", []):
        lines.append(f"{f['name']:34s} {_fmt(f['p50_ms'], 3):>8s} {_fmt(f['p95_ms'], 3):>8s}")
    targets = report.get("targets") or evaluate_targets(report)
    if targets:
        lines.append("")
        for t in targets:
            lines.append(
                f"{_verdict(t):12s} {t['target']}: {_fmt(t['value'])} {t['unit']} "
                f"(target {t['op']} {t['limit']:g})"
            )
    for s in report.get("skipped", []):
        lines.append(f"skipped      {s['name']}: {s['reason']}")
    return "\n".join(lines)


def markdown(report: Mapping[str, Any], plots: Sequence[str] = ()) -> str:
    """``bench.md``: setup, targets, results, floors, what was skipped, the trace breakdown."""
    m = report["machine"]
    setup = report.get("setup", {})
    out = [f"# warifu bench — {setup.get('date', '')}", ""]
    load0 = "/".join(f"{x:.2f}" for x in m.get("loadavg_start", []))
    load1 = "/".join(f"{x:.2f}" for x in m.get("loadavg_end", []))
    out += [
        f"- **Machine**: {m['cpu']}, {m['cores']} cores "
        f"({m.get('usable_cores', m['cores'])} usable), {m.get('memory_gib', '?')} GiB; "
        f"Python {m['python']} ({m.get('implementation', '')}); {m.get('platform', '')}",
        f"- **Load average** (1/5/15 min) at the start {load0}, at the end {load1} (the end "
        f"includes this run); other processes used {m.get('other_load_cores', '?')} cores on "
        "average during the run",
    ]
    if setup:
        out += [f"- **Cluster**: {setup.get('cluster', '')}"]
        out += [f"- **Client**: {setup.get('client', '')}"]
        out += [f"- **Run**: {setup.get('run', '')}"]
    env = m.get("env") or {}
    out += [
        "- **Environment** (inherited by the nodes the harness starts): "
        + (", ".join(f"`{k}={env[k]}`" for k in sorted(env)) or "no BLAS/OpenMP thread settings")
    ]
    v = m.get("versions", {})
    out += ["- **Versions**: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)), ""]

    targets = report.get("targets") or evaluate_targets(report)
    out += [
        "## Targets (issue 5: 2-of-3 on a 2-core machine; pass/fail, not a timed test)",
        "",
        "| target | measured | limit | result |",
        "|---|---:|---:|---|",
    ]
    for t in targets:
        out.append(
            f"| {t['target']} | {_fmt(t['value'])} {t['unit']} | {t['op']} {t['limit']:g} "
            f"{t['unit']} | **{_verdict(t)}** |"
        )
    out += [
        "",
        "## Results",
        "",
        "Latency is per call at the client (`Signer.Sign` / `Signer.CreateKey` over mTLS to the "
        "entry node, until the answer); sig/s is calls completed divided by the wall time of the "
        "cell (all `concurrency` callers start together).",
        "",
        "| operation | mode | t-of-n | concurrency | count | p50 ms | p95 ms | p99 ms | per s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in _sorted_results(report.get("results", [])):
        out.append(
            f"| {r['name']} | {r['mode']} | {r['t']}-of-{r['n']} | {r['concurrency']} | "
            f"{r['count']} | {_fmt(r['p50_ms'])} | {_fmt(r['p95_ms'])} | {_fmt(r['p99_ms'])} | "
            f"{_fmt(r['throughput_per_s'])} |"
        )
    out += [
        "",
        "## Floors (same run)",
        "",
        "| floor | p50 ms | p95 ms |",
        "|---|---:|---:|",
    ]
    for f in report.get("floors", []):
        out.append(f"| {f['name']} | {_fmt(f['p50_ms'], 3)} | {_fmt(f['p95_ms'], 3)} |")
    phases = report.get("refresh_phases", [])
    if phases:
        out += [
            "",
            "## Refresh ceremony phases (mean, from the ceremony's own report)",
            "",
            "| ceremony | t-of-n | count | phases (ms) |",
            "|---|---|---:|---|",
        ]
        for p in phases:
            detail = ", ".join(f"{ph['phase']} {_fmt(ph['mean_ms'])}" for ph in p["phases"])
            out.append(f"| {p['name']} | {p['t']}-of-{p['n']} | {p['count']} | {detail} |")
    skipped = report.get("skipped", [])
    if skipped:
        out += ["", "## Not measured", ""]
        out += [f"- `{s['name']}`: {s['reason']}" for s in skipped]
    bd = report.get("breakdown", [])
    if bd:
        out += ["", "## Where the time goes (node trace spans)", ""]
        out += [
            "From the nodes' trace files (`[limits] trace = true`, `node/tracing.py`): every span "
            "that started during the cell, divided by the number of calls. *cpu* spans are "
            "computation (wall time, and the thread's own CPU time: the difference is waiting "
            "for the GIL or a core); *wait* spans are sending a round's messages (`*.send`: "
            "the `Peer.Deliver` calls) or waiting for the peers' (`*.collect`). At the "
            "coordinator the protocol's spans run one after the other; *outside* is the rest of "
            "the client's latency (client gRPC, request checks, `Peer.Start` to the members, "
            "the response). Background spans (pool refills running at the same time) are "
            "marked.",
            "",
            "| operation | mode | client mean ms | coordinator computing ms (on-CPU) | "
            "coordinator waiting ms | outside the traced steps ms | busiest member computing "
            "ms (on-CPU) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        bd = sorted(bd, key=lambda b: (".sign" not in b["name"], b["name"], b["mode"]))
        for b in bd:
            c = b["coordinator"]
            members: dict[str, list[float]] = {}
            for r in b["rows"]:
                if r["role"] == "member" and r["kind"] == "cpu" and not r["background"]:
                    m = members.setdefault(r["node"], [0.0, 0.0])
                    m[0] += r["ms_per_op"]
                    m[1] += r["cpu_ms_per_op"]
            busiest = max(members.values(), default=[0.0, 0.0])
            out.append(
                f"| {b['name']} | {b['mode']} | {_fmt(b['latency_mean_ms'])} | "
                f"{_fmt(c['cpu_ms'])} ({_fmt(c['on_cpu_ms'])}) | {_fmt(c['wait_ms'])} | "
                f"{_fmt(c['untraced_ms'])} | {_fmt(busiest[0])} ({_fmt(busiest[1])}) |"
            )
        out.append("")
        for b in bd:
            c = b["coordinator"]
            out += [
                f"### {b['name']} {b['mode']} {b['t']}-of-{b['n']}, concurrency "
                f"{b['concurrency']} ({b['ops']} calls, mean {_fmt(b['latency_mean_ms'])} ms)",
                "",
                f"Coordinator {c['node']}: computing {_fmt(c['cpu_ms'])} ms "
                f"(on-CPU {_fmt(c['on_cpu_ms'])} ms), waiting {_fmt(c['wait_ms'])} ms, "
                f"outside the traced steps {_fmt(c['untraced_ms'])} ms.",
                "",
                "| node | protocol | step | kind | calls/call | ms/call | on-CPU ms/call |",
                "|---|---|---|---|---:|---:|---:|",
            ]
            for r in b["rows"]:
                bg = " (background)" if r["background"] else ""
                out.append(
                    f"| {r['node']} ({r['role']}) | {r['proto']}{bg} | {r['step']} | "
                    f"{r['kind']} | {r['calls_per_op']:g} | {_fmt(r['ms_per_op'])} | "
                    f"{_fmt(r['cpu_ms_per_op']) if r['kind'] == 'cpu' else ''} |"
                )
            out.append("")
    if plots:
        out += ["", "## Plots", ""]
        out += [f"![{p.removesuffix('.png').replace('_', ' ')}]({p})" for p in plots]
    notes = report.get("notes", [])
    errors = report.get("errors", [])
    if notes or errors:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in notes]
        out += [
            f"- errors in {e['cell']}: {e['failed']} of {e['attempted']} calls failed "
            f"(first: {e['first_error']})"
            for e in errors
        ]
    return "\n".join(out) + "\n"


# -- plots -----------------------------------------------------------------------------------


def _label(r: Mapping[str, Any]) -> str:
    scheme, op = r["name"].split(".")
    mode = "" if op == "keygen" else f" {r['mode']}"
    return f"{scheme} {op}{mode} {r['t']}-of-{r['n']}"


def plot(
    report: Mapping[str, Any],
    distributions: Sequence[tuple[str, Sequence[float]]],
    out_dir: Path,
) -> list[str]:
    """Write the PNG plots; returns their file names. Needs matplotlib (the ``bench`` extra).

    ``distributions``: (label, latency samples in ms) per operation at concurrency 1 and per
    floor, in the order to draw them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []

    def order(lbl: str) -> tuple[int, str]:
        kind = next((k for k, w in enumerate((" sign ", " keygen ", " refresh ")) if w in lbl), 3)
        return (-1 if lbl.startswith(FLOOR_PREFIXES) else kind, lbl)

    dists = sorted(((lbl, list(s)) for lbl, s in distributions if s), key=lambda d: order(d[0]))
    if dists:
        fig, ax = plt.subplots(figsize=(11, max(4.0, 0.45 * len(dists) + 1.8)))
        rows = dists[::-1]  # the first one on top
        boxes = ax.boxplot(
            [s for _, s in rows],
            orientation="horizontal",
            whis=(1, 99),
            showfliers=True,
            patch_artist=True,
            flierprops={"markersize": 2, "alpha": 0.4},
            medianprops={"color": "black"},
        )
        for patch, (lbl, _) in zip(boxes["boxes"], rows, strict=True):
            patch.set_facecolor("#dddddd" if lbl.startswith(FLOOR_PREFIXES) else "#9ecae1")
        ax.set_yticks(range(1, len(rows) + 1), [lbl for lbl, _ in rows], fontsize=8)
        marked = False
        for pos, (lbl, _) in enumerate(rows, start=1):
            target = TARGET_BY_LABEL.get(lbl)
            if target is not None:
                ax.plot(
                    [target],
                    [pos],
                    marker="|",
                    color="red",
                    markersize=16,
                    markeredgewidth=2,
                    linestyle="none",
                    label=None if marked else "target p50 (issue 5)",
                )
                marked = True
        if marked:
            ax.legend(fontsize=8, loc="best")
        ax.set_xscale("log")
        ax.set_xlabel("latency per call, ms (log scale); box = p25..p75, whiskers = p1..p99")
        ax.set_title("Latency distribution per operation (concurrency 1; grey: floors)")
        ax.grid(True, axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / PLOTS[0], dpi=110)
        plt.close(fig)
        names.append(PLOTS[0])

    series: dict[str, list[Mapping[str, Any]]] = {}
    for r in report.get("results", []):
        if r["name"].endswith(".sign"):
            series.setdefault(_label(r), []).append(r)
    if series:
        fig, ax = plt.subplots(figsize=(12.5, 6))
        for i, (lbl, group) in enumerate(sorted(series.items())):
            points = sorted(group, key=lambda r: r["concurrency"])
            xs = [r["concurrency"] for r in points]
            color = f"C{i % 10}"
            ax.plot(xs, [r["p50_ms"] for r in points], "o-", color=color, label=f"{lbl} p50")
            ax.plot(xs, [r["p95_ms"] for r in points], "x--", color=color, alpha=0.6)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([1, 4, 16], ["1", "4", "16"])
        ax.set_xlabel("concurrent callers")
        ax.set_ylabel("latency per call, ms (log); solid p50, dashed p95")
        ax.set_title("Signing latency against concurrency")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(out_dir / PLOTS[1], dpi=110)
        plt.close(fig)
        names.append(PLOTS[1])

        fig, ax = plt.subplots(figsize=(12.5, 6))
        for i, (lbl, group) in enumerate(sorted(series.items())):
            points = sorted(group, key=lambda r: r["concurrency"])
            ax.plot(
                [r["concurrency"] for r in points],
                [r["throughput_per_s"] for r in points],
                "o-",
                color=f"C{i % 10}",
                label=lbl,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([1, 4, 16], ["1", "4", "16"])
        ax.set_xlabel("concurrent callers")
        ax.set_ylabel("signatures per second (log)")
        ax.set_title("Signing throughput against concurrency")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(out_dir / PLOTS[2], dpi=110)
        plt.close(fig)
        names.append(PLOTS[2])
    return names


__all__ = [
    "PLOTS",
    "SCHEMA_FILE",
    "check_report",
    "evaluate_targets",
    "load_schema",
    "markdown",
    "plot",
    "terminal_table",
]
