"""Static checks of the ceremony modules (dkls23.md §2.3; STYLE habit 3).

Every domain-separation tag they use is registered in ``warifu.core.encoding`` and spelled only
through the hash helpers; they import no OS, clock, thread or ``random`` module. Uses the same
scanner as the OT modules (``test_ot_static.scan``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ot_static import scan

from warifu.core.encoding import TAG_SUFFIXES

CORE = Path(__file__).resolve().parent.parent / "core"
MODULES = [
    "approvals.py",
    "audit.py",
    "shares/ceremony.py",
    "shares/refresh.py",
    "shares/reshare.py",
    "shares/repair.py",
    "shares/commit.py",
]
NEW_TAGS = {"ceremony/statement", "ceremony/approval", "audit/entry"}


@pytest.mark.parametrize("name", MODULES)
def test_module_uses_only_registered_tags(name: str) -> None:
    used, problems = scan((CORE / name).read_text())
    assert problems == []
    assert used <= set(TAG_SUFFIXES)


def test_the_new_tags_are_registered_and_used() -> None:
    used: set[str] = set()
    for name in MODULES:
        used |= scan((CORE / name).read_text())[0]
    assert used >= NEW_TAGS
    assert NEW_TAGS <= set(TAG_SUFFIXES)


def test_the_scanner_flags_an_unregistered_tag() -> None:
    _, problems = scan('from x import h\nh("ceremony/unregistered", b"")\n')
    assert problems
