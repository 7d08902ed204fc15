"""warifu.core: pure protocol code.

Math, curves, protocols (FROST, the DKG of ``specs/shares.md``), chain encodings and key-share
records. No I/O, no asyncio, no grpc, no hvac, no clocks and no OS randomness: an
:class:`~warifu.core.rng.Rng` is passed in. Import contracts in ``pyproject.toml`` enforce this.
"""
