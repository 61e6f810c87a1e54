"""The throwaway PostgreSQL of tests/helpers/postgres.py for the state backend tests."""

from tests.helpers.postgres import pg_url, postgres_server

__all__ = ["pg_url", "postgres_server"]
