"""The feedback store: issued cards and what clinicians did with them, durable and idempotent.

SQLite (WAL, synchronous=FULL) by default, PostgreSQL by URL. Free-text override comments are
not stored (they may hold PHI); only whether one was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    String,
    Table,
    select,
)

from cds_hooks.storage.database import Database, metadata

logger = logging.getLogger("traction_cds.feedback")

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("card_id", String(64), primary_key=True),
    Column("service_id", String(80), nullable=False),
    Column("hook_instance", String(128), nullable=False),
    Column("claim", String(200), nullable=False),
    Column("rules", JSON, nullable=False),
    Column("suggestions", JSON, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("feedback_id", String(64), primary_key=True),  # content hash: idempotent inserts
    Column("service_id", String(80), nullable=False),
    Column("card_id", String(64), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_code", String(128)),
    Column("override_system", String(256)),
    Column("has_comment", Boolean, nullable=False, default=False),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    service_id: str
    card_id: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_code: str | None
    override_system: str | None
    has_comment: bool
    outcome_timestamp: str

    @property
    def key(self) -> str:
        raw = json.dumps(
            [
                self.service_id,
                self.card_id,
                self.outcome,
                sorted(self.accepted_suggestions),
                self.override_code,
                self.override_system,
                self.outcome_timestamp,
            ]
        )
        return hashlib.sha256(raw.encode()).hexdigest()


class FeedbackStore(Database):
    """Issued cards and the feedback on them."""

    async def record_issued(
        self, service_id: str, hook_instance: str, cards: Iterable[Any]
    ) -> None:
        await self.record_issued_many([((service_id, hook_instance), list(cards))])

    async def record_issued_many(
        self, calls: Sequence[tuple[tuple[str, str], Sequence[Any]]]
    ) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "card_id": c.card_id,
                "service_id": service_id,
                "hook_instance": hook_instance[:128],
                "claim": c.claim[:200],
                "rules": c.rules,
                "suggestions": c.suggestions,
                "issued_at": now,
            }
            for (service_id, hook_instance), cards in calls
            for c in cards
        ]
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(self.insert_ignore(issued_cards), rows)

    async def record_feedback(self, records: Sequence[FeedbackRecord]) -> int:
        """Store every record (a repeat is ignored); returns when the commit is durable."""
        rows = [
            {
                "feedback_id": r.key,
                "service_id": r.service_id,
                "card_id": r.card_id,
                "outcome": r.outcome,
                "accepted_suggestions": list(r.accepted_suggestions),
                "override_code": r.override_code,
                "override_system": r.override_system,
                "has_comment": r.has_comment,
                "outcome_timestamp": r.outcome_timestamp,
                "received_at": datetime.now(UTC),
            }
            for r in records
        ]
        async with self.engine.begin() as conn:
            await conn.execute(self.insert_ignore(feedback), rows)
        return len(rows)

    async def issued_card_ids(self, service_id: str, card_ids: Iterable[str]) -> set[str]:
        """Which of `card_ids` this service issued (feedback on any other card is not kept)."""
        wanted = list(card_ids)
        if not wanted:
            return set()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(issued_cards.c.card_id).where(
                    issued_cards.c.service_id == service_id, issued_cards.c.card_id.in_(wanted)
                )
            )
            return {r.card_id for r in rows}

    async def all_feedback(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(feedback))
            return [dict(r._mapping) for r in result]

    async def report(self) -> dict[str, Any]:
        """Acceptance and override rates per rule, and override counts per reason."""
        async with self.engine.connect() as conn:
            cards = {r.card_id: r for r in await conn.execute(select(issued_cards))}
            answers = list(await conn.execute(select(feedback)))
        per_rule: dict[str, dict[str, float]] = {}
        per_reason: dict[str, int] = {}
        for issued in cards.values():
            for rule in dict.fromkeys(issued.rules):
                per_rule.setdefault(rule, {"cards": 0, "accepted": 0, "overridden": 0})
                per_rule[rule]["cards"] += 1
        unknown = 0
        for answer in last_outcomes(answers):
            found = cards.get(answer.card_id)
            if found is None:
                unknown += 1
                continue
            rules = _answered_rules(found, answer)
            for rule in rules:
                per_rule.setdefault(rule, {"cards": 0, "accepted": 0, "overridden": 0})
                per_rule[rule][answer.outcome] = per_rule[rule].get(answer.outcome, 0) + 1
            if answer.outcome == "overridden":
                reason = answer.override_code or "(no reason given)"
                per_reason[reason] = per_reason.get(reason, 0) + 1
        for counts in per_rule.values():
            answered = counts["accepted"] + counts["overridden"]
            counts["acceptance_rate"] = round(counts["accepted"] / answered, 3) if answered else 0
        return {
            "rules": dict(sorted(per_rule.items())),
            "override_reasons": dict(sorted(per_reason.items())),
            "feedback_for_unknown_cards": unknown,
        }


def last_outcomes(answers: Iterable[Any]) -> list[Any]:
    """One answer per card, its last (a card accepted and later dismissed counts once, as
    overridden; a re-sent outcome with a new timestamp does not count twice)."""
    last: dict[str, Any] = {}
    for answer in answers:
        seen = last.get(answer.card_id)
        if seen is None or _when(answer) >= _when(seen):
            last[answer.card_id] = answer
    return list(last.values())


def _when(answer: Any) -> tuple[datetime, datetime]:
    try:
        stamp = datetime.fromisoformat(str(answer.outcome_timestamp).replace("Z", "+00:00"))
    except ValueError:
        stamp = datetime.min.replace(tzinfo=UTC)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    received = answer.received_at
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return stamp, received


def _answered_rules(card: Any, answer: Any) -> list[str]:
    if answer.outcome == "accepted" and answer.accepted_suggestions and card.suggestions:
        picked = [
            rule
            for suggestion in answer.accepted_suggestions
            for rule in card.suggestions.get(suggestion, [])
        ]
        if picked:
            return list(dict.fromkeys(picked))
    return list(dict.fromkeys(card.rules))


class IssuedCardLog:
    """Issued cards are buffered and written in batches, off the hook's critical path.

    Only the metadata feedback reports need (card → rules) is kept; losing the last second of
    it in a crash costs report precision, never a clinician's answer, which is stored durably.
    """

    def __init__(self, store: FeedbackStore, interval: float = 1.0, max_batch: int = 500) -> None:
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[tuple[str, str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # One flush at a time: a feedback call's flush waits for the background one in flight,
        # so the card it answers is on record before feedback is matched to issued cards.
        self._flushing = asyncio.Lock()

    def add(self, service_id: str, hook_instance: str, cards: Iterable[Any]) -> None:
        self._pending.extend((service_id, hook_instance, c) for c in cards)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    async def flush(self) -> None:
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        by_call: dict[tuple[str, str], list[Any]] = {}
        for service_id, hook_instance, card in pending:
            by_call.setdefault((service_id, hook_instance), []).append(card)
        rows = [(key, cards) for key, cards in by_call.items()]
        if rows:
            await self.store.record_issued_many(rows)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a failed batch is dropped, never the service
                logger.warning("issued-card batch not stored", exc_info=False)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[FeedbackStore]:
    store = FeedbackStore(url)
    await store.create()
    try:
        yield store
    finally:
        await store.close()
