"""Benchmarks: `python -m bench` prints one table (and --json writes the numbers)."""
