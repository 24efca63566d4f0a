// sentikit REST API client for Node.js >= 18 (global fetch), with no dependencies.
//
//   import { createClient } from "./sentikit.mjs";
//   const client = createClient({ url: "http://127.0.0.1:8000", apiKey: process.env.SENTIKIT_API_KEY });
//   await client.score(["lovely flat", "awful host"]);   // [0.97, 0.04]
//
// Every failure is a SentikitError with .status (HTTP status, or 0 when the server
// could not be reached), .code (the server's error code) and a readable .message.

const DEFAULT_URL = "http://127.0.0.1:8000";

export class SentikitError extends Error {
  constructor(message, { status = 0, code = "client_error", url = "" } = {}) {
    super(message);
    this.name = "SentikitError";
    this.status = status;
    this.code = code;
    this.url = url;
  }
}

export function createClient({ url = DEFAULT_URL, apiKey, timeoutMs = 30000, batchSize } = {}) {
  const base = url.replace(/\/+$/, "");
  let info;

  async function request(path, init = {}) {
    const headers = { Accept: "application/json", ...(init.headers || {}) };
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    let response;
    try {
      response = await fetch(base + path, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const reason = error.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : error.cause?.code || error.message;
      throw new SentikitError(`cannot reach the sentikit server at ${base}: ${reason}`, { url: base + path });
    }
    const text = await response.text();
    if (!response.ok) {
      let code = "http_error";
      let message = text.slice(0, 200);
      try {
        const body = JSON.parse(text);
        if (body && body.error) ({ code, message } = body.error);
      } catch {}
      if (response.status === 401) {
        message = apiKey ? "the server rejected the API key" : "the server requires an API key (option apiKey)";
      }
      throw new SentikitError(`${response.status}: ${message}`, { status: response.status, code, url: base + path });
    }
    return text;
  }

  async function model() {
    info ??= JSON.parse(await request("/v1/model"));
    return info;
  }

  async function analyze(text) {
    return parseFloat(await request("/analyze?text=" + encodeURIComponent(text)));
  }

  async function score(texts, { threshold } = {}) {
    if (!Array.isArray(texts)) throw new SentikitError("score() takes an array of strings");
    if (texts.length === 0) return [];
    const size = batchSize ?? (await model()).limits.max_batch;
    const scores = [];
    for (let start = 0; start < texts.length; start += size) {
      const body = { texts: texts.slice(start, start + size) };
      if (threshold !== undefined) body.threshold = threshold;
      const answer = JSON.parse(
        await request("/v1/score", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        }),
      );
      scores.push(...answer.scores);
    }
    return scores;
  }

  return { analyze, score, model, url: base };
}

// One-off calls with the default client (SENTIKIT_URL / SENTIKIT_API_KEY from the environment).
function defaultClient() {
  return createClient({ url: process.env.SENTIKIT_URL || DEFAULT_URL, apiKey: process.env.SENTIKIT_API_KEY });
}
export const score = (texts) => defaultClient().score(texts);
export const analyze = (text) => defaultClient().analyze(text);
export const model = () => defaultClient().model();
