"""Per-round timings inside a node: which round, which party, CPU or waiting.

Off by default. Turned on by ``[limits] trace = true`` in the node config or ``WARIFU_TRACE=1``
in the node's environment (``node/__main__.py`` calls :func:`configure`). When it is on, every
span is kept in an in-memory ring of the most recent :data:`RING_SIZE` spans
(:attr:`Tracer.spans`) and appended as one JSON line to the trace file, ``[limits] trace_file``
(relative to the config's directory; default ``node.trace.jsonl`` there, i.e. next to the
local cluster's ``node.log``). Lines are buffered and reach the file within
:data:`FLUSH_S` seconds (a background thread flushes). ``warifu bench`` reads those files to show
where a signature's time goes. A span costs about 10 µs when tracing is on.

When tracing is off, :func:`session` returns one shared do-nothing object whose ``cpu`` returns
the function itself, ``wait`` the awaitable itself and ``span`` a shared ``nullcontext``: the
protocol code pays one function call and one ``is None`` test per edge, and allocates nothing.

The protocol drivers (``node/ecdsa.py``, ``node/frost.py``, ``node/dkg.py``) call it only at
their edges, never inside the cryptography::

    tr = tracing.session("dkls23-presign", rec.party_id, session.sid, rec.key_id)
    com, otes = await loop.run_in_executor(executor, tr.cpu(s.round1))   # kind "cpu"
    r1 = await tr.wait("r1.collect", session.collect(ROUND_1, others))    # kind "wait"

A span line::

    {"ts": 1732262400.123456, "node": "node-1", "proto": "dkls23-presign", "name": "round1",
     "party": 1, "kind": "cpu", "ms": 7.412, "cpu_ms": 7.398, "sid": "9f3c0a1b", "key": "<uuid>"}

``ts`` is the wall-clock start (``time.time()``), ``ms`` the wall duration, ``cpu_ms`` the CPU
time of the thread that ran a ``cpu`` span (less than ``ms`` when the thread waited for the GIL
or a core). Spans carry only public values (names, party ids, session and key ids, durations):
never a share, nonce, message or request. The file is rotated once (to ``<file>.1``) when it
reaches :data:`MAX_FILE_BYTES`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

ENV = "WARIFU_TRACE"
DEFAULT_FILE = "node.trace.jsonl"
RING_SIZE = 8192
MAX_FILE_BYTES = 64 * 1024 * 1024
FLUSH_S = 0.2
KINDS = ("cpu", "wait")


class Tracer:
    """Collects spans: an in-memory ring of recent ones and, optionally, a JSON-lines file."""

    def __init__(
        self,
        node: str,
        path: str | os.PathLike[str] | None = None,
        *,
        ring: int = RING_SIZE,
        max_file_bytes: int = MAX_FILE_BYTES,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.node = node
        self.path = Path(path) if path is not None else None
        self.spans: deque[dict[str, Any]] = deque(maxlen=ring)
        self._max = max_file_bytes
        self._lock = threading.Lock()
        self._file: Any = None
        self._written = 0
        self._dirty = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if self.path is not None:
            self._open()
            self._flusher = threading.Thread(
                target=self._flush_loop, args=(flush_s,), name="trace-flush", daemon=True
            )
            self._flusher.start()

    def _open(self) -> None:
        assert self.path is not None
        self._file = self.path.open("a", buffering=1 << 16, encoding="utf-8")
        self._written = self.path.stat().st_size

    def _flush_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines to the trace file now."""
        with self._lock:
            if self._file is None or not self._dirty:
                return
            try:
                self._file.flush()
            except OSError as exc:  # tracing must never break signing
                log.warning(
                    "trace file %s not writable, tracing to memory only: %s", self.path, exc
                )
                self._file = None
            self._dirty = False

    def record(
        self,
        name: str,
        party: int,
        kind: str,
        ts: float,
        seconds: float,
        *,
        cpu_seconds: float | None = None,
        proto: str = "",
        sid: bytes = b"",
        key: str = "",
    ) -> dict[str, Any]:
        """Store one finished span (thread-safe); returns it."""
        if kind not in KINDS:
            raise ValueError(f"span kind must be one of {KINDS}, got {kind!r}")
        span: dict[str, Any] = {
            "ts": round(ts, 6),
            "node": self.node,
            "proto": proto,
            "name": name,
            "party": party,
            "kind": kind,
            "ms": round(seconds * 1000.0, 4),
        }
        if cpu_seconds is not None:
            span["cpu_ms"] = round(cpu_seconds * 1000.0, 4)
        if sid:
            span["sid"] = sid[:4].hex()
        if key:
            span["key"] = key
        self.spans.append(span)
        if self._file is not None:
            line = _line(span)
            with self._lock:
                try:
                    self._rotate_if_full(len(line))
                    self._file.write(line)
                    self._written += len(line)
                    self._dirty = True
                except OSError as exc:  # tracing must never break signing
                    log.warning(
                        "trace file %s not writable, tracing to memory only: %s", self.path, exc
                    )
                    self._file = None
        return span

    def _rotate_if_full(self, incoming: int) -> None:
        if self._written + incoming <= self._max or self.path is None:
            return
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._open()

    def span(
        self,
        name: str,
        party: int,
        kind: str = "cpu",
        *,
        proto: str = "",
        sid: bytes = b"",
        key: str = "",
    ) -> contextlib.AbstractContextManager[None]:
        """Time the ``with`` body as one span (``kind`` "cpu": also the thread's CPU time)."""
        return _Span(self, name, party, kind, proto, sid, key)

    def close(self) -> None:
        """Flush and close the trace file (the ring stays readable)."""
        self._stop.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=2.0)
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError:
                    pass
                self._file = None


class _Span:
    """One running span (a plain class: cheaper than a generator context manager)."""

    __slots__ = ("c0", "key", "kind", "name", "party", "proto", "sid", "t0", "tracer", "ts")

    def __init__(
        self, tracer: Tracer, name: str, party: int, kind: str, proto: str, sid: bytes, key: str
    ) -> None:
        self.tracer, self.name, self.party, self.kind = tracer, name, party, kind
        self.proto, self.sid, self.key = proto, sid, key
        self.ts = self.t0 = self.c0 = 0.0

    def __enter__(self) -> None:
        self.ts = time.time()
        self.c0 = time.thread_time() if self.kind == "cpu" else 0.0
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.t0
        self.tracer.record(
            self.name,
            self.party,
            self.kind,
            self.ts,
            seconds,
            cpu_seconds=time.thread_time() - self.c0 if self.kind == "cpu" else None,
            proto=self.proto,
            sid=self.sid,
            key=self.key,
        )


@functools.lru_cache(maxsize=4096)
def _js(text: str) -> str:
    return json.dumps(text)


def _line(span: Mapping[str, Any]) -> str:
    """The span as one JSON line (hand-built: the strings are few and repeat, so cached)."""
    out = (
        f'{{"ts":{span["ts"]:.6f},"node":{_js(span["node"])},"proto":{_js(span["proto"])},'
        f'"name":{_js(span["name"])},"party":{int(span["party"])},"kind":"{span["kind"]}",'
        f'"ms":{span["ms"]!r}'
    )
    if "cpu_ms" in span:
        out += f',"cpu_ms":{span["cpu_ms"]!r}'
    if "sid" in span:
        out += f',"sid":"{span["sid"]}"'
    if "key" in span:
        out += f',"key":{_js(span["key"])}'
    return out + "}\n"


class SessionTrace:
    """A tracer bound to one protocol session at one party (what the drivers hold)."""

    __slots__ = ("key", "party", "proto", "sid", "tracer")

    def __init__(self, tracer: Tracer, proto: str, party: int, sid: bytes, key: str) -> None:
        self.tracer = tracer
        self.proto = proto
        self.party = party
        self.sid = sid
        self.key = key

    def span(self, name: str, kind: str = "cpu") -> contextlib.AbstractContextManager[None]:
        """A ``with`` block as one span of this session."""
        return self.tracer.span(
            name, self.party, kind, proto=self.proto, sid=self.sid, key=self.key
        )

    def cpu(self, fn: Callable[P, T], name: str | None = None) -> Callable[P, T]:
        """``fn`` wrapped so that each call is a "cpu" span (in whichever thread runs it)."""
        label = name or str(getattr(fn, "__name__", "cpu"))

        def traced(*args: P.args, **kwargs: P.kwargs) -> T:
            with self.span(label, "cpu"):
                return fn(*args, **kwargs)

        return traced

    def wait(self, name: str, aw: Awaitable[T]) -> Awaitable[T]:
        """``aw`` wrapped so that awaiting it is a "wait" span."""

        async def traced() -> T:
            with self.span(name, "wait"):
                return await aw

        return traced()


class _Off:
    """The session object when tracing is off: every method hands its argument back."""

    __slots__ = ()
    _null = contextlib.nullcontext()

    def span(self, name: str, kind: str = "cpu") -> contextlib.AbstractContextManager[None]:
        return self._null

    def cpu(self, fn: Callable[P, T], name: str | None = None) -> Callable[P, T]:
        return fn

    def wait(self, name: str, aw: Awaitable[T]) -> Awaitable[T]:
        return aw


OFF = _Off()
_tracer: Tracer | None = None


def get() -> Tracer | None:
    """The process's tracer, or None when tracing is off."""
    return _tracer


def session(proto: str, party: int, sid: bytes = b"", key: str = "") -> SessionTrace | _Off:
    """The tracer for one session at ``party`` (:data:`OFF` when tracing is off)."""
    t = _tracer
    if t is None:
        return OFF
    return SessionTrace(t, proto, party, sid, key)


def span(
    name: str, party: int, kind: str = "cpu", **kw: Any
) -> contextlib.AbstractContextManager[None]:
    """A span on the process's tracer (a shared ``nullcontext`` when tracing is off)."""
    t = _tracer
    if t is None:
        return _Off._null
    return t.span(name, party, kind, **kw)


def enabled(flag: bool, env: Mapping[str, str] | None = None) -> bool:
    """Whether tracing is on: the config flag, or ``WARIFU_TRACE`` set to 1/true/yes/on."""
    env = os.environ if env is None else env
    return flag or env.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


def configure(
    node: str,
    *,
    flag: bool,
    trace_file: str = "",
    base_dir: str | os.PathLike[str] = ".",
    env: Mapping[str, str] | None = None,
) -> Tracer | None:
    """Install (or remove) the process's tracer; returns it, or None when tracing is off."""
    global _tracer
    if _tracer is not None:
        _tracer.close()
        _tracer = None
    if not enabled(flag, env):
        return None
    path = Path(trace_file or DEFAULT_FILE)
    if not path.is_absolute():
        path = Path(base_dir) / path
    _tracer = Tracer(node, path)
    log.info("tracing on: spans go to %s", path)
    return _tracer


def install(tracer: Tracer | None) -> None:
    """Use ``tracer`` (None = off); for tests and in-process clusters."""
    global _tracer
    _tracer = tracer


__all__ = [
    "OFF",
    "SessionTrace",
    "Tracer",
    "configure",
    "enabled",
    "get",
    "install",
    "session",
    "span",
]
