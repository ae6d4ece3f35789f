"""Operator reads and retention on a large journal: ``python -m bench.ops``.

Seeds N runs (default 1,000,000) straight into a database of its own with set-based
SQL, then measures ``list_runs`` / ``count_runs`` and retention's upkeep ticks.
"""
