"""warifu: a threshold-signature key-management cluster.

The import root of the distribution. ``warifu.v1`` is the wire contract (generated from
``protos/warifu/v1/*.proto``), ``warifu.core`` the pure protocol code, ``warifu.node`` the daemon
and ``warifu.client`` the SDK and CLI. See ``DESIGN.md`` in the repository for the layering.
"""

__version__ = "0.1.0"
