"""invoke task modules; tasks.py at the top level collects them.

Each module exposes ``register(ns)`` that adds its tasks and collections to the
root collection. Tasks stay thin: parse, call the library, report.
"""
