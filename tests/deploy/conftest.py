"""Deployment tests (deploy/): markers, and this folder's helpers on sys.path.

Markers (registered here so that ``--strict-markers`` accepts them):

- ``deploy``: every test in tests/deploy (static checks of images, compose, Kubernetes, and the
  deploy scripts run against real OpenBao servers). ``pytest -m deploy`` runs them alone.
- ``netns``: needs root and ``ip netns`` (the multi-host test); skipped with the reason
  otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # fixtures_openbao


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploy: deployment artefacts (deploy/) and their scripts")
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns`; builds its own network namespaces"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.deploy)
