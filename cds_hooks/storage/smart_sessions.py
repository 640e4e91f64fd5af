"""Review sessions, server side: the browser holds only a random session id in a cookie.

A row per session in the service's database (the feedback store's engine: SQLite or
PostgreSQL), so any worker or replica can serve the next request. Tokens are stored as given
(no encryption at rest); rows expire with the access token and are purged as they are met
and at every launch.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, Float, String, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cds_hooks.storage.database import metadata

PENDING_TTL_S = 600.0  # from launch to callback
# Anyone can launch (a GET): pending rows are bounded, the oldest evicted first, and expired rows
# of every kind are purged at each launch, so anonymous launches cannot grow the database.
MAX_PENDING = 2_000
PENDING_PREFIX = "p."

smart_sessions = Table(
    "smart_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


@dataclass(slots=True)
class ReviewSession:
    """One browser's launch: pending (state + PKCE verifier) until the callback, then authorised."""

    iss: str
    state: str
    verifier: str
    launch: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    access_token: str | None = None
    scope: str = ""
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = True
    claim: str | None = None
    hook_instance: str | None = None
    expires_at: float = 0.0
    launched_at: float = 0.0

    @property
    def authorised(self) -> bool:
        return self.access_token is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewSession:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def new_session_id(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


class SessionStore:
    def __init__(self, engine: AsyncEngine, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock

    async def put(self, session_id: str, session: ReviewSession, expires_at: float) -> None:
        row = {"session_id": session_id, "data": session.to_json(), "expires_at": expires_at}
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(smart_sessions).where(smart_sessions.c.session_id == session_id)
            )
            await conn.execute(smart_sessions.insert().values(**row))

    async def put_pending(self, session: ReviewSession, expires_at: float) -> str:
        """Store a launch's pending session; purge what expired, keep at most MAX_PENDING."""
        session_id = new_session_id(PENDING_PREFIX)
        pending = smart_sessions.c.session_id.like(f"{PENDING_PREFIX}%")
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(smart_sessions).where(smart_sessions.c.expires_at < float(self.clock()))
            )
            count = (
                await conn.execute(select(func.count()).select_from(smart_sessions).where(pending))
            ).scalar_one()
            if count >= MAX_PENDING:
                oldest = (
                    select(smart_sessions.c.session_id)
                    .where(pending)
                    .order_by(smart_sessions.c.expires_at)
                    .limit(count - MAX_PENDING + 1)
                )
                await conn.execute(
                    delete(smart_sessions).where(
                        smart_sessions.c.session_id.in_(oldest.scalar_subquery())
                    )
                )
            row = {"session_id": session_id, "data": session.to_json(), "expires_at": expires_at}
            await conn.execute(smart_sessions.insert().values(**row))
        return session_id

    async def get(self, session_id: str | None) -> ReviewSession | None:
        if not session_id:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(smart_sessions).where(smart_sessions.c.session_id == session_id)
                )
            ).first()
        if row is None:
            return None
        if row.expires_at < float(self.clock()):
            await self.drop(session_id)
            return None
        return ReviewSession.from_json(dict(row.data))

    async def drop(self, session_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(smart_sessions).where(smart_sessions.c.session_id == session_id)
            )

    async def purge_expired(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(smart_sessions).where(smart_sessions.c.expires_at < float(self.clock()))
            )
