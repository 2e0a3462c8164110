"""GourmetGram benchmarks: serving, gateway, lifecycle and training, measured on this machine.

Run with `python -m bench` (the `bench` nox session). Results go to bench/results.json,
bench/results.md and bench/charts/*.png. Numbers are measured, never asserted in tests.
"""
