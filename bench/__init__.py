"""Benchmarks: figures and ratios against named peers on the same data (issues 3-6).

Empty until those issues land.
"""
