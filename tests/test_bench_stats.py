"""The benchmark harness's own statistics and report (issue 5): percentiles against numpy and
``statistics``, ``bench.json`` against its JSON Schema (jsonschema and the strict hand check),
targets, the trace breakdown, concurrency of the call runner, and the PNG plots."""

from __future__ import annotations

import copy
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warifu.benchmarks import breakdown, harness, report
from warifu.benchmarks.stats import (
    FLOOR_KEYS,
    RESULT_KEYS,
    cpu_snapshot,
    floor_row,
    machine_info,
    other_load,
    percentile,
    result_row,
)

# deterministic, unsorted, with ties
DATA = [((i * 7919) % 1009) / 7.0 for i in range(1, 502)] + [50.0] * 7


# -- percentiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0])
def test_percentile_matches_numpy_linear(q: float) -> None:
    assert percentile(DATA, q) == pytest.approx(float(np.percentile(DATA, 100 * q)), abs=1e-9)


def test_percentile_matches_statistics_inclusive() -> None:
    cuts = statistics.quantiles(DATA, n=100, method="inclusive")  # cuts[k-1] = k-th percentile
    for k in (1, 5, 50, 95, 99):
        assert percentile(DATA, k / 100) == pytest.approx(cuts[k - 1], abs=1e-9)
    assert percentile(DATA, 0.5) == pytest.approx(statistics.median(DATA))


def test_percentile_known_values() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile(list(range(1, 101)), 0.95) == pytest.approx(95.05)
    assert percentile(list(range(1, 101)), 0.99) == pytest.approx(99.01)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0], 0.0) == 1.0 and percentile([1.0, 2.0], 1.0) == 2.0
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(min_value=0, max_value=1),
)
def test_percentile_property_against_numpy(xs: list[float], q: float) -> None:
    assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, 100 * q)), rel=1e-9, abs=1e-6)


def test_result_row() -> None:
    samples = [float(x) for x in range(1, 101)]
    r = result_row(
        name="ecdsa-secp256k1.sign",
        mode="full",
        n=3,
        t=2,
        concurrency=4,
        samples_ms=samples,
        wall_s=2.0,
    )
    assert list(r) == list(RESULT_KEYS)
    assert r["count"] == 100 and r["throughput_per_s"] == 50.0
    assert (r["p50_ms"], r["p95_ms"], r["p99_ms"]) == (50.5, 95.05, 99.01)
    with pytest.raises(ValueError):
        result_row(name="x", mode="fast", n=3, t=2, concurrency=1, samples_ms=[1.0], wall_s=1)
    with pytest.raises(ValueError):
        result_row(name="x", mode="full", n=3, t=4, concurrency=1, samples_ms=[1.0], wall_s=1)
    with pytest.raises(ValueError):
        result_row(name="x", mode="full", n=3, t=2, concurrency=1, samples_ms=[1.0], wall_s=0)
    f = floor_row("grpc.rtt", [1.0, 2.0, 3.0])
    assert list(f) == list(FLOOR_KEYS) and f["p50_ms"] == 2.0 and f["p95_ms"] == 2.9


def test_other_load_is_the_machines_cpu_minus_ours() -> None:
    # 10 s of wall; the machine used 20 CPU-seconds, of which 5 were ours -> 1.5 other cores
    assert other_load((0.0, 100.0, 10.0), (10.0, 120.0, 15.0)) == 1.5
    assert other_load((0.0, 100.0, 10.0), (10.0, 104.0, 15.0)) == 0.0  # never negative
    assert other_load((5.0, 100.0, 0.0), (5.0, 200.0, 0.0)) == 0.0  # no wall time
    a = cpu_snapshot()
    end = time.thread_time() + 0.2
    while time.thread_time() < end:
        pass
    b = cpu_snapshot()
    assert b[2] - a[2] >= 0.15  # our own spinning counts as ours
    assert b[1] - a[1] >= 0.15  # and as the machine's


# -- the report's schema ---------------------------------------------------------------------


def _report() -> dict[str, Any]:
    rows = []
    for name in ("ecdsa-secp256k1.sign", "eddsa-ed25519.sign"):
        for mode in ("full", "presigned"):
            for c in (1, 4, 16):
                rows.append(
                    result_row(
                        name=name,
                        mode=mode,
                        n=3,
                        t=2,
                        concurrency=c,
                        samples_ms=[1.0 + c, 2.0 + c, 30.0],
                        wall_s=0.01,
                    )
                )
    rows.append(
        result_row(
            name="eddsa-ed25519.keygen",
            mode="full",
            n=5,
            t=3,
            concurrency=1,
            samples_ms=[100.0, 120.0],
            wall_s=0.22,
        )
    )
    return {
        "machine": machine_info(),
        "results": rows,
        "floors": [
            floor_row("vault-transit.ed25519.sign", [1.0, 1.2]),
            floor_row("grpc.rtt", [0.5]),
        ],
        "skipped": [{"name": "ecdsa-secp256k1.refresh", "reason": "no refresh RPC"}],
        "notes": ["n"],
    }


def _schema_errors(doc: Any) -> list[str]:
    v = jsonschema.Draft202012Validator(report.load_schema())
    return [e.message for e in v.iter_errors(doc)]


def test_schema_file_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(report.load_schema())


def test_a_good_report_passes_both_checks() -> None:
    doc = json.loads(json.dumps(_report()))  # what bench.json holds
    assert _schema_errors(doc) == []
    assert report.check_report(doc) == []


def _mutate(path: list[Any], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(_report())
    obj: Any = doc
    for k in path[:-1]:
        obj = obj[k]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return doc


BAD = {
    "no results": _mutate(["results"], delete=True),
    "no floors": _mutate(["floors"], delete=True),
    "no machine.cores": _mutate(["machine", "cores"], delete=True),
    "cores is a string": _mutate(["machine", "cores"], "2"),
    "row misses p99": _mutate(["results", 0, "p99_ms"], delete=True),
    "row has an extra key": _mutate(["results", 0, "mean_ms"], 1.0),
    "unknown mode": _mutate(["results", 0, "mode"], "precomputed"),
    "unknown operation": _mutate(["results", 0, "name"], "rsa.sign"),
    "count 0": _mutate(["results", 0, "count"], 0),
    "bool as int": _mutate(["results", 0, "concurrency"], True),
    "negative latency": _mutate(["results", 0, "p50_ms"], -1.0),
    "zero throughput": _mutate(["results", 0, "throughput_per_s"], 0),
    "floor with count": _mutate(["floors", 0, "count"], 5),
    "floor without p95": _mutate(["floors", 0, "p95_ms"], delete=True),
    "skipped without reason": _mutate(["skipped", 0, "reason"], delete=True),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_reports_fail_both_checks(case: str) -> None:
    doc = BAD[case]
    assert _schema_errors(doc), f"jsonschema accepted: {case}"
    assert report.check_report(doc), f"the hand check accepted: {case}"


def test_hand_check_also_wants_ordered_percentiles_and_t_le_n() -> None:
    assert report.check_report(_mutate(["results", 0, "p95_ms"], 1000.0))
    assert report.check_report(_mutate(["results", 0, "t"], 9))
    # JSON Schema's "integer" admits 3.0; the hand check, like the tools reading it, wants 3
    assert report.check_report(_mutate(["results", 0, "n"], 3.0))


# -- targets, text ---------------------------------------------------------------------------


def _cell(name: str, mode: str, c: int, p50: float, thr: float) -> dict[str, Any]:
    return {
        "name": name,
        "mode": mode,
        "n": 3,
        "t": 2,
        "concurrency": c,
        "count": 10,
        "p50_ms": p50,
        "p95_ms": p50,
        "p99_ms": p50,
        "throughput_per_s": thr,
    }


def test_targets_pass_fail_and_not_measured() -> None:
    doc = {
        "results": [
            _cell("ecdsa-secp256k1.sign", "full", 1, 39.0, 25),
            _cell("ecdsa-secp256k1.sign", "presigned", 1, 3.5, 280),
            _cell("eddsa-ed25519.sign", "full", 1, 4.0, 250),
            _cell("ecdsa-secp256k1.sign", "full", 16, 400.0, 31),
            _cell("eddsa-ed25519.sign", "full", 16, 50.0, 299),
            # another committee must not be taken for the 2-of-3 target
            {**_cell("eddsa-ed25519.sign", "presigned", 1, 1.0, 900), "n": 5, "t": 3},
        ],
        "floors": [
            {"name": "vault-transit.ecdsa-p256.sign", "p50_ms": 2.0, "p95_ms": 3.0},
            {"name": "vault-transit.ed25519.sign", "p50_ms": 1.0, "p95_ms": 2.0},
        ],
    }
    got = {t["target"]: (t["value"], t["pass"]) for t in report.evaluate_targets(doc)}
    assert got["ECDSA 2-of-3 sign, full, p50"] == (39.0, True)
    assert got["ECDSA 2-of-3 sign, presigned, p50"] == (3.5, False)
    assert got["EdDSA 2-of-3 sign, full, p50"] == (4.0, True)  # the limit is inclusive
    assert got["EdDSA 2-of-3 sign, precomputed, p50"] == (None, None)
    assert got["ECDSA presigned p50 / Vault transit ecdsa-p256 p50"] == (1.75, False)
    assert got["EdDSA precomputed p50 / Vault transit ed25519 p50"] == (None, None)
    assert got["ECDSA 2-of-3 throughput at concurrency 16, full"] == (31, True)
    assert got["EdDSA 2-of-3 throughput at concurrency 16, full"] == (299, False)


def test_markdown_and_terminal_table_carry_every_row_and_verdict() -> None:
    doc = _report()
    doc["targets"] = report.evaluate_targets(doc)
    md = report.markdown(doc, ["latency_distribution.png"])
    table = report.terminal_table(doc)
    for r in doc["results"]:
        cell = f"| {r['name']} | {r['mode']} | {r['t']}-of-{r['n']} | {r['concurrency']} |"
        assert cell in md
    assert md.count("| ecdsa-secp256k1.sign |") == 6
    assert "**FAIL**" in md and "**PASS**" in md  # 31 ms > 3 ms presigned; 3 ms <= 40 ms full
    assert "`ecdsa-secp256k1.refresh`: no refresh RPC" in md
    assert "![latency distribution](latency_distribution.png)" in md
    assert len(table.splitlines()) >= len(doc["results"]) + len(doc["floors"]) + 10
    assert "vault-transit.ed25519.sign" in table and "FAIL" in table


# -- the trace breakdown ---------------------------------------------------------------------


def _span(node: str, proto: str, name: str, kind: str, ms: float, ts: float, **kw: Any) -> dict:
    s = {"ts": ts, "node": node, "proto": proto, "name": name, "party": 1, "kind": kind, "ms": ms}
    if kind == "cpu":
        s["cpu_ms"] = ms / 2
    return s | kw


def test_breakdown_per_operation_and_untraced_rest() -> None:
    spans = []
    for i in range(4):  # 4 signatures
        ts = 100.0 + i
        spans += [
            _span("node-1", "dkls23-presign", "round1", "cpu", 10.0, ts),
            _span("node-1", "dkls23-presign", "r1.collect", "wait", 5.0, ts + 0.01),
            _span("node-1", "dkls23-sign", "finalize", "cpu", 1.0, ts + 0.02),
            _span("node-2", "dkls23-presign", "round1", "cpu", 12.0, ts),
        ]
    spans.append(_span("node-1", "frost-sign", "aggregate", "cpu", 99.0, 100.5))  # not ECDSA
    b = breakdown.breakdown(
        spans,
        name="ecdsa-secp256k1.sign",
        mode="full",
        n=3,
        t=2,
        concurrency=1,
        ops=4,
        entry_node="node-1",
        latency_mean_ms=20.0,
    )
    c = b["coordinator"]
    assert (c["cpu_ms"], c["on_cpu_ms"], c["wait_ms"], c["untraced_ms"]) == (11.0, 5.5, 5.0, 4.0)
    rows = {(r["node"], r["step"]): r for r in b["rows"]}
    assert rows[("node-2", "round1")]["ms_per_op"] == 12.0
    assert rows[("node-2", "round1")]["role"] == "member"
    assert rows[("node-1", "r1.collect")]["calls_per_op"] == 1.0
    assert [r["step"] for r in b["rows"]][:3] == ["round1", "r1.collect", "finalize"]


def test_pool_level_counts_pool_presignatures_only() -> None:
    k = "key-a"
    spans = [
        _span("node-1", "dkls23-presign", "finish", "cpu", 1, 1.0, sid="a1", key=k),
        _span("node-1", "dkls23-presign", "finish", "cpu", 1, 2.0, sid="a2", key=k),
        _span("node-1", "dkls23-presign", "finish", "cpu", 1, 3.0, sid="a3", key=k),
        # a three-round signature: its presignature did not go to the pool
        _span("node-1", "dkls23-presign", "finish", "cpu", 1, 4.0, sid="b1", key=k),
        _span("node-1", "dkls23-sign", "round3", "cpu", 1, 4.1, sid="b1", key=k),
        # one taken from the pool
        _span("node-1", "dkls23-online", "round3", "cpu", 1, 5.0, sid="a1", key=k),
        # a member's presignature and another key's do not count
        _span("node-2", "dkls23-presign", "finish", "cpu", 1, 5.0, sid="a4", key=k),
        _span("node-1", "dkls23-presign", "finish", "cpu", 1, 5.0, sid="c1", key="other"),
    ]
    assert breakdown.pool_level(spans, entry_node="node-1", key_id=k) == 2
    assert (
        breakdown.count_sessions(
            spans, entry_node="node-1", key_id=k, proto="dkls23-online", step="round3"
        )
        == 1
    )


def test_trace_reader_follows_appends_and_skips_partial_lines(tmp_path: Path) -> None:
    p = tmp_path / "node.trace.jsonl"
    line = json.dumps(_span("node-1", "p", "a", "wait", 1.0, 10.0))
    p.write_text(line + "\n" + line[:20])
    r = breakdown.TraceReader([p, tmp_path / "missing.jsonl"])
    assert len(r.poll()) == 1
    with p.open("a") as f:
        f.write(line[20:] + "\n")
    assert len(r.poll()) == 2
    assert len(r.window(9.0, 10.0)) == 2 and r.window(10.5, 11.0) == []


# -- running calls ---------------------------------------------------------------------------


def test_run_calls_runs_concurrently_and_counts_failures() -> None:
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def call(i: int) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        if i % 4 == 3:
            raise RuntimeError("boom")

    r = harness.run_calls(call, 8, 4)
    assert len(r.samples_ms) == 6 and len(r.failures) == 2 and r.attempted == 8
    assert peak[0] == 4
    assert r.wall_s < 0.3  # 8 x 50 ms sequentially would be 0.4 s
    assert all(s >= 45.0 for s in r.samples_ms)
    assert r.t0 <= r.t1
    one = harness.run_calls(lambda i: None, 5, 1)
    assert len(one.samples_ms) == 5


def test_progress_line_on_a_pipe(tmp_path: Path) -> None:
    with (tmp_path / "err").open("w+") as f:
        p = harness.Progress(10, stream=f)
        p.stage("a")
        p.advance(5)
        p.stage("b")
        p.close()
        f.seek(0)
        lines = f.read().splitlines()
    assert lines[0].endswith("] a") and "50%" in lines[1] and lines[1].endswith("] b")


# -- plots -----------------------------------------------------------------------------------


def test_plots_are_written_and_decode(tmp_path: Path) -> None:
    mpimg = pytest.importorskip("matplotlib.image")
    doc = _report()
    dists = [
        ("ecdsa-secp256k1 sign full 2-of-3", [float(x) for x in range(30, 130)]),
        ("vault-transit.ed25519.sign", [1.0, 1.1, 1.3]),
        ("empty is left out", []),
    ]
    names = report.plot(doc, dists, tmp_path)
    assert names == list(report.PLOTS)
    for name in names:
        img = mpimg.imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[0] >= 300 and img.shape[1] >= 600
        assert float(img[..., :3].std()) > 0.01  # not a blank canvas
