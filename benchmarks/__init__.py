"""Benchmarks: `make bench` (python -m benchmarks) writes benchmarks/results/RESULTS.md."""
