"""The pure replay engine: history in, decisions out. No SQL, no Celery, no clock."""
