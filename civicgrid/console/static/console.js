// The map and the live updates of the operations console; no external assets.
"use strict";
const COLOURS = { quiet: "#d9e7d5", open: "#f6d37a", overdue: "#e8735f", alert: "#b04fd0" };

function colourOf(grid) {
  if (grid.alerts > 0) return COLOURS.alert;
  if (grid.overdue > 0) return COLOURS.overdue;
  if (grid.open > 0) return COLOURS.open;
  return COLOURS.quiet;
}

function project(grids, width, height) {
  const points = grids.flatMap((g) => g.polygon || []);
  const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
  const west = Math.min(...lons), east = Math.max(...lons);
  const south = Math.min(...lats), north = Math.max(...lats);
  const scale = Math.min(width / (east - west || 1), height / (north - south || 1));
  return ([lon, lat]) => [(lon - west) * scale, (north - lat) * scale];
}

async function drawMap() {
  const svg = document.getElementById("map");
  if (!svg) return;
  const grids = await (await fetch("/console/api/grids")).json();
  const box = svg.viewBox.baseVal;
  const at = project(grids, box.width, box.height);
  svg.replaceChildren();
  for (const grid of grids) {
    if (!grid.polygon) continue;
    const shape = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
    shape.setAttribute("points", grid.polygon.map((p) => at(p).join(",")).join(" "));
    shape.setAttribute("fill", colourOf(grid));
    shape.setAttribute("tabindex", "0");
    shape.setAttribute("role", "button");
    shape.dataset.grid = grid.grid_id;
    shape.dataset.open = grid.open;
    const label = `${grid.name}：待办 ${grid.open}，超期 ${grid.overdue}，预警 ${grid.alerts}`;
    shape.setAttribute("aria-label", label);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = label;
    shape.appendChild(title);
    shape.addEventListener("click", () => showGrid(grid));
    shape.addEventListener("keydown", (e) => { if (e.key === "Enter") showGrid(grid); });
    svg.appendChild(shape);
  }
  document.getElementById("grid-count").textContent = String(grids.length);
  const chosen = document.getElementById("panel").dataset.grid;
  if (chosen) showGrid(grids.find((g) => g.grid_id === chosen));
}

async function showGrid(grid) {
  if (!grid) return;
  const panel = document.getElementById("panel");
  panel.dataset.grid = grid.grid_id;
  const detail = await (await fetch(`/console/api/grids/${encodeURIComponent(grid.grid_id)}`)).json();
  const escape = (text) => String(text).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const cases = detail.cases.map((c) =>
    `<li><a href="/console/cases/${encodeURIComponent(c.case_code)}">${escape(c.case_code)}</a> ` +
    `<span class="badge">${escape(c.category_name)}</span> ${escape(c.state_words)}` +
    (c.overdue ? ' <span class="overdue">超期</span>' : "") + "</li>").join("");
  const alerts = detail.alerts.map((a) =>
    `<li>${escape(a.kind)} ${escape(a.category || "")}：观测 ${a.observed ?? ""} / 期望 ` +
    `${a.expected === null ? "" : Number(a.expected).toFixed(1)}</li>`).join("");
  const scores = detail.assessment.map((s) =>
    `<li>${s.grade || "-"} ${s.score === null ? "" : Number(s.score).toFixed(1)}</li>`).join("");
  panel.innerHTML = `<h2>${escape(grid.name)}</h2><p>${escape(grid.community)} · ${escape(grid.street)}</p>` +
    `<p>待办 ${grid.open} · 超期 ${grid.overdue} · 预警 ${grid.alerts}</p>` +
    `<h3>待办事件</h3><ul class="cases">${cases || "<li>暂无待办事件</li>"}</ul>` +
    `<h3>网格员</h3><p>${detail.workers.map(escape).join("、") || "无"}</p>` +
    `<h3>预警（近一日）</h3><ul>${alerts || "<li>无</li>"}</ul>` +
    `<h3>今日考核</h3><ul>${scores || "<li>尚无</li>"}</ul>`;
}

function live() {
  const source = new EventSource("/console/stream");
  source.addEventListener("change", () => { drawMap(); });
}

async function awaitApplied() {
  // an action is a case update on the stream: show its result once the worker has taken it
  const waiting = document.querySelector("[data-pending-event]");
  if (!waiting) return;
  const event = waiting.dataset.pendingEvent;
  for (let i = 0; i < 120; i++) {
    const state = await (await fetch(`/console/api/updates/${encodeURIComponent(event)}`)).json();
    if (state.taken) {
      const url = new URL(window.location.href);
      url.searchParams.delete("pending");
      url.searchParams.set(state.refused ? "refused" : "applied", state.refused || "1");
      window.location.replace(url.toString());
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  waiting.textContent = "操作尚未被处理（处理服务可能未运行）。";
}

drawMap();
if (document.getElementById("map")) live();
awaitApplied();
