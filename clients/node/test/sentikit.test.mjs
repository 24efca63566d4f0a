// Runs against a real `sentikit serve` started by tests/serve/test_node_client.py:
// SENTIKIT_TEST_URL is its address and SENTIKIT_TEST_API_KEY the key it requires.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, SentikitError } from "../sentikit.mjs";

const url = process.env.SENTIKIT_TEST_URL;
const apiKey = process.env.SENTIKIT_TEST_API_KEY;
if (!url) throw new Error("SENTIKIT_TEST_URL is not set (run this through pytest tests/serve/test_node_client.py)");
const client = createClient({ url, apiKey });

test("model() describes the served model", async () => {
  const info = await client.model();
  assert.equal(info.model.name, "sentiment");
  assert.match(info.reference, /^sentiment:\d+$/);
  assert.equal(typeof info.limits.max_batch, "number");
});

test("analyze() returns a probability, like the tutorial's parseFloat client", async () => {
  const positive = await client.analyze("Great food, excellent service, I loved it");
  const negative = await client.analyze("Terrible food, awful and rude service, I hated it");
  assert.ok(positive > 0.5 && positive <= 1, String(positive));
  assert.ok(negative < 0.5 && negative >= 0, String(negative));
  const raw = await (await fetch(url + "/predict?text=" + encodeURIComponent("ça va? 😀 & more"), {
    headers: { "X-API-Key": apiKey },
  })).text();
  assert.ok(Number.isFinite(parseFloat(raw)));
});

test("score() batches in chunks of the server's max_batch and keeps order", async () => {
  const texts = ["Great service", "Awful food", "Lovely view", "Never again", "Really good value"];
  const scores = await client.score(texts);
  assert.equal(scores.length, 5);
  const one = await Promise.all(texts.map((t) => client.analyze(t)));
  scores.forEach((s, i) => assert.ok(Math.abs(s - one[i]) < 1e-12));
  assert.deepEqual(await client.score([]), []);
});

test("server errors are SentikitErrors with status, code and message", async () => {
  await assert.rejects(client.score([""]), (error) => {
    assert.ok(error instanceof SentikitError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "empty_text");
    assert.match(error.message, /texts\[0\] is empty/);
    return true;
  });
  await assert.rejects(client.analyze("x".repeat(20000)), { status: 413, code: "text_too_long" });
});

test("a missing or wrong API key is a 401 with advice", async () => {
  await assert.rejects(createClient({ url }).analyze("good"), {
    status: 401, code: "unauthorized", message: /requires an API key/,
  });
  await assert.rejects(createClient({ url, apiKey: "wrong" }).score(["good"]), {
    status: 401, message: /rejected the API key/,
  });
});

test("an unreachable server names the URL", async () => {
  const dead = createClient({ url: "http://127.0.0.1:9", timeoutMs: 5000 });
  await assert.rejects(dead.analyze("good"), (error) => {
    assert.equal(error.status, 0);
    assert.match(error.message, /cannot reach the sentikit server at http:\/\/127\.0\.0\.1:9/);
    return true;
  });
});
