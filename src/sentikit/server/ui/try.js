// GET /: type or paste a text, see its score, its label and the words behind it.
// One line: POST /v1/score (score, label) and POST /v1/explain (the n-grams); several lines: a table.
"use strict";

(() => {
  const {el, clear, api, highlight, score} = Desk;
  const DEBOUNCE_MS = 300;
  const MAX_LINES = 1000;

  const input = document.getElementById("text");
  const status = document.getElementById("status");
  const single = document.getElementById("single");
  const batch = document.getElementById("batch");
  const scoreOut = document.getElementById("score");
  const labelOut = document.getElementById("label");
  const gauge = document.getElementById("gauge");
  const gaugeFill = document.getElementById("gauge-fill");
  const highlighted = document.getElementById("highlighted");
  const ups = document.getElementById("ups");
  const downs = document.getElementById("downs");
  const modelOut = document.getElementById("model");
  let timer = 0;
  let latest = 0; // answers to older requests than this are dropped

  function lines(text) {
    return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  }

  function showStatus(message, kind) {
    status.textContent = message;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function showGauge(value, label) {
    const clamped = Math.max(0, Math.min(1, value));
    gaugeFill.style.width = (clamped * 100).toFixed(1) + "%";
    gauge.setAttribute("aria-valuenow", clamped.toFixed(3));
    gauge.setAttribute("aria-valuetext", score(value) + ", " + label);
    gauge.dataset.label = label;
    scoreOut.textContent = score(value);
    labelOut.textContent = label;
    labelOut.className = "label-badge " + label;
  }

  /** The n-grams as people read them: "lexicon:great" and "great" are one word, their weights summed. */
  function merged(contributions) {
    const byTerm = new Map();
    for (const {ngram, contribution} of contributions) {
      const term = Desk.ngramWords(ngram).join(" ") || ngram;
      byTerm.set(term, (byTerm.get(term) || 0) + contribution);
    }
    return [...byTerm].map(([ngram, contribution]) => ({ngram, contribution}))
      .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  }

  function chips(list, sign) {
    clear(list);
    for (const {ngram, contribution} of merged(sign)) {
      list.append(el("li", {className: contribution > 0 ? "up" : "down"},
        el("span", {className: "term"}, ngram),
        el("span", {className: "weight"}, (contribution > 0 ? "+" : "") + contribution.toFixed(2))));
    }
    if (!sign.length) list.append(el("li", {className: "none"}, "none"));
  }

  function showModel(model) {
    if (model && model.name) modelOut.textContent = " · model " + model.name + ":" + model.version;
  }

  async function scoreOne(text, request) {
    const [scored, explained] = await Promise.all([
      api("/v1/score", {texts: [text]}),
      api("/v1/explain", {text, top: 8}).catch((error) => ({error})),
    ]);
    if (request !== latest) return;
    batch.hidden = true;
    single.hidden = false;
    showGauge(scored.scores[0], scored.labels[0]);
    showModel(scored.model);
    if (explained.error) {
      clear(highlighted).append(text);
      chips(ups, []);
      chips(downs, []);
      showStatus("No explanation: " + explained.error.message, "warn");
      return;
    }
    highlight(highlighted, text, explained.contributions);
    chips(ups, explained.positives);
    chips(downs, explained.negatives);
    showStatus("");
  }

  async function scoreMany(texts, request) {
    const scored = await api("/v1/score", {texts: texts.slice(0, MAX_LINES)});
    if (request !== latest) return;
    single.hidden = true;
    batch.hidden = false;
    showModel(scored.model);
    const body = clear(batch.querySelector("tbody"));
    scored.scores.forEach((value, i) => {
      const bar = el("span", {className: "minibar"}, el("span", {className: "minibar-fill " + scored.labels[i]}));
      bar.firstChild.style.width = (value * 100).toFixed(1) + "%";
      body.append(el("tr", {},
        el("td", {className: "num"}, String(i + 1)),
        el("td", {className: "text"}, texts[i]),
        el("td", {className: "num"}, el("span", {className: "score-cell"}, score(value)), bar),
        el("td", {}, el("span", {className: "label-badge " + scored.labels[i]}, scored.labels[i]))));
    });
    const negative = scored.labels.filter((label) => label === "negative").length;
    batch.querySelector("caption").textContent = scored.scores.length + " lines scored: " + negative + " negative, "
      + (scored.scores.length - negative) + " positive" + (texts.length > MAX_LINES ? " (first " + MAX_LINES + " lines only)" : "");
    showStatus("");
  }

  async function run() {
    clearTimeout(timer);
    const text = input.value;
    const request = ++latest;
    const several = lines(text);
    if (!text.trim()) {
      single.hidden = true;
      batch.hidden = true;
      showStatus("");
      return;
    }
    showStatus("Scoring…", "busy");
    try {
      if (several.length > 1) await scoreMany(several, request);
      else await scoreOne(text.trim(), request);
    } catch (error) {
      if (request !== latest) return;
      single.hidden = true; // no stale score beside an error
      batch.hidden = true;
      showStatus(error.message, "error");
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault(); // Enter scores now; Shift+Enter starts a new line
      run();
    }
  });
  for (const example of document.querySelectorAll("button.example")) {
    example.addEventListener("click", () => {
      input.value = example.textContent;
      input.focus();
      run();
    });
  }
  if (input.value.trim()) run();
})();
