"""Benchmark runs, result tables and the speed and correctness scripts."""
