"""Celery app modules the benchmark's worker subprocesses load (``celery -A bench.apps.X``)."""
