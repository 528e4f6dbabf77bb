"""Schemathesis hooks for Moneta's API robustness run (scripts/api-fuzz.sh).

- A check, `problem_json`: every error response (4xx/5xx) is RFC 9457
  `application/problem+json` with `status` equal to the HTTP status and a
  string `code`.
- With MONETA_SIGN_KEYS set (`key_id=organization=hex_seed,...`), every
  request to the ingest edge is signed the way a partner signs it: RFC 9421
  over `@method`, `@path` and, with a body, `content-digest` (RFC 9530),
  ed25519, `created` now, a fresh nonce. The key is the one of the party the
  body says signs (so well-formed submissions are accepted), else random. Signing happens on the final
  prepared request, so the signature covers the exact bytes sent. Half
  the `Content-Digest` values Schemathesis generates are kept (and signed),
  so wrong digests reach the digest check; the rest are replaced by the
  right one, so the body reaches the handler. One request in ten is left
  unsigned so the authentication errors stay covered.
"""

import atexit
import base64
import hashlib
import json
import os
import random
import secrets
import time
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@schemathesis.check
def problem_json(ctx, response, case):
    if response.status_code < 400:
        return None
    media = response.headers.get("content-type") or [""]
    media = media[0] if isinstance(media, list) else media
    if not media.startswith("application/problem+json"):
        raise AssertionError(
            f"error {response.status_code} is not application/problem+json (Content-Type: {media!r})"
        )
    try:
        body = response.json()
    except ValueError as e:
        raise AssertionError(f"problem body is not JSON: {e}") from None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise AssertionError(f"problem without a string `code`: {body!r}")
    if body.get("status") != response.status_code:
        raise AssertionError(f"problem status {body.get('status')!r} != HTTP {response.status_code}")
    return None


def _keys():
    keys = []
    for entry in filter(None, os.environ.get("MONETA_SIGN_KEYS", "").split(",")):
        key_id, organization, seed = entry.split("=", 2)
        keys.append((key_id, organization, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))))
    return keys


KEYS = _keys()


def _sf_string(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sign(request):
    """Adds Content-Digest (if absent), Signature-Input and Signature."""
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    key_id, _, key = random.choice(KEYS)
    try:
        submission = json.loads(body)
        party = submission["signature"]["party"]
        signer = submission["contract"][{"mo": "mo_id", "publisher": "publisher_id"}[party]]
        key_id, _, key = next(k for k in KEYS if k[1] == signer)
    except Exception:  # noqa: BLE001 - not a submission naming a known signer
        pass
    components = ["@method", "@path"]
    if body:
        if "Content-Digest" not in request.headers or random.random() < 0.5:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            request.headers["Content-Digest"] = f"sha-256=:{digest}:"
        components.append("content-digest")
    params = "(" + " ".join(_sf_string(c) for c in components) + ")"
    params += f";created={int(time.time())};keyid={_sf_string(key_id)}"
    params += f";alg=\"ed25519\";nonce={_sf_string(secrets.token_hex(8))}"
    path = urlsplit(request.url).path or "/"
    lines = []
    for component in components:
        if component == "@method":
            value = request.method.upper()
        elif component == "@path":
            value = path
        else:
            value = request.headers["Content-Digest"].strip()
        lines.append(f'"{component}": {value}')
    lines.append(f'"@signature-params": {params}')
    signature = key.sign("\n".join(lines).encode())
    request.headers["Signature-Input"] = f"sig1={params}"
    request.headers["Signature"] = "sig1=:" + base64.b64encode(signature).decode() + ":"


if KEYS:
    _send = requests.Session.send

    def _signing_send(self, request, **kwargs):
        signable = all(ord(c) < 128 for c in request.headers.get("Content-Digest", ""))
        if signable and random.random() < 0.9:
            sign(request)
        return _send(self, request, **kwargs)

    requests.Session.send = _signing_send


# Response statuses and problem codes seen, written to MONETA_API_FUZZ_STATS
# at exit, so the script can show (and check) how far requests got.
STATS = {}


@schemathesis.hook
def after_call(context, case, response):
    code = ""
    if response.status_code >= 400:
        try:
            code = response.json().get("code", "")
        except Exception:  # noqa: BLE001 - the problem_json check reports it
            code = "?"
    key = f"{response.status_code} {code}".strip()
    STATS[key] = STATS.get(key, 0) + 1


def _write_stats():
    path = os.environ.get("MONETA_API_FUZZ_STATS")
    if path:
        with open(path, "w") as out:
            for key, count in sorted(STATS.items()):
                out.write(f"{count} {key}\n")


atexit.register(_write_stats)
