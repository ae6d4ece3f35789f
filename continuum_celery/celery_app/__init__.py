"""Thin Celery glue: the only package that imports celery."""
