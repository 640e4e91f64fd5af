"""`/docs` loads Swagger UI from this service only (hospital networks block CDNs)."""

from __future__ import annotations

import re


def test_docs_page_and_its_assets_are_served_here(client):
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert [u for u in urls if u.startswith(("http://", "https://", "//"))] == []
    for url in urls:
        if url.startswith("/docs/assets/"):
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100
    assert client.get("/openapi.json").json()["info"]["title"] == "Traction CDS"


def test_redoc_is_not_served(client):
    assert client.get("/redoc").status_code == 404


def test_docs_assets_do_not_list_or_escape(client):
    assert client.get("/docs/assets/").status_code == 404
    assert client.get("/docs/assets/../../main.py").status_code == 404
