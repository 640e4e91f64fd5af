"""Schemathesis against the served OpenAPI document: no operation answers 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.service import Service

pytestmark = pytest.mark.e2e


def test_no_operation_answers_5xx(live_service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{live_service.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=live_service.base_url, timeout=10)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        exercise()
    assert failures == []
