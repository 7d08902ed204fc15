"""Golden vectors of refresh, reshare, repair (shares.md §12 item 14; implementation-generated)."""

from __future__ import annotations

import json

import pytest

from helpers.ceremony_vectors import CASES, VECTOR_FILE, build_case


def _stored() -> dict[str, dict[str, object]]:
    data = json.loads(VECTOR_FILE.read_text())
    assert "Implementation-generated" in data["note"]
    return {c["name"]: c for c in data["cases"]}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_vector(case: dict[str, object]) -> None:
    assert build_case(case) == _stored()[str(case["name"])]


def test_every_case_is_stored() -> None:
    assert sorted(_stored()) == sorted(str(c["name"]) for c in CASES)
