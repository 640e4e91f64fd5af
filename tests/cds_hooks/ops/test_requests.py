"""One middleware logs and counts every request by its route template, failures included."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from cds_hooks.ops import requests
from cds_hooks.ops.requests import RequestMiddleware


def app() -> FastAPI:
    built = FastAPI()
    built.add_middleware(RequestMiddleware)

    @built.get("/cds-services/{service_id}")
    def thing(service_id: str) -> dict[str, str]:
        return {"id": service_id}

    @built.get("/rules/{rule_id}")
    def broken(rule_id: str) -> None:
        raise RuntimeError("a bug")

    return built


def count(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("traction_http_requests_total", labels) or 0.0


class Recorder:
    """Stands in for the structlog logger: keeps each line's fields."""

    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []

    def info(self, event: str, **fields: object) -> None:
        self.lines.append({"event": event, **fields})


def test_answered_and_failed_requests_are_logged_and_counted_once(monkeypatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(requests, "logger", recorder)
    before_ok, before_failed = (
        count("/cds-services/{service_id}", "200"),
        count("/rules/{rule_id}", "500"),
    )
    client = TestClient(app(), raise_server_exceptions=False)
    assert client.get("/cds-services/MRN-123456").status_code == 200
    assert client.get("/rules/MRN-123456").status_code == 500
    assert count("/cds-services/{service_id}", "200") == before_ok + 1
    assert count("/rules/{rule_id}", "500") == before_failed + 1
    lines = recorder.lines
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/cds-services/{service_id}", 200),
        ("/rules/{rule_id}", 500),
    ]
    assert "MRN-123456" not in json.dumps(lines)
