/* Reading the embedded payload (atlas/web/pack.py, encode.py): base64 text to bytes, gunzip,
   then a JSON header and typed arrays. Arrays of multi-byte numbers come as byte planes (every
   number's byte 0, then every byte 1, ...): `array(ref)` puts a whole array back together,
   `column(ref)` reads single numbers from the planes where only a few are ever needed.
   Columns of text (ids, names) are UTF-8 bytes with each value's length: a TextColumn decodes a
   value when it is asked for, and the whole column only for search. */

const TYPED_ARRAYS = { f32: Float32Array, f64: Float64Array, u8: Uint8Array, u16: Uint16Array, u32: Uint32Array };

function base64Bytes(text) {
  if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);  // native, off the JS heap
  const binary = atob(text), bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/* Gunzip with the browser's DecompressionStream, into one buffer of the size the gzip trailer
   gives (its last four bytes: the size modulo 2^32), so the chunks are copied once. */
async function inflatePayload(base64) {
  const bytes = base64Bytes(base64.trim());
  performance.mark("atlas:base64");
  const stream = new DecompressionStream("gzip"), writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {});  // a failure is reported by the reader too
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const out = new Uint8Array(new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true));
  let at = 0, rest = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (rest) rest.push(value);
    else if (at + value.length <= out.length) {
      out.set(value, at);
      at += value.length;
    } else rest = [out.subarray(0, at), value];  // the trailer's size is modulo 4 GiB: collect the rest
  }
  if (rest) return new Blob(rest).arrayBuffer();
  return at === out.length ? out.buffer : out.slice(0, at).buffer;
}

/* Byte planes back to whole numbers, four or two bytes at a time. */
function unshuffle(Type, planes, count) {
  const size = Type.BYTES_PER_ELEMENT;
  if (size === 4) {
    const out = new Uint32Array(count);
    const b0 = planes.subarray(0, count), b1 = planes.subarray(count, 2 * count);
    const b2 = planes.subarray(2 * count, 3 * count), b3 = planes.subarray(3 * count, 4 * count);
    for (let i = 0; i < count; i++) out[i] = b0[i] | (b1[i] << 8) | (b2[i] << 16) | (b3[i] << 24);
    return new Type(out.buffer);
  }
  if (size === 2) {
    const out = new Uint16Array(count), b0 = planes.subarray(0, count), b1 = planes.subarray(count, 2 * count);
    for (let i = 0; i < count; i++) out[i] = b0[i] | (b1[i] << 8);
    return new Type(out.buffer);
  }
  const bytes = new Uint8Array(count * size);
  for (let b = 0; b < size; b++) {
    const plane = b * count;
    for (let i = 0; i < count; i++) bytes[i * size + b] = planes[plane + i];
  }
  return new Type(bytes.buffer);
}

/* One array read a number at a time from its planes: get(k). */
class PackedColumn {
  constructor(buffer, offset, ref) {
    this.type = ref.type;
    this.length = ref.length;
    this.size = TYPED_ARRAYS[ref.type].BYTES_PER_ELEMENT;
    this.bytes = new Uint8Array(buffer, offset, ref.length * this.size);
    this.shuffled = Boolean(ref.shuffled);
    if (ref.type === "f32") this.scratch = new DataView(new ArrayBuffer(4));
  }

  get(k) {
    const n = this.length, b = this.bytes;
    if (this.size === 1) return b[k];
    let v;
    if (!this.shuffled) v = this.size === 2 ? b[2 * k] | (b[2 * k + 1] << 8) : b[4 * k] | (b[4 * k + 1] << 8) | (b[4 * k + 2] << 16) | (b[4 * k + 3] << 24);
    else if (this.size === 2) v = b[k] | (b[n + k] << 8);
    else v = b[k] | (b[n + k] << 8) | (b[2 * n + k] << 16) | (b[3 * n + k] << 24);
    if (this.type === "f32") {
      this.scratch.setInt32(0, v, true);
      return this.scratch.getFloat32(0, true);
    }
    return this.size === 4 ? v >>> 0 : v;
  }
}

function decodePayload(buffer) {
  const headLength = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headLength)));
  const base = 4 + headLength;
  const array = (ref) => {
    const Type = TYPED_ARRAYS[ref.type];
    if (!ref.shuffled) return new Type(buffer, base + ref.offset, ref.length);
    return unshuffle(Type, new Uint8Array(buffer, base + ref.offset, ref.length * Type.BYTES_PER_ELEMENT), ref.length);
  };
  const column = (ref) => new PackedColumn(buffer, base + ref.offset, ref);
  return { header, array, column };
}

/* Running totals: starts[i] = sum of lengths[0 .. i-1], for n + 1 entries. */
function startsOf(lengths) {
  const starts = new Uint32Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) starts[i + 1] = starts[i] + lengths[i];
  return starts;
}

const UTF8 = new TextDecoder();

/* A column of text from the payload: at(i) as an array's, indexOf(text) for an exact value. */
class TextColumn {
  constructor(bytes, lengths) {
    this.bytes = bytes;
    this.length = lengths.length;
    this.byteStarts = startsOf(lengths);
    this.whole = null;   // {text, starts}: every value decoded, and where each starts in it
    this.table = null;   // open-addressing hash of the values' bytes, for indexOf
  }

  at(i) {
    if (this.whole) return this.whole.text.slice(this.whole.starts[i], this.whole.starts[i + 1]);
    return UTF8.decode(this.bytes.subarray(this.byteStarts[i], this.byteStarts[i + 1]));
  }

  /* The whole column as one string, and each value's start in it (in UTF-16 units). */
  decodeAll() {
    if (this.whole) return this.whole;
    const text = UTF8.decode(this.bytes);
    let starts = this.byteStarts;
    if (text.length !== this.bytes.length) {  // not all ASCII: count UTF-16 units value by value
      const bytes = this.bytes, byteStarts = this.byteStarts;
      starts = new Uint32Array(this.length + 1);
      let units = 0;
      for (let i = 0; i < this.length; i++) {
        for (let k = byteStarts[i]; k < byteStarts[i + 1]; k++) {
          const b = bytes[k];
          if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;  // a lead byte; four-byte characters take two units
        }
        starts[i + 1] = units;
      }
    }
    this.whole = { text, starts };
    return this.whole;
  }

  /* Whether every value is printable ASCII without leading, trailing or doubled spaces: then
     a value's normalised form (normaliseName) is just its lower case. */
  isPlain() {
    const bytes = this.bytes, starts = this.byteStarts;
    for (let k = 0; k < bytes.length; k++) {
      const b = bytes[k];
      if (b < 0x20 || b > 0x7e || (b === 0x20 && k > 0 && bytes[k - 1] === 0x20)) return false;
    }
    for (let i = 0; i < this.length; i++) {
      if (starts[i + 1] > starts[i] && (bytes[starts[i]] === 0x20 || bytes[starts[i + 1] - 1] === 0x20)) return false;
    }
    return true;
  }

  hashOf(bytes, from, to) {
    let h = 0x811c9dc5;  // FNV-1a
    for (let k = from; k < to; k++) h = Math.imul(h ^ bytes[k], 0x01000193);
    return h >>> 0;
  }

  /* Index of the first value equal to `text`, or -1. */
  indexOf(text) {
    const bytes = this.bytes, starts = this.byteStarts;
    if (!this.table) {
      let size = 1;
      while (size < 2 * this.length) size *= 2;
      const table = new Int32Array(size).fill(-1), mask = size - 1;
      for (let i = 0; i < this.length; i++) {
        let slot = this.hashOf(bytes, starts[i], starts[i + 1]) & mask;
        while (table[slot] >= 0) slot = (slot + 1) & mask;
        table[slot] = i;
      }
      this.table = table;
    }
    const query = new TextEncoder().encode(String(text)), mask = this.table.length - 1;
    for (let slot = this.hashOf(query, 0, query.length) & mask; this.table[slot] >= 0; slot = (slot + 1) & mask) {
      const i = this.table[slot], from = starts[i];
      if (starts[i + 1] - from !== query.length) continue;
      let same = true;
      for (let k = 0; k < query.length && same; k++) same = bytes[from + k] === query[k];
      if (same) return i;
    }
    return -1;
  }
}
