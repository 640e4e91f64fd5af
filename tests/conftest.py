from __future__ import annotations

from typing import Any

import pytest

from plugin.claim_check import ClaimChecker, ClaimReport
from rules.knowledge.load import load_knowledge
from rules.knowledge.model import Knowledge
from tests.builders import ClaimBuilder

# Real loopback servers (fixtures `fhir_server`, `fresh_fhir`, `postgres_server`, `postgres_url`).
pytest_plugins = ("tests.support.fhir_server", "tests.support.postgres")


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture(scope="session")
def checker(knowledge: Knowledge) -> ClaimChecker:
    return ClaimChecker(knowledge)


@pytest.fixture(scope="session")
def check(checker: ClaimChecker):
    """check(builder_or_document, as_of=None) -> the one ClaimReport."""

    def run(source: ClaimBuilder | dict[str, Any], as_of=None) -> ClaimReport:
        document = source.bundle() if isinstance(source, ClaimBuilder) else source
        (report,) = checker.check_document(document, as_of)
        return report

    return run


def rules_of(report: ClaimReport) -> list[tuple[str, int | None]]:
    return [(f.rule, f.line) for f in report.findings]
