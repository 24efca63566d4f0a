// GET /monitor: the desk's dashboard, a view of /v1/monitor/* (state, summary, posts, drivers, alerts).
// Live by polling: every worker answers the same state from the store, so polling works behind any
// number of workers. The state is read every POLL_MS; the rest only when it changed (or once a minute).
"use strict";

(() => {
  const {el, clear, api, query, highlight, formatTime, ago, score, percent, safeUrl, toDate} = Desk;
  const POLL_MS = 2500;
  const REFRESH_MS = 60000; // the time axis moves even when nothing arrives
  const RANGES = {"24h": {seconds: 86400, bucket: "15m"}, "7d": {seconds: 7 * 86400, bucket: "1h"},
    "30d": {seconds: 30 * 86400, bucket: "1h"}, all: {seconds: 0, bucket: "1d"}};
  const BUCKET_SECONDS = {"15m": 900, "1h": 3600, "1d": 86400};
  const POSTS_SHOWN = 8;
  const COLORS = {mean: "rgba(37, 99, 235, 0.75)", rolling: "#0f172a", negative: "#ea580c", volume: "rgba(100, 116, 139, 0.28)",
    alert: "#dc2626", recovery: "#16a34a", threshold: "#dc2626"};

  const $ = (id) => document.getElementById(id);
  const stateCard = $("state-card");
  let chart = null;
  let chartData = null;
  let xSpan = [0, 1]; // the x axis's [min, max] in epoch seconds: the chosen range, not what uPlot makes of the data
  let markers = []; // [{at: seconds, kind}]
  let threshold = null;
  let lastSignature = "";
  let lastFull = 0;
  let polling = true;
  const explained = new Map(); // post id (or text) -> contributions, so a post is explained once

  function filters() {
    const range = document.querySelector("input[name=range]:checked").value;
    return {range, source: $("source").value};
  }

  function since(range) {
    const seconds = RANGES[range].seconds;
    return seconds ? new Date(Date.now() - seconds * 1000).toISOString() : "";
  }

  /** The alert threshold, from the rules the state document carries. */
  function alertBelow(state) {
    const value = (state.rules || {}).alert_below;
    return typeof value === "number" ? value : null;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  /** A driver as people read it: the model's negation marks ("NOT_information") dropped. */
  function termText(term) {
    return String(term).replace(/\bNOT_/g, "");
  }

  function distinctTerms(drivers) {
    const seen = new Set();
    return drivers.filter((driver) => {
      const text = termText(driver.term);
      if (seen.has(text)) return false;
      seen.add(text);
      return true;
    });
  }

  // --- the state ---------------------------------------------------------------------------
  function renderState(state) {
    const kind = state.state || "unknown";
    const current = state.window || {};
    stateCard.dataset.state = kind;
    // #state is a live region: only a real change of its text is announced (not every poll)
    setText($("state-word"), {ok: "OK", alert: "ALERT", warming: "Warming up"}[kind] || kind);
    const sinceText = state.since && kind !== "warming" ? "since " + formatTime(state.since) : "";
    setText($("state-since"), kind === "warming"
      ? "waiting for " + ((state.rules || {}).min_count || "enough") + " posts in the window (" + (current.count || 0) + " so far)"
      : sinceText);
    setText($("state-ago"), sinceText ? "(" + ago(state.since) + ")" : "");
    $("fig-mean").textContent = score(current.mean);
    $("fig-negative").textContent = percent(current.negative_share);
    $("fig-count").textContent = current.count === undefined ? "–" : String(current.count);
    threshold = alertBelow(state);
    $("fig-threshold").textContent = threshold === null ? "–" : threshold.toFixed(2);
    $("fig-posts").textContent = (state.posts ?? 0).toLocaleString();
    $("fig-alerts").textContent = (state.alerts ?? 0).toLocaleString();
    $("state-foot").textContent = current.start
      ? "Window: " + formatTime(current.start) + " – " + formatTime(current.end) : "";
    document.title = (kind === "alert" ? "ALERT · " : "") + "Desk · sentikit";
    renderDeliveries(state.deliveries || {});
  }

  /** Alert deliveries: a channel that keeps failing shows here (failed, or pending after an error). */
  function renderDeliveries(d) {
    const failing = (d.failed || 0) > 0 || ((d.pending || 0) > 0 && Boolean(d.last_error));
    const box = $("deliveries");
    box.dataset.failing = String(failing);
    box.textContent = "Alert deliveries: " + (d.sent || 0) + " delivered, " + (d.pending || 0) + " pending, "
      + (d.failed || 0) + " failed" + (failing && d.last_error ? " · last error: " + d.last_error : "");
  }

  // --- the chart ---------------------------------------------------------------------------
  /** The rolling window as the rules define it: the last N posts, or the last S seconds. */
  function windowSpan(state) {
    const rules = state.rules || {};
    if (rules.window) return {posts: rules.window, text: "the last " + rules.window + " posts"};
    if (rules.window_seconds) return {seconds: rules.window_seconds, text: "the last " + duration(rules.window_seconds)};
    const count = Math.max(1, (state.window && state.window.count) || 1);
    return {posts: count, text: "the last " + count + " posts"};
  }

  function duration(seconds) {
    return seconds % 86400 === 0 ? seconds / 86400 + " d" : seconds % 3600 === 0 ? seconds / 3600 + " h"
      : seconds % 60 === 0 ? seconds / 60 + " min" : seconds + " s";
  }

  /** Buckets on a regular grid (empty ones as gaps), with a count-weighted rolling mean over the window. */
  function series(buckets, bucket, span) {
    const step = BUCKET_SECONDS[bucket];
    const rows = buckets.map((b) => ({t: Math.floor(toDate(b.start).getTime() / 1000), ...b}))
      .filter((b) => Number.isFinite(b.t)).sort((a, b) => a.t - b.t);
    const xs = [], mean = [], negative = [], volume = [], rolling = [];
    if (!rows.length) return [xs, mean, rolling, negative, volume];
    const byTime = new Map(rows.map((row) => [row.t, row]));
    const end = Math.max(rows[rows.length - 1].t, Math.floor(Date.now() / 1000 / step) * step);
    const count = Math.min(2000, Math.floor((end - rows[0].t) / step) + 1);
    const start = end - (count - 1) * step;
    const recent = []; // [start, count, sum] of the buckets inside the rolling span
    for (let t = start; t <= end; t += step) {
      const row = byTime.get(t);
      xs.push(t);
      volume.push(row ? row.count : 0);
      mean.push(row && row.count ? row.mean : null);
      negative.push(row && row.count ? row.negative_share : null);
      if (row && row.count) recent.push([t, row.count, row.mean * row.count]);
      let posts = recent.reduce((total, r) => total + r[1], 0);
      if (span.seconds) {
        while (recent.length > 1 && recent[0][0] + step <= t + step - span.seconds) posts -= recent.shift()[1];
      } else {
        while (recent.length > 1 && posts - recent[0][1] >= span.posts) posts -= recent.shift()[1];
      }
      rolling.push(recent.length && row && row.count ? recent.reduce((total, r) => total + r[2], 0) / posts : null);
    }
    return [xs, mean, rolling, negative, volume];
  }

  /** The x axis for the chosen range: 24 h / 7 d / 30 d end now (or at the newest bucket, when a client's
   * clock runs ahead); "all" spans the buckets, one bucket wider each side (so one bucket is not a point). */
  function span(xs, range, step) {
    const now = Date.now() / 1000;
    const newest = xs[xs.length - 1];
    const seconds = RANGES[range].seconds;
    if (seconds) return [now - seconds, newest > now ? newest + step : now];
    return [xs[0] - step, newest + step];
  }

  function drawOverlay(u) {
    const {ctx, bbox} = u;
    ctx.save();
    ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
    if (threshold !== null) {
      const y = u.valToPos(threshold, "score", true);
      ctx.strokeStyle = COLORS.threshold;
      ctx.lineWidth = devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(bbox.left, y);
      ctx.lineTo(bbox.left + bbox.width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS.threshold;
      ctx.fillText("alert below " + threshold.toFixed(2), bbox.left + 6 * devicePixelRatio, y - 4 * devicePixelRatio);
    }
    const [min, max] = [u.scales.x.min, u.scales.x.max];
    for (const marker of markers) {
      if (marker.at < min || marker.at > max) continue;
      const x = u.valToPos(marker.at, "x", true);
      ctx.strokeStyle = ctx.fillStyle = marker.kind === "alert" ? COLORS.alert : COLORS.recovery;
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      ctx.beginPath(); // a flag at the top: a triangle pointing at the moment
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x + 8 * devicePixelRatio, bbox.top + 5 * devicePixelRatio);
      ctx.lineTo(x, bbox.top + 10 * devicePixelRatio);
      ctx.fill();
    }
    ctx.restore();
  }

  function chartSize() {
    const width = Math.max(280, $("chart").clientWidth);
    return {width, height: width < 500 ? 220 : 300};
  }

  /** A legend value: the hovered bucket's, or, when the cursor is off the chart, the latest bucket's
   * that has posts (every series of the same bucket: the empty buckets up to now are not news). */
  function legend(format) {
    return (u, value, seriesIndex, dataIndex) => {
      if (dataIndex !== null && dataIndex !== undefined) return format(value);
      const volume = u.data[4] || [];
      for (let i = volume.length - 1; i >= 0; i--) {
        if (volume[i]) return u.data[seriesIndex][i] === null ? "–" : format(u.data[seriesIndex][i]);
      }
      return "–";
    };
  }

  function makeChart(data) {
    const bars = uPlot.paths.bars({size: [0.8, 40]});
    const options = {
      ...chartSize(),
      cursor: {drag: {x: false, y: false}},
      legend: {live: true},
      scales: {x: {time: true, range: () => [...xSpan]}, score: {range: [0, 1]}, volume: {range: (u, lo, hi) => [0, Math.max(4, hi * 1.15)]}},
      axes: [
        {stroke: "#475569", grid: {stroke: "#e2e8f0"}, ticks: {stroke: "#cbd5e1"}},
        {scale: "score", stroke: "#475569", grid: {stroke: "#e2e8f0"}, ticks: {stroke: "#cbd5e1"},
          values: (u, ticks) => ticks.map((v) => v.toFixed(1)), size: 40},
        {scale: "volume", side: 1, stroke: "#94a3b8", grid: {show: false}, size: 44,
          values: (u, ticks) => ticks.map((v) => (Number.isInteger(v) ? v.toLocaleString() : ""))},
      ],
      series: [
        {value: (u, v) => (v === null ? "–" : formatTime(v))},
        {label: "Mean score", scale: "score", stroke: COLORS.mean, width: 1, points: {show: true, size: 4},
          value: legend(score)},
        {label: "Rolling mean", scale: "score", stroke: COLORS.rolling, width: 2.5, spanGaps: true,
          points: {show: false}, value: legend(score)},
        {label: "Negative share", scale: "score", stroke: COLORS.negative, width: 1.25, dash: [4, 4],
          points: {show: false}, value: legend(percent)},
        {label: "Posts", scale: "volume", fill: COLORS.volume, stroke: "transparent", paths: bars,
          points: {show: false}, value: legend(String)},
      ],
      hooks: {draw: [drawOverlay]},
    };
    return new uPlot(options, data, $("chart"));
  }

  function renderChart(summary, range, state) {
    const bucket = RANGES[range].bucket;
    const rolling = windowSpan(state);
    chartData = series(summary.buckets || [], bucket, rolling);
    const points = chartData[0].length;
    $("chart").dataset.points = String(points);
    // no posts: a message, not an empty grid with a made-up time axis
    $("chart").hidden = !points;
    $("chart-empty").hidden = Boolean(points);
    $("chart-note").textContent = points
      ? "Per " + {"15m": "15 minutes", "1h": "hour", "1d": "day"}[bucket] + ". Rolling mean over about "
        + rolling.text + "; dashed red line: the alert threshold; flags: alerts (red) and recoveries (green)."
      : "";
    if (!points) return;
    xSpan = span(chartData[0], range, BUCKET_SECONDS[bucket]);
    if (!chart) chart = makeChart(chartData);
    else {
      chart.setSize(chartSize()); // it may have been hidden
      chart.setData(chartData);
    }
  }

  // --- posts, drivers, alerts ---------------------------------------------------------------
  async function explainPost(post) {
    const key = post.id || post.text;
    if (!explained.has(key)) {
      explained.set(key, api("/v1/explain", {text: post.text, top: 5}).then((e) => e.contributions, () => []));
    }
    return explained.get(key);
  }

  function renderPosts(posts) {
    const list = clear($("negative-posts"));
    if (!posts.length) {
      list.append(el("li", {className: "empty"}, "No posts in the window yet."));
      return;
    }
    for (const post of posts) {
      const text = el("p", {className: "post-text"}, post.text);
      const meta = el("p", {className: "post-meta"},
        el("span", {className: "score-pill " + (post.label || "")}, score(post.score)),
        post.source ? el("span", {className: "source"}, post.source) : null,
        el("time", {dateTime: toDate(post.timestamp) ? toDate(post.timestamp).toISOString() : ""}, formatTime(post.timestamp)));
      const url = safeUrl(post.url);
      if (url) meta.append(el("a", {href: url, target: "_blank", rel: "noopener noreferrer"}, "open post"));
      list.append(el("li", {className: "post"}, text, meta));
      explainPost(post).then((contributions) => {
        if (text.isConnected) highlight(text, post.text, contributions.filter((c) => c.contribution < 0));
      });
    }
  }

  function renderDrivers(drivers) {
    const body = clear($("drivers").querySelector("tbody"));
    if (!drivers.length) {
      body.append(el("tr", {}, el("td", {colSpan: 4, className: "empty"}, "Nothing stands out in the window.")));
      return;
    }
    const shown = distinctTerms(drivers).slice(0, 8);
    // the bar: how strongly the term drives the turn, as the API ranks it (lift and the model's pull down)
    const strength = (d) => (typeof d.weight === "number" && d.lift > 1 ? -d.weight * Math.log(d.lift) : d.lift || 0);
    const top = Math.max(...shown.map(strength), 1e-9);
    for (const driver of shown) {
      const bar = el("span", {className: "lift-bar", title: "how strongly it drives the turn"});
      bar.style.width = Math.max(4, (strength(driver) / top) * 100).toFixed(0) + "%";
      body.append(el("tr", {},
        el("th", {scope: "row", className: "term", title: driver.term}, termText(driver.term)),
        el("td", {className: "num"}, percent(driver.negative)),
        el("td", {className: "num"}, percent(driver.baseline)),
        el("td", {className: "num lift"}, el("span", {className: "lift-value"},
          typeof driver.lift === "number" ? "×" + driver.lift.toFixed(1) : "–"), bar)));
    }
  }

  function renderAlerts(alerts) {
    markers = alerts.map((a) => ({at: toDate(a.at) ? toDate(a.at).getTime() / 1000 : NaN, kind: a.kind}))
      .filter((m) => Number.isFinite(m.at));
    const list = clear($("alerts"));
    const newest = [...alerts].sort((a, b) => (toDate(b.at) || 0) - (toDate(a.at) || 0));
    if (!newest.length) {
      list.append(el("li", {className: "empty"}, "No alerts yet."));
      return;
    }
    for (const event of newest.slice(0, 50)) {
      const figures = event.window || {};
      const drivers = distinctTerms((event.drivers || []).filter((d) => d && d.term)).slice(0, 5).map((d) => termText(d.term));
      list.append(el("li", {className: "event " + event.kind, dataset: {kind: event.kind}},
        el("span", {className: "event-kind"}, event.kind === "alert" ? "Alert" : "Recovered"),
        el("time", {className: "event-time", dateTime: toDate(event.at) ? toDate(event.at).toISOString() : ""},
          formatTime(event.at)),
        el("p", {className: "event-figures"}, "rolling mean " + score(figures.mean) + " · " + percent(figures.negative_share)
          + " negative · " + (figures.count ?? "–") + " posts"),
        drivers.length ? el("p", {className: "event-drivers"}, "driven by ",
          ...drivers.flatMap((term, i) => [i ? ", " : "", el("q", {}, term)])) : null));
    }
  }

  function renderSources(answer) {
    const select = $("source");
    const names = (answer.sources || []).map((s) => (typeof s === "string" ? s : s.source)).filter(Boolean);
    const current = select.value;
    const have = [...select.options].map((o) => o.value).slice(1);
    if (have.join("\n") === names.join("\n")) return;
    while (select.options.length > 1) select.remove(1);
    for (const name of names) select.append(el("option", {value: name}, name));
    select.value = names.includes(current) ? current : "";
  }

  // --- the loop -----------------------------------------------------------------------------
  function setLive(text, kind) {
    $("live-text").textContent = text;
    $("live").dataset.kind = kind;
  }

  function monitoringOff(error) {
    polling = false;
    $("desk").hidden = true;
    $("off").hidden = false;
    $("off-message").textContent = error.message;
    setLive("Not monitoring", "off");
  }

  async function refresh(state, force) {
    const {range, source} = filters();
    const bucket = RANGES[range].bucket;
    const current = state.window || {};
    const signature = [state.state, state.posts, state.alerts, range, source].join("|");
    if (!force && signature === lastSignature && Date.now() - lastFull < REFRESH_MS) return;
    const [summary, posts, drivers, alerts, sources] = await Promise.all([
      api("/v1/monitor/summary" + query({bucket, since: since(range), source})),
      api("/v1/monitor/posts" + query({order: "score", limit: POSTS_SHOWN, since: current.start || "", source})),
      api("/v1/monitor/drivers" + query({source})), // default: the current window against the period before it
      api("/v1/monitor/alerts"),
      api("/v1/monitor/sources").catch(() => ({sources: []})),
    ]);
    renderSources(sources);
    renderAlerts(alerts.alerts || []);
    renderChart(summary, range, state);
    renderPosts(posts.posts || []);
    renderDrivers(drivers.drivers || []);
    lastSignature = signature;
    lastFull = Date.now();
  }

  async function tick(force) {
    try {
      const state = await api("/v1/monitor/state");
      renderState(state);
      await refresh(state, force);
      $("error").hidden = true;
      setLive("Live · updated " + formatTime(new Date().toISOString()), "live");
    } catch (error) {
      if (error.status === 404) return monitoringOff(error);
      if (error.code === "key_needed") { // the prompt was cancelled: ask again only when told to
        polling = false;
        $("key-needed").hidden = false;
        setLive("Paused", "off");
        return;
      }
      $("error").hidden = false;
      $("error").textContent = error.message;
      setLive("Reconnecting…", "error");
    }
  }

  let timer = 0;
  let running = null;
  function schedule(force) {
    clearTimeout(timer);
    if (running) { // one request cycle at a time; a filter change waits for it, then runs
      running.then(() => schedule(force));
      return;
    }
    running = tick(force).finally(() => {
      running = null;
      if (polling) timer = setTimeout(() => schedule(false), POLL_MS);
    });
  }

  $("key-retry").addEventListener("click", () => {
    $("key-needed").hidden = true;
    polling = true;
    schedule(true);
  });
  $("controls").addEventListener("change", () => schedule(true));
  $("controls").addEventListener("submit", (event) => event.preventDefault());
  new ResizeObserver(() => { if (chart) chart.setSize(chartSize()); }).observe($("chart"));
  schedule(true);
})();
