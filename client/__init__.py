"""warifu.client: the typed SDK (:class:`Client`) and the ``warifu`` command line."""

from warifu.client.client import Client, KeyInfo, WarifuRpcError, XrpSignature

__all__ = ["Client", "KeyInfo", "WarifuRpcError", "XrpSignature"]
