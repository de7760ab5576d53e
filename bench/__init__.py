"""Benchmarks: `make bench` runs them and renders docs/PERFORMANCE.md from bench/results/*.json."""
