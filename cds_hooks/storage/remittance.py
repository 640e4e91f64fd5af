"""Remittance in the feedback database: imported files, claim payments and their lines.

Same engine as the feedback store (SQLite file or PostgreSQL by TRACTION_DATABASE_URL). An
import is one transaction: every file parsed first, then all rows or none. Files are keyed by
the sha256 of their bytes and claim payments by a content hash, so importing twice stores once.
Claim identifiers are stored only as one-way keys (`claim_key`), never as sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    func,
    select,
)

from cds_hooks.storage.database import Database, metadata
from plugin.remittance.model import (
    AdjudicatedLine,
    Adjustment,
    ClaimPayment,
    RemitFile,
)
from plugin.remittance.reconcile import ImportNotes, StoredPayment

remit_files = Table(
    "remit_files",
    metadata,
    Column("digest", String(64), primary_key=True),  # sha256 of the file's bytes
    Column("name", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("produced", String(10)),
    Column("import_seq", Integer, nullable=False),
    Column("file_order", Integer, nullable=False),
    Column("payments", Integer, nullable=False),
    Column("provider_adjustments", JSON, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

remit_claims = Table(
    "remit_claims",
    metadata,
    Column("payment_key", String(64), primary_key=True),  # content hash of the claim payment
    Column("file_digest", String(64), nullable=False, index=True),
    Column("position", String(40), nullable=False),
    Column("seq_in_file", Integer, nullable=False),
    Column("source", String(32), nullable=False),
    Column("claim_keys", JSON, nullable=False),  # [[kind, claim_key], ...]
    Column("status", String(4), nullable=False),
    Column("charge", Float, nullable=False),
    Column("paid", Float, nullable=False),
    Column("adjustments", JSON, nullable=False),  # claim level [[group, reason, amount, qty]]
    Column("remarks", JSON, nullable=False),
    Column("produced", String(10)),
)

remit_lines = Table(
    "remit_lines",
    metadata,
    Column("payment_key", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("line", Integer),
    Column("code", String(16)),
    Column("modifiers", JSON, nullable=False),
    Column("units", Float),
    Column("service_date", String(10)),
    Column("charge", Float, nullable=False),
    Column("paid", Float, nullable=False),
    Column("adjustments", JSON, nullable=False),  # [[group, reason, amount, qty]]
    Column("remarks", JSON, nullable=False),
    Column("original_code", String(16)),
)

# What an imported file held that was not read (names no claim): a response skipped for having
# nothing to join on, an unmapped adjudication category, lines without a paid amount.
remit_notes = Table(
    "remit_notes",
    metadata,
    Column("file_digest", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("note", String(16), nullable=False),  # skipped | unmapped | no_paid
    Column("position", String(40)),
    Column("reason", String(200)),
    Column("system", String(255)),
    Column("code", String(255)),
    Column("entries", Integer, nullable=False),
    Column("amount", Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class ImportResult:
    files: int
    files_already: int
    payments: int
    payments_already: int
    lines: int


def _adjustments(items: Sequence[Adjustment]) -> list[list[Any]]:
    return [[a.group, a.reason, a.amount, a.quantity] for a in items]


def _from_adjustments(rows: Any) -> tuple[Adjustment, ...]:
    return tuple(Adjustment(g, r, float(a), None if q is None else float(q)) for g, r, a, q in rows)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class OutcomesStore(Database):
    """Remittance files, claim payments and adjudicated lines."""

    async def import_files(self, files: Sequence[RemitFile]) -> ImportResult:
        """All the files in one transaction; what is already stored is skipped."""
        now = datetime.now(UTC)
        files_already = payments_already = stored_payments = stored_lines = 0
        async with self.engine.begin() as conn:
            digests = {f.digest for f in files}
            known_files = set(
                (
                    await conn.execute(
                        select(remit_files.c.digest).where(remit_files.c.digest.in_(digests))
                    )
                ).scalars()
            )
            keys = {p.key for f in files for p in f.payments}
            known_payments: set[str] = set()
            key_list = sorted(keys)
            for i in range(0, len(key_list), 500):
                chunk = key_list[i : i + 500]
                known_payments |= set(
                    (
                        await conn.execute(
                            select(remit_claims.c.payment_key).where(
                                remit_claims.c.payment_key.in_(chunk)
                            )
                        )
                    ).scalars()
                )
            seq = (await conn.execute(select(func.max(remit_files.c.import_seq)))).scalar()
            import_seq = (seq or 0) + 1
            file_rows, claim_rows, line_rows, note_rows = [], [], [], []
            for order, remit in enumerate(files):
                if remit.digest in known_files:
                    files_already += 1
                    continue
                known_files.add(remit.digest)
                file_rows.append(
                    {
                        "digest": remit.digest,
                        "name": remit.name[:255],
                        "kind": remit.kind,
                        "produced": remit.produced.isoformat() if remit.produced else None,
                        "import_seq": import_seq,
                        "file_order": order,
                        "payments": len(remit.payments),
                        "provider_adjustments": [
                            [p.reason, p.amount] for p in remit.provider_adjustments
                        ],
                        "imported_at": now,
                    }
                )
                note_rows.extend(self._note_rows(remit))
                for n, payment in enumerate(remit.payments):
                    if payment.key in known_payments:
                        payments_already += 1
                        continue
                    known_payments.add(payment.key)
                    stored_payments += 1
                    claim_rows.append(self._claim_row(remit, n, payment))
                    for idx, ln in enumerate(payment.lines):
                        stored_lines += 1
                        line_rows.append(self._line_row(payment.key, idx, ln))
            for table, rows in (
                (remit_files, file_rows),
                (remit_claims, claim_rows),
                (remit_lines, line_rows),
                (remit_notes, note_rows),
            ):
                if rows:
                    await conn.execute(self.insert_ignore(table), rows)
        return ImportResult(
            len(file_rows), files_already, stored_payments, payments_already, stored_lines
        )

    @staticmethod
    def _note_rows(remit: RemitFile) -> list[dict[str, Any]]:
        base = {"file_digest": remit.digest, "position": None, "reason": None}
        rows: list[dict[str, Any]] = [
            {**base, "note": "skipped", "position": s.position, "reason": s.reason[:200]}
            | {"system": None, "code": None, "entries": 1, "amount": 0.0}
            for s in remit.skipped
        ]
        rows += [
            {**base, "note": "unmapped", "system": u.system[:255], "code": u.code[:255]}
            | {"entries": u.entries, "amount": u.amount}
            for u in remit.unmapped
        ]
        if remit.lines_without_paid:
            rows.append(
                {**base, "note": "no_paid", "system": None, "code": None}
                | {"entries": remit.lines_without_paid, "amount": 0.0}
            )
        return [{**row, "idx": i} for i, row in enumerate(rows)]

    async def notes(self) -> ImportNotes:
        """What the imported files held that was not read, by file name."""
        async with self.engine.connect() as conn:
            names = {r.digest: r.name for r in await conn.execute(select(remit_files))}
            rows = list(
                await conn.execute(
                    select(remit_notes).order_by(remit_notes.c.file_digest, remit_notes.c.idx)
                )
            )
        notes = ImportNotes()
        for r in rows:
            name = names.get(r.file_digest, r.file_digest[:12])
            if r.note == "skipped":
                notes.skipped.append((name, r.position or "", r.reason or ""))
            elif r.note == "unmapped":
                notes.unmapped.append((name, r.system or "", r.code or "", r.entries, r.amount))
            elif r.note == "no_paid":
                notes.lines_without_paid.append((name, r.entries))
        return notes

    @staticmethod
    def _claim_row(remit: RemitFile, n: int, p: ClaimPayment) -> dict[str, Any]:
        return {
            "payment_key": p.key,
            "file_digest": remit.digest,
            "position": p.position,
            "seq_in_file": n,
            "source": p.source,
            "claim_keys": [list(k) for k in p.keys],
            "status": p.status,
            "charge": p.charge,
            "paid": p.paid,
            "adjustments": _adjustments(p.adjustments),
            "remarks": list(p.remarks),
            "produced": p.produced.isoformat() if p.produced else None,
        }

    @staticmethod
    def _line_row(key: str, idx: int, ln: AdjudicatedLine) -> dict[str, Any]:
        return {
            "payment_key": key,
            "idx": idx,
            "line": ln.line,
            "code": ln.code,
            "modifiers": list(ln.modifiers),
            "units": ln.units,
            "service_date": ln.service_date.isoformat() if ln.service_date else None,
            "charge": ln.charge,
            "paid": ln.paid,
            "adjustments": _adjustments(ln.adjustments),
            "remarks": list(ln.remarks),
            "original_code": ln.original_code,
        }

    async def payments(self) -> list[StoredPayment]:
        """Every claim payment in replay order: production date, import, file, position."""
        async with self.engine.connect() as conn:
            files = {r.digest: r for r in await conn.execute(select(remit_files))}
            claims = list(await conn.execute(select(remit_claims)))
            lines: dict[str, list[Any]] = {}
            for r in await conn.execute(select(remit_lines)):
                lines.setdefault(r.payment_key, []).append(r)

        def order(row: Any) -> tuple[str, int, int, int]:
            f = files[row.file_digest]
            return (row.produced or f.produced or "", f.import_seq, f.file_order, row.seq_in_file)

        out = []
        for row in sorted(claims, key=order):
            payment = ClaimPayment(
                key=row.payment_key,
                source=row.source,
                position=row.position,
                keys=tuple((k, v) for k, v in row.claim_keys),
                status=row.status,
                charge=row.charge,
                paid=row.paid,
                adjustments=_from_adjustments(row.adjustments),
                remarks=tuple(row.remarks),
                lines=tuple(
                    AdjudicatedLine(
                        line=ln.line,
                        code=ln.code,
                        modifiers=tuple(ln.modifiers),
                        units=ln.units,
                        service_date=_day(ln.service_date),
                        charge=ln.charge,
                        paid=ln.paid,
                        adjustments=_from_adjustments(ln.adjustments),
                        remarks=tuple(ln.remarks),
                        original_code=ln.original_code,
                    )
                    for ln in sorted(lines.get(row.payment_key, []), key=lambda r: r.idx)
                ),
                produced=_day(row.produced),
            )
            out.append(StoredPayment(payment, files[row.file_digest].name))
        return out

    async def provider_adjustments(self) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            rows = [r.provider_adjustments for r in await conn.execute(select(remit_files))]
        flat = [(reason, float(amount)) for row in rows for reason, amount in row]
        return {"count": len(flat), "amount": round(sum(a for _, a in flat), 2)}

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            return {
                t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar() or 0)
                for t in (remit_files, remit_claims, remit_lines, remit_notes)
            }


@asynccontextmanager
async def open_outcomes(url: str) -> AsyncIterator[OutcomesStore]:
    store = OutcomesStore(url)
    await store.create()
    try:
        yield store
    finally:
        await store.close()


async def load_remittance(
    url: str,
) -> tuple[list[StoredPayment], dict[str, Any], ImportNotes]:
    """Every stored claim payment, the provider-level adjustments and what the imported files
    held that was not read, for a report."""
    async with open_outcomes(url) as store:
        return await store.payments(), await store.provider_adjustments(), await store.notes()
