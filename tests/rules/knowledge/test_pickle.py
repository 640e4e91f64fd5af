"""Knowledge crosses process boundaries (a Spark broadcast, a spawned scan worker) by pickle,
after the engine has filled its per-process caches with the registered checks."""

from __future__ import annotations

import pickle

import orjson

from plugin.claim_check import ClaimChecker
from plugin.knowledge import default_knowledge
from tests.support.claims import bundle_files


def test_knowledge_pickles_after_use_and_checks_the_same() -> None:
    knowledge = default_knowledge()
    checker = ClaimChecker(knowledge)
    documents = [orjson.loads(path.read_bytes()) for path in bundle_files()]
    before = [[r.to_json() for r in checker.check_document(d)] for d in documents]
    assert knowledge.derived, "the engine caches its rule selector in Knowledge.derived"

    copy = pickle.loads(pickle.dumps(knowledge))

    assert copy.derived == {}
    assert copy.rules == knowledge.rules and copy.codes == knowledge.codes
    again = ClaimChecker(copy)
    assert [[r.to_json() for r in again.check_document(d)] for d in documents] == before
