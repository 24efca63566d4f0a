// The official @azure/ai-language-text client, unmodified, against a real `sentikit serve`
// started by tests/serve/test_azure_clients.py: SENTIKIT_TEST_URL is its address and
// SENTIKIT_TEST_API_KEY the key it requires.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AzureKeyCredential, TextAnalysisClient } from "@azure/ai-language-text";

const endpoint = process.env.SENTIKIT_TEST_URL;
const key = process.env.SENTIKIT_TEST_API_KEY;
if (!endpoint) throw new Error("SENTIKIT_TEST_URL is not set (run this through pytest tests/serve/test_azure_clients.py)");
const client = new TextAnalysisClient(endpoint, new AzureKeyCredential(key));

const POSITIVE = "The food was wonderful and the staff were lovely.";
const NEGATIVE = "Terrible service, rude staff, and the room was filthy.";
// Emoji with a skin-tone modifier, CJK and a ZWJ family: offsets differ by string index type.
const MIXED_SCRIPTS = "Love it \u{1F44D}\u{1F3FD}! 今天很好。 Family \u{1F468}\u200D\u{1F469}\u200D\u{1F467} time.";
const EXPECTED_SPANS = {
  UnicodeCodePoint: [[0, 12], [12, 6], [18, 18]],
  Utf16CodeUnit: [[0, 14], [14, 6], [20, 21]],
  TextElements_v8: [[0, 12], [12, 6], [18, 16]],
};

function assertScores(scores) {
  const sum = scores.positive + scores.neutral + scores.negative;
  assert.ok(Math.abs(sum - 1) < 1e-9, `confidences sum to ${sum}`);
}

test("plain strings: sentiments, confidences and sentences in request order", async () => {
  const results = await client.analyze("SentimentAnalysis", [POSITIVE, NEGATIVE, `${POSITIVE} ${NEGATIVE}`]);
  assert.deepEqual(results.map((r) => r.sentiment), ["positive", "negative", "mixed"]);
  assert.deepEqual(results.map((r) => r.id), ["0", "1", "2"]);
  for (const result of results) {
    assert.equal(result.error, undefined);
    assert.deepEqual(result.warnings, []);
    assertScores(result.confidenceScores);
    result.sentences.forEach((sentence) => assertScores(sentence.confidenceScores));
  }
  // The client's default offsets are UTF-16 code units, JavaScript's own string indices.
  const [first, second] = results[2].sentences;
  assert.equal(results[2].sentences.length, 2);
  assert.equal(first.text, POSITIVE + " ");
  assert.equal(`${POSITIVE} ${NEGATIVE}`.slice(second.offset, second.offset + second.length), NEGATIVE);
  // sentikit's own 0-1 score is kept by the client's result objects.
  assert.ok(results[0].sentikitScore > 0.5 && results[1].sentikitScore < 0.5);
});

test("documents with ids and languages, statistics and opinion mining", async () => {
  const documents = [
    { id: "review-7", text: POSITIVE, language: "en" },
    { id: "review-3", text: "", language: "en" },
    { id: "review-9", text: "Très bon repas.", language: "fr" },
    { id: "review-1", text: NEGATIVE, language: "en" },
  ];
  let raw;
  const results = await client.analyze("SentimentAnalysis", documents, {
    includeStatistics: true,
    includeOpinionMining: true,
    modelVersion: "latest",
    onResponse: (response) => { raw = JSON.parse(response.bodyAsText); },
  });
  assert.deepEqual(results.map((r) => r.id), ["review-7", "review-3", "review-9", "review-1"]);
  assert.equal(results[1].error.code, "InvalidDocument");
  assert.equal(results[1].error.message, "Document text is empty.");
  assert.equal(results[2].error.code, "UnsupportedLanguageCode");
  assert.equal(results[0].sentiment, "positive");
  assert.equal(results[3].sentiment, "negative");
  assert.deepEqual(results[0].statistics, { characterCount: POSITIVE.length, transactionCount: 1 });
  assert.deepEqual(results[0].sentences[0].opinions, []);
  // The request's statistics and model version are in the raw answer (this client returns documents only).
  assert.ok(raw.results.modelVersion.startsWith("sentiment:"));
  assert.deepEqual(raw.results.statistics, {
    documentsCount: 4, validDocumentsCount: 2, erroneousDocumentsCount: 2, transactionsCount: 2,
  });
});

test("11 documents: the service's InvalidDocumentBatch", async () => {
  await assert.rejects(
    client.analyze("SentimentAnalysis", Array(11).fill(POSITIVE)),
    (error) => {
      assert.equal(error.statusCode, 400);
      assert.equal(error.code, "InvalidDocumentBatch");
      assert.match(error.message, /Batch request contains too many records\. Max 10 records are permitted\./);
      return true;
    },
  );
});

test("a wrong key is a 401 with the service's message", async () => {
  const wrong = new TextAnalysisClient(endpoint, new AzureKeyCredential("not-the-key"));
  await assert.rejects(wrong.analyze("SentimentAnalysis", [POSITIVE]), (error) => {
    assert.equal(error.statusCode, 401);
    assert.equal(error.code, "401");
    assert.match(error.message, /invalid subscription key/);
    return true;
  });
});

test("emoji and CJK offsets in each string index type", async () => {
  for (const [stringIndexType, spans] of Object.entries(EXPECTED_SPANS)) {
    const [result] = await client.analyze("SentimentAnalysis", [MIXED_SCRIPTS], "en", { stringIndexType });
    assert.deepEqual(result.sentences.map((s) => [s.offset, s.length]), spans, stringIndexType);
    if (stringIndexType === "Utf16CodeUnit") {
      assert.deepEqual(
        result.sentences.map((s) => MIXED_SCRIPTS.slice(s.offset, s.offset + s.length)),
        ["Love it \u{1F44D}\u{1F3FD}! ", "今天很好。 ", "Family \u{1F468}\u200D\u{1F469}\u200D\u{1F467} time."],
      );
    }
  }
  // This client sends no stringIndexType unless told, so the service's default applies: TextElements_v8.
  const [byDefault] = await client.analyze("SentimentAnalysis", [MIXED_SCRIPTS]);
  assert.deepEqual(byDefault.sentences.map((s) => [s.offset, s.length]), EXPECTED_SPANS.TextElements_v8);
});

test("the 2022-05-01 service version and an unknown task kind", async () => {
  const older = new TextAnalysisClient(endpoint, new AzureKeyCredential(key), { serviceVersion: "2022-05-01" });
  const [result] = await older.analyze("SentimentAnalysis", [NEGATIVE]);
  assert.equal(result.sentiment, "negative");
  await assert.rejects(client.analyze("KeyPhraseExtraction", [POSITIVE]), (error) => {
    assert.equal(error.statusCode, 400);
    assert.equal(error.code, "InvalidParameterValue");
    return true;
  });
});

test("a token credential over HTTPS (where the client sends bearer tokens)", async () => {
  const credential = { getToken: async () => ({ token: key, expiresOnTimestamp: Date.now() + 3600_000 }) };
  const withToken = new TextAnalysisClient(endpoint, credential);
  const [result] = await withToken.analyze("SentimentAnalysis", [POSITIVE]);
  assert.equal(result.sentiment, "positive");
});

test("plain http needs the client's allowInsecureConnection option", async () => {
  const httpUrl = process.env.SENTIKIT_TEST_HTTP_URL;
  const refused = new TextAnalysisClient(httpUrl, new AzureKeyCredential(key));
  await assert.rejects(refused.analyze("SentimentAnalysis", [POSITIVE]), /allowInsecureConnection/);
});
