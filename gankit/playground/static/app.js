// gankit playground page: controls -> JSON commands over a WebSocket; frames -> canvas drawings.
"use strict";

const SETTING_KEYS = ["lr_g", "lr_d", "n_critic", "width", "depth", "batch_size", "seed", "pack"];
const $ = (id) => document.getElementById(id);
let socket = null;
let hello = null;
let latest = null;      // newest frame, drawn on the next animation frame
let drawScheduled = false;
let drawnPoints = [];   // the user's points for the "drawn" target

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text || "";
  box.className = "message" + (isError ? " error" : "");
}

function readSettings() {
  const settings = { target: $("target").value, recipe: $("recipe").value };
  for (const key of SETTING_KEYS) settings[key] = Number($(key).value);
  if (settings.target === "drawn") settings.points = drawnPoints;
  return settings;
}

function fillControls(settings) {
  $("target").value = settings.target;
  $("recipe").value = settings.recipe;
  for (const key of SETTING_KEYS) $(key).value = settings[key];
  $("draw-hint").hidden = settings.target !== "drawn";
}

function setupControls(message) {
  hello = message;
  for (const [id, names] of [["target", message.targets], ["recipe", message.recipes]]) {
    $(id).innerHTML = names.map((n) => `<option value="${n}">${n}</option>`).join("");
  }
  fillControls(message.defaults);
  refreshRuns();
}

async function refreshRuns() {
  try {
    const reply = await (await fetch("/api/runs")).json();
    $("runs").innerHTML = reply.runs.map((n) => `<option value="${n}">${n}</option>`).join("");
  } catch (err) { /* the list is a convenience; ignore network hiccups */ }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onopen = () => { $("connection").textContent = "connected"; $("connection").className = "badge live"; };
  socket.onclose = () => { $("connection").textContent = "disconnected"; $("connection").className = "badge"; };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "hello") setupControls(message);
    else if (message.type === "error") say(message.message, true);
    else if (message.type === "saved") { say(`saved run ${message.path}`); refreshRuns(); }
    else if (message.type === "loaded") say(`loaded run ${message.name}`);
    else if (message.type === "frame") {
      latest = message;
      if (!drawScheduled) { drawScheduled = true; requestAnimationFrame(draw); }
    }
  };
}

// ---- drawing ------------------------------------------------------------------------------
function draw() {
  drawScheduled = false;
  const f = latest;
  if (!f) return;
  $("step-counter").textContent = f.step;
  $("kimg").textContent = f.kimg.toFixed(1);
  $("modes").textContent = `${f.modes.modes_covered}/${f.modes.num_modes}`;
  $("hq").textContent = `${(100 * f.modes.high_quality).toFixed(1)} %`;
  $("kl").textContent = f.modes.reverse_kl === null ? "∞" : f.modes.reverse_kl.toFixed(3);
  if (f.error) say(f.error, true);
  if (f.dim === 1) drawOneD(f); else drawPlane(f);
  drawCurves($("loss-chart"), f.curves.step, [[f.curves["loss/D"], "#1565c0"], [f.curves["loss/G"], "#ef6c00"]]);
  const hqPercent = f.modes_history.hq.map((v) => 100 * v);
  drawCurves($("modes-chart"), f.modes_history.step, [[f.modes_history.modes, "#000"], [hqPercent, "#2e7d32"]], true);
}

function planeMapping(canvas, view) {
  const [low, high] = view;
  const sx = (x) => ((x - low) / (high - low)) * canvas.width;
  const sy = (y) => canvas.height - ((y - low) / (high - low)) * canvas.height;
  return { sx, sy, scale: canvas.width / (high - low) };
}

function drawPlane(f) {
  const canvas = $("plane");
  const ctx = canvas.getContext("2d");
  const { sx, sy, scale } = planeMapping(canvas, f.view);
  const n = f.heat_cells;
  const [lo, hi] = f.heat_range;
  const cell = canvas.width / n;
  for (let row = 0; row < n; row++) {       // heat: D's output, red = "real", blue = "fake"
    for (let col = 0; col < n; col++) {
      const v = (f.heat[row * n + col] - lo) / Math.max(hi - lo, 1e-9);
      ctx.fillStyle = `rgb(${Math.round(120 + 135 * v)}, ${Math.round(150 + 60 * (1 - Math.abs(2 * v - 1)))}, ${Math.round(255 - 135 * v)})`;
      ctx.fillRect(col * cell, canvas.height - (row + 1) * cell, cell + 1, cell + 1);
    }
  }
  dots(ctx, f.real, sx, sy, "rgba(27, 94, 32, 0.65)", 2);
  dots(ctx, f.fake, sx, sy, "rgba(106, 27, 154, 0.75)", 2);
  const pushes = f.arrows.push.map(([dx, dy]) => Math.hypot(dx, dy));
  const longest = Math.max(...pushes, 1e-12);
  ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
  f.arrows.at.forEach(([x, y], i) => {      // the generator's gradient field at fake points
    const [dx, dy] = f.arrows.push[i];
    const k = (0.06 * canvas.width) / longest / scale;
    arrow(ctx, sx(x), sy(y), sx(x + k * dx), sy(y + k * dy));
  });
  if (f.settings.target === "drawn") dots(ctx, drawnPoints, sx, sy, "#000", 3);
  $("plane-legend").textContent = `background: ${f.loss_name === "wasserstein" || f.loss_name === "hinge" ? "critic score" : "D(x)"} ` +
    `from ${lo.toFixed(2)} (blue) to ${hi.toFixed(2)} (red) · green: real · purple: generated · arrows: −∇ of G's loss`;
}

function dots(ctx, points, sx, sy, colour, radius) {
  ctx.fillStyle = colour;
  for (const [x, y] of points) { ctx.beginPath(); ctx.arc(sx(x), sy(y), radius, 0, 2 * Math.PI); ctx.fill(); }
}

function arrow(ctx, x0, y0, x1, y1) {
  ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  const a = Math.atan2(y1 - y0, x1 - x0);
  ctx.beginPath(); ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - 5 * Math.cos(a - 0.4), y1 - 5 * Math.sin(a - 0.4));
  ctx.lineTo(x1 - 5 * Math.cos(a + 0.4), y1 - 5 * Math.sin(a + 0.4));
  ctx.closePath(); ctx.fill();
}

function drawOneD(f) {
  const canvas = $("plane");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  const [low, high] = f.view;
  const sx = (x) => ((x - low) / (high - low)) * canvas.width;
  const densityMax = Math.max(...f.p_data, ...f.p_g, 1e-6);
  const sDensity = (p) => canvas.height * (1 - 0.9 * p / densityMax);
  const sProb = (p) => canvas.height * (1 - 0.9 * p);
  line(ctx, f.xs, f.p_data, sx, sDensity, "#2e7d32", 2);
  line(ctx, f.xs, f.p_g, sx, sDensity, "#6a1b9a", 2);
  if (f.loss_name === "wasserstein" || f.loss_name === "hinge") {
    const lo = Math.min(...f.d), hi = Math.max(...f.d);
    line(ctx, f.xs, f.d, sx, (v) => sProb((v - lo) / Math.max(hi - lo, 1e-9)), "#1565c0", 1.5);
  } else {
    line(ctx, f.xs, f.d, sx, sProb, "#1565c0", 1.5);
    ctx.setLineDash([6, 4]); line(ctx, f.xs, f.d_star, sx, sProb, "#c62828", 1.5); ctx.setLineDash([]);
  }
  ctx.fillStyle = "rgba(106, 27, 154, 0.5)";
  for (const x of f.fake.slice(0, 200)) ctx.fillRect(sx(x), canvas.height - 8, 1.5, 8);
  $("plane-legend").textContent = "green: p_data · purple: p_g · blue: D(x) (or the critic, rescaled) · red dashed: D* = p_data/(p_data+p_g)";
}

function line(ctx, xs, ys, sx, sy, colour, width) {
  ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.beginPath();
  xs.forEach((x, i) => (i ? ctx.lineTo(sx(x), sy(ys[i])) : ctx.moveTo(sx(x), sy(ys[i]))));
  ctx.stroke(); ctx.lineWidth = 1;
}

function drawCurves(canvas, steps, series, fromZero) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (steps.length < 2) return;
  const all = series.flatMap(([ys]) => ys).filter(Number.isFinite);
  let lo = fromZero ? 0 : Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { hi += 1; lo -= fromZero ? 0 : 1; }
  const s0 = steps[0], s1 = steps[steps.length - 1];
  const sx = (s) => 30 + ((s - s0) / Math.max(s1 - s0, 1)) * (canvas.width - 36);
  const sy = (v) => canvas.height - 14 - ((v - lo) / (hi - lo)) * (canvas.height - 24);
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText(hi.toFixed(2), 0, 10); ctx.fillText(lo.toFixed(2), 0, canvas.height - 14);
  ctx.fillText(`step ${s1}`, canvas.width - 70, canvas.height - 2);
  for (const [ys, colour] of series) line(ctx, steps, ys, sx, sy, colour, 1.5);
}

// ---- wiring -------------------------------------------------------------------------------
function wire() {
  $("start").onclick = () => { say(""); send({ type: "start" }); };
  $("pause").onclick = () => send({ type: "pause" });
  $("step").onclick = () => send({ type: "step", n: 1 });
  $("reset").onclick = () => { say(""); send({ type: "reset" }); };
  $("apply").onclick = () => { say(""); send({ type: "settings", settings: readSettings() }); };
  $("save").onclick = () => send({ type: "save", name: $("run-name").value.trim() });
  $("load").onclick = () => send({ type: "load", name: $("runs").value });
  $("target").onchange = () => { $("draw-hint").hidden = $("target").value !== "drawn"; };
  $("recipe").onchange = () => {
    const defaults = hello && hello.recipe_defaults[$("recipe").value];
    if (defaults) for (const [key, value] of Object.entries(defaults)) $(key).value = value;
  };
  $("clear-points").onclick = () => { drawnPoints = []; };
  $("plane").onclick = (event) => {
    if ($("target").value !== "drawn" || !hello) return;
    const canvas = $("plane");
    const rect = canvas.getBoundingClientRect();
    const [low, high] = hello.views.drawn;
    const x = low + ((event.clientX - rect.left) / rect.width) * (high - low);
    const y = low + (1 - (event.clientY - rect.top) / rect.height) * (high - low);
    drawnPoints.push([Number(x.toFixed(3)), Number(y.toFixed(3))]);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000"; ctx.beginPath();
    ctx.arc(event.clientX - rect.left, event.clientY - rect.top, 3, 0, 2 * Math.PI); ctx.fill();
  };
}

wire();
connect();
