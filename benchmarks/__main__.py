"""``python -m warifu.benchmarks``: ``warifu bench`` on a throw-away local cluster by default."""

from __future__ import annotations

import sys

from warifu.benchmarks.harness import main

if __name__ == "__main__":
    sys.exit(main())
