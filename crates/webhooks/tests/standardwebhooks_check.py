#!/usr/bin/env python3
"""Cross-checks hookd-webhooks with the Standard Webhooks reference library
for Python (PyPI `standardwebhooks`), an independent implementation.

Reads one JSON object from stdin:
  {"verify": [{"name": str, "secret": "whsec_...", "body_b64": str,
               "headers": {"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...}}],
   "sign":   [{"name": str, "secret": "whsec_...", "msg_id": str, "timestamp": int, "body_b64": str}]}

Writes one JSON object to stdout:
  {"verify": [{"name": str, "valid": bool, "why": str}],
   "sign":   [{"name": str, "signature": "v1,..."}]}
"""

import base64
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook


def main() -> int:
    request = json.load(sys.stdin)
    verified = []
    for case in request.get("verify", []):
        body = base64.b64decode(case["body_b64"])
        try:
            Webhook(case["secret"]).verify(body, case["headers"], json_parse=False)
            verified.append({"name": case["name"], "valid": True, "why": "signature verified"})
        except Exception as e:  # noqa: BLE001 - any rejection is "invalid"
            verified.append({"name": case["name"], "valid": False, "why": f"{type(e).__name__}: {e}"})
    signed = []
    for case in request.get("sign", []):
        body = base64.b64decode(case["body_b64"]).decode("utf-8")
        when = datetime.fromtimestamp(case["timestamp"], tz=timezone.utc)
        signature = Webhook(case["secret"]).sign(case["msg_id"], when, body)
        signed.append({"name": case["name"], "signature": signature})
    json.dump({"verify": verified, "sign": signed}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
