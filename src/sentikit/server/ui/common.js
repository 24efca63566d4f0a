// Shared by the pages / and /monitor: API calls with the key prompt, DOM building, highlighting.
// Rule of these pages: text from a user, a post or an API answer enters the DOM only as text
// (textContent, createTextNode), never as HTML. The CSP forbids inline code and eval as well.
"use strict";

const Desk = (() => {
  const KEY_STORAGE = "sentikit.apiKey";
  let keyPrompt = null; // one prompt at a time, shared by every request that met a 401

  /** Build an element: el("a", {href: u, className: "x", dataset: {testid: "t"}}, "text", child). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "className") node.className = value;
      else if (name.startsWith("aria") || name === "role" || name === "for") node.setAttribute(
        name.startsWith("aria") ? "aria-" + name.slice(4).toLowerCase() : name, String(value));
      else node[name] = value;
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch (_) { return ""; }
  }

  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
    } catch (_) { /* storage disabled: the key lasts as long as the page */ }
    memoryKey = key;
  }
  let memoryKey = storedKey();

  /** Ask for the API key in a modal dialog; resolves with it, rejects when the person cancels. */
  function askKey(refused) {
    if (keyPrompt) return keyPrompt;
    keyPrompt = new Promise((resolve, reject) => {
      const input = el("input", {id: "api-key-input", type: "password", autocomplete: "off", required: true,
        dataset: {testid: "api-key-input"}});
      const form = el("form", {className: "key-form", method: "post"},
        el("h2", {id: "api-key-title"}, "API key required"),
        el("p", {id: "api-key-help"}, refused
          ? "That key was refused. Enter the server's API key (SENTIKIT_API_KEY)."
          : "This server needs an API key (SENTIKIT_API_KEY). It is kept for this browser tab only."),
        el("label", {for: "api-key-input"}, "API key"),
        input,
        el("div", {className: "key-actions"},
          el("button", {type: "button", className: "secondary", dataset: {action: "cancel"}}, "Cancel"),
          el("button", {type: "submit", dataset: {testid: "api-key-submit"}}, "Use this key")));
      const dialog = el("dialog", {className: "key-dialog", ariaLabelledby: "api-key-title",
        ariaDescribedby: "api-key-help", dataset: {testid: "api-key-dialog"}}, form);
      document.body.append(dialog);
      const finish = (key) => {
        dialog.close();
        dialog.remove();
        keyPrompt = null;
        if (key) { storeKey(key); resolve(key); } else reject(new ApiError(401, "key_needed", "This server's data needs its API key."));
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault(); // handled here: the CSP (form-action 'none') forbids real submissions
        const key = input.value.trim();
        if (key) finish(key);
      });
      form.querySelector("[data-action=cancel]").addEventListener("click", () => finish(""));
      dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(""); });
      dialog.showModal();
      input.focus();
    });
    return keyPrompt;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** Call the JSON API; on 401 ask for the key (once) and retry. Throws ApiError with the server's message. */
  async function api(path, body) {
    for (let attempt = 0; ; attempt++) {
      const headers = {Accept: "application/json"};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (memoryKey) headers.Authorization = "Bearer " + memoryKey;
      let response;
      try {
        response = await fetch(path, {method: body === undefined ? "GET" : "POST", headers, cache: "no-store",
          body: body === undefined ? undefined : JSON.stringify(body)});
      } catch (_) {
        throw new ApiError(0, "unreachable", "the server does not answer; is it still running?");
      }
      let answer = null;
      try { answer = await response.json(); } catch (_) { /* not JSON */ }
      if (response.ok) return answer;
      const error = (answer && answer.error) || {};
      if (response.status === 401 && attempt < 5) {
        const refused = Boolean(memoryKey);
        storeKey("");
        await askKey(refused);
        continue;
      }
      throw new ApiError(response.status, error.code || "http_" + response.status,
        error.message || "the server answered " + response.status);
    }
  }

  /** Query string from an object, skipping empty values. */
  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
    }
    const text = search.toString();
    return text ? "?" + text : "";
  }

  // --- highlighting the n-grams behind a score -------------------------------------------
  // /v1/explain names n-grams as the model sees them: lowercased words ("not clean"), negation-marked
  // words ("NOT_like"), lexicon entries ("lexicon:great") and emoji names ("pouting"). Each is
  // matched back to the words of the text; what cannot be found there is listed, not highlighted.
  const WORD = /[\p{L}\p{N}_'\u2019]+/gu;

  function ngramWords(ngram) {
    const bare = ngram.replace(/^lexicon:/, "").replace(/\bNOT_/g, "");
    return bare.toLowerCase().split(/\s+/).filter(Boolean);
  }

  function words(text) {
    const found = [];
    for (const match of text.matchAll(WORD)) {
      found.push({start: match.index, end: match.index + match[0].length, word: match[0].toLowerCase().replace(/\u2019/g, "'")});
    }
    return found;
  }

  /** Per word of ``text``: the summed contribution of the n-grams found there. */
  function wordWeights(text, contributions) {
    const tokens = words(text);
    const weights = new Array(tokens.length).fill(0);
    const matched = new Set();
    for (const {ngram, contribution} of contributions) {
      const parts = ngramWords(ngram);
      if (!parts.length) continue;
      for (let i = 0; i + parts.length <= tokens.length; i++) {
        if (parts.every((part, j) => tokens[i + j].word === part)) {
          for (let j = 0; j < parts.length; j++) weights[i + j] += contribution;
          matched.add(ngram);
        }
      }
    }
    return {tokens, weights, matched};
  }

  /** Fill ``container`` with ``text``, its words marked up (green) or down (red) by their weight. */
  function highlight(container, text, contributions) {
    clear(container);
    const {tokens, weights, matched} = wordWeights(text, contributions || []);
    const strongest = Math.max(1e-9, ...weights.map(Math.abs));
    let at = 0;
    tokens.forEach((token, i) => {
      const weight = weights[i];
      if (Math.abs(weight) < Math.max(0.1, strongest * 0.3)) return; // only the words that matter
      container.append(text.slice(at, token.start));
      const level = Math.min(3, 1 + Math.floor((Math.abs(weight) / strongest) * 3));
      const mark = el("mark", {className: (weight > 0 ? "up" : "down") + " w" + level,
        title: (weight > 0 ? "pushed the score up: +" : "pushed the score down: ") + weight.toFixed(2)},
        text.slice(token.start, token.end));
      mark.dataset.weight = weight.toFixed(3);
      container.append(mark);
      at = token.end;
    });
    container.append(text.slice(at));
    return matched;
  }

  // --- formatting ------------------------------------------------------------------------
  function toDate(value) {
    if (value === undefined || value === null || value === "") return null;
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});

  function formatTime(value) {
    const date = toDate(value);
    if (!date) return "–";
    const today = new Date().toDateString() === date.toDateString();
    return today ? timeFormat.format(date) : dateTimeFormat.format(date);
  }

  function ago(value) {
    const date = toDate(value);
    if (!date) return "";
    const seconds = Math.max(0, (Date.now() - date.getTime()) / 1000);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " d ago";
  }

  function score(value) {
    return typeof value === "number" && Number.isFinite(value) ? value.toFixed(3) : "–";
  }

  function percent(value) {
    return typeof value === "number" && Number.isFinite(value) ? Math.round(value * 100) + "%" : "–";
  }

  /** The URL if it is http(s), else null: a post's link never becomes javascript: or data:. */
  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  return {el, clear, api, query, ApiError, highlight, wordWeights, ngramWords, toDate, formatTime, ago, score,
    percent, safeUrl, storedKey};
})();
