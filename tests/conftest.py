"""Shared pytest configuration.

Hypothesis profiles (STYLE.md habit 7): ``ci`` is derandomized (a fixed, reproducible search),
``dev`` is random. Pick one with ``HYPOTHESIS_PROFILE``; without it, ``ci`` is used when the
``CI`` environment variable is set and ``dev`` otherwise.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
