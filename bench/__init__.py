"""Benchmarks of the packaged modular input against the local simulators (``make bench``)."""
