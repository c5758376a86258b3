"""Loopback stand-ins for the providers we talk to (reusable by tests and benchmarks)."""
