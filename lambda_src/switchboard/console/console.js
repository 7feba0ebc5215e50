// Switchboard console: a small single-page app over the admin API (/admin/api/...).
// Hand-written, no build step. The admin token lives in sessionStorage (this tab only) and goes out
// as a bearer token: no cookie, so no cross-site request can carry it. Every value from the API is
// put into the page as text (textContent), never as HTML.
"use strict";

(function () {
  const TOKEN = "switchboard.admin";
  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  const logout = document.getElementById("logout");
  const loginForm = document.getElementById("login");
  let charts = [];

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const formats = {};

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") {
      const places = digits === undefined ? 2 : digits;
      // one formatter per precision: toLocaleString builds a new one per call (slow on big tables)
      const format = formats[places] || (formats[places] = new Intl.NumberFormat("en-US", { maximumFractionDigits: places }));
      return format.format(value);
    }
    return String(value);
  }

  function usd(value) {
    return value === null || value === undefined ? "–" : "$" + Number(value).toFixed(value < 1 ? 6 : 2);
  }

  function table(columns, rows, id) {
    const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, text: c.label })));
    const body = rows.map((row) =>
      el("tr", {}, columns.map((c) => {
        const value = c.render ? c.render(row) : fmt(row[c.key], c.digits);
        return el("td", { class: c.num ? "num" : null }, value instanceof Node ? value : String(value));
      }))
    );
    return el("div", { class: "scroll" }, el("table", { id }, el("thead", {}, head), el("tbody", {}, body)));
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    init.headers = Object.assign({ authorization: "Bearer " + sessionStorage.getItem(TOKEN) }, init.headers);
    if (init.json !== undefined) {
      init.body = JSON.stringify(init.json);
      init.headers["content-type"] = "application/json";
      delete init.json;
    }
    const response = await fetch("/admin/api" + path, init);
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN);
      showLogin("Your admin token was refused: sign in again.");
      throw new ApiError(401, "unauthorized");
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const message = body && body.error ? body.error.message : "request failed (" + response.status + ")";
      throw new ApiError(response.status, message);
    }
    return body;
  }

  function page(title, ...children) {
    charts.forEach((c) => c.destroy());
    charts = [];
    main.replaceChildren(el("h1", { text: title }), ...children);
  }

  function failure(error) {
    if (error instanceof ApiError && error.status === 401) return;
    main.append(el("p", { class: "error", role: "alert", text: String(error.message || error) }));
  }

  // ---------------------------------------------------------------- charts

  function powersOfTen(min, max) {
    const out = [];
    for (let e = Math.floor(Math.log10(Math.max(min, 1e-3))); e <= Math.ceil(Math.log10(Math.max(max, 1e-3))); e++) {
      out.push(Math.pow(10, e));
    }
    return out;
  }

  function chart(title, id, t, series, opts) {
    const box = el("div", { class: "card chart", id });
    box.append(el("h2", { text: title }));
    const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
    box.dataset.points = String(points);
    const data = [t, ...series.map((s) => s.values.map((v) => (v === undefined ? null : v)))];
    const log = Boolean(opts && opts.y && opts.y.distr === 3);
    const palette = ["#3056d3", "#7aa2ff", "#b9ccff", "#e0702b", "#f2a66e", "#f8d2b4", "#1f8a4c", "#9b59b6"];
    const width = Math.max(320, (main.clientWidth || 1000) / (window.innerWidth > 1100 ? 2 : 1) - 60);
    const options = {
      width,
      height: 200,
      scales: { x: { time: true }, y: Object.assign({ auto: true }, (opts && opts.y) || {}) },
      axes: [{}, {
        size: 72,
        // a log axis: grid lines and labels at the powers of ten only (minor ticks would overlap)
        splits: log ? (u, i, min, max) => powersOfTen(min, max) : undefined,
        values: (u, ticks) => ticks.map((v) => fmt(v) + ((opts && opts.unit) || "")),
      }],
      series: [{}].concat(series.map((s, i) => ({
        label: s.label,
        stroke: s.color || palette[i % palette.length],
        width: 1.5,
        spanGaps: false,
        points: { show: true, size: 4 },
      }))),
      legend: { live: true },
    };
    if (typeof uPlot === "function") {
      charts.push(new uPlot(options, data, box));
    } else {
      box.append(el("p", { class: "error", text: "chart library missing (run scripts/setup)" }));
    }
    return box;
  }

  // ---------------------------------------------------------------- pages

  async function overview() {
    const windowName = sessionStorage.getItem("switchboard.window") || "1h";
    const buttons = ["15m", "1h", "24h", "7d"].map((w) =>
      el("button", {
        type: "button",
        class: w === windowName ? "pressed" : "secondary",
        "data-window": w,
        text: w,
        onclick: () => { sessionStorage.setItem("switchboard.window", w); route(); },
      })
    );
    page("Overview", el("div", { class: "toolbar" }, "Window:", buttons));
    const data = await api("/overview?window=" + encodeURIComponent(windowName));
    const totals = data.totals;
    const hitRate = totals.cache_lookups ? totals.cache_hits / totals.cache_lookups : null;
    main.append(
      el("div", { class: "tiles" },
        el("div", { class: "tile", id: "total-requests" }, el("b", { text: fmt(totals.requests) }), el("span", { text: "requests" })),
        el("div", { class: "tile" }, el("b", { text: totals.requests ? fmt((100 * totals.errors) / totals.requests, 2) + " %" : "–" }), el("span", { text: "error rate" })),
        el("div", { class: "tile" }, el("b", { text: hitRate === null ? "–" : fmt(100 * hitRate, 1) + " %" }), el("span", { text: "cache hit rate" })),
        el("div", { class: "tile" }, el("b", { text: fmt(totals.fallbacks) }), el("span", { text: "fallbacks" }))
      )
    );
    const t = data.t;
    const grid = el("div", { class: "grid" });
    main.append(grid);
    const rpm = chart("Requests per minute", "chart-rpm", t, [{ label: "rpm", values: data.rpm }]);
    rpm.dataset.requests = String(totals.requests);
    grid.append(rpm);
    grid.append(chart("Added latency (overhead) vs upstream, ms (log scale)", "chart-latency", t, [
      { label: "overhead p50", values: data.overhead_p50 },
      { label: "overhead p95", values: data.overhead_p95 },
      { label: "overhead p99", values: data.overhead_p99 },
      { label: "upstream p50", values: data.upstream_p50 },
      { label: "upstream p95", values: data.upstream_p95 },
      { label: "upstream p99", values: data.upstream_p99 },
    ], { unit: " ms", y: { distr: 3, log: 10 } }));  // log scale: ours are ~1 ms, the provider's ~100s
    const pct = (values) => values.map((v) => (v === null ? null : 100 * v));
    grid.append(chart("Error rate by cause, %", "chart-errors", t, [
      { label: "client", values: pct(data.error_client), color: "#e0a82b" },
      { label: "gateway", values: pct(data.error_gateway), color: "#9b59b6" },
      { label: "provider", values: pct(data.error_provider), color: "#c0362c" },
    ], { unit: " %" }));
    grid.append(chart("Cache hit rate, %", "chart-cache", t, [{ label: "hit rate", values: pct(data.cache_hit_rate), color: "#1f8a4c" }], { unit: " %" }));
    const providers = Object.keys(data.fallbacks);
    grid.append(chart("Requests that needed a fallback, by the provider that served them", "chart-fallbacks", t,
      providers.length ? providers.map((p) => ({ label: p, values: data.fallbacks[p].map((v) => v || null) })) : [{ label: "none", values: t.map(() => null) }]));
    main.append(el("p", { class: "note", text: "Per-minute aggregates from the store: every process and region of this gateway, written every 10 s (on Lambda, after each response). Step: " + data.step_s / 60 + " min." }));
  }

  async function providersPage() {
    page("Providers and targets");
    const data = await api("/providers");
    for (const model of data.models) {
      main.append(el("div", { class: "card" },
        el("h2", {}, model.model + "  ", el("span", { class: "note", text: "strategy: " + model.strategy })),
        table([
          { label: "target", key: "target" },
          { label: "type", key: "provider_type" },
          { label: "weight", key: "weight", num: true },
          { label: "latency EWMA", num: true, render: (r) => (r.ewma_ms === null ? "–" : fmt(r.ewma_ms, 1) + " ms") },
          { label: "cooldown", render: (r) => (r.cooling_down ? "cooling down" : "ok") },
          { label: "requests", key: "requests", num: true },
          { label: "attempts", key: "attempts", num: true },
          { label: "fallbacks", key: "fallbacks", num: true },
          { label: "error rate", num: true, render: (r) => (r.error_rate === null ? "–" : fmt(100 * r.error_rate, 1) + " %") },
        ], model.targets)
      ));
    }
    main.append(el("p", { class: "note", text: "Latency, cooldowns and counts are this process's (its last " + data.recent_requests + " requests, by the target that answered); cooldown lasts " + data.cooldown_ms + " ms." }));
  }

  function usageFilters(state, reload) {
    const input = (name, placeholder) => el("input", { name, placeholder, value: state[name] || "", size: 14 });
    const form = el("form", { class: "toolbar", id: "usage-filters" },
      el("input", { name: "since", type: "date", value: state.since || "" }),
      input("tenant", "tenant"), input("key_id", "key id"), input("model", "model"),
      el("button", { type: "submit", text: "Filter" }),
      el("button", { type: "button", class: "secondary", id: "csv", text: "Export CSV", onclick: () => exportCsv(state) })
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      for (const name of ["since", "tenant", "key_id", "model"]) state[name] = form.elements[name].value.trim();
      reload();
    });
    return form;
  }

  function query(state) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(state)) if (value) params.set(name, value);
    const text = params.toString();
    return text ? "?" + text : "";
  }

  async function exportCsv(state) {
    const text = await api("/usage.csv" + query(state));
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: "switchboard-usage.csv" });
    document.body.append(link);
    link.click();
    link.remove();
  }

  const usageState = {};

  async function usage() {
    page("Usage and cost", usageFilters(usageState, route));
    const data = await api("/usage" + query(usageState));
    const totals = data.totals;
    main.append(el("div", { class: "tiles", id: "usage-totals" },
      el("div", { class: "tile" }, el("b", { id: "usage-requests", text: fmt(totals.requests) }), el("span", { text: "requests" })),
      el("div", { class: "tile" }, el("b", { id: "usage-prompt", text: fmt(totals.prompt_tokens) }), el("span", { text: "prompt tokens" })),
      el("div", { class: "tile" }, el("b", { id: "usage-completion", text: fmt(totals.completion_tokens) }), el("span", { text: "completion tokens" })),
      el("div", { class: "tile" }, el("b", { text: fmt(totals.cached_tokens) }), el("span", { text: "cache read tokens" })),
      el("div", { class: "tile" }, el("b", { text: fmt(totals.cache_write_tokens) }), el("span", { text: "cache write tokens" })),
      el("div", { class: "tile" }, el("b", { id: "usage-cost", "data-usd": totals.cost_usd, text: usd(totals.cost_usd) }), el("span", { text: "cost (USD)" }))
    ));
    // the last 30 days (or from the first day with usage), one point a day, gaps where none
    const byDay = Object.fromEntries(data.by_day.map((d) => [d.day, d]));
    const today = Math.floor(Date.now() / 86400000) * 86400;
    const first = data.by_day.length ? Date.parse(data.by_day[0].day + "T00:00:00Z") / 1000 : today;
    const t = [];
    for (let at = Math.min(first, today - 29 * 86400); at <= today; at += 86400) t.push(at);
    const days = t.map((at) => byDay[new Date(at * 1000).toISOString().slice(0, 10)] || null);
    const per = (name) => days.map((d) => (d ? d[name] : null));
    main.append(el("div", { class: "grid" },
      chart("Cost per day, USD", "chart-cost", t, [{ label: "USD", values: per("cost_usd") }], { unit: "" }),
      chart("Tokens per day", "chart-tokens", t, [
        { label: "prompt", values: per("prompt_tokens") },
        { label: "completion", values: per("completion_tokens") },
        { label: "cache read", values: per("cached_tokens") },
        { label: "cache write", values: per("cache_write_tokens") },
      ])
    ));
    const sums = [
      { label: "requests", key: "requests", num: true },
      { label: "errors", key: "errors", num: true },
      { label: "prompt", key: "prompt_tokens", num: true },
      { label: "completion", key: "completion_tokens", num: true },
      { label: "cache read", key: "cached_tokens", num: true },
      { label: "cache write", key: "cache_write_tokens", num: true },
      { label: "cost", num: true, render: (r) => usd(r.cost_usd) },
    ];
    main.append(el("div", { class: "card" }, el("h2", { text: "Budgets and limits (active keys)" }),
      data.budgets.length ? table([
        { label: "key", render: (r) => r.key_id + " (" + r.tenant + "/" + r.name + ")" },
        { label: "rpm / tpm", render: (r) => fmt(r.rpm) + " / " + fmt(r.tpm) },
        { label: "tokens today", render: (r) => gauge(r.tokens_today, r.budget_tokens_per_day, fmt) },
        { label: "USD today", render: (r) => gauge(r.usd_today, r.budget_usd_per_day, usd) },
        { label: "USD this month", render: (r) => gauge(r.usd_this_month, r.budget_usd_per_month, usd) },
        { label: "day resets", render: (r) => r.day_resets.replace("T", " ").slice(0, 16) + " UTC" },
        { label: "month resets", render: (r) => r.month_resets.slice(0, 10) },
      ], data.budgets, "budgets") : el("p", { class: "note", text: "No active key has limits or budgets (or filters are set)." })));
    main.append(el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", { text: "Per tenant" }), table([{ label: "tenant", key: "tenant" }, ...sums], data.by_tenant, "by-tenant")),
      el("div", { class: "card" }, el("h2", { text: "Per model" }), table([{ label: "model", key: "model" }, ...sums], data.by_model, "by-model"))
    ));
    main.append(el("div", { class: "card" }, el("h2", { text: "Per key" }), table([{ label: "key id", key: "key_id" }, ...sums], data.by_key, "by-key")));
    main.append(el("div", { class: "card" }, el("h2", { text: "Per key, day and model" }), table([
      { label: "day", key: "day" }, { label: "tenant", key: "tenant" }, { label: "key", key: "key_id" },
      { label: "name", key: "key_name" }, { label: "model", key: "model" }, { label: "target", key: "target" }, ...sums,
    ], data.rows, "usage-rows"), data.rows_total > data.rows.length ? el("p", { class: "note", text: "Newest " + data.rows.length + " of " + data.rows_total + " rows: export CSV for all." }) : null));
  }

  function gauge(used, limit, format) {
    if (limit === null || limit === undefined) return format(used) + " (no limit)";
    const share = limit ? Math.min(1, used / limit) : 1;
    const fill = el("i", { class: used >= limit ? "over" : null });
    fill.style.width = (100 * share).toFixed(1) + "%";
    return el("span", {}, el("span", { class: "bar" }, fill), " " + format(used) + " of " + format(limit));
  }

  const LIMITS = [
    ["rpm", "requests / minute", "number"],
    ["tpm", "tokens / minute", "number"],
    ["budget_tokens_per_day", "tokens / day", "number"],
    ["budget_usd_per_day", "USD / day", "text"],
    ["budget_usd_per_month", "USD / month", "text"],
    ["models", "models (patterns, comma-separated)", "text"],
    ["cache_ttl", "cache TTL (e.g. 5m)", "text"],
  ];

  function keyForm(id, fields, submitText, onsubmit) {
    const form = el("form", { class: "inline", id },
      fields.map(([name, label, type, value]) => el("label", {}, label, el("input", { name, type, value: value === undefined || value === null ? "" : value, step: type === "number" ? "1" : null }))),
      el("button", { type: "submit", text: submitText })
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = {};
      for (const [name] of fields) {
        const raw = form.elements[name].value.trim();
        if (raw !== "") values[name] = form.elements[name].type === "number" ? Number(raw) : raw;
        else values[name] = null;
      }
      try {
        await onsubmit(values);
      } catch (error) {
        failure(error);
      }
    });
    return form;
  }

  function shownOnce(title, key) {
    return el("div", { class: "card", id: "new-key" }, el("h2", { text: title }),
      el("p", { class: "secret", id: "new-key-value", text: key }),
      el("p", { class: "note", text: "Copy it now: it is not kept and cannot be shown again." }));
  }

  async function keysPage(notice) {
    page("Keys");
    if (notice) main.append(notice);
    const create = keyForm("create-key", [["tenant", "tenant", "text"], ["name", "name", "text"], ...LIMITS, ["expires", "expires in (e.g. 30d)", "text"]],
      "Create key", async (values) => {
        for (const name of Object.keys(values)) if (values[name] === null) delete values[name];
        const created = await api("/keys", { method: "POST", json: values });
        await keysPage(shownOnce("New key " + created.key_id, created.key));
      });
    main.append(el("div", { class: "card" }, el("h2", { text: "Create a key" }), create));
    const data = await api("/keys");
    const rows = data.keys;
    const editor = el("div", { id: "key-editor" });
    main.append(editor);
    main.append(el("div", { class: "card" }, el("h2", { text: "Keys" }), table([
      { label: "key id", key: "key_id" }, { label: "tenant", key: "tenant" }, { label: "name", key: "name" },
      { label: "key", key: "key" },
      { label: "status", render: (r) => el("span", { class: "status-" + r.status, text: r.status }) },
      { label: "rpm", key: "rpm", num: true }, { label: "tpm", key: "tpm", num: true },
      { label: "tokens/day", key: "budget_tokens_per_day", num: true },
      { label: "USD/day", num: true, render: (r) => usd(r.budget_usd_per_day) },
      { label: "USD/month", num: true, render: (r) => usd(r.budget_usd_per_month) },
      { label: "models", render: (r) => r.models.join(", ") },
      { label: "", render: (r) => r.status !== "active" ? (r.replaced_by ? "replaced by " + r.replaced_by : "") : el("span", {},
        el("button", { type: "button", class: "secondary", "data-edit": r.key_id, text: "Edit", onclick: () => editKey(editor, r) }), " ",
        el("button", { type: "button", class: "secondary", "data-rotate": r.key_id, text: "Rotate", onclick: async () => {
          try {
            const rotated = await api("/keys/" + encodeURIComponent(r.key_id) + "/rotate", { method: "POST" });
            await keysPage(shownOnce("Rotated: new key " + rotated.key_id, rotated.key));
          } catch (error) { failure(error); }
        } }), " ",
        revokeButton(r)) },
    ], rows, "keys-table")));
    main.append(el("p", { class: "note", text: "A revoked or edited key takes effect at once on the process that served this page, and within 60 s on every other process (its key cache)." }));
  }

  function revokeButton(r) {
    const button = el("button", { type: "button", class: "danger", "data-revoke": r.key_id, text: "Revoke" });
    button.addEventListener("click", async () => {
      if (button.dataset.armed !== "1") {
        button.dataset.armed = "1";
        button.textContent = "Confirm revoke";
        return;
      }
      try {
        await api("/keys/" + encodeURIComponent(r.key_id) + "/revoke", { method: "POST" });
        await keysPage(el("p", { class: "note", id: "revoked", text: "Revoked " + r.key_id + "." }));
      } catch (error) { failure(error); }
    });
    return button;
  }

  function editKey(editor, r) {
    const current = {
      rpm: r.rpm, tpm: r.tpm, budget_tokens_per_day: r.budget_tokens_per_day,
      budget_usd_per_day: r.budget_usd_per_day, budget_usd_per_month: r.budget_usd_per_month,
      models: r.models.join(","), cache_ttl: r.cache_ttl_s === null ? null : r.cache_ttl_s + "s",
    };
    const fields = [["name", "name", "text", r.name], ...LIMITS.map(([n, l, t]) => [n, l, t, current[n]])];
    editor.replaceChildren(el("div", { class: "card" }, el("h2", { text: "Edit " + r.key_id + " (empty removes a limit)" }),
      keyForm("edit-key", fields, "Save", async (values) => {
        if (values.name === null) delete values.name;
        if (values.models === null) values.models = "*";
        await api("/keys/" + encodeURIComponent(r.key_id), { method: "PATCH", json: values });
        await keysPage(el("p", { class: "note", id: "saved", text: "Saved " + r.key_id + "." }));
      })));
  }

  const requestState = {};

  async function requestsPage() {
    const input = (name, placeholder) => el("input", { name, placeholder, value: requestState[name] || "", size: 12 });
    const form = el("form", { class: "toolbar", id: "request-filters" },
      input("model", "model"), input("status", "status (e.g. 5xx)"), input("key_id", "key id"),
      input("outcome", "outcome"), input("cause", "cause"), el("button", { type: "submit", text: "Filter" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      for (const name of ["model", "status", "key_id", "outcome", "cause"]) requestState[name] = form.elements[name].value.trim();
      route();
    });
    page("Recent requests", form);
    const data = await api("/requests" + query(requestState));
    main.append(el("p", { class: "note", text: "The last " + data.size + " requests of this process only (each process and region keeps its own); metadata only, never bodies, prompts or keys." }));
    main.append(el("div", { class: "card" }, table([
      { label: "time", render: (r) => new Date(r.at * 1000).toISOString().slice(11, 23) },
      { label: "request id", key: "request_id" }, { label: "route", key: "route" }, { label: "model", key: "model" },
      { label: "target", key: "target" }, { label: "status", key: "status" }, { label: "outcome", key: "outcome" },
      { label: "attempts", key: "attempts", num: true },
      { label: "overhead ms", key: "overhead_ms", num: true, digits: 2 }, { label: "upstream ms", key: "upstream_ms", num: true, digits: 1 },
      { label: "tokens", num: true, render: (r) => fmt(r.prompt_tokens) + " / " + fmt(r.completion_tokens) },
      { label: "cost", num: true, render: (r) => usd(r.cost_usd) }, { label: "key id", key: "key_id" },
    ], data.requests, "requests-table")));
  }

  async function configPage() {
    page("Configuration");
    const data = await api("/config");
    main.append(el("div", { class: "card", id: "findings" }, el("h2", { text: "check-config findings" }),
      data.findings.length ? el("ul", {}, data.findings.map((f) => el("li", { text: f.finding + ": " + f.detail }))) : el("p", { text: "No findings." })));
    main.append(el("div", { class: "card" }, el("h2", { text: "Loaded configuration (secrets redacted)" }),
      el("pre", { id: "config-json", text: JSON.stringify(data.config, null, 2) })));
  }

  // ---------------------------------------------------------------- navigation

  const PAGES = { overview, providers: providersPage, usage, keys: () => keysPage(), requests: requestsPage, config: configPage };

  async function route() {
    const name = (location.hash || "#overview").slice(1);
    const show = PAGES[name] || overview;
    for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.getAttribute("href") === "#" + name);
    document.body.dataset.page = "loading";
    try {
      await show();
    } catch (error) {
      failure(error);
    }
    document.body.dataset.page = name;
  }

  function showLogin(message) {
    nav.hidden = true;
    logout.hidden = true;
    charts.forEach((c) => c.destroy());
    charts = [];
    main.replaceChildren(loginForm);
    const error = document.getElementById("login-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  async function signedIn() {
    nav.hidden = false;
    logout.hidden = false;
    await route();
  }

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    sessionStorage.setItem(TOKEN, token);
    try {
      await api("/session");
      document.getElementById("token").value = "";
      await signedIn();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showLogin(error.message);
    }
  });
  logout.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    showLogin("");
  });
  window.addEventListener("hashchange", () => {
    if (sessionStorage.getItem(TOKEN)) route();
  });
  if (sessionStorage.getItem(TOKEN)) signedIn();
  else showLogin("");
})();
