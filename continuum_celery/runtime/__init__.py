"""Orchestration: leases, replay, activity attempts and upkeep. Never imports Celery."""
