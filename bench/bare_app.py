"""The floor of this stack: a FastAPI endpoint that parses the same body and returns one card."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
CARD = orjson.dumps(
    {
        "cards": [
            {
                "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
                "summary": "fixed",
                "indicator": "info",
                "source": {"label": "bare"},
            }
        ]
    }
)


@app.post("/cds-services/{service_id}")
async def hook(service_id: str, request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(CARD, media_type="application/json")
