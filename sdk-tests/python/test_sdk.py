"""hookd against the official Svix Python SDK (pinned in requirements.txt).

Usage:  HOOKD_URL=http://127.0.0.1:8071 HOOKD_TOKEN=<key> python test_sdk.py

Run by crates/server/tests/api/sdk.rs, which starts a hookd and prepares a
virtualenv under target/sdk-env/python. Exits non-zero on the first failed
check and prints "PY OK" when every check passed.
"""

import os
import time
import uuid
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.api import (
    ApplicationIn,
    ApplicationPatch,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
    EventTypeIn,
    EventTypeListOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageIn,
    MessageListOptions,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError, HTTPValidationError
from svix.webhooks import Webhook

URL = os.environ["HOOKD_URL"]
TOKEN = os.environ["HOOKD_TOKEN"]

# The Python SDK strips a trailing slash from server_url itself.
svix = Svix(TOKEN, SvixOptions(server_url=URL + "/", retry_schedule=[0.05, 0.1]))
sfx = uuid.uuid4().hex[:8]
# ".invalid" never resolves (RFC 6761): deliveries fail at once, without
# leaving the machine, and wait for their retry.
ENDPOINT_URL = "https://hookd-sdk-test.invalid/webhook"


def expect_http_error(status, fn, *args):
    try:
        fn(*args)
    except HTTPValidationError as e:
        assert status == 422, (status, e.status_code, e.detail)
        return e
    except HttpError as e:
        assert e.status_code == status, (status, e.status_code, e.code, e.detail)
        return e
    raise AssertionError(f"expected HTTP {status}")


# 1. applications: create, get_or_create (same app, unchanged), get by uid, patch
app = svix.application.create(ApplicationIn(name=f"py-app-{sfx}", uid=f"py-app-{sfx}"))
assert app.id.startswith("app_"), app.id
assert app.uid == f"py-app-{sfx}"
assert app.created_at.tzinfo is not None
same = svix.application.get_or_create(ApplicationIn(name="ignored", uid=f"py-app-{sfx}"))
assert same.id == app.id, (same.id, app.id)
assert same.name == app.name, same.name
assert svix.application.get(f"py-app-{sfx}").id == app.id
patched = svix.application.patch(app.id, ApplicationPatch(throttle_rate=5))
assert patched.throttle_rate == 5 and patched.name == app.name, patched
err = expect_http_error(409, svix.application.create, ApplicationIn(name="dup", uid=f"py-app-{sfx}"))
assert err.code == "conflict", err.code

# 2. event type
et_name = f"user.signup.{sfx}"
et = svix.event_type.create(EventTypeIn(name=et_name, description="A user signed up"))
assert et.name == et_name and et.deprecated is False
listed = svix.event_type.list(EventTypeListOptions(limit=250))
assert any(e.name == et_name for e in listed.data), [e.name for e in listed.data]

# 3. endpoint (the Python SDK sends "eventTypes")
ep = svix.endpoint.create(
    app.id,
    EndpointIn(
        url=ENDPOINT_URL,
        description="py",
        event_types=[et_name],
        uid=f"py-ep-{sfx}",
        headers={"X-Custom": "1", "Authorization": "Bearer hidden"},
    ),
)
assert ep.id.startswith("ep_"), ep.id
assert ep.event_types == [et_name], ep.event_types
assert svix.endpoint.get(app.id, f"py-ep-{sfx}").id == ep.id
ep2 = svix.endpoint.patch(app.id, ep.id, EndpointPatch(description="patched"))
assert ep2.description == "patched" and ep2.url == ep.url, ep2
headers = svix.endpoint.get_headers(app.id, ep.id)
assert headers.headers == {"X-Custom": "1"}, headers.headers
assert headers.sensitive == ["Authorization"], headers.sensitive
svix.endpoint.set_headers(app.id, ep.id, EndpointHeadersIn(headers={"x-a": "1", "x-b": "2"}))
svix.endpoint.patch_headers(
    app.id, ep.id, EndpointHeadersPatchIn(headers={"x-c": "3"}, delete_headers=["x-a"])
)
assert svix.endpoint.get_headers(app.id, ep.id).headers == {"x-b": "2", "x-c": "3"}

# 4. message (the SDK adds ?with_content=false, so the payload comes back as {})
msg = svix.message.create(
    app.id,
    MessageIn(event_type=et_name, payload={"email": "a@example.com"}, event_id=f"evt-{sfx}"),
)
assert msg.id.startswith("msg_"), msg.id
assert msg.event_id == f"evt-{sfx}"
err = expect_http_error(
    409,
    svix.message.create,
    app.id,
    MessageIn(event_type=et_name, payload={}, event_id=f"evt-{sfx}"),
)
assert err.code == "conflict"
got = svix.message.get(app.id, f"evt-{sfx}")
assert got.id == msg.id

# 5. list messages
msgs = svix.message.list(app.id, MessageListOptions(limit=10, with_content=True))
assert [m.id for m in msgs.data] == [msg.id], [m.id for m in msgs.data]
assert msgs.data[0].payload == {"email": "a@example.com"}, msgs.data[0].payload
assert msgs.done is True
filtered = svix.message.list(app.id, MessageListOptions(event_types=["no.such.type"]))
assert filtered.data == [], filtered.data

# 6. secret: usable by the receiver libraries
secret = svix.endpoint.get_secret(app.id, ep.id)
assert secret.key.startswith("whsec_"), secret.key
now = datetime.now(tz=timezone.utc)
body = '{"email": "a@example.com"}'
signature = Webhook(secret.key).sign(msg.id, now, body)
hdrs = {
    "webhook-id": msg.id,
    "webhook-timestamp": str(int(now.timestamp())),
    "webhook-signature": signature,
}
StandardWebhook(secret.key).verify(body, hdrs)

# 7. rotate secret (2.x parses the response as EndpointSecretOut)
rotated = svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
assert rotated.key.startswith("whsec_") and rotated.key != secret.key
assert svix.endpoint.get_secret(app.id, ep.id).key == rotated.key

# 8. attempts: the first one fails (the host never resolves)
deadline = time.monotonic() + 30
while True:
    by_msg = svix.message_attempt.list_by_msg(
        app.id, msg.id, MessageAttemptListByMsgOptions(limit=10)
    )
    if by_msg.data:
        break
    assert time.monotonic() < deadline, "no delivery attempt after 30 s"
    time.sleep(0.05)
attempt = by_msg.data[0]
assert attempt.id.startswith("atmpt_"), attempt.id
assert attempt.msg_id == msg.id and attempt.endpoint_id == ep.id, attempt
assert int(attempt.status) == 2 and attempt.status_text.value == "fail", attempt
assert attempt.response_status_code == 0, attempt.response_status_code
by_ep = svix.message_attempt.list_by_endpoint(
    app.id, ep.id, MessageAttemptListByEndpointOptions(limit=10)
)
assert [a.id for a in by_ep.data] == [attempt.id], [a.id for a in by_ep.data]
assert by_ep.done is True
# the attempt's response body can be removed (there was none: the host never resolved)
svix.message_attempt.expunge_content(app.id, msg.id, attempt.id)
assert svix.message_attempt.get(app.id, msg.id, attempt.id).response == ""
expect_http_error(404, svix.message_attempt.expunge_content, app.id, msg.id, "atmpt_2zzzzzzzzzzzzzzzzzzzzzzzzzz")

# 9. destinations of the message: the endpoint, pending its retry
dests = svix.message_attempt.list_attempted_destinations(app.id, msg.id)
assert [d.id for d in dests.data] == [ep.id], [d.id for d in dests.data]
assert int(dests.data[0].status) == 1, dests.data[0].status
assert dests.data[0].status_text.value == "pending", dests.data[0].status_text
attempted = svix.message_attempt.list_attempted_messages(app.id, ep.id)
assert [m.id for m in attempted.data] == [msg.id], [m.id for m in attempted.data]
assert attempted.data[0].status_text.value == "pending"

# 10. delete endpoint (then 404), delete app (then 404)
svix.endpoint.delete(app.id, ep.id)
err = expect_http_error(404, svix.endpoint.get, app.id, ep.id)
assert err.code == "not_found", err.code
svix.application.delete(app.id)
expect_http_error(404, svix.application.get, app.id)

# 11. validation errors parse, pointing at the field
err = expect_http_error(422, svix.application.create, ApplicationIn(name=""))
assert any(list(d.loc) == ["body", "name"] for d in err.detail), [d.loc for d in err.detail]

print("PY OK")
