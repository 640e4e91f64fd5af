"""What an EHR really sends a hook: a fresh JWT on every call (ES384 or RS384, new `jti`) and
claim content the service has not seen before.

- `Issuer`: an ES384 and an RS384 key, their JWKS file, and tokens pre-signed in bulk (signing
  is not what is measured; the service's verification is).
- `TEMPLATES`: order-sign request bodies around several claim shapes (the shipped samples and
  builder claims: payers, disciplines, 3 to 10 lines, with and without a draft traction order).
  Each template carries markers that every call fills with its own number: the Claim id, the
  hookInstance, the day of service and the first line's units, so no body repeats within a run
  and FHIR validation never hits its digest cache.
- `lua_script`: wrk cycles through the templates and the tokens, each thread on its own slice,
  so no `jti` repeats within a run (a repeat is a replay: 401, counted as non-2xx).
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_hooks.samples import SAMPLES
from tests.builders import ClaimBuilder
from tests.cds_hooks.conftest import hook_body, traction_order

ISS = "https://ehr.bench.example/fhir"
TOKEN_LIFETIME_SECONDS = 300
# Marker bytes in a serialized template: \x01 + name + \x01; JSON never holds a raw \x01.
MARK = "\x01"
NUMBER, DAY, UNITS = "N", "D", "U"


class Issuer:
    """An EHR's signing keys and the JWKS the service trusts them by."""

    def __init__(self) -> None:
        es = ec.generate_private_key(ec.SECP384R1())
        rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys = {"ES384": ("bench-es", es), "RS384": ("bench-rs", rs)}
        self.pems = {alg: (kid, _pem(key)) for alg, (kid, key) in self.keys.items()}

    def jwks(self) -> dict[str, Any]:
        keys = []
        for alg, (kid, private) in self.keys.items():
            public = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(private.public_key()))
            keys.append({**public, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def trusted_issuers(self, folder: Path) -> str:
        """The TRACTION_TRUSTED_ISSUERS value naming a JWKS file in `folder`."""
        path = folder / "bench-jwks.json"
        path.write_text(json.dumps(self.jwks()))
        return json.dumps([{"iss": ISS, "jwks_file": str(path)}])

    def tokens(self, audience: str, count: int) -> list[str]:
        """`count` tokens, alternately ES384 and RS384, each with its own jti (signed on every
        CPU: an RS384 signature costs about a millisecond)."""
        now = int(time.time())
        chunks = [
            (self.pems, audience, now, min(_CHUNK, count - i)) for i in range(0, count, _CHUNK)
        ]
        if len(chunks) <= 1:
            return [t for chunk in chunks for t in _sign(chunk)]
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            return [t for signed in pool.map(_sign, chunks) for t in signed]


_CHUNK = 500


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _sign(job: tuple[dict[str, tuple[str, bytes]], str, int, int]) -> list[str]:
    pems, audience, now, count = job
    keys = {
        alg: (kid, serialization.load_pem_private_key(pem, None))
        for alg, (kid, pem) in pems.items()
    }
    out = []
    for i in range(count):
        alg = "ES384" if i % 2 == 0 else "RS384"
        kid, private = keys[alg]
        payload = {
            "iss": ISS,
            "sub": "bench-client",
            "aud": audience,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
            "tenant": "bench",
        }
        out.append(jwt.encode(payload, private, algorithm=alg, headers={"kid": kid}))  # type: ignore[arg-type]
    return out


def _builder_claims() -> Iterator[tuple[dict[str, Any], bool]]:
    """(bundle, with a draft traction order) for claim shapes the samples do not cover."""
    medicare = ClaimBuilder("1")
    medicare.line("97012", [], minutes=None, dx=["M54.2"], price=30.0)
    medicare.line("97110", ["GP"], units=2, minutes=38).line("97140", ["GP"], minutes=15)
    yield medicare.bundle(), True
    medicaid = ClaimBuilder("2")
    medicaid.line("97012", ["GP"], units=2, dx=["M51.16"]).line("97112", ["GP"], minutes=23)
    yield medicaid.bundle(), False
    commercial = ClaimBuilder("5").payer_id("87726", "UnitedHealthcare")
    commercial.line("97012", ["GP"], dx=["M54.16"]).line("97140", ["GP", "59"], minutes=12)
    commercial.line("97530", ["GP"], minutes=15)
    yield commercial.bundle(), True
    advantage = ClaimBuilder("111")
    advantage.line("97012", ["GP"], text="mechanical traction").line("G0283", ["GP"])
    advantage.line("97035", ["GP"], minutes=8, dx=["M54.2"])
    yield advantage.bundle(), False
    chiro = ClaimBuilder("121")
    chiro.line("98940", [], by="DC", dx=["M99.03", "M54.16"])
    chiro.line("97012", [], by="DC", dx=["M54.16"]).line("97140", ["59"], by="DC", minutes=10)
    yield chiro.bundle(), True
    assistant = ClaimBuilder("1").ytd(2480.0)
    assistant.line("97012", ["GP"], by=["PT", "PTA"]).line("97110", ["GP"], by="PTA", minutes=30)
    assistant.line("97112", ["GP", "CQ"], by="PTA", minutes=25)
    yield assistant.bundle(), False
    long = ClaimBuilder("1")
    codes = ("97012", "97110", "97140", "97112", "97530", "97035")
    for i in range(10):
        code = codes[i % len(codes)]
        minutes = None if code == "97012" else 8 + 5 * i
        long.line(code, ["GP"], minutes=minutes, dx=["M51.16", "M54.2"][: 1 + i % 2], price=42.0)
    yield long.bundle(), True


def _bundles() -> Iterator[tuple[dict[str, Any], bool]]:
    for position, sample in enumerate(SAMPLES):
        yield sample.bundle(), position % 2 == 0
    yield from _builder_claims()


def _marked(body: dict[str, Any]) -> str:
    """The body serialized with markers where every call puts its own content: the Claim, its
    patient and Coverage and the draft order are another patient's, the days of service and
    the first line's units change."""
    body = copy.deepcopy(body)
    call = f"{MARK}{NUMBER}{MARK}"
    body["hookInstance"] = f"bench-{call}"
    body["context"]["patientId"] = f"pat-{call}"
    for entry in body["context"].get("draftOrders", {}).get("entry", []):
        entry["resource"]["id"] = f"sr-{call}"
        entry["resource"]["subject"] = {"reference": f"Patient/pat-{call}"}
    renamed: dict[str, str] = {}
    for entry in body["prefetch"]["coverage"]["entry"]:
        coverage = entry["resource"]
        renamed[f"Coverage/{coverage['id']}"] = f"Coverage/{coverage['id']}-{call}"
        coverage["id"] = f"{coverage['id']}-{call}"
        coverage["beneficiary"] = {"reference": f"Patient/pat-{call}"}
        entry["fullUrl"] = f"http://ehr.example/fhir/Coverage/{coverage['id']}"
    for entry in body["prefetch"]["claims"]["entry"]:
        claim = entry["resource"]
        claim["id"] = f"bench-{call}"
        claim["patient"] = {"reference": f"Patient/pat-{call}"}
        entry["fullUrl"] = f"http://ehr.example/fhir/Claim/bench-{call}"
        for insurance in claim.get("insurance", []):
            reference = insurance.get("coverage", {}).get("reference")
            if reference in renamed:
                insurance["coverage"]["reference"] = renamed[reference]
        for position, item in enumerate(claim.get("item", [])):
            served = item.get("servicedDate")
            if isinstance(served, str) and len(served) >= 10:
                item["servicedDate"] = f"{served[:8]}{MARK}{DAY}{MARK}"
            if position == 0 and isinstance(item.get("quantity"), dict):
                item["quantity"]["value"] = f"{MARK}{UNITS}{MARK}"
    text = json.dumps(body, separators=(",", ":"))
    text = text.replace("\\u0001", MARK)
    return text.replace(f'"{MARK}{UNITS}{MARK}"', f"{MARK}{UNITS}{MARK}")


def templates() -> list[str]:
    out = []
    for bundle, with_order in _bundles():
        orders = [traction_order(quantity=2)] if with_order else None
        out.append(_marked(hook_body(claims_bundle=bundle, draft_orders=orders)))
    return out


def fill(template: str, number: int) -> bytes:
    """The body of call `number` (the Lua script does the same)."""
    values = {NUMBER: str(number), DAY: f"{1 + number % 28:02d}", UNITS: str(1 + number % 2)}
    parts = template.split(MARK)
    return "".join(values[p] if i % 2 else p for i, p in enumerate(parts)).encode()


LUA = r"""
-- Generated by bench/real_path.py: each call a new body and a new token.
local templates, tokens = {}, {}
for line in io.lines("%(templates)s") do templates[#templates + 1] = line end
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local threads, counter = %(threads)d, 0

function setup(thread)
  thread:set("slot", counter)
  counter = counter + 1
end

local function fill(template, n)
  local values = {
    N = tostring(n), D = string.format("%%02d", 1 + n %% 28), U = tostring(1 + n %% 2),
  }
  return (template:gsub("\1(%%a)\1", values))
end

local i = -1
function request()
  i = i + 1
  local k = i * threads + slot            -- this thread's slice: no token twice
  if k >= #tokens then k = k %% #tokens end -- out of tokens: replays, answered 401
  local n = %(first)d + k
  local body = fill(templates[(k %% #templates) + 1], n)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[k + 1],
  }, body)
end
"""


def lua_script(
    folder: Path, name: str, tokens: list[str], first: int, threads: int, template_file: Path
) -> Path:
    """A wrk script for one run: its own tokens, call numbers from `first` on."""
    token_file = folder / f"{name}.tokens"
    token_file.write_text("\n".join(tokens) + "\n")
    script = folder / f"{name}.lua"
    script.write_text(
        LUA
        % {
            "templates": template_file,
            "tokens": token_file,
            "threads": threads,
            "first": first,
        }
    )
    return script
