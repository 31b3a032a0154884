#!/usr/bin/env python3
"""Verifies webhook deliveries captured by hookd's delivery tests with the
Standard Webhooks reference library (PyPI `standardwebhooks`), an
implementation independent of hookd's own.

Usage: verify.py CASES.json

CASES.json is a list of objects:
  {"name": str, "secret": "whsec_..." or "whpk_...", "body_b64": base64 of the raw body,
   "headers": {"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...},
   "expect": "valid" | "invalid"}

A `whsec_` secret is checked with the Standard Webhooks reference library;
a `whpk_` (ed25519 public) key with the `cryptography` package, which
verifies each `v1a,` entry of the signature header over
"{webhook-id}.{webhook-timestamp}.{body}".

Prints one line per case and exits non-zero when any case does not verify as
expected (or when there are no cases at all).
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook


def verify_ed25519(public_key: str, body: bytes, headers: dict) -> None:
    """Raises unless some v1a entry is a valid ed25519 signature."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for entry in headers["webhook-signature"].split():
        version, _, sig = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(sig), signed)
            return
        except InvalidSignature:
            pass
    raise ValueError("no v1a signature matches")


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    if not cases:
        print("verify.py: no cases given")
        return 2
    mismatches = 0
    for case in cases:
        body = base64.b64decode(case["body_b64"])
        try:
            if case["secret"].startswith("whpk_"):
                verify_ed25519(case["secret"], body, case["headers"])
            else:
                Webhook(case["secret"]).verify(body, case["headers"])
            valid, why = True, "signature verified"
        except Exception as e:  # noqa: BLE001 - any rejection is "invalid"
            valid, why = False, f"{type(e).__name__}: {e}"
        expected = case.get("expect", "valid") == "valid"
        verdict = "as expected" if valid == expected else "MISMATCH"
        print(f"{verdict}: {case['name']}: {why} (expected {case.get('expect', 'valid')})")
        if valid != expected:
            mismatches += 1
    if mismatches:
        print(f"verify.py: {mismatches} of {len(cases)} cases did not verify as expected")
        return 1
    print(f"verify.py: all {len(cases)} cases verified as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
