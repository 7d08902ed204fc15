"""A JSON nesting bound that does not depend on the interpreter's recursion limit.

``json.loads`` refuses deep nesting only through ``RecursionError``, i.e. at
``sys.getrecursionlimit()``. That limit is process-wide state which imported libraries change
(py_ecc, pulled in by eth-account, raises it to 100000; py-evm to 12288), and a high limit lets
the C parser, and later recursive code (repr, json.dumps, codecs), go deep enough to exhaust the
C stack. Requests are therefore bounded explicitly, before parsing.
"""

from __future__ import annotations

import re
from itertools import accumulate

#: Deepest JSON nesting accepted by any parser in ``warifu.core.chains`` (real documents stay
#: far below it; modules apply their own, tighter, semantic bounds after parsing).
MAX_JSON_DEPTH = 512

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, ignoring brackets inside strings.

    Linear time; meant for input that is then parsed (malformed input may be over-counted,
    which only turns one refusal into another).
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)
