"""The database schema's alembic migrations; `python -m migrations` applies them."""
