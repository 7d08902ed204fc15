"""Static checks of ``core/ot`` (dkls23.md §2.3, §14 item 33, §2.4; STYLE habit 3).

- every domain-separation tag the OT code uses comes from the registry in
  ``warifu.core.encoding`` (and the registry has no duplicates);
- no tag string is spelled out by hand; the only hashing outside ``h/xof/hs`` is SHAKE-256
  prefix states built with ``tag()`` (their equality with ``xof`` is tested in
  ``test_ot_extension.py`` and ``test_ot_rvole.py``);
- no ``random`` / ``numpy.random`` / OS / clock / thread import (randomness is injected).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from warifu.core.encoding import TAG_SUFFIXES, TAGS

OT_DIR = Path(__file__).resolve().parent.parent / "core" / "ot"
HASH_HELPERS = {"h", "xof", "hs", "tag"}
EXPECTED_OT_TAGS = {
    "dkls23/ot-setup",
    "dkls23/vsot-pok",
    "dkls23/vsot-pad",
    "dkls23/vsot-h1",
    "dkls23/vsot-h2",
    "dkls23/ote-prg",
    "dkls23/ote-chi",
    "dkls23/ote-pad",
    "dkls23/psid",
    "dkls23/rvole-gadget",
    "dkls23/rvole-m1",
    "dkls23/rvole-theta",
    "dkls23/rvole-mu",
}
BANNED_MODULES = {"random", "numpy.random", "os", "time", "threading", "secrets", "asyncio"}


def _call_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


def scan(source: str) -> tuple[set[str], list[str]]:
    """(tags used through the helpers, problems found)."""
    tree = ast.parse(source)
    used: set[str] = set()
    problems: list[str] = []
    tag_args: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in HASH_HELPERS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                used.add(first.value)
                tag_args.add(id(first))
            else:
                problems.append(f"line {node.lineno}: {_call_name(node)}() with a computed tag")
        if isinstance(node, ast.Call) and _call_name(node) in {"sha256", "sha3_256", "blake2b"}:
            problems.append(f"line {node.lineno}: raw {_call_name(node)}()")
        if isinstance(node, ast.Import):
            problems += [f"imports {a.name}" for a in node.names if a.name in BANNED_MODULES]
        if isinstance(node, ast.ImportFrom) and node.module in BANNED_MODULES:
            problems.append(f"imports from {node.module}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str | bytes)
            and id(node) not in tag_args
        ):
            text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
            if text.startswith(("warifu/", "dkls23/")):
                problems.append(f"line {node.lineno}: hand-written tag {text!r}")
    problems += [f"unregistered tag {t!r}" for t in sorted(used - set(TAG_SUFFIXES))]
    return used, problems


def _sources() -> dict[str, str]:
    files = sorted(OT_DIR.glob("*.py"))
    assert {p.name for p in files} >= {"gf256.py", "vsot.py", "extension.py", "rvole.py"}
    return {p.name: p.read_text() for p in files}


def test_registry_has_unique_tags() -> None:
    assert len(TAG_SUFFIXES) == len(set(TAG_SUFFIXES)) == len(TAGS)


@pytest.mark.parametrize("name", sorted(p.name for p in OT_DIR.glob("*.py")))
def test_module_uses_only_registered_tags(name: str) -> None:
    used, problems = scan(_sources()[name])
    assert problems == []
    assert used <= set(TAG_SUFFIXES)


def test_every_ot_tag_is_used() -> None:
    used: set[str] = set()
    for source in _sources().values():
        used |= scan(source)[0]
    assert used == EXPECTED_OT_TAGS


def test_the_scanner_can_fail() -> None:
    bad = (
        "import random\n"
        "h('dkls23/not-a-tag', x)\n"
        "xof(name, 3)\n"
        "T = b'warifu/v1/dkls23/ote-pad'\n"
        "hashlib.sha256(b'')\n"
    )
    used, problems = scan(bad)
    assert used == {"dkls23/not-a-tag"}
    assert len(problems) == 5, problems
