"""#17.6: a `jti` seen by one replica is refused by another when they share PostgreSQL (two
real service processes, one real PostgreSQL, real ES384 tokens); its rows expire."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, insert, select

from cds_hooks.storage.database import Database
from cds_hooks.storage.replay import DatabaseReplayCache, seen_jti
from tests.support.service import Service, start_service

pytestmark = pytest.mark.e2e
ISS = "https://ehr.example.org"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _env(tmp: Path, key, database_url: str, base_url: str) -> dict[str, str]:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp / "jwks.json").write_text(json.dumps({"keys": [{**public, "kid": "k1", "alg": "ES384"}]}))
    return {
        "TRACTION_AUTH_MODE": "jwt",
        "TRACTION_TRUSTED_ISSUERS": json.dumps([{"iss": ISS, "jwks_file": str(tmp / "jwks.json")}]),
        "TRACTION_DATABASE_URL": database_url,
        "TRACTION_PUBLIC_BASE_URL": base_url,
    }


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, key, postgres_url: str) -> Iterator[list[Service]]:
    """Two replicas behind one public URL (as behind a load balancer: the same `aud`)."""
    tmp = tmp_path_factory.mktemp("replicas")
    env = _env(tmp, key, postgres_url, "https://traction.example.org")
    started: list[Service] = []
    try:
        for _ in range(2):
            started.append(start_service(tmp, env))
        yield started
    finally:
        for service in started:
            service.stop()


def token(key) -> str:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": "https://traction.example.org/cds-services",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1"})


def discover(service: Service, bearer: str) -> httpx.Response:
    return httpx.get(
        f"{service.base_url}/cds-services", headers={"Authorization": f"Bearer {bearer}"}
    )


def test_a_token_used_on_one_replica_is_refused_by_the_other(replicas, key) -> None:
    first, second = replicas
    bearer = token(key)
    assert discover(first, bearer).status_code == 200
    replay = discover(second, bearer)
    assert replay.status_code == 401 and "replay" in replay.text
    assert discover(second, token(key)).status_code == 200


def test_sqlite_keeps_the_check_per_process(tmp_path, key) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/f.db"
    env = _env(tmp_path, key, db, "https://traction.example.org")
    service = start_service(tmp_path, env)
    try:
        bearer = token(key)
        assert discover(service, bearer).status_code == 200
        assert discover(service, bearer).status_code == 401
    finally:
        service.stop()


def test_expired_rows_are_purged(postgres_url: str) -> None:
    async def run() -> tuple[int, bool]:
        database = Database(postgres_url)
        await database.create()
        try:
            async with database.engine.begin() as conn:
                await conn.execute(
                    insert(seen_jti),
                    [{"jti_hash": "old", "expires_at": datetime.now(UTC) - timedelta(hours=1)}],
                )
            cache = DatabaseReplayCache(database, 60)
            fresh = await cache.claim(ISS, str(uuid.uuid4()), time.time() + 300)
            async with database.engine.connect() as conn:
                old = await conn.scalar(
                    select(func.count()).select_from(seen_jti).where(seen_jti.c.jti_hash == "old")
                )
            return int(old or 0), fresh
        finally:
            await database.close()

    assert asyncio.run(run()) == (0, True)
