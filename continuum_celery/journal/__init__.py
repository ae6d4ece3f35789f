"""The only package that speaks SQL: schema, migrations and fenced operations."""
