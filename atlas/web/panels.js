/* DOM pieces: tooltip, item details with neighbours, legend, search results. Every piece of
   data is written with textContent (never as HTML), so names from scraped data stay text. */

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/* 1234567 as "1,234,567", as toLocaleString("en") writes it; whole numbers without it, whose
   first call costs tens of milliseconds (the locale data is loaded) while the map loads. */
function formatCount(value) {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) return number.toLocaleString("en");
  return String(number).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function rgbaCss(colors, i) {
  return `rgb(${colors[4 * i]}, ${colors[4 * i + 1]}, ${colors[4 * i + 2]})`;
}

/* How many of its FAITHFUL_K first graph neighbours the map keeps among an item's FAITHFUL_K
   nearest points (atlas.explain); the export's "faithfulness" column is that count over K. */
const FAITHFUL_K = 10;

/* "shared by 41 of 120 · 6.2× chance": why a neighbour is one (the words of `atlas explain`). */
function reasonText(shared, usersItem, lift) {
  if (!Number.isFinite(shared) || !Number.isFinite(lift)) return "";
  return `shared by ${formatCount(shared)} of ${formatCount(usersItem)} · ${lift.toFixed(1)}× chance`;
}

/* [label, value] rows describing item i: popularity, then each metadata field that has a value. */
function itemRows(data, i, limit = Infinity) {
  const rows = [["users", formatCount(data.users[i])]];
  for (const field of data.fields) {
    if (rows.length >= limit) break;
    let value = data.fieldValue(field, i);
    if (field.name === "faithfulness" && field.kind === "number" && value !== null) {
      value = `${Math.round(Number(value) * FAITHFUL_K)} of its ${FAITHFUL_K} neighbours near it on the map`;
    }
    if (value !== null && value !== undefined && value !== "") rows.push([field.name, value]);
  }
  return rows;
}

function fillRows(list, rows) {
  list.replaceChildren();
  for (const [label, value] of rows) {
    list.append(element("dt", null, label), element("dd", null, value));
  }
}

class Tooltip {
  constructor(root) {
    this.root = root;
    this.name = root.querySelector("#atlas-tooltip-name");
    this.fields = root.querySelector("#atlas-tooltip-fields");
  }

  show(data, i, sx, sy, bounds) {
    this.name.textContent = data.names.at(i);
    fillRows(this.fields, itemRows(data, i, 6));
    this.root.hidden = false;
    const w = this.root.offsetWidth, h = this.root.offsetHeight;
    const x = sx + 16 + w > bounds.width ? sx - 16 - w : sx + 16;
    const y = sy + 16 + h > bounds.height ? sy - 12 - h : sy + 16;
    this.root.style.left = `${Math.max(4, x)}px`;
    this.root.style.top = `${Math.max(4, y)}px`;
  }

  hide() { this.root.hidden = true; }
}

class DetailsPanel {
  constructor(root, { onNeighbor, onNeighborHover, onClose }) {
    this.root = root;
    this.name = root.querySelector("#atlas-item-name");
    this.id = root.querySelector("#atlas-item-id");
    this.fields = root.querySelector("#atlas-item-fields");
    this.title = root.querySelector("#atlas-neighbors-title");
    this.list = root.querySelector("#atlas-neighbors");
    root.querySelector("#atlas-close").addEventListener("click", onClose);
    this.onNeighbor = onNeighbor;
    this.onNeighborHover = onNeighborHover;
  }

  /* far: the neighbours the map put away from item i (not among its nearest points). */
  show(data, i, neighbors, colors, far = new Set()) {
    this.name.textContent = data.names.at(i);
    this.id.textContent = data.names === data.ids ? "" : `id ${data.ids.at(i)}`;
    fillRows(this.fields, itemRows(data, i));
    this.title.textContent = neighbors.length ? `Neighbours (${neighbors.length})` : "No neighbours";
    const reasons = data.reasonsOf(i);
    this.list.replaceChildren(...neighbors.map((j, k) => {
      const button = element("button", "atlas-neighbor" + (far.has(j) ? " far" : ""));
      button.type = "button";
      button.dataset.index = String(j);
      const swatch = element("span", "atlas-swatch");
      swatch.style.background = rgbaCss(colors, j);
      const label = element("span", "atlas-neighbor-text");
      label.append(element("span", "atlas-neighbor-name", data.names.at(j)));
      const why = reasons ? reasonText(reasons[k].shared, data.users[i], reasons[k].lift) : "";
      if (why || far.has(j)) {
        const words = [why, far.has(j) ? "far on the map" : ""].filter(Boolean).join(" · ");
        label.append(element("span", "atlas-neighbor-reason", words));
      }
      button.append(label, swatch);
      button.addEventListener("click", () => this.onNeighbor(j));
      button.addEventListener("mouseenter", () => this.onNeighborHover(j));
      button.addEventListener("mouseleave", () => this.onNeighborHover(-1));
      const item = element("li");
      item.append(button);
      return item;
    }));
    this.root.hidden = false;
    this.root.scrollTop = 0;
  }

  hide() { this.root.hidden = true; }
}

function renderLegend(root, legend, hidden, onToggle) {
  root.replaceChildren();
  if (legend.title) root.append(element("div", "atlas-legend-title atlas-muted", legend.title));
  if (legend.kind === "ramp") {
    const ramp = element("div", "atlas-ramp");
    ramp.style.background = legend.gradient;
    const labels = element("div", "atlas-ramp-labels");
    labels.append(element("span", null, legend.low), element("span", null, legend.log ? "log scale" : ""),
                  element("span", null, legend.high));
    root.append(ramp, labels);
  }
  for (const entry of legend.entries) {
    const row = element("div", "atlas-legend-item" + (hidden.has(entry.key) ? " faded" : ""));
    row.title = "Click to fade or show";
    const swatch = element("span", "atlas-swatch");
    swatch.style.background = entry.color;
    row.append(swatch, element("span", "atlas-legend-label", entry.label),
               element("span", "atlas-legend-count", formatCount(entry.count)));
    row.addEventListener("click", () => onToggle(entry.key));
    root.append(row);
  }
}

/* Entries of a pasted list listed as not found, at most. */
const MISSING_SHOWN = 8;

/* The entries of a pasted list that matched nothing, each with the names closest to it as
   buttons ("did you mean …?"); onChoose(entry, i) when item i's name is chosen. */
function renderMissing(report, names, onChoose) {
  const list = element("ul", "atlas-missing");
  report.unmatched.slice(0, MISSING_SHOWN).forEach((entry, k) => {
    const row = element("li");
    row.append("Not found: ", element("span", "atlas-missing-entry", `“${entry}”`));
    const close = report.suggestions[k] || [];
    if (close.length) {
      row.append(" — did you mean ");
      close.forEach((i, c) => {
        const button = element("button", "atlas-suggestion", names.at(i));
        button.type = "button";
        button.dataset.index = String(i);
        button.title = "Use this name";
        button.addEventListener("click", () => onChoose(entry, i));
        if (c) row.append(", ");
        row.append(button);
      });
      row.append("?");
    }
    list.append(row);
  });
  const more = report.unmatched.length - MISSING_SHOWN;
  if (more > 0) list.append(element("li", null, `… and ${more} more not found`));
  return list;
}

/* Autocomplete: results as you type; arrows move, Enter or click chooses. */
function attachSearch(input, list, data, onChoose) {
  let results = [];
  let active = -1;
  let timer = 0;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    active = -1;
  };
  const highlight = (k) => {
    active = k;
    Array.from(list.children).forEach((li, j) => li.setAttribute("aria-selected", String(j === k)));
  };
  const choose = (k) => {
    if (k < 0 || k >= results.length) return;
    const i = results[k];
    input.value = data.names.at(i);
    close();
    onChoose(i);
  };
  const update = () => {
    results = data.search(input.value, 12);
    list.replaceChildren(...results.map((i, k) => {
      const li = element("li");
      li.setAttribute("role", "option");
      li.dataset.index = String(i);
      li.append(element("span", "atlas-result-name", data.names.at(i)),
                element("span", "atlas-result-meta", `${formatCount(data.users[i])} users`));
      li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(k); });
      return li;
    }));
    list.hidden = results.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    highlight(results.length ? 0 : -1);
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, data.n > 50000 ? 90 : 30);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (results.length) highlight((active + (event.key === "ArrowDown" ? 1 : results.length - 1)) % results.length);
    } else if (event.key === "Enter") {
      clearTimeout(timer);
      if (list.hidden || !results.length) update();
      choose(Math.max(0, active));
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
  });
  input.addEventListener("blur", close);
  input.addEventListener("focus", () => { if (input.value) update(); });
}
