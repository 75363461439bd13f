/* Names as people type them: compared without regard to case, accents or spacing; a looser form
   for pasted lists; and, for an entry that names no item, the closest names, by the rule of the
   app's pasted list (atlas/widgets/lookup.py): names that start with the entry or hold it as
   whole words, most popular first, else names a typo away (difflib's similarity of at least
   0.6). The indexes are built on first use, so that a map of 100,000 names never compares an
   entry with every name: whole words and prefixes are looked up, typos are compared only with
   the names that share the most letter triples with them. */

/* Closest names offered for an entry that matches nothing. */
const SUGGESTIONS = 3;
/* Entries of a pasted list for which closest names are looked up (the rest are only listed). */
const SUGGESTED_ENTRIES = 20;
/* A typo is scored against this many names: those sharing the largest part of their letter
   triples with it. */
const TYPO_CANDIDATES = 400;
/* The least similarity (difflib's ratio) for a name to be offered for a typo. */
const TYPO_CUTOFF = 0.6;

function normaliseName(text) {
  let name = String(text);
  if (/[^\x00-\x7f]/.test(name)) name = name.normalize("NFKD").replace(/\p{M}+/gu, "");
  return name.toLowerCase().replace(/\s+/g, " ").trim();
}

/* A looser form for matching pasted profiles: besides case, accents and spacing it ignores
   punctuation, a leading or trailing article and a trailing bracketed note such as a year, so
   "The Matrix (1999)" finds "Matrix, The". */
function looseName(text) {
  return normaliseName(text)
    .replace(/\s*[(\[][^()\[\]]*[)\]]$/, "")
    .replace(/,\s*(the|a|an)$/, "")
    .replace(/^(the|a|an)\s+/, "")
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/* The letter triples of a loose name, with its edges marked ("  a", " ab", ...). */
function trigramsOf(key) {
  const padded = `  ${key} `, out = new Set();
  for (let i = 0; i + 3 <= padded.length; i++) out.add(padded.slice(i, i + 3));
  return out;
}

/* How alike two strings are, as Python's difflib.SequenceMatcher(None, a, b).ratio() measures it:
   twice the characters in matching blocks (the longest common run, then the same on either
   side of it) over the length of both. */
function similarity(a, b) {
  if (!a.length && !b.length) return 1;
  let matched = 0;
  const stack = [[0, a.length, 0, b.length]];
  let prev = new Int32Array(b.length + 1), cur = new Int32Array(b.length + 1);
  while (stack.length) {
    const [alo, ahi, blo, bhi] = stack.pop();
    let besti = alo, bestj = blo, size = 0;
    prev.fill(0, blo, bhi + 1);
    for (let i = alo; i < ahi; i++) {
      cur.fill(0, blo, bhi + 1);
      for (let j = blo; j < bhi; j++) {
        if (a.charCodeAt(i) !== b.charCodeAt(j)) continue;
        const k = (j > blo ? prev[j] : 0) + 1;  // prev[j] holds the run ending at (i - 1, j - 1)
        cur[j + 1] = k;
        if (k > size) { besti = i - k + 1; bestj = j - k + 1; size = k; }
      }
      [prev, cur] = [cur, prev];
    }
    if (!size) continue;
    matched += size;
    if (alo < besti && blo < bestj) stack.push([alo, besti, blo, bestj]);
    if (besti + size < ahi && bestj + size < bhi) stack.push([besti + size, ahi, bestj + size, bhi]);
  }
  return (2 * matched) / (a.length + b.length);
}

class ClosestNames {
  /* names: the items' names, most popular first (the page's order), as an array or anything
     else with at(i) and length; byLoose, when the caller has it: loose name -> its items, most
     popular first, as a Map or as a KeyTable of the loose names. */
  constructor(names, byLoose = null) {
    this.names = names;
    if (!byLoose) {
      byLoose = new Map();
      for (let i = 0; i < names.length; i++) {
        const key = looseName(names.at(i)), list = byLoose.get(key);
        if (list) list.push(i); else byLoose.set(key, [i]);
      }
    }
    if (byLoose instanceof KeyTable) {
      ({ keys: this.keys, itemsOf: this.itemsOf } = byLoose.groups());
    } else {
      byLoose.delete("");
      this.keys = Array.from(byLoose.keys());        // distinct loose names
      this.itemsOf = Array.from(byLoose.values());  // for each key, the items that have it
    }
    this.sorted = null;    // key numbers in the keys' order, for prefixes
    this.words = null;     // word -> numbers of the keys holding it
    this.trigrams = null;  // letter triple -> numbers of the keys holding it
  }

  /* Up to `limit` items whose names are closest to `text`, one per name. */
  closest(text, limit = SUGGESTIONS) {
    const key = looseName(text);
    if (!key) return [];
    const holding = this.holding(key);
    return this.onePerName(holding.length ? holding : this.typos(key), limit);
  }

  onePerName(items, limit) {
    const seen = new Set(), out = [];
    for (const i of items) {
      if (out.length >= limit) break;
      const name = this.names.at(i);
      if (seen.has(name)) continue;
      seen.add(name);
      out.push(i);
    }
    return out;
  }

  /* Items whose loose name starts with `key` or holds it as whole words, most popular first. */
  holding(key) {
    const found = new Set();
    if (!this.sorted) {
      this.sorted = Uint32Array.from(this.keys.keys()).sort((p, q) => (this.keys[p] < this.keys[q] ? -1 : this.keys[p] > this.keys[q] ? 1 : 0));
    }
    let lo = 0, hi = this.sorted.length;  // the first key not before `key`
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.keys[this.sorted[mid]] < key) lo = mid + 1; else hi = mid;
    }
    for (let s = lo; s < this.sorted.length && this.keys[this.sorted[s]].startsWith(key); s++) found.add(this.sorted[s]);
    if (!this.words) {
      this.words = new Map();
      this.keys.forEach((name, k) => {
        for (const word of new Set(name.split(" "))) {
          const list = this.words.get(word);
          if (list) list.push(k); else this.words.set(word, [k]);
        }
      });
    }
    let rarest = null;  // only the keys holding the entry's rarest word can hold all of it
    for (const word of key.split(" ")) {
      const list = this.words.get(word) || [];
      if (!rarest || list.length < rarest.length) rarest = list;
    }
    const padded = ` ${key} `;
    for (const k of rarest) if (` ${this.keys[k]} `.includes(padded)) found.add(k);
    const items = [];
    for (const k of found) for (const i of this.itemsOf[k]) items.push(i);
    return items.sort((a, b) => a - b);
  }

  /* Items whose loose names are at least TYPO_CUTOFF similar to `key`, the most similar first
     (the more popular of equals first). */
  typos(key) {
    if (!this.trigrams) {
      this.trigrams = new Map();
      this.gramCount = new Uint16Array(this.keys.length);
      this.keys.forEach((name, k) => {
        const grams = trigramsOf(name);
        this.gramCount[k] = grams.size;
        for (const gram of grams) {
          const list = this.trigrams.get(gram);
          if (list) list.push(k); else this.trigrams.set(gram, [k]);
        }
      });
      this.shared = new Uint16Array(this.keys.length);
    }
    const shared = this.shared, touched = [], grams = trigramsOf(key);
    for (const gram of grams) {
      for (const k of this.trigrams.get(gram) || []) if (shared[k]++ === 0) touched.push(k);
    }
    // the share of both names' triples in common, a cheap stand-in for the similarity
    const overlap = new Float32Array(touched.length);
    touched.forEach((k, t) => { overlap[t] = shared[k] / (grams.size + this.gramCount[k]); shared[k] = 0; });
    let candidates = touched;
    if (touched.length > TYPO_CANDIDATES) {
      const least = overlap.slice().sort()[touched.length - TYPO_CANDIDATES];
      candidates = touched.filter((k, t) => overlap[t] >= least).slice(0, 2 * TYPO_CANDIDATES);
    }
    const scored = [];
    for (const k of candidates) {
      const score = similarity(this.keys[k], key);  // difflib.get_close_matches' order
      if (score >= TYPO_CUTOFF) scored.push([score, k]);
    }
    scored.sort((p, q) => q[0] - p[0] || this.itemsOf[p[1]][0] - this.itemsOf[q[1]][0]);
    return scored.flatMap(([, k]) => this.itemsOf[k]);
  }
}

/* Every name of a text column (payload.js, TextColumn) in its normalised form (normaliseName),
   joined into one string, with where each starts: a query is found with the string's own
   indexOf instead of a million small searches. */
class NameSearch {
  constructor(column) {
    const { text, starts } = column.decodeAll();
    if (column.isPlain()) {  // printable ASCII, single spaces: normalised is lower case, same length
      this.text = text.toLowerCase();
      this.starts = starts;
    } else {
      const parts = new Array(column.length);
      this.starts = new Uint32Array(column.length + 1);
      for (let i = 0; i < column.length; i++) {
        parts[i] = normaliseName(text.slice(starts[i], starts[i + 1]));
        this.starts[i + 1] = this.starts[i] + parts[i].length;
      }
      this.text = parts.join("");
    }
  }

  key(i) { return this.text.slice(this.starts[i], this.starts[i + 1]); }

  /* The item whose normalised name holds the position `at` of the joined string. */
  itemAt(at) {
    let lo = 0, hi = this.starts.length - 2;  // the last i with starts[i] <= at
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= at) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /* Items whose normalised name starts with the normalised query `q` (prefix) and those that
     hold it further in (inside), each in index order: up to `limit` of each, stopping once
     `limit` prefixes are found; item `skip` left out. */
  find(q, limit, skip = -1) {
    const text = this.text, starts = this.starts, prefix = [], inside = [];
    let from = 0;
    while (prefix.length < limit) {
      const at = text.indexOf(q, from);
      if (at < 0) break;
      const i = this.itemAt(at), end = starts[i + 1];
      // A match running into the next name is none; a name's first match decides its group.
      if (at + q.length <= end && i !== skip) {
        if (at === starts[i]) prefix.push(i);
        else if (inside.length < limit) inside.push(i);
      }
      from = at + q.length <= end ? end : at + 1;
    }
    return { prefix, inside };
  }
}

/* FNV-1a hash of text's UTF-16 units from..to. */
function hashText(text, from, to) {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

/* One key per item, joined in one string (item i's key runs from starts[i] to starts[i + 1],
   less `gap` separator characters), looked up exactly through an open-addressing hash: no
   million-entry Map. Empty keys are never found. */
class KeyTable {
  constructor(text, starts, gap = 0) {
    this.text = text;
    this.starts = starts;
    this.gap = gap;
    const n = starts.length - 1;
    let size = 1;
    while (size < 2 * n) size *= 2;
    this.table = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (let i = 0; i < n; i++) {
      const from = starts[i], to = starts[i + 1] - gap;
      if (to <= from) continue;
      let slot = hashText(text, from, to) & this.mask;
      while (this.table[slot] >= 0) slot = (slot + 1) & this.mask;
      this.table[slot] = i;
    }
  }

  key(i) { return this.text.slice(this.starts[i], this.starts[i + 1] - this.gap); }

  /* The items whose key is `key`, in index order. */
  items(key) {
    const out = [], { text, starts, gap, table, mask } = this;
    if (!key) return out;
    for (let slot = hashText(key, 0, key.length) & mask; table[slot] >= 0; slot = (slot + 1) & mask) {
      const i = table[slot];
      if (starts[i + 1] - gap - starts[i] === key.length && text.startsWith(key, starts[i])) out.push(i);
    }
    return out.sort((a, b) => a - b);
  }

  /* {keys, itemsOf}: the distinct non-empty keys in the order of their first items, and each
     one's items in index order. */
  groups() {
    const keys = [], itemsOf = [], n = this.starts.length - 1;
    for (let i = 0; i < n; i++) {
      const key = this.key(i);
      if (!key) continue;
      const items = this.items(key);
      if (items[0] !== i) continue;
      keys.push(key);
      itemsOf.push(items);
    }
    return { keys, itemsOf };
  }
}

/* The loose form (looseName) of every key of a KeyTable of normalised names at once: looseName's
   rules run over the names joined by line breaks, which no normalised name holds (its white
   space is single spaces), each rule anchored at its own line. A KeyTable of the loose names. */
function looseTable(normalised) {
  const n = normalised.starts.length - 1, keys = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = normalised.key(i);
  const text = (keys.join("\n") + "\n")
    .replace(/ *[(\[][^()\[\]\n]*[)\]]$/gm, "")
    .replace(/, *(the|a|an)$/gm, "")
    .replace(/^(the|a|an) +/gm, "")
    .replace(/[^\p{L}\p{N}\n]+/gu, " ")
    .replace(/^ +| +$/gm, "");
  const starts = new Uint32Array(n + 1);
  for (let i = 0, at = 0; i < n; i++) {
    at = text.indexOf("\n", at) + 1;
    starts[i + 1] = at;
  }
  return new KeyTable(text, starts, 1);
}

/* `text` (a pasted list) with `entry` replaced by `name`: a line that is the entry becomes the
   name; an entry among a line's commas is taken out of it and the name added on a line of its
   own (a name may hold commas itself). */
function replaceEntry(text, entry, name) {
  let added = false;
  const lines = [];
  for (const line of String(text).split(/\r?\n/)) {
    if (line.trim() === entry) { lines.push(name); added = true; continue; }
    const parts = line.split(",");
    const kept = parts.filter((part) => part.trim() !== entry);
    if (kept.length === parts.length) { lines.push(line); continue; }
    if (kept.some((part) => part.trim())) lines.push(kept.map((part) => part.trim()).join(", "));
    if (!added) lines.push(name);
    added = true;
  }
  if (!added) lines.push(name);
  return lines.join("\n");
}
