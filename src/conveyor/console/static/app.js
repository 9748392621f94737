// Conveyor console: one page over the JSON API under /api/. Routes are URL fragments; the
// open view refreshes itself every few seconds (no reload), charts are ECharts instances that
// are updated in place.

const REFRESH_MS = 2500;
const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
const statusLine = document.getElementById("status");
let meta = { actions: false, mlflow_ui: null };
let current = null; // { key, update }
let timer = null;
const charts = new Map();

// ---------------------------------------------------------------- small helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const badge = (text) => el("span", { class: `badge ${String(text).replace(/[^a-z_]/gi, "")}` }, text);
const fmt = (x, digits = 3) =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : typeof x === "number" ? Number(x.toPrecision(digits)).toString() : String(x);
const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const enc = encodeURIComponent;

function table(headers, rows, attrs = {}) {
  return el(
    "table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows),
  );
}

async function api(path, options = {}) {
  try {
    const response = await fetch(`/api${path}`, options);
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    return { ok: response.ok, status: response.status, data };
  } catch (err) {
    return { ok: false, status: 0, data: { error: `the console is unreachable (${err})` } };
  }
}

function chart(id, option) {
  const node = document.getElementById(id);
  if (!node) return;
  let instance = charts.get(id);
  if (!instance || instance.getDom() !== node) {
    instance = echarts.init(node, null, { renderer: "canvas" });
    charts.set(id, instance);
  }
  instance.setOption(option, true);
}

function problem(data) {
  return el("p", { class: data.kind === "not_found" ? "empty" : "error", "data-testid": "problem" }, data.error);
}

// ---------------------------------------------------------------- routing
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "models" && parts[1]) return { page: parts[2] || "versions", model: parts[1] };
  return { page: "models" };
}

async function show() {
  clearInterval(timer);
  for (const instance of charts.values()) instance.dispose();
  charts.clear();
  const r = route();
  crumbs.replaceChildren(
    el("a", { href: "#/" }, "Models"),
    ...(r.model ? [" / ", el("a", { href: `#/models/${enc(r.model)}` }, r.model)] : []),
  );
  const page = { models: modelsPage, versions: versionsPage, rollout: rolloutPage, monitoring: monitoringPage }[r.page] || modelsPage;
  current = page(r);
  await refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

async function refresh() {
  if (!current) return;
  const shown = current;
  await shown.update();
  if (shown === current) statusLine.textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function tabs(model, active) {
  return el("nav", { class: "tabs" },
    [["versions", "Versions"], ["rollout", "Rollout"], ["monitoring", "Monitoring"]].map(([key, label]) =>
      el("a", { href: `#/models/${enc(model)}/${key}`, class: key === active ? "active" : null, "data-tab": key }, label)));
}

// ---------------------------------------------------------------- models
function modelsPage() {
  const body = el("div", { id: "models" });
  view.replaceChildren(el("h1", {}, "Models"), body);
  return {
    async update() {
      const { ok, data } = await api("/models");
      if (!ok) return body.replaceChildren(problem(data));
      if (!data.models.length) {
        return body.replaceChildren(el("p", { class: "empty" }, "No models registered yet: `conveyor run` registers one."));
      }
      body.replaceChildren(table(
        ["model", "latest", "production", "staging", "rollout", "alerts firing"],
        data.models.map((m) => el("tr", { "data-model": m.name },
          el("td", {}, el("a", { href: `#/models/${enc(m.name)}` }, m.name)),
          el("td", { class: "num" }, m.latest_version ?? "–"),
          el("td", { class: "num" }, m.production ?? "–"),
          el("td", { class: "num" }, m.staging ?? "–"),
          el("td", {}, m.rollout ? el("a", { href: `#/models/${enc(m.name)}/rollout` },
            badge(m.rollout.state), ` ${m.rollout.champion} → ${m.rollout.candidate} (${m.rollout.strategy})`) : "–"),
          el("td", {}, m.alerts_firing ? badge(`${m.alerts_firing} firing`) : "none"),
        )),
      ));
    },
  };
}

// ---------------------------------------------------------------- versions
function versionsPage({ model }) {
  const versions = el("div"), history = el("div"), rollouts = el("div");
  view.replaceChildren(el("h1", {}, model), tabs(model, "versions"),
    el("h2", {}, "Versions"), versions, el("h2", {}, "Rollouts"), rollouts, el("h2", {}, "History"), history);
  return {
    async update() {
      const { ok, data } = await api(`/models/${enc(model)}`);
      if (!ok) return versions.replaceChildren(problem(data));
      versions.replaceChildren(table(
        ["version", "stage", "semver", "metrics", "gates", "lineage", "approval", "created"],
        data.versions.map((v) => el("tr", { "data-version": v.version },
          el("td", { class: "num" }, v.version_url ? el("a", { href: v.version_url, target: "_blank" }, v.version) : v.version),
          el("td", {}, badge(v.stage), v.aliases.length ? el("div", { class: "muted" }, v.aliases.join(", ")) : null,
            v.rejected_reason ? el("div", { class: "error" }, v.rejected_reason) : null),
          el("td", {}, v.semver || "–", v.semver_reason ? el("div", { class: "muted" }, v.semver_reason) : null),
          el("td", {}, Object.entries(v.metrics).slice(0, 4).map(([k, x]) => el("div", {}, `${k} ${fmt(x)}`))),
          el("td", {}, v.gates || "–"),
          el("td", {}, Object.entries(v.lineage).map(([k, x]) => el("div", {}, `${k} `, el("code", {}, String(x).slice(0, 12)))),
            v.run_url ? el("a", { href: v.run_url, target: "_blank" }, "MLflow run") : el("div", { class: "muted" }, `run ${v.run_id.slice(0, 8)}`)),
          el("td", {}, v.approved_by ? `approved by ${v.approved_by}` : v.approval_required ? badge("needs approval") : "not required"),
          el("td", {}, when(v.created_at)),
        )),
      ));
      rollouts.replaceChildren(data.rollouts.length ? rolloutTable(model, data.rollouts)
        : el("p", { class: "empty" }, "No rollout yet."));
      history.replaceChildren(data.history.length ? table(["when", "version", "action", "from → to", "by", "reason"],
        data.history.map((e) => el("tr", {},
          el("td", {}, when(e.at)), el("td", { class: "num" }, e.version ?? "–"), el("td", {}, e.action),
          el("td", {}, `${e.from_stage ?? "–"} → ${e.to_stage ?? "–"}`), el("td", {}, e.actor), el("td", {}, e.reason || "")))
      ) : el("p", { class: "empty" }, "No registry changes yet."));
    },
  };
}

function rolloutTable(model, rows) {
  return table(["#", "versions", "strategy", "outcome", "started", "ended", "reason"],
    rows.map((r) => el("tr", { "data-rollout": r.id },
      el("td", {}, el("a", { href: `#/models/${enc(model)}/rollout`, "data-rollout-link": r.id }, r.id)),
      el("td", {}, `${r.champion} → ${r.candidate}`), el("td", {}, r.strategy), el("td", {}, badge(r.state)),
      el("td", {}, when(r.started_at)), el("td", {}, when(r.ended_at)), el("td", {}, r.reason || ""))));
}

// ---------------------------------------------------------------- rollout
const COMMANDS = [["pause", "Pause"], ["resume", "Resume"], ["promote", "Promote"], ["rollback", "Roll back"], ["abort", "Abort"]];
const ALLOWED = {
  pending: ["abort"], progressing: ["pause", "promote", "rollback", "abort"],
  paused: ["resume", "promote", "rollback", "abort"], promoting: [],
};
const VERDICT_COLOR = { pass: "#1f8a4c", marginal: "#b7791f", inconclusive: "#9aa3b1", fail: "#c53030" };

function rolloutPage({ model }) {
  const head = el("div", { class: "card", id: "rollout-head" });
  const actions = el("div", { class: "actions card", id: "rollout-actions" });
  const checks = el("div", { id: "checks" });
  const timeline = el("div", { id: "timeline" }), past = el("div");
  view.replaceChildren(el("h1", {}, `${model}: rollout`), tabs(model, "rollout"), head, actions,
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", {}, "Traffic to the candidate"), el("div", { id: "chart-traffic", class: "chart" })),
      el("div", { class: "card" }, el("h2", {}, "Checks over time"), el("div", { id: "chart-checks", class: "chart" }))),
    el("h2", {}, "Latest analysis"), checks, el("h2", {}, "Timeline"), timeline, el("h2", {}, "Past rollouts"), past);
  return {
    async update() {
      const { ok, data } = await api(`/models/${enc(model)}/rollout`);
      if (!ok) return head.replaceChildren(problem(data));
      if (!data.rollout) {
        head.replaceChildren(el("p", { class: "empty", "data-testid": "no-rollout" },
          `No rollout of ${model} yet: conveyor rollout start ${model} VERSION.`));
        actions.replaceChildren();
        return;
      }
      const r = data.rollout, share = r.weights?.candidate ?? 0;
      head.replaceChildren(el("dl", { class: "kv" },
        el("dt", {}, "state"), el("dd", {}, badge(r.state), r.owed ? ` (owed: ${r.owed})` : ""),
        el("dt", {}, "versions"), el("dd", {}, `production ${r.champion} → candidate ${r.candidate} (${r.strategy})`),
        el("dt", {}, "step"), el("dd", {}, `${r.step + 1} of ${data.plan.length}: ${data.plan[Math.min(r.step, data.plan.length - 1)]?.label ?? ""}`),
        el("dt", {}, "traffic"), el("dd", { "data-testid": "candidate-share", "data-share": share }, `candidate ${share} %, production ${100 - share} %`),
        el("dt", {}, "decision"), el("dd", { "data-testid": "decision" }, data.decision ? `${data.decision.reason} (by ${data.decision.by}, ${when(data.decision.at)})` : "–"),
      ));
      const allowed = ALLOWED[r.state] || [];
      actions.replaceChildren(...COMMANDS.map(([cmd, label]) => el("button", {
        "data-command": cmd, class: ["rollback", "abort"].includes(cmd) ? "danger" : null,
        disabled: !meta.actions || !allowed.includes(cmd),
        title: meta.actions ? null : "set CONVEYOR_ADMIN_TOKEN to enable actions",
        onclick: () => ask(model, cmd, label),
      }, label)), ...(meta.actions ? [] : [el("span", { class: "muted" }, " actions need CONVEYOR_ADMIN_TOKEN")]));
      const span = { min: r.started_at, max: r.ended_at || new Date().toISOString() };
      const timeAxis = { type: "time", ...span, splitNumber: 4, axisLabel: { hideOverlap: true } };
      chart("chart-traffic", {
        animation: false, grid: { left: 40, right: 16, top: 16, bottom: 28 },
        xAxis: timeAxis, yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value} %" } },
        tooltip: { trigger: "axis" },
        series: [{ type: "line", step: "end", areaStyle: {}, name: "candidate", data: data.traffic.map((p) => [p.at, p.candidate]) }],
      });
      const names = data.checks.map((c) => c.name);
      chart("chart-checks", {
        animation: false, grid: { left: 130, right: 16, top: 16, bottom: 28 },
        xAxis: timeAxis, yAxis: { type: "category", data: names },
        tooltip: { formatter: (p) => `${p.data.name}: ${p.data.verdict}<br>${p.data.detail}` },
        series: [{ type: "scatter", symbolSize: 12, data: data.checks.flatMap((c) => c.points.map((p) =>
          ({ value: [p.at, c.name], name: c.name, verdict: p.verdict, detail: p.detail,
             itemStyle: { color: VERDICT_COLOR[p.verdict] || "#9aa3b1" } }))) }],
      });
      const latest = data.latest_analysis;
      checks.replaceChildren(latest ? el("div", {},
        el("p", {}, badge(latest.verdict ?? "–"), ` step ${latest.step + 1}: ${latest.reason}`),
        table(["check", "verdict", "candidate", "production", "why"], (latest.evidence.checks || []).map((c) =>
          el("tr", { "data-check": c.name }, el("td", {}, c.name), el("td", {}, badge(c.verdict)),
            el("td", { class: "num" }, fmt(c.candidate)), el("td", { class: "num" }, fmt(c.champion)),
            el("td", {}, c.detail || c.reason || ""))))) : el("p", { class: "empty" }, "No analysis yet: the first comes at the end of the first step."));
      timeline.replaceChildren(table(["when", "step", "move", "by", "reason"], data.timeline.slice().reverse().map((e) =>
        el("tr", {}, el("td", {}, when(e.at)), el("td", { class: "num" }, e.step + 1),
          el("td", {}, `${e.from_state ?? "new"} → `, badge(e.to_state)), el("td", {}, e.actor), el("td", {}, e.reason)))));
      past.replaceChildren(data.past.length ? rolloutTable(model, data.past) : el("p", { class: "empty" }, "None."));
    },
  };
}

function ask(model, command, label) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = `${label}: ${model}`;
  const token = document.getElementById("confirm-token");
  const by = document.getElementById("confirm-by");
  const reason = document.getElementById("confirm-reason");
  const error = document.getElementById("confirm-error");
  token.value = sessionStorage.getItem("conveyor-token") || "";
  by.value = localStorage.getItem("conveyor-by") || "";
  reason.value = "";
  error.textContent = "";
  dialog.onclose = null;
  document.getElementById("confirm-go").onclick = async (event) => {
    event.preventDefault();
    if (!token.value || !by.value.trim() || !reason.value.trim()) {
      error.textContent = "the token, your name and a reason are all required";
      return;
    }
    const { ok, data } = await api(`/models/${enc(model)}/rollout/${command}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token.value}` },
      body: JSON.stringify({ reason: reason.value, by: by.value.trim() }),
    });
    if (!ok) {
      error.textContent = data.error || "refused";
      return;
    }
    sessionStorage.setItem("conveyor-token", token.value);
    localStorage.setItem("conveyor-by", by.value.trim());
    dialog.close();
    refresh();
  };
  dialog.showModal();
}

// ---------------------------------------------------------------- monitoring
function monitoringPage({ model }) {
  const picker = el("select", { id: "window", onchange: () => refresh() },
    [["15", "15 minutes"], ["60", "1 hour"], ["360", "6 hours"], ["1440", "24 hours"]].map(([v, label]) =>
      el("option", { value: v, selected: v === "60" }, label)));
  const versions = el("div", { id: "monitor-versions" }), alerts = el("div");
  view.replaceChildren(el("h1", {}, `${model}: monitoring`), tabs(model, "monitoring"),
    el("p", {}, "Window: ", picker), versions, el("h2", {}, "Alerts"), alerts);
  const built = new Set();
  return {
    async update() {
      const { ok, data } = await api(`/models/${enc(model)}/monitoring?window=${picker.value}`);
      if (!ok) return versions.replaceChildren(problem(data));
      for (const v of data.versions) {
        const id = `v${v.version}`;
        if (!built.has(id)) {
          built.add(id);
          versions.append(el("section", { id, "data-version": v.version },
            el("h2", {}, `Version ${v.version} (${v.role})`),
            el("div", { id: `${id}-summary`, class: "card" }),
            el("div", { class: "grid" },
              el("div", { class: "card" }, el("h3", {}, "Drift per feature (PSI)"), el("div", { id: `${id}-psi`, class: "chart" })),
              el("div", { class: "card" }, el("h3", {}, "PSI over time"), el("div", { id: `${id}-psi-time`, class: "chart" })),
              el("div", { class: "card" }, el("h3", {}, "Online accuracy"), el("div", { id: `${id}-metric`, class: "chart" })),
              el("div", { class: "card" }, el("h3", {}, "Latency (ms)"), el("div", { id: `${id}-latency`, class: "chart" })),
              el("div", { class: "card" }, el("h3", {}, "Requests and errors"), el("div", { id: `${id}-traffic`, class: "chart" }))),
            el("h3", {}, "Features"), el("div", { id: `${id}-drift` }),
            el("h3", {}, "Distributions that moved most: training vs window"), el("div", { id: `${id}-dists`, class: "grid" })));
        }
        renderVersion(id, v);
      }
      alerts.replaceChildren(data.alerts.length ? table(["rule", "version", "state", "severity", "message", "since", "runbook"],
        data.alerts.map((a) => el("tr", { "data-alert": a.rule }, el("td", {}, a.rule), el("td", { class: "num" }, a.version),
          el("td", {}, badge(a.state)), el("td", {}, badge(a.severity)), el("td", {}, a.message), el("td", {}, when(a.started_at)),
          el("td", {}, a.details?.runbook_url ? el("a", { href: a.details.runbook_url, target: "_blank" }, "runbook") : "–"))))
        : el("p", { class: "empty" }, "No alerts: none fired in this store."));
    },
  };
}

function renderVersion(id, v) {
  const drift = v.drift, perf = v.performance, health = v.health;
  const online = perf.online?.accuracy ?? perf.online?.rmse;
  document.getElementById(`${id}-summary`).replaceChildren(el("dl", { class: "kv" },
    el("dt", {}, "window"), el("dd", {}, `last ${v.window_minutes} minutes, ${health.requests} requests`),
    el("dt", {}, "drift"), el("dd", { "data-testid": "drifted" }, drift.drifted.length ? drift.drifted.join(", ") : "no feature drifted"),
    el("dt", {}, "prediction drift"), el("dd", {}, drift.prediction ? `${badge(drift.prediction.status).textContent} PSI ${fmt(drift.prediction.psi)}` : "–"),
    el("dt", {}, "online metric"), el("dd", {}, perf.labeled_rows ? `${fmt(online)} on ${perf.labeled_rows} labelled rows (coverage ${pct(perf.coverage)})` : "no feedback yet"),
    el("dt", {}, "latency"), el("dd", {}, `p50 ${fmt(health.p50_ms)} ms, p99 ${fmt(health.p99_ms)} ms`),
    el("dt", {}, "errors"), el("dd", {}, `${pct(health.error_rate)} server errors`),
    el("dt", {}, "checks"), el("dd", {}, v.checks.map((c) => el("span", { title: c.message }, badge(c.firing ? "firing" : c.firing === false ? "ok" : "inconclusive"), ` ${c.rule}  `))),
  ));
  const features = drift.features.slice().sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1));
  chart(`${id}-psi`, {
    animation: false, grid: { left: 140, right: 16, top: 8, bottom: 24 },
    xAxis: { type: "value" }, yAxis: { type: "category", data: features.map((f) => f.name).reverse() },
    series: [{ type: "bar", data: features.map((f) => ({ value: f.psi ?? 0, itemStyle: { color: f.status === "drift" ? "#c53030" : f.status === "warning" ? "#b7791f" : "#2b6cb0" } })).reverse() }],
  });
  const overTime = v.drift_over_time;
  chart(`${id}-psi-time`, {
    animation: false, grid: { left: 44, right: 16, top: 48, bottom: 24 }, legend: { top: 0, type: "scroll" },
    tooltip: { trigger: "axis" }, xAxis: { type: "time", splitNumber: 4, axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", min: 0 },
    series: Object.entries(overTime.features).map(([name, values], i) => ({
      type: "line", name, connectNulls: false, data: values.map((x, j) => [overTime.times[j], x]),
      ...(i === 0 && overTime.psi_alert ? { markLine: { symbol: "none", silent: true, lineStyle: { type: "dashed", color: "#c53030" },
        data: [{ yAxis: overTime.psi_alert, name: "alert" }] } } : {}),
    })),
  });
  const points = v.series.points;
  chart(`${id}-metric`, {
    animation: false, grid: { left: 44, right: 16, top: 24, bottom: 24 }, legend: { top: 0 },
    tooltip: { trigger: "axis" }, xAxis: { type: "time", splitNumber: 4, axisLabel: { hideOverlap: true } }, yAxis: { type: "value", scale: true },
    series: [{ type: "line", name: v.series.metric, connectNulls: true, data: points.map((p) => [p.at, p.metric]) },
      { type: "line", name: "coverage", connectNulls: true, data: points.map((p) => [p.at, p.coverage]) },
      ...(v.series.baseline !== null ? [{ type: "line", name: "baseline", symbol: "none", lineStyle: { type: "dashed" },
        data: points.length ? [[points[0].at, v.series.baseline], [points[points.length - 1].at, v.series.baseline]] : [] }] : [])],
  });
  chart(`${id}-latency`, {
    animation: false, grid: { left: 44, right: 16, top: 24, bottom: 24 }, legend: { top: 0 },
    tooltip: { trigger: "axis" }, xAxis: { type: "time", splitNumber: 4, axisLabel: { hideOverlap: true } }, yAxis: { type: "value" },
    series: [["p50", "p50_ms"], ["p99", "p99_ms"]].map(([name, key]) => ({ type: "line", name, connectNulls: true, data: points.map((p) => [p.at, p[key]]) })),
  });
  chart(`${id}-traffic`, {
    animation: false, grid: { left: 44, right: 16, top: 24, bottom: 24 }, legend: { top: 0 },
    tooltip: { trigger: "axis" }, xAxis: { type: "time", splitNumber: 4, axisLabel: { hideOverlap: true } }, yAxis: { type: "value" },
    series: [["requests", "requests"], ["5xx", "server_errors"], ["4xx", "client_errors"]].map(([name, key]) =>
      ({ type: "bar", name, stack: key === "requests" ? null : "errors", data: points.map((p) => [p.at, p[key]]) })),
  });
  document.getElementById(`${id}-drift`).replaceChildren(table(["feature", "status", "PSI", "test", "p (corrected)", "missing now", "unseen"],
    features.map((f) => el("tr", { "data-feature": f.name, "data-status": f.status },
      el("td", {}, f.name), el("td", {}, badge(f.status)), el("td", { class: "num" }, fmt(f.psi)),
      el("td", {}, f.test ?? "–"), el("td", { class: "num" }, fmt(f.p_adjusted)),
      el("td", { class: "num" }, pct(f.missing_share_cur)), el("td", { class: "num" }, pct(f.unseen_share))))));
  const dists = document.getElementById(`${id}-dists`);
  const wanted = v.distributions.map((d) => `${id}-dist-${d.feature}`);
  if ([...dists.children].map((c) => c.dataset.chart).join() !== wanted.join()) {
    dists.replaceChildren(...v.distributions.map((d, i) => el("div", { class: "card", "data-chart": wanted[i] },
      el("h3", {}, d.feature, " ", badge(d.status)), el("div", { id: wanted[i], class: "chart" }))));
  }
  v.distributions.forEach((d, i) => chart(wanted[i], {
    animation: false, grid: { left: 40, right: 8, top: 24, bottom: 48 }, legend: { top: 0 }, tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: d.labels, axisLabel: { rotate: 30, fontSize: 10 } }, yAxis: { type: "value" },
    series: [{ type: "bar", name: "training", data: d.reference }, { type: "bar", name: "window", data: d.window ?? [] }],
  }));
}

// ---------------------------------------------------------------- start
window.addEventListener("hashchange", show);
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
api("/meta").then(({ ok, data }) => { if (ok) meta = data; show(); });
