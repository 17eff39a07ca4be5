"""Persistence: typed models, migrations and repositories (rows <-> domain values)."""
