"""Benchmarks: this project against fixed-interval polling, on the local simulator."""
