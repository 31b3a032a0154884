// hookd against the official Svix JavaScript SDK (pinned in package.json).
//
// Usage:  HOOKD_URL=http://127.0.0.1:8071 HOOKD_TOKEN=<key> node test_sdk.mjs
//
// Run by crates/server/tests/api/sdk.rs, which starts a hookd and installs the
// SDK under target/sdk-env/js; SVIX_JS_DIR names that directory (default: this
// one, after `npm install` here). Exits non-zero on the first failed check and
// prints "JS OK" when every check passed.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(process.env.SVIX_JS_DIR ?? here, "package.json"));
const { Svix, ApiException, Webhook } = require("svix");

// The JS SDK does not strip a trailing slash: "http://h/" + "/api/v1/app"
// sends "//api/v1/app", which hookd must accept.
const URL = process.env.HOOKD_URL.replace(/\/+$/, "") + "/";
const TOKEN = process.env.HOOKD_TOKEN;

const svix = new Svix(TOKEN, { serverUrl: URL, retryScheduleInMs: [50, 100] });
const sfx = randomUUID().slice(0, 8);
// ".invalid" never resolves (RFC 6761): deliveries fail at once, without
// leaving the machine, and wait for their retry.
const ENDPOINT_URL = "https://hookd-sdk-test.invalid/webhook";

async function expectHttpError(status, fn) {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    assert.equal(e.code, status, JSON.stringify(e.body));
    return e;
  }
  throw new Error(`expected HTTP ${status}`);
}

// 1. applications: create, getOrCreate (same app, unchanged), get by uid, update
const app = await svix.application.create({ name: `js-app-${sfx}`, uid: `js-app-${sfx}` });
assert.ok(app.id.startsWith("app_"), app.id);
assert.ok(!Number.isNaN(app.createdAt.getTime()), "createdAt must parse");
const same = await svix.application.getOrCreate({ name: "ignored", uid: `js-app-${sfx}` });
assert.equal(same.id, app.id);
assert.equal(same.name, app.name);
assert.equal((await svix.application.get(`js-app-${sfx}`)).id, app.id);
const updated = await svix.application.update(app.id, {
  name: "renamed",
  uid: `js-app-${sfx}`,
  rateLimit: 3,
});
assert.equal(updated.name, "renamed");
assert.equal(updated.throttleRate, 3);
let err = await expectHttpError(409, () =>
  svix.application.create({ name: "dup", uid: `js-app-${sfx}` }),
);
assert.equal(err.body.code, "conflict");

// 2. event type
const etName = `user.signup.${sfx}`;
const et = await svix.eventType.create({ name: etName, description: "A user signed up" });
assert.equal(et.name, etName);
assert.equal(et.deprecated, false);
await svix.eventType.delete(etName);
const live = await svix.eventType.list({ limit: 250 });
assert.ok(!live.data.some((e) => e.name === etName), "archived types are hidden");
const all = await svix.eventType.list({ limit: 250, includeArchived: true });
assert.ok(all.data.some((e) => e.name === etName && e.archived));
await svix.eventType.create({ name: etName, description: "back" });

// 3. endpoint (the JS SDK sends "filterTypes")
const ep = await svix.endpoint.create(app.id, {
  url: ENDPOINT_URL,
  description: "js",
  filterTypes: [etName],
  uid: `js-ep-${sfx}`,
});
assert.ok(ep.id.startsWith("ep_"), ep.id);
assert.deepEqual(ep.filterTypes, [etName]);
assert.equal(ep.version, 1);
assert.equal((await svix.endpoint.get(app.id, `js-ep-${sfx}`)).id, ep.id);
const patched = await svix.endpoint.patch(app.id, ep.id, { description: "patched" });
assert.equal(patched.description, "patched");
assert.equal(patched.url, ep.url);
await svix.endpoint.updateHeaders(app.id, ep.id, { headers: { "x-a": "1", authorization: "x" } });
await svix.endpoint.patchHeaders(app.id, ep.id, { headers: { "x-b": "2" }, deleteHeaders: ["x-a"] });
const headers = await svix.endpoint.getHeaders(app.id, ep.id);
assert.deepEqual(headers.headers, { "x-b": "2" });
assert.deepEqual(headers.sensitive, ["authorization"]);

// 4. message (the SDK sends ?with_content=false and fills the payload in itself)
const msg = await svix.message.create(app.id, {
  eventType: etName,
  payload: { email: "a@example.com" },
  eventId: `evt-${sfx}`,
});
assert.ok(msg.id.startsWith("msg_"), msg.id);
assert.ok(!Number.isNaN(msg.timestamp.getTime()), "timestamp must parse");
err = await expectHttpError(409, () =>
  svix.message.create(app.id, { eventType: etName, payload: {}, eventId: `evt-${sfx}` }),
);
assert.equal(err.body.code, "conflict");
assert.equal((await svix.message.get(app.id, `evt-${sfx}`)).id, msg.id);

// 5. list messages
const msgs = await svix.message.list(app.id, { limit: 10, withContent: true });
assert.deepEqual(
  msgs.data.map((m) => m.id),
  [msg.id],
);
assert.deepEqual(msgs.data[0].payload, { email: "a@example.com" });
assert.equal(msgs.done, true);

// 6. secret: usable by the receiver library
const secret = await svix.endpoint.getSecret(app.id, ep.id);
assert.ok(secret.key.startsWith("whsec_"), secret.key);
const wh = new Webhook(secret.key);
const now = new Date();
const body = JSON.stringify({ email: "a@example.com" });
const signature = wh.sign(msg.id, now, body);
wh.verify(body, {
  "svix-id": msg.id,
  "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
  "svix-signature": signature,
});

// 7. rotate secret (1.x ignores the response body)
await svix.endpoint.rotateSecret(app.id, ep.id, {});
const secret2 = await svix.endpoint.getSecret(app.id, ep.id);
assert.ok(secret2.key.startsWith("whsec_"));
assert.notEqual(secret2.key, secret.key);

// 8. attempts: the first one fails (the host never resolves)
const deadline = Date.now() + 30_000;
let byMsg;
for (;;) {
  byMsg = await svix.messageAttempt.listByMsg(app.id, msg.id, { limit: 10 });
  if (byMsg.data.length > 0) break;
  assert.ok(Date.now() < deadline, "no delivery attempt after 30 s");
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const attempt = byMsg.data[0];
assert.ok(attempt.id.startsWith("atmpt_"), attempt.id);
assert.equal(attempt.msgId, msg.id);
assert.equal(attempt.endpointId, ep.id);
assert.equal(attempt.status, 2);
assert.equal(attempt.statusText, "fail");
assert.equal(attempt.responseStatusCode, 0);
assert.ok(!Number.isNaN(attempt.timestamp.getTime()), "timestamp must parse");
const byEp = await svix.messageAttempt.listByEndpoint(app.id, ep.id, { limit: 10 });
assert.deepEqual(
  byEp.data.map((a) => a.id),
  [attempt.id],
);
assert.equal(byEp.done, true);
// the attempt's response body can be removed
await svix.messageAttempt.expungeContent(app.id, msg.id, attempt.id);
assert.equal((await svix.messageAttempt.get(app.id, msg.id, attempt.id)).response, "");
await expectHttpError(404, () =>
  svix.messageAttempt.expungeContent(app.id, msg.id, "atmpt_2zzzzzzzzzzzzzzzzzzzzzzzzzz"),
);

// 9. destinations of the message: the endpoint, pending its retry
const dests = await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id);
assert.deepEqual(
  dests.data.map((d) => d.id),
  [ep.id],
);
assert.equal(dests.data[0].status, 1);
assert.equal(dests.data[0].statusText, "pending");
const attempted = await svix.messageAttempt.listAttemptedMessages(app.id, ep.id);
assert.deepEqual(
  attempted.data.map((m) => m.id),
  [msg.id],
);
assert.equal(attempted.data[0].statusText, "pending");

// 10. delete endpoint (then 404), delete app (then 404)
await svix.endpoint.delete(app.id, ep.id);
err = await expectHttpError(404, () => svix.endpoint.get(app.id, ep.id));
assert.equal(err.body.code, "not_found");
await svix.application.delete(app.id);
await expectHttpError(404, () => svix.application.get(app.id));

// 11. validation errors parse, pointing at the field
err = await expectHttpError(422, () => svix.application.create({ name: "" }));
assert.ok(
  err.body.detail.some((d) => JSON.stringify(d.loc) === JSON.stringify(["body", "name"])),
  JSON.stringify(err.body),
);

console.log("JS OK");
