"""``python -m bench.ui``: the web UI's index and a long run's page on a big journal."""
