// The risk dashboard's logic: poll /v1/dashboard (one published view) and /v1/history (the journal's
// counters and series, fetched incrementally), listen to /v1/stream, redraw. No build step.
// The key comes from the fragment (/#key=rk_..., never sent to the server), or the form, and is kept
// in sessionStorage; it travels in the X-API-Key header only. The WebSocket, which cannot carry a
// header, opens with a single-use ticket from POST /v1/tickets. Reads never touch the writer: a view
// is captured at most once per commit whatever the number of pages open, and the state hash is asked
// for (GET /v1/state) once every 30 s only.
"use strict";

function initialKey() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  const fromQuery = new URLSearchParams(location.search).get("key");  // older links: taken, then removed
  const key = fromHash || fromQuery;
  if (key) {
    sessionStorage.setItem("ramparts-key", key);
    history.replaceState(null, "", location.pathname);  // out of the address bar and the history
  }
  return key || sessionStorage.getItem("ramparts-key") || "";
}
let apiKey = initialKey();
const COUNTERS = [
  ["MarginCall", "margin calls"], ["LiquidationStep", "liquidation steps"], ["LiquidationEnded", "liquidations ended"],
  ["Bankruptcy", "bankruptcies"], ["InsuranceFundDraw", "fund draws"], ["Deleverage", "deleverages"],
  ["SocialisedLoss", "socialised losses"], ["BadDebt", "bad debt"],
];
const MAX_POINTS = 5000;
const series = { seq: 0, prices: {}, insurance: [], counters: {}, asset: "", ready: false };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 }));
const when = (ts) => new Date(Number(ts) / 1e6);
const chartId = (symbol) => "price-" + String(symbol).replace(/[^A-Za-z0-9_-]/g, "_");
const PLOT = { displayModeBar: false, responsive: true };
const LAYOUT = { margin: { l: 55, r: 10, t: 10, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };

async function api(path) {
  const r = await fetch(path, { headers: { "X-API-Key": apiKey } });
  const body = await r.json();
  if (!r.ok) throw new Error(`${r.status} ${body.error}: ${body.message}`);
  return body;
}

function renderCounters(c) {
  $("counters").innerHTML = COUNTERS.map(([k, label]) =>
    `<div class="counter"><b id="count-${k}">${c[k] ?? 0}</b>${label}</div>`).join("");
}

function accountRows(rows, empty, last) {
  return rows.length
    ? rows.map((a) => `<tr data-subaccount="${esc(a.subaccount)}"><td>${esc(a.subaccount)}</td><td class="state-${esc(a.state)}">${esc(a.state)}</td>` +
        `<td class="num">${fmt(a.equity)}</td><td class="num">${fmt(a.maintenance_margin)}</td><td class="num">${last(a)}</td></tr>`).join("")
    : `<tr><td colspan="5" class="empty">${empty}</td></tr>`;
}
const ratioCell = (a) => (a.margin_ratio === null ? "∞" : a.margin_ratio.toFixed(3));

function renderAdl(markets) {
  const el = $("adl");
  const held = markets.filter((m) => m.longs_total + m.shorts_total > 0);
  if (!held.length) { el.className = "empty"; el.textContent = "no open position"; return; }
  el.className = "";
  const side = (rows) => rows.map((r) => `<tr data-subaccount="${esc(r.subaccount)}"><td class="num">${r.rank}</td><td>${esc(r.subaccount)}</td>` +
    `<td class="num">${esc(r.size)}</td><td class="num">${r.profit_pct.toFixed(2)} %</td><td class="num">${r.leverage === null ? "∞" : r.leverage.toFixed(2)}</td></tr>`).join("");
  el.innerHTML = held.map((m) => `<div class="adl-market" data-market="${esc(m.instrument)}"><h3>${esc(m.instrument)}</h3>` +
    "<table><thead><tr><th class=\"num\">#</th><th>sub-account</th><th class=\"num\">size</th><th class=\"num\">profit</th><th class=\"num\">leverage</th></tr></thead>" +
    `<tbody><tr><th colspan="5">longs (${m.longs_total}), against a bankrupt short</th></tr>${side(m.longs)}` +
    `<tr><th colspan="5">shorts (${m.shorts_total}), against a bankrupt long</th></tr>${side(m.shorts)}</tbody></table></div>`).join("");
}

function renderMarkets(markets) {
  $("markets").innerHTML = markets.length
    ? markets.map((m) => `<tr><td>${esc(m.symbol)}</td><td class="num">${fmt(m.mark)}</td><td class="num">${esc(m.open_interest)}</td>` +
        `<td class="num">${fmt(m.open_interest_notional)}</td></tr>`).join("")
    : `<tr><td colspan="4" class="empty">no market listed</td></tr>`;
  Plotly.react("oi-chart", [{ type: "bar", x: markets.map((m) => m.symbol), y: markets.map((m) => Number(m.open_interest_notional)), marker: { color: "#4a69bd" } }],
    { ...LAYOUT, yaxis: { title: "notional" } }, PLOT);
}

function renderBreakers(b) {
  const el = $("breakers");
  if (!b.configured) { el.className = "empty"; el.textContent = "none configured"; return; }
  el.className = "";
  el.innerHTML = "<table><tr><th>breaker</th><th>market</th><th>layer</th><th>trigger</th><th>state</th><th>pauses</th></tr>" +
    b.breakers.map((x) => `<tr><td>${esc(x.name)}</td><td>${esc(x.instrument)}</td><td>${esc(x.layer)}</td><td>${esc(x.trigger)}</td>` +
      `<td style="color:${x.tripped ? "#c0392b" : "#27ae60"}">${x.tripped ? "TRIPPED" : "armed"}</td><td>${esc((x.pauses || []).join(", "))}</td></tr>`).join("") +
    "</table>";
}

function renderHistogram(h) {
  const colour = (k) => (k === "no positions" ? "#b0b6c0" : k === "bankrupt" || k.startsWith(">=") ? "#c0392b" : k.startsWith("0.9") ? "#e67e22" : "#2e9d57");
  Plotly.react("ratio-chart", [{ type: "bar", x: Object.keys(h), y: Object.values(h), marker: { color: Object.keys(h).map(colour) } }],
    { ...LAYOUT, margin: { ...LAYOUT.margin, b: 70 }, xaxis: { title: "maintenance / equity", type: "category", tickangle: -30, automargin: true },
      yaxis: { title: "sub-accounts" } }, PLOT);
}

function renderDashboard(d) {
  $("seq").textContent = d.seq;
  if (d.state) $("hash").textContent = `${d.state.state_hash.slice(0, 16)} @${d.state.seq}`;
  $("naccounts").textContent = d.accounts;
  $("liquidating").innerHTML = accountRows(d.liquidating, "no account in liquidation", ratioCell);
  $("queue").innerHTML = accountRows(d.queue, "no account in breach", ratioCell);
  $("nearest").innerHTML = accountRows(d.nearest, "no account with a position", (a) => a.equity_to_maintenance.toFixed(3));
  renderAdl(d.adl);
  renderMarkets(d.markets);
  renderBreakers(d.breakers);
  renderHistogram(d.ratio_histogram);
  $("insurance-now").textContent = Object.entries(d.insurance.funds).map(([k, v]) => `${k}: ${fmt(v)} ${d.insurance.asset}`).join("   ");
}

function mergeHistory(h) {
  for (const [sym, points] of Object.entries(h.prices)) {
    const s = (series.prices[sym] = series.prices[sym] || []);
    s.push(...points);
    if (s.length > MAX_POINTS) s.splice(0, s.length - MAX_POINTS);
  }
  series.insurance.push(...h.insurance);
  if (series.insurance.length > MAX_POINTS) series.insurance.splice(0, series.insurance.length - MAX_POINTS);
  series.counters = h.counters;
  series.asset = h.asset;
  series.ready = h.ready;
  if (h.ready) series.seq = h.seq;  // while the journal is read back, fetch everything again next time
}

function renderHistory() {
  renderCounters(series.counters);
  $("history-status").textContent = series.ready ? "" : "history: reading the journal…";
  const holder = $("price-charts");
  const symbols = Object.keys(series.prices).sort();
  if (symbols.length && holder.querySelector(".empty")) holder.innerHTML = "";
  let added = false;
  for (const sym of symbols) {  // every market's box first: the grid settles its columns before anything is drawn
    if ($(chartId(sym))) continue;
    const box = document.createElement("div");
    box.className = "market";
    box.innerHTML = `<h3>${esc(sym)}</h3><div id="${chartId(sym)}" class="chart" data-market="${esc(sym)}"></div>`;
    holder.appendChild(box);
    added = true;
  }
  for (const sym of symbols) {
    const id = chartId(sym);
    if (added && $(id).data) Plotly.Plots.resize(id);  // a new market narrowed the columns
    const pts = series.prices[sym];
    Plotly.react(id, [{ type: "scatter", mode: "lines+markers", x: pts.map((p) => when(p.ts)), y: pts.map((p) => Number(p.price)),
      line: { shape: "hv", color: "#2c3e80" }, marker: { size: 4 } }], { ...LAYOUT, yaxis: { title: "index" } }, PLOT);
  }
  const ins = series.insurance;
  Plotly.react("insurance-chart", [{ type: "scatter", mode: "lines+markers", x: ins.map((p) => when(p.ts)), y: ins.map((p) => Number(p.total)),
    line: { shape: "hv", color: "#8e44ad" }, marker: { size: 4 } }], { ...LAYOUT, yaxis: { title: series.asset } }, PLOT);
}

let pending = null;
let inflight = false;
let again = false;
async function refresh() {
  pending = null;
  if (inflight) { again = true; return; }  // one at a time: the history is fetched incrementally
  inflight = true;
  try {
    const [d, h] = await Promise.all([api("/v1/dashboard"), api(`/v1/history?after_seq=${series.ready ? series.seq : 0}`)]);
    if (!series.ready) { series.prices = {}; series.insurance = []; }
    mergeHistory(h);
    renderHistory();
    renderDashboard(d);
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
  } finally {
    inflight = false;
    if (again) { again = false; scheduleRefresh(); }
  }
}
function scheduleRefresh(delay = 500) { if (!pending) pending = setTimeout(refresh, delay); }

async function refreshHash() {
  try {
    const s = await api("/v1/state");  // the only read that has a state hash computed (in a forked child)
    $("hash").textContent = `${s.state_hash.slice(0, 16)} @${s.seq}`;
  } catch (e) {
    $("error").textContent = e.message;
  }
}

function feed(msg) {
  if (msg.type === "commit" || msg.type === "hello") return;
  const li = document.createElement("li");
  const who = msg.subaccount ? ` ${msg.subaccount}` : "";
  const what = msg.type === "price" ? ` ${msg.instrument} ${msg.price}` : "";
  li.textContent = `#${msg.seq} ${msg.type}${who}${what}`;
  const ul = $("feed");
  ul.prepend(li);
  while (ul.children.length > 100) ul.lastChild.remove();
}

async function ticket() {
  const r = await fetch("/v1/tickets", { method: "POST", headers: { "X-API-Key": apiKey } });
  const body = await r.json();
  if (!r.ok) throw new Error(`${r.status} ${body.error}: ${body.message}`);
  return body.ticket;
}

async function connect() {
  let t;
  try {
    t = await ticket();
  } catch (e) {
    $("error").textContent = e.message;
    setTimeout(connect, 3000);
    return;
  }
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream?ticket=${encodeURIComponent(t)}`);
  ws.onopen = () => { $("live").className = "on"; $("live").textContent = "live"; };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "error") { $("error").textContent = msg.message; return; }
    feed(msg);
    scheduleRefresh();
  };
  ws.onclose = () => { $("live").className = "off"; $("live").textContent = "offline"; setTimeout(connect, 1000); };
}

function start() {
  if (!apiKey) {
    $("keyform").classList.add("show");
    $("keyform").onsubmit = (e) => { e.preventDefault(); apiKey = $("keyinput").value.trim(); sessionStorage.setItem("ramparts-key", apiKey); $("keyform").classList.remove("show"); start(); };
    return;
  }
  refresh();
  refreshHash();
  connect();
  setInterval(refresh, 5000);
  setInterval(refreshHash, 30000);
}

start();
