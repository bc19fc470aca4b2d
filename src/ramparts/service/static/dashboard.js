// The risk dashboard's logic: poll /v1/overview, listen to /v1/stream, redraw. No build step.
// The key comes from the fragment (/#key=rk_..., never sent to the server), or the form, and is kept
// in sessionStorage; it travels in the X-API-Key header only. The WebSocket, which cannot carry a
// header, opens with a single-use ticket from POST /v1/tickets.
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
const insuranceSeries = { x: [], y: [] };
const COUNTERS = [
  ["MarginCall", "margin calls"], ["LiquidationStep", "liquidation steps"], ["LiquidationEnded", "liquidations ended"],
  ["Bankruptcy", "bankruptcies"], ["InsuranceFundDraw", "fund draws"], ["Deleverage", "deleverages"],
  ["SocialisedLoss", "socialised losses"], ["BadDebt", "bad debt"],
];
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 }));
const PLOT = { displayModeBar: false, responsive: true };
const LAYOUT = { margin: { l: 50, r: 10, t: 10, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };

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

function renderQueue(rows) {
  $("queue").innerHTML = rows.length
    ? rows.map((a) => `<tr data-subaccount="${esc(a.subaccount)}"><td>${esc(a.subaccount)}</td><td class="state-${esc(a.state)}">${esc(a.state)}</td>` +
        `<td class="num">${fmt(a.equity)}</td><td class="num">${fmt(a.maintenance_margin)}</td>` +
        `<td class="num">${a.margin_ratio === null ? "∞" : a.margin_ratio.toFixed(3)}</td></tr>`).join("")
    : `<tr><td colspan="5" class="empty">no account in breach</td></tr>`;
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

function renderOverview(o) {
  $("seq").textContent = o.seq;
  $("hash").textContent = o.state_hash.slice(0, 16);
  $("naccounts").textContent = o.accounts;
  renderCounters(o.counters);
  renderQueue(o.queue);
  renderMarkets(o.markets);
  renderBreakers(o.breakers);
  const h = o.ratio_histogram;
  Plotly.react("ratio-chart", [{ type: "bar", x: Object.keys(h), y: Object.values(h),
    marker: { color: Object.keys(h).map((k) => (k === "bankrupt" || k.startsWith(">=") ? "#c0392b" : k.startsWith("0.9") ? "#e67e22" : "#2e9d57")) } }],
    { ...LAYOUT, xaxis: { title: "maintenance / equity" }, yaxis: { title: "sub-accounts" } }, PLOT);
  insuranceSeries.x.push(new Date());
  insuranceSeries.y.push(Number(o.insurance.total));
  if (insuranceSeries.x.length > 2000) { insuranceSeries.x.shift(); insuranceSeries.y.shift(); }
  $("insurance-now").textContent = Object.entries(o.insurance.funds).map(([k, v]) => `${k}: ${fmt(v)} ${o.insurance.asset}`).join("   ");
  Plotly.react("insurance-chart", [{ type: "scatter", mode: "lines+markers", x: [...insuranceSeries.x], y: [...insuranceSeries.y], line: { shape: "hv", color: "#8e44ad" } }],
    { ...LAYOUT, yaxis: { title: o.insurance.asset } }, PLOT);
}

let pending = null;
async function refresh() {
  pending = null;
  try {
    renderOverview(await api("/v1/overview"));
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
  }
}
function scheduleRefresh(delay = 150) { if (!pending) pending = setTimeout(refresh, delay); }

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
  connect();
  setInterval(refresh, 5000);
}

start();
