"""Test-only helpers (never imported by warifu itself)."""
