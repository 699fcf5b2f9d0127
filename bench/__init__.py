"""Benchmarks behind `make bench` (see bench/run.py)."""
