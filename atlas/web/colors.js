/* Colouring items by a metadata field: a categorical palette (the most common categories,
   the rest as "other") for text, a continuous ramp for numbers. A field of sets of values
   ("Action|Sci-Fi") is coloured by each item's most distinctive value among the most common ones, or by
   whether it holds one chosen value. As many values get a colour as in the notebook app
   (data.maxColours, from atlas.columns). */

const CATEGORY_PALETTE = [
  "#5fa8ff", "#ff8a5b", "#5ed49b", "#f26d9a", "#c39bff", "#ffd166", "#4dd0e1", "#a3d977",
  "#ff6b6b", "#8f9cff", "#e6a76a", "#3fb8a0", "#f7a8d8", "#9ad0ff", "#d8c96a", "#c48f6a",
  "#7ee0c9", "#ff9f1c", "#b7bdf7", "#e07be0",
];
const OTHER_COLOR = "#6b7385";
const MISSING_COLOR = "#3c4250";
const RAMP = ["#35207a", "#3f55c4", "#1f9fb0", "#52c47c", "#c5dc4e", "#ffe45e"];
const POPULARITY_FIELD = { name: "popularity", kind: "popularity" };

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function rampColor(t) {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const k = Math.min(RAMP.length - 2, Math.floor(x)), f = x - k;
  const a = hexToRgb(RAMP[k]), b = hexToRgb(RAMP[k + 1]);
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f));
}

/* Write colour c ([r, g, b]) with alpha a as item i's RGBA bytes (no array per item: a million
   items are coloured at load). */
function putColor(colors, i, c, a) {
  colors[4 * i] = c[0];
  colors[4 * i + 1] = c[1];
  colors[4 * i + 2] = c[2];
  colors[4 * i + 3] = a;
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

/* The fields offered in the "Colour by" selector. */
function colorableFields(data) {
  const fields = data.fields.filter((f) => f.kind === "category" || f.kind === "multi" || f.kind === "number");
  return [...fields, POPULARITY_FIELD];
}

function defaultColorField(data) {
  const chosen = data.fields.find((f) => f.name === data.colorField);
  if (chosen) return chosen;
  const categories = data.fields.filter((f) => f.kind === "category" && f.table.length >= 2);
  return categories[0] || data.fields.find((f) => f.kind === "number") || POPULARITY_FIELD;
}

/* The choices for a field of sets: each item's most distinctive value, or one value (by code). */
function setChoices(field) {
  const held = setCounts(field);
  return [{ value: "", label: "each item's most distinctive value" },
          ...field.table.map((name, k) => ({ value: String(k + 1), label: `has ${name} (${formatCount(held[k + 1])})` }))];
}

/* Items holding each value of a set field, by code. */
function setCounts(field) {
  const held = new Uint32Array(field.table.length + 1);
  for (let k = 0; k < field.codes.length; k++) held[field.codes[k]]++;
  return held;
}

/* Colours and legend for a field of sets; `choice` is "" or a code. By default each item takes
   its most distinctive value among the most common ones (`field.pick`, chosen from its graph
   neighbours when the page was made), else its most common value: never its first listed one.
   A legend entry counts every item holding the value. */
function colorBySet(data, field, hidden, choice) {
  const n = data.n, colors = new Uint8Array(4 * n), fade = (key) => (hidden.has(key) ? 40 : 255);
  const rgb = CATEGORY_PALETTE.map(hexToRgb), other = hexToRgb(OTHER_COLOR), missing = hexToRgb(MISSING_COLOR);
  const { offsets, codes, table } = field;
  const has = Number(choice) || 0;
  if (has) {
    const chosenAlpha = fade(has), otherAlpha = fade("other");
    let count = 0;
    for (let i = 0; i < n; i++) {
      let holds = false;
      for (let k = offsets[i]; k < offsets[i + 1] && !holds; k++) holds = codes[k] === has;
      if (holds) count++;
      putColor(colors, i, holds ? rgb[0] : other, holds ? chosenAlpha : otherAlpha);
    }
    const entries = [{ key: has, label: table[has - 1], color: CATEGORY_PALETTE[0], count },
                     { key: "other", label: `not ${table[has - 1]}`, color: OTHER_COLOR, count: n - count }];
    return { colors, legend: { kind: "category", title: `has ${table[has - 1]}`, entries } };
  }
  const top = Math.min(data.maxColours, CATEGORY_PALETTE.length, table.length);  // codes 1..top are the most common
  const counts = new Uint32Array(top + 2);  // coloured items per code; top + 1: other; 0: no value
  const held = setCounts(field);
  const alphas = Array.from({ length: top + 2 }, (_, slot) => fade(slot === 0 ? "missing" : slot === top + 1 ? "other" : slot));
  for (let i = 0; i < n; i++) {
    let first = field.pick && field.pick[i] <= top ? field.pick[i] : 0;
    if (!field.pick) for (let k = offsets[i]; k < offsets[i + 1]; k++) if (codes[k] <= top && (!first || codes[k] < first)) first = codes[k];
    const empty = offsets[i] === offsets[i + 1];
    const slot = empty ? 0 : first || top + 1;
    counts[slot]++;
    putColor(colors, i, empty ? missing : first ? rgb[first - 1] : other, alphas[slot]);
  }
  const entries = [];
  for (let code = 1; code <= top; code++) {
    if (held[code]) entries.push({ key: code, label: table[code - 1], color: CATEGORY_PALETTE[code - 1], count: held[code] });
  }
  if (counts[top + 1]) entries.push({ key: "other", label: `other (${table.length - top} more values)`, color: OTHER_COLOR, count: counts[top + 1] });
  if (counts[0]) entries.push({ key: "missing", label: "no value", color: MISSING_COLOR, count: counts[0] });
  return { colors, legend: { kind: "category", title: "by each item's most distinctive value", entries } };
}

/* Returns {colors: RGBA bytes per item, legend}. `hidden` is a set of legend keys to fade;
   `choice` picks how a field of sets is coloured (see colorBySet). */
function colorBy(data, field, hidden = new Set(), choice = "") {
  const n = data.n, colors = new Uint8Array(4 * n);
  const fade = (key) => (hidden.has(key) ? 40 : 255);
  if (field.kind === "multi") return colorBySet(data, field, hidden, choice);
  if (field.kind === "category") {
    const counts = new Uint32Array(field.table.length + 1);
    for (let i = 0; i < n; i++) counts[field.codes[i]]++;
    const ranked = Array.from({ length: field.table.length }, (_, k) => k + 1)
      .filter((code) => counts[code] > 0)
      .sort((a, b) => counts[b] - counts[a] || a - b);
    const shown = ranked.slice(0, Math.min(data.maxColours, CATEGORY_PALETTE.length));
    const slot = new Int32Array(field.table.length + 1).fill(-1);
    shown.forEach((code, k) => { slot[code] = k; });
    const rgb = CATEGORY_PALETTE.map(hexToRgb), other = hexToRgb(OTHER_COLOR), missing = hexToRgb(MISSING_COLOR);
    // each code's colour and alpha, worked out once
    const colorOf = [], alphaOf = new Uint8Array(field.table.length + 1);
    for (let code = 0; code <= field.table.length; code++) {
      const s = slot[code];
      colorOf.push(code === 0 ? missing : s < 0 ? other : rgb[s]);
      alphaOf[code] = fade(code === 0 ? "missing" : s < 0 ? "other" : code);
    }
    for (let i = 0; i < n; i++) {
      const code = field.codes[i];
      putColor(colors, i, colorOf[code], alphaOf[code]);
    }
    const entries = shown.map((code, k) => ({ key: code, label: field.table[code - 1], color: CATEGORY_PALETTE[k], count: counts[code] }));
    const otherCount = ranked.slice(shown.length).reduce((sum, code) => sum + counts[code], 0);
    if (otherCount) entries.push({ key: "other", label: `other (${ranked.length - shown.length} more)`, color: OTHER_COLOR, count: otherCount });
    if (counts[0]) entries.push({ key: "missing", label: field.absent || "missing", color: MISSING_COLOR, count: counts[0] });
    return { colors, legend: { kind: "category", entries } };
  }

  const numeric = field.kind === "popularity";
  const value = numeric ? (i) => Math.log1p(data.users[i]) : (i) => field.values[i];
  const present = [];
  for (let i = 0; i < n; i++) { const v = value(i); if (Number.isFinite(v)) present.push(v); }
  present.sort((a, b) => a - b);
  let lo = quantile(present, 0.02), hi = quantile(present, 0.98);
  if (!(hi > lo)) { lo = present[0]; hi = present[present.length - 1]; }
  const span = hi > lo ? hi - lo : 1;
  const missing = hexToRgb(MISSING_COLOR);
  let missingCount = 0;
  for (let i = 0; i < n; i++) {
    const v = value(i);
    if (!Number.isFinite(v)) { missingCount++; putColor(colors, i, missing, fade("missing")); continue; }
    putColor(colors, i, rampColor((v - lo) / span), 255);
  }
  const label = (v) => {
    if (!Number.isFinite(v)) return "";
    const raw = numeric ? Math.expm1(v) : v;
    if (numeric) return Math.round(raw).toLocaleString("en");
    return field.integer ? String(Math.round(raw)) : String(Number(raw.toPrecision(4)));
  };
  const gradient = `linear-gradient(to right, ${RAMP.join(", ")})`;
  const entries = missingCount ? [{ key: "missing", label: "missing", color: MISSING_COLOR, count: missingCount }] : [];
  return { colors, legend: { kind: "ramp", gradient, low: label(lo), high: label(hi), log: numeric, entries } };
}
