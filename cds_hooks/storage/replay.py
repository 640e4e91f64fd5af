"""Seen JWT `jti`s shared by every worker and replica through PostgreSQL (expiring rows).

Behind a load balancer a captured token could be replayed to another worker or replica within
its lifetime; with PostgreSQL every `jti` is claimed once, in one table, by an INSERT that
either stores the row or finds it there. Rows outlive the token (plus leeway) and are purged
as calls come in. SQLite is one host's file: the per-process cache stays (see ops/security.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, String, Table, delete

from cds_hooks.storage.database import Database, metadata

PURGE_EVERY = 500  # claims between purges of expired rows

seen_jti = Table(
    "seen_jti",
    metadata,
    Column("jti_hash", String(64), primary_key=True),  # sha256(iss|jti): bounded, not the jti
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


class DatabaseReplayCache:
    """`claim(iss, jti, exp)` is False when that token was already presented anywhere."""

    def __init__(self, database: Database, leeway_seconds: float) -> None:
        self.database = database
        self.leeway = timedelta(seconds=leeway_seconds)
        self._claims = 0

    async def claim(self, iss: str, jti: str, expires: float) -> bool:
        key = hashlib.sha256(f"{iss}|{jti}".encode()).hexdigest()
        until = datetime.fromtimestamp(expires, UTC) + self.leeway
        async with self.database.engine.begin() as conn:
            if self._claims % PURGE_EVERY == 0:
                await conn.execute(
                    delete(seen_jti).where(seen_jti.c.expires_at < datetime.now(UTC))
                )
            self._claims += 1
            result = await conn.execute(
                self.database.insert_ignore(seen_jti), [{"jti_hash": key, "expires_at": until}]
            )
        return bool(result.rowcount)
