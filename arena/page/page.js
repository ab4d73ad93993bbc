// The leaderboard page's behaviour, from the numbers embedded in #board-data (no network, works from file://).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("board-data").textContent);
  const n = data.models.length;
  const table = document.getElementById("models");
  const tbody = table.tBodies[0];
  const rows = Array.from(tbody.rows);
  const support = new Set(data.support);
  const imputed = new Set(data.imputed.map(([i, j]) => i * n + j));
  const pairs = new Map();
  for (const record of data.pairs) {
    const entry = {};
    data.pair_fields.forEach((field, k) => { entry[field] = record[k]; });
    pairs.set(record[0] * n + record[1], entry);
  }
  const fixed = (v, digits) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));
  const pValue = (v) => (v === null ? "-" : v >= 0.001 ? v.toFixed(3) : v.toExponential(1));

  // The task's own columns (e.g. moves, exploitability), added after publishing by arena.page.add_columns.
  const extras = data.extra.columns;
  const extraValue = (row, column) => {
    const values = data.extra.values[data.rows[row].model] || {};
    return values[column] === undefined ? null : values[column];
  };
  for (const column of extras) {
    const th = document.createElement("th");
    th.dataset.key = "extra:" + column;
    const interval = data.rows.some((_, row) => extraValue(row, column + "_ci_low") !== null);
    if (interval) th.dataset.bar = "extra:" + column;
    th.textContent = interval ? column + " [95% CI]" : column;
    table.tHead.rows[0].appendChild(th);
    for (const tr of rows) {
      const row = Number(tr.dataset.row);
      const v = extraValue(row, column);
      const low = extraValue(row, column + "_ci_low"), high = extraValue(row, column + "_ci_high");
      const text = typeof v === "number" ? fixed(v, 3) : v === null ? "-" : String(v);
      tr.insertCell().textContent = interval && low !== null ? `${text} [${fixed(low, 3)}, ${fixed(high, 3)}]` : text;
    }
  }
  const value = (row, key) =>
    key.startsWith("extra:") ? extraValue(row, key.slice(6)) : data.rows[row][key];

  // Interval bars: one shared scale per column, the interval a line and the value a dot.
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((th, column) => {
    const name = th.dataset.bar;
    if (!name) return;
    const at = (row, suffix) => value(row, name + suffix);
    const numbers = data.rows.flatMap((_, row) => [at(row, ""), at(row, "_ci_low"), at(row, "_ci_high")])
      .filter((v) => v !== null);
    const low = Math.min(...numbers), high = Math.max(...numbers);
    const x = (v) => 4 + (high > low ? ((v - low) / (high - low)) * 82 : 41);
    for (const tr of rows) {
      const row = Number(tr.dataset.row);
      const r = data.rows[row];
      const ns = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("class", "bar");
      svg.setAttribute("width", "90");
      svg.setAttribute("height", "10");
      if (at(row, "_ci_low") !== null && at(row, "_ci_high") !== null) {
        const line = document.createElementNS(ns, "line");
        line.setAttribute("x1", x(at(row, "_ci_low")));
        line.setAttribute("x2", x(at(row, "_ci_high")));
        line.setAttribute("y1", "5");
        line.setAttribute("y2", "5");
        line.setAttribute("stroke", support.has(r.model) ? "#d07000" : "#4a6fa5");
        line.setAttribute("stroke-width", "3");
        svg.appendChild(line);
      }
      if (at(row, "") !== null) {
        const dot = document.createElementNS(ns, "circle");
        dot.setAttribute("cx", x(at(row, "")));
        dot.setAttribute("cy", "5");
        dot.setAttribute("r", "3");
        dot.setAttribute("fill", "#222");
        svg.appendChild(dot);
      }
      tr.cells[column].appendChild(svg);
    }
  });

  // Sorting: numbers by value (empty last), names alphabetically; a second click reverses.
  const ascendingFirst = new Set(["rank", "model", "elo_rank_ci"]);
  function sortBy(key, direction) {
    const sign = direction === "ascending" ? 1 : -1;
    const ordered = rows.slice().sort((a, b) => {
      const va = value(Number(a.dataset.row), key), vb = value(Number(b.dataset.row), key);
      if (va === null || vb === null) return va === null ? (vb === null ? 0 : 1) : -1;
      const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
      return order === 0 ? Number(a.dataset.row) - Number(b.dataset.row) : sign * order;
    });
    for (const tr of ordered) tbody.appendChild(tr);
    for (const th of table.tHead.rows[0].cells) {
      if (th.dataset.key === key) th.setAttribute("aria-sort", direction);
      else th.removeAttribute("aria-sort");
    }
  }
  table.tHead.addEventListener("click", (event) => {
    const th = event.target.closest("th");
    if (!th) return;
    const key = th.dataset.key;
    const current = th.getAttribute("aria-sort");
    const direction = current
      ? current === "ascending" ? "descending" : "ascending"
      : ascendingFirst.has(key) ? "ascending" : "descending";
    sortBy(key, direction);
  });

  // Search: rows whose model name contains the text (case-insensitive).
  const search = document.getElementById("search");
  const shown = document.getElementById("shown");
  function filter() {
    const text = search.value.trim().toLowerCase();
    let count = 0;
    for (const tr of rows) {
      const match = data.rows[Number(tr.dataset.row)].model.toLowerCase().includes(text);
      tr.hidden = !match;
      count += match ? 1 : 0;
    }
    shown.textContent = `${count} of ${n} models`;
  }
  search.addEventListener("input", filter);
  filter();

  // The heatmap: models in table order (the Nash support first), zoomable, values on hover.
  const canvas = document.getElementById("heatmap");
  const context = canvas.getContext("2d");
  const zoom = document.getElementById("zoom");
  const hover = document.getElementById("hover");
  const index = new Map(data.models.map((m, i) => [m, i]));
  const order = data.rows.map((r) => index.get(r.model));
  let cell = Math.max(10, Math.min(40, Math.floor((window.innerWidth - 400) / n)));
  zoom.value = cell;
  let label = 0, selected = null;
  function colour(w, pale) {
    // RdBu: red at 0, near-white at 1/2, blue at 1 (the static heatmap's colour map).
    const ends = w < 0.5 ? [178, 24, 43] : [33, 102, 172];
    const t = Math.min(1, Math.abs(w - 0.5) * 2);
    const rgb = ends.map((e) => 247 + (e - 247) * t);
    return `rgb(${rgb.map((c) => Math.round(pale ? 0.55 * c + 0.45 * 255 : c)).join(",")})`;
  }
  function draw() {
    const font = Math.max(7, Math.min(13, cell - 1));
    context.font = `bold ${font}px system-ui, sans-serif`; // the widest a name is drawn (the support's are bold)
    label = cell >= 8 ? Math.ceil(Math.max(...data.models.map((m) => context.measureText(m).width))) + 8 : 0;
    const ratio = window.devicePixelRatio || 1;
    const size = label + n * cell;
    canvas.width = size * ratio;
    canvas.height = size * ratio;
    canvas.style.width = size + "px";
    canvas.style.height = size + "px";
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.font = `${font}px system-ui, sans-serif`;
    context.fillStyle = "#fff";
    context.fillRect(0, 0, size, size);
    order.forEach((i, r) => {
      order.forEach((j, c) => {
        const pale = imputed.has(i * n + j);
        context.fillStyle = colour(data.winrates[i][j], pale);
        context.fillRect(label + c * cell, label + r * cell, cell, cell);
        if (pale && cell >= 6) {
          context.strokeStyle = "#999";
          context.beginPath();
          context.moveTo(label + c * cell, label + (r + 1) * cell);
          context.lineTo(label + (c + 1) * cell, label + r * cell);
          context.stroke();
        }
        if (cell >= 24) {
          const w = data.winrates[i][j];
          context.fillStyle = pale ? "#555" : Math.abs(w - 0.5) > 0.3 ? "#fff" : "#000";
          context.textAlign = "center";
          context.textBaseline = "middle";
          context.fillText((100 * w).toFixed(0), label + (c + 0.5) * cell, label + (r + 0.5) * cell);
        }
      });
    });
    if (label) {
      order.forEach((i, k) => {
        const name = data.models[i];
        context.fillStyle = support.has(name) ? "#b05a00" : "#222";
        context.font = `${support.has(name) ? "bold " : ""}${font}px system-ui, sans-serif`;
        context.textAlign = "right";
        context.textBaseline = "middle";
        context.fillText(name, label - 4, label + (k + 0.5) * cell);
        context.save();
        context.translate(label + (k + 0.5) * cell, label - 4);
        context.rotate(-Math.PI / 2);
        context.textAlign = "left";
        context.fillText(name, 0, 0);
        context.restore();
      });
    }
    if (selected) {
      const [r, c] = [order.indexOf(selected[0]), order.indexOf(selected[1])];
      context.strokeStyle = "#e08a00";
      context.lineWidth = 2;
      context.strokeRect(label + c * cell, label + r * cell, cell, cell);
      context.lineWidth = 1;
    }
  }
  function cellAt(event) {
    const box = canvas.getBoundingClientRect();
    const r = Math.floor((event.clientY - box.top - label) / cell);
    const c = Math.floor((event.clientX - box.left - label) / cell);
    return r >= 0 && c >= 0 && r < n && c < n ? [order[r], order[c]] : null;
  }
  canvas.addEventListener("mousemove", (event) => {
    const at = cellAt(event);
    if (!at) { hover.textContent = ""; return; }
    const [i, j] = at;
    const how = imputed.has(i * n + j) ? "never played, imputed" : i === j ? "itself" : "observed";
    hover.textContent = `${data.models[i]} vs ${data.models[j]}: ${(100 * data.winrates[i][j]).toFixed(1)}% (${how})`;
  });
  canvas.addEventListener("click", (event) => {
    const at = cellAt(event);
    if (at) select(at[0], at[1]);
  });
  zoom.addEventListener("input", () => { cell = Number(zoom.value); draw(); });

  // Head to head: the pair's test from both sides, and sample pairs when the tournament stored them.
  const detail = document.getElementById("detail");
  function side(i, j) {
    const p = pairs.get(i * n + j);
    if (!p) return `<tr><td>${escape(data.models[i])} vs ${escape(data.models[j])}</td><td colspan="6">never played; ` +
      `win rate ${fixed(data.winrates[i][j], 3)} imputed from the Bradley-Terry fit</td></tr>`;
    return `<tr><td>${escape(data.models[i])} vs ${escape(data.models[j])}</td><td class="win-rate">${fixed(p.win_rate, 3)}</td>` +
      `<td class="interval">[${fixed(p.win_rate_ci_low, 3)}, ${fixed(p.win_rate_ci_high, 3)}]</td>` +
      `<td>${pValue(p.p_value)}</td><td class="matches">${p.n}</td><td>${p.wins} / ${p.losses} / ${p.draws}</td><td>${p.units}</td></tr>`;
  }
  function escape(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }
  function select(i, j) {
    selected = [i, j];
    draw();
    const a = data.models[i], b = data.models[j];
    let body = `<h3>${escape(a)} against ${escape(b)}</h3>`;
    if (i === j) {
      body += "<p>A model against itself: 1/2 by definition.</p>";
    } else {
      body += "<table><thead><tr><th>pair</th><th>win rate</th><th>95% CI</th><th>p-value</th><th>matches</th>" +
        "<th>wins / losses / draws</th><th>units</th></tr></thead><tbody>" + side(i, j) + side(j, i) + "</tbody></table>";
      // Stored from the side the tournament played them; the other side reads them swapped.
      const samples = data.samples[`${a}|${b}`] || (data.samples[`${b}|${a}`] || []).map((s) =>
        ({ prompt: s.prompt, response_a: s.response_b, response_b: s.response_a, p_a: 1 - s.p_a }));
      if (samples.length) {
        body += "<h4>Sample pairs</h4>" + samples.map((s) =>
          `<p><b>prompt</b></p><pre>${escape(s.prompt)}</pre><p><b>${escape(a)}</b></p><pre>${escape(s.response_a)}</pre>` +
          `<p><b>${escape(b)}</b></p><pre>${escape(s.response_b)}</pre><p>verdict: P(${escape(a)} wins) = ${fixed(s.p_a, 3)}</p>`).join("");
      }
    }
    detail.innerHTML = body;
    detail.hidden = false;
    detail.dataset.pair = `${a}|${b}`;
  }
  // Clicking a row selects its model against the leader (or the leader against the runner-up).
  tbody.addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (!tr) return;
    const i = index.get(data.rows[Number(tr.dataset.row)].model);
    const leader = order[0];
    select(i, i === leader ? order[1 % n] : leader);
  });

  draw();
  // For tests and for people scripting the page: where a cell is drawn, in page coordinates.
  window.arenaPage = {
    cellCentre(model, opponent) {
      const box = canvas.getBoundingClientRect();
      const r = order.indexOf(index.get(model)), c = order.indexOf(index.get(opponent));
      return [box.left + window.scrollX + label + (c + 0.5) * cell, box.top + window.scrollY + label + (r + 0.5) * cell];
    },
    cellSize: () => cell,
  };
})();
