"""Stored test vectors (data) and their loaders."""
