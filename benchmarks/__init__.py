"""Latency and throughput harness (measured here, never asserted in timed tests)."""
