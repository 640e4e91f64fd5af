"""One typed Settings object, from TRACTION_* environment variables (DESIGN "Configuration")."""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from plugin.smart.fhir import origin_of


def json_or_path(value: Any) -> Any:
    """A JSON list given inline, or the path of a file holding one."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if not text.startswith(("[", "{")):
            text = Path(text).read_text(encoding="utf-8")
        return json.loads(text)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACTION_", extra="ignore")

    public_base_url: str = "http://127.0.0.1:8000"
    auth_mode: Literal["jwt", "off"] = "jwt"
    trusted_issuers: Annotated[list[dict[str, Any]], NoDecode] = Field(default_factory=list)
    database_url: str = "sqlite+aiosqlite:///./var/traction-cds.db"
    payer_settings: str | None = None
    edits_dir: str | None = None  # imported ncci_ptp.csv / mue.csv (`edits import`)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    smart_clients: Annotated[list[dict[str, Any]], NoDecode] = Field(default_factory=list)
    # Origins allowed to frame the review app (CSP frame-ancestors); empty: the origins of the
    # smart_clients issuers; none of either: 'none'.
    review_frame_ancestors: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fhir_timeout_seconds: float = 2.0
    fhir_allowed_http_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 5_000_000
    metrics_token: str | None = None  # when set, /metrics wants it as a Bearer token
    playground: bool = True  # /playground: check a pasted Claim in the browser (public, no JWT)
    demo_ehr_url: str | None = None  # set by `traction-cds demo`: its FHIR server and launcher

    @field_validator("trusted_issuers", "smart_clients", mode="before")
    @classmethod
    def _json_or_path(cls, value: Any) -> Any:
        return json_or_path(value)

    @field_validator(
        "cors_origins", "fhir_allowed_http_hosts", "review_frame_ancestors", mode="before"
    )
    @classmethod
    def _json_or_commas(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return json_or_path(value)

    @field_validator("review_frame_ancestors")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if origin_of(origin) != origin.rstrip("/") or parts.path.strip("/"):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return [v.rstrip("/") for v in value]

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("demo_ehr_url")
    @classmethod
    def _demo_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        if urlsplit(value.strip()).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value.strip().rstrip("/")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cache
def get_settings() -> Settings:
    return Settings()
