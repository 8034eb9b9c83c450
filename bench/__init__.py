"""Benchmarks of the packaged modular inputs against the local simulators (``make bench``)."""
