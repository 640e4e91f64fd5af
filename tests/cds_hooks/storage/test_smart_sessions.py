"""Pending review sessions are bounded and expired ones purged (#21 item 4): a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cds_hooks.storage import smart_sessions
from cds_hooks.storage.database import Database
from cds_hooks.storage.smart_sessions import ReviewSession, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_launches_keep_at_most_max_pending_rows_and_never_evict_a_signed_in_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smart_sessions, "MAX_PENDING", 5)

    async def scenario() -> None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/s.db")
        await database.create()
        clock = Clock()
        store = SessionStore(database.engine, clock)
        signed_in = ReviewSession(iss="https://ehr", state="", verifier="", access_token="t")
        await store.put("signed-in", signed_in, clock.now + 3600)
        ids = []
        for n in range(12):
            clock.now += 1
            pending = ReviewSession(iss="https://ehr", state=f"s{n}", verifier="v")
            ids.append(await store.put_pending(pending, clock.now + 600))
        kept = [i for i in ids if await store.get(i) is not None]
        assert kept == ids[-5:]  # the newest five; the oldest were evicted
        assert await store.get("signed-in") is not None
        clock.now += 7200  # everything expired: the next launch purges it all
        last = await store.put_pending(ReviewSession(iss="x", state="s", verifier="v"), clock.now)
        async with database.engine.connect() as conn:
            rows = (await conn.execute(smart_sessions.smart_sessions.select())).all()
        assert [r.session_id for r in rows] == [last]
        await database.close()

    asyncio.run(scenario())
