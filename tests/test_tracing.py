"""node/tracing.py: spans (cpu/wait) to the ring and the JSON-lines file; nothing when off."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from warifu.node import tracing


@pytest.fixture(autouse=True)
def _tracer_off() -> Iterator[None]:
    tracing.install(None)
    yield
    t = tracing.get()
    if t is not None:
        t.close()
    tracing.install(None)


def _busy(seconds: float) -> int:
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def test_off_hands_everything_back_unchanged() -> None:
    assert tracing.configure("node-1", flag=False, env={}) is None
    tr = tracing.session("dkls23-presign", 1, b"\x01" * 32, "k")
    assert tr is tracing.OFF
    assert tr.cpu(_busy) is _busy  # no wrapper: the protocol calls the function itself

    async def coro() -> int:
        return 7

    aw = coro()
    assert tr.wait("r1.collect", aw) is aw
    assert asyncio.run(aw) == 7
    assert tr.span("x") is tracing.span("y", 1)  # one shared nullcontext, no allocation


def test_env_turns_it_on_and_the_config_flag_too(tmp_path: Path) -> None:
    assert not tracing.enabled(False, {"WARIFU_TRACE": "0"})
    assert tracing.enabled(False, {"WARIFU_TRACE": "1"})
    assert tracing.enabled(True, {})
    t = tracing.configure("node-2", flag=False, base_dir=tmp_path, env={"WARIFU_TRACE": "yes"})
    assert t is not None and tracing.get() is t
    assert t.path == tmp_path / tracing.DEFAULT_FILE


def test_spans_go_to_the_ring_and_the_file(tmp_path: Path) -> None:
    t = tracing.configure("node-1", flag=True, trace_file="t.jsonl", base_dir=tmp_path, env={})
    assert t is not None
    tr = tracing.session("dkls23-presign", 2, bytes.fromhex("a1b2c3d4") + b"\0" * 28, "key-1")

    async def run() -> int:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            await loop.run_in_executor(pool, tr.cpu(_busy, "round1"), 0.02)
        return await tr.wait("r1.collect", asyncio.sleep(0.03, result=5))

    assert asyncio.run(run()) == 5
    t.close()
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert lines == list(t.spans)
    cpu, wait = lines
    assert cpu["name"] == "round1" and cpu["kind"] == "cpu" and cpu["party"] == 2
    assert cpu["proto"] == "dkls23-presign" and cpu["node"] == "node-1"
    assert cpu["sid"] == "a1b2c3d4" and cpu["key"] == "key-1"
    assert cpu["ms"] >= 19.0 and 15.0 <= cpu["cpu_ms"] <= cpu["ms"] + 1.0
    assert wait["name"] == "r1.collect" and wait["kind"] == "wait" and "cpu_ms" not in wait
    assert wait["ms"] >= 25.0
    assert cpu["ts"] <= wait["ts"]  # wall-clock start, comparable with the bench's clock


def test_a_wait_span_is_not_cpu_time(tmp_path: Path) -> None:
    t = tracing.Tracer("n", None)
    tracing.install(t)
    with tracing.span("sleep", 1, "wait"):
        time.sleep(0.02)
    with tracing.span("spin", 1, "cpu"):
        _busy(0.02)
    sleep, spin = t.spans
    assert sleep["ms"] >= 18.0 and "cpu_ms" not in sleep
    assert spin["cpu_ms"] >= 15.0


def test_a_span_is_recorded_when_the_body_raises() -> None:
    t = tracing.Tracer("n", None)
    tracing.install(t)
    tr = tracing.session("frost-sign", 1)

    def boom() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        tr.cpu(boom)()
    assert [s["name"] for s in t.spans] == ["boom"]


def test_unknown_kind_is_refused() -> None:
    t = tracing.Tracer("n", None)
    with pytest.raises(ValueError), t.span("x", 1, "sleep"):
        pass


def test_ring_keeps_the_most_recent_and_the_file_rotates(tmp_path: Path) -> None:
    t = tracing.Tracer("n", tmp_path / "t.jsonl", ring=5, max_file_bytes=2000)
    for i in range(40):
        t.record(f"s{i}", 1, "wait", time.time(), 0.001)
    t.close()
    assert [s["name"] for s in t.spans] == [f"s{i}" for i in range(35, 40)]
    current = (tmp_path / "t.jsonl").read_text().splitlines()
    rotated = (tmp_path / "t.jsonl.1").read_text().splitlines()
    assert (tmp_path / "t.jsonl").stat().st_size <= 2000
    names = [json.loads(x)["name"] for x in rotated + current]
    assert names == [f"s{i}" for i in range(40 - len(names), 40)]  # contiguous, newest last


def test_spans_reach_the_file_without_a_close(tmp_path: Path) -> None:
    t = tracing.Tracer("n", tmp_path / "t.jsonl", flush_s=0.05)
    t.record("a", 1, "wait", time.time(), 0.001)
    deadline = time.monotonic() + 5.0
    while not (tmp_path / "t.jsonl").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert json.loads((tmp_path / "t.jsonl").read_text())["name"] == "a"
    t.close()


def test_threads_write_whole_lines(tmp_path: Path) -> None:
    t = tracing.Tracer("n", tmp_path / "t.jsonl")
    tr = tracing.SessionTrace(t, "p", 1, b"", "")

    def work() -> None:
        for _ in range(200):
            tr.cpu(int)("1")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.close()
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 800
    assert all(json.loads(x)["name"] == "int" for x in lines)


def test_node_config_reads_trace_limits(tmp_path: Path) -> None:
    from warifu.node.config import load_config

    for name in ("sign.key",):
        (tmp_path / name).write_text("11" * 32)
    for name in ("ca.pem", "n.pem", "n.key", "role", "secret"):
        (tmp_path / name).write_text("x")
    base = (
        '[node]\nname = "node-1"\nlisten = "127.0.0.1:1"\nsign_key_file = "sign.key"\n'
        '[tls]\nca = "ca.pem"\ncert = "n.pem"\nkey = "n.key"\n'
        '[vault]\naddr = "http://127.0.0.1:2"\nrole_id_file = "role"\nsecret_id_file = "secret"\n'
    )
    (tmp_path / "off.toml").write_text(base)
    (tmp_path / "on.toml").write_text(base + '[limits]\ntrace = true\ntrace_file = "t.jsonl"\n')
    off = load_config(tmp_path / "off.toml", env={}).limits
    on = load_config(tmp_path / "on.toml", env={}).limits
    assert (off.trace, off.trace_file) == (False, "")
    assert (on.trace, on.trace_file) == (True, "t.jsonl")
