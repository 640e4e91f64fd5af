"""The one database: its engine (SQLite with durable pragmas, or PostgreSQL) and its schema.

Every table the service keeps is declared on `metadata` here (feedback, remittance, SMART
sessions); `Database.create` makes the missing ones, safe when several workers or processes
start on a new database at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _register_tables() -> None:
    """Import the modules that declare tables, so `metadata` holds all of them."""
    from cds_hooks.storage import feedback, remittance, replay, smart_sessions  # noqa: F401


class Database:
    """An engine on `url` and the schema's lifecycle; the stores build on it."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def create(self) -> None:
        """Every table, if missing. Two processes started together on a new database both see
        them missing and both create: the loser's CREATE fails (table by table), and another
        look finds what the winner made."""
        _register_tables()
        attempts = len(metadata.tables) + 1
        for attempt in range(1, attempts + 1):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
                return
            except DBAPIError:
                if attempt == attempts:
                    raise

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(select(1))
        except Exception:  # readiness reports any database failure as not ready
            return False
        return True

    def insert_ignore(self, table: Table) -> Any:
        """An INSERT that skips rows whose primary key is already stored."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
