"""`traction-cds config check`: read the TRACTION_* settings, read or fetch each trusted issuer's
JWKS, and say what a call from each issuer needs (aud, jku, algorithms, lifetime), so a
misconfiguration is found before the first clinician sees no cards. Exit 0 when nothing is
wrong, 3 (bad configuration) with every problem listed otherwise."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, TextIO
from urllib.parse import urlsplit

from cds_hooks.cli.common import EXIT_CLEAN, EXIT_CONFIG, CliError

# Terminal control characters never reach the screen from a settings value or a JWKS.
_CONTROL = {i: None for i in (*range(0, 32), 127)}


def _clean(value: Any) -> str:
    return str(value).translate(_CONTROL)


def _key_summary(kid: str, jwk: dict[str, Any]) -> dict[str, Any]:
    from cds_hooks.ops.security import ALGORITHMS, AuthError, key_for

    fits = []
    for algorithm in ALGORITHMS:
        try:
            key_for(jwk, algorithm)
        except AuthError:
            continue
        fits.append(algorithm)
    return {"kid": kid, "kty": jwk.get("kty"), "algorithms": fits}


async def _issuers(settings: Any) -> tuple[list[dict[str, Any]], list[str]]:
    import httpx

    from cds_hooks.ops.security import AuthError, JwtVerifier

    problems: list[str] = []
    try:
        async with httpx.AsyncClient() as http:
            verifier = JwtVerifier(settings.trusted_issuers, http)
            report = []
            for iss, issuer in verifier.issuers.items():
                entry: dict[str, Any] = {
                    "iss": iss,
                    "keys_from": issuer.jwks_file or issuer.jwks_url,
                    "jku": "any (keys pinned in jwks_file; the jku is never fetched)"
                    if issuer.jku_pinned
                    else list(issuer.jku_allowlist),
                }
                try:
                    keys = await verifier.issuer_keys(iss)
                except AuthError as exc:
                    problems.append(f"issuer {iss}: {exc}")
                    keys = {}
                entry["keys"] = [_key_summary(kid, jwk) for kid, jwk in keys.items()]
                if not keys and not any(p.startswith(f"issuer {iss}:") for p in problems):
                    problems.append(f"issuer {iss}: its key set holds no usable signing key")
                report.append(entry)
    except ValueError as exc:
        problems.append(f"TRACTION_TRUSTED_ISSUERS: {exc}")
        report = []
    return report, problems


def check_config() -> tuple[dict[str, Any], list[str]]:
    """The report and the problems found (none: the service would start and verify calls)."""
    from pydantic import ValidationError

    from cds_hooks.ops.security import ALGORITHMS, LEEWAY_SECONDS, MAX_TOKEN_LIFETIME_SECONDS
    from cds_hooks.protocol.discovery import SERVICES
    from cds_hooks.settings import Settings, is_loopback

    try:
        settings = Settings()
    except (ValidationError, OSError, ValueError) as exc:
        first = str(exc).splitlines()
        raise CliError(f"configuration: {' '.join(first[:3])}", EXIT_CONFIG) from None
    problems: list[str] = []
    base = settings.public_base_url
    parts = urlsplit(base)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        problems.append(f"TRACTION_PUBLIC_BASE_URL {base}: EHRs call CDS services over https")
    issuers: list[dict[str, Any]] = []
    if settings.auth_mode == "jwt":
        issuers, found = asyncio.run(_issuers(settings))
        problems += found
        if not issuers and not found:
            problems.append(
                "TRACTION_AUTH_MODE=jwt and no TRACTION_TRUSTED_ISSUERS: every call is 401"
            )
    report = {
        "auth_mode": settings.auth_mode,
        "public_base_url": base,
        "discovery_url": f"{base}/cds-services",
        "aud": {
            "discovery": f"{base}/cds-services",
            "services": [f"{base}/cds-services/{s['id']}" for s in SERVICES],
            "feedback": [f"{base}/cds-services/{s['id']}/feedback" for s in SERVICES],
        },
        "algorithms": list(ALGORITHMS),
        "max_token_lifetime_seconds": MAX_TOKEN_LIFETIME_SECONDS,
        "clock_leeway_seconds": LEEWAY_SECONDS,
        "jti_replay_check": "this process only (SQLite)"
        if settings.database_url.startswith("sqlite")
        else "shared through the database",
        "cors_origins": settings.cors_origins,
        "smart_clients": [c.get("iss") for c in settings.smart_clients],
        "issuers": issuers,
        "problems": problems,
    }
    return report, problems


def _text(report: dict[str, Any], out: TextIO) -> None:
    w = out.write
    w(f"auth mode        {report['auth_mode']}\n")
    w(f"discovery URL    {_clean(report['discovery_url'])}\n")
    w("aud              the exact URL called:\n")
    for url in [report["aud"]["discovery"], *report["aud"]["services"]]:
        w(f"                   {_clean(url)} (feedback: +/feedback)\n")
    w(f"algorithms       {', '.join(report['algorithms'])}\n")
    w(
        f"token lifetime   exp - iat at most {report['max_token_lifetime_seconds']} s "
        f"(clock leeway {report['clock_leeway_seconds']} s)\n"
    )
    w(f"jti replay check {report['jti_replay_check']}\n")
    w(f"CORS origins     {_clean(', '.join(report['cors_origins']) or '(none)')}\n")
    for issuer in report["issuers"]:
        w(f"\nissuer {_clean(issuer['iss'])}\n")
        w(f"  keys from      {_clean(issuer['keys_from'])}\n")
        jku = issuer["jku"]
        listed = jku if isinstance(jku, str) else ", ".join(jku) or "(none)"
        w(f"  jku accepted   {_clean(listed)}\n")
        for key in issuer["keys"]:
            algorithms = ", ".join(key["algorithms"]) or "none we accept"
            w(f"  key {_clean(key['kid']) or '(no kid)'}  {key['kty']}  signs {algorithms}\n")
    if report["problems"]:
        w("\nproblems\n")
        for problem in report["problems"]:
            w(f"  - {_clean(problem)}\n")
    else:
        w("\nno problems found\n")


def cmd_config_check(args: argparse.Namespace, out: TextIO) -> int:
    report, problems = check_config()
    if args.format == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        _text(report, out)
    return EXIT_CONFIG if problems else EXIT_CLEAN


def add_commands(commands: Any) -> None:
    config = commands.add_parser("config", help="check the TRACTION_* settings")
    sub = config.add_subparsers(dest="config_command", required=True)
    check = sub.add_parser(
        "check",
        help="read the settings and each issuer's JWKS; say what a call needs (exit 3 on problems)",
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(run=cmd_config_check)
