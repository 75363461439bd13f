/* Colouring items by a metadata field: a categorical palette (the most common categories,
   the rest as "other") for text, a continuous ramp for numbers. */

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

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

/* The fields offered in the "Colour by" selector. */
function colorableFields(data) {
  const fields = data.fields.filter((f) => f.kind === "category" || f.kind === "number");
  return [...fields, POPULARITY_FIELD];
}

function defaultColorField(data) {
  const chosen = data.fields.find((f) => f.name === data.colorField);
  if (chosen) return chosen;
  const categories = data.fields.filter((f) => f.kind === "category" && f.table.length >= 2);
  return categories[0] || data.fields.find((f) => f.kind === "number") || POPULARITY_FIELD;
}

/* Returns {colors: RGBA bytes per item, legend}. `hidden` is a set of legend keys to fade. */
function colorBy(data, field, hidden = new Set()) {
  const n = data.n, colors = new Uint8Array(4 * n);
  const fade = (key) => (hidden.has(key) ? 40 : 255);
  if (field.kind === "category") {
    const counts = new Uint32Array(field.table.length + 1);
    for (let i = 0; i < n; i++) counts[field.codes[i]]++;
    const ranked = Array.from({ length: field.table.length }, (_, k) => k + 1)
      .filter((code) => counts[code] > 0)
      .sort((a, b) => counts[b] - counts[a] || a - b);
    const shown = ranked.slice(0, CATEGORY_PALETTE.length);
    const slot = new Int32Array(field.table.length + 1).fill(-1);
    shown.forEach((code, k) => { slot[code] = k; });
    const rgb = CATEGORY_PALETTE.map(hexToRgb), other = hexToRgb(OTHER_COLOR), missing = hexToRgb(MISSING_COLOR);
    for (let i = 0; i < n; i++) {
      const code = field.codes[i], s = slot[code];
      const key = code === 0 ? "missing" : s < 0 ? "other" : code;
      const c = code === 0 ? missing : s < 0 ? other : rgb[s];
      colors.set([c[0], c[1], c[2], fade(key)], 4 * i);
    }
    const entries = shown.map((code, k) => ({ key: code, label: field.table[code - 1], color: CATEGORY_PALETTE[k], count: counts[code] }));
    const otherCount = ranked.slice(shown.length).reduce((sum, code) => sum + counts[code], 0);
    if (otherCount) entries.push({ key: "other", label: `other (${ranked.length - shown.length} more)`, color: OTHER_COLOR, count: otherCount });
    if (counts[0]) entries.push({ key: "missing", label: "missing", color: MISSING_COLOR, count: counts[0] });
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
    if (!Number.isFinite(v)) { missingCount++; colors.set([...missing, fade("missing")], 4 * i); continue; }
    colors.set([...rampColor((v - lo) / span), 255], 4 * i);
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
