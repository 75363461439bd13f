/* WebGL points. Every item is drawn in one draw call from static buffers (positions,
   popularity, colour), least popular first so popular items sit on top. The few highlighted
   items (profile, selection, neighbours) are drawn again on top from a small buffer. */

const BACKGROUND = [11 / 255, 14 / 255, 21 / 255];

const POINT_VERTEX = `
precision highp float;
attribute vec2 a_position;
attribute float a_popularity;
attribute vec4 a_color;
attribute float a_style;
uniform vec2 u_center;
uniform vec2 u_scale;
uniform float u_radius;
uniform float u_grow;
uniform float u_maxRadius;
uniform float u_pixelRatio;
uniform float u_dim;
varying vec4 v_color;
varying float v_glow;
varying float v_size;
void main() {
  gl_Position = vec4((a_position - u_center) * u_scale, 0.0, 1.0);
  float radius = min(u_radius * (1.0 + u_grow * a_popularity), u_maxRadius);
  vec4 color = a_color;
  float glow = 0.0;
  if (a_style > 2.5) {            // the selected item
    radius = max(radius * 1.5, 5.0);
    color = vec4(1.0, 1.0, 1.0, 1.0);
    glow = 1.0;
  } else if (a_style > 1.5) {     // a neighbour of the selected item
    radius = max(radius * 1.25, 3.5);
    color.a = 1.0;
    glow = 0.7;
  } else if (a_style > 0.5) {     // an item of the visitor's profile
    radius = max(radius * 1.3, 3.0);
    color = vec4(1.0, 0.80, 0.34, 1.0);
    glow = 1.0;
  } else {
    color.a *= 1.0 - u_dim;
  }
  v_color = color;
  v_glow = glow;
  // A glowing point keeps its disc at half its sprite; the outer half is the halo.
  v_size = max(radius * 2.0 * u_pixelRatio * (1.0 + glow), 1.5);
  gl_PointSize = v_size;
}`;

const POINT_FRAGMENT = `
precision mediump float;
varying vec4 v_color;
varying float v_glow;
varying float v_size;
void main() {
  float d = length(gl_PointCoord * 2.0 - 1.0);
  if (d > 1.0) discard;
  float edge = 2.0 / v_size;
  if (v_glow > 0.0) {
    float core = 1.0 - smoothstep(0.5 - edge, 0.5, d);
    float halo = pow(1.0 - smoothstep(0.45, 1.0, d), 1.6) * 0.55 * v_glow;
    float a = max(core, halo) * v_color.a;
    vec3 rgb = mix(v_color.rgb, vec3(1.0), core * 0.15);
    gl_FragColor = vec4(rgb, a);
  } else {
    float a = (1.0 - smoothstep(1.0 - edge, 1.0, d)) * v_color.a;
    gl_FragColor = vec4(v_color.rgb, a);
  }
}`;

function compileProgram(gl, vertexSource, fragmentSource) {
  const shader = (type, source) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, source);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error("shader: " + gl.getShaderInfoLog(s));
    return s;
  };
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, vertexSource));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, fragmentSource));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error("program: " + gl.getProgramInfoLog(program));
  return program;
}

class PointRenderer {
  /* options.background: [r, g, b] in 0..1 behind the points (default: the atlas's dark blue). */
  constructor(canvas, data, options = {}) {
    const gl = canvas.getContext("webgl", { antialias: false, alpha: false, preserveDrawingBuffer: true });
    if (!gl) throw new Error("This browser cannot draw the map: WebGL is not available.");
    this.gl = gl;
    this.canvas = canvas;
    this.data = data;
    this.n = data.n;
    this.background = options.background || BACKGROUND;
    this.program = compileProgram(gl, POINT_VERTEX, POINT_FRAGMENT);
    this.attributes = {};
    for (const name of ["a_position", "a_popularity", "a_color", "a_style"]) {
      this.attributes[name] = gl.getAttribLocation(this.program, name);
    }
    this.uniforms = {};
    for (const name of ["u_center", "u_scale", "u_radius", "u_grow", "u_maxRadius", "u_pixelRatio", "u_dim"]) {
      this.uniforms[name] = gl.getUniformLocation(this.program, name);
    }
    // Static buffers in drawing order: item n-1 (least popular) first.
    const n = this.n, position = new Float32Array(2 * n), popularity = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const i = n - 1 - j;
      position[2 * j] = data.xy[2 * i];
      position[2 * j + 1] = data.xy[2 * i + 1];
      popularity[j] = data.popularity[i];
    }
    this.positionBuffer = this.staticBuffer(position);
    this.popularityBuffer = this.staticBuffer(popularity);
    this.colorBuffer = gl.createBuffer();
    this.highlightBuffer = gl.createBuffer();
    this.highlightCount = 0;
    this.dim = 0;
    // Point size: a base radius from how crowded the fitted map is, growing with zoom.
    this.grow = 2.4;
    this.alpha = n > 50000 ? 0.6 : n > 5000 ? 0.78 : 0.92;
    gl.disable(gl.DEPTH_TEST);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
  }

  /* Upload data.xy again after it changed (the diff page moves items between two maps). */
  updatePositions() {
    const n = this.n, position = new Float32Array(2 * n);
    for (let j = 0; j < n; j++) {
      const i = n - 1 - j;
      position[2 * j] = this.data.xy[2 * i];
      position[2 * j + 1] = this.data.xy[2 * i + 1];
    }
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.positionBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, position, gl.DYNAMIC_DRAW);
  }

  staticBuffer(values) {
    const gl = this.gl, buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, values, gl.STATIC_DRAW);
    return buffer;
  }

  /* colors: RGBA bytes in item order. */
  setColors(colors) {
    const n = this.n, ordered = new Uint8Array(4 * n);
    for (let j = 0; j < n; j++) {
      const i = 4 * (n - 1 - j);
      ordered[4 * j] = colors[i];
      ordered[4 * j + 1] = colors[i + 1];
      ordered[4 * j + 2] = colors[i + 2];
      ordered[4 * j + 3] = Math.round(colors[i + 3] * this.alpha);
    }
    this.colors = colors;
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.colorBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, ordered, gl.STATIC_DRAW);
  }

  /* items: [[index, style], ...] drawn in that order on top (style 1 profile, 2 neighbour, 3 selected). */
  setHighlights(items, dim) {
    const stride = 6, packed = new Float32Array(items.length * stride);
    items.forEach(([i, style], k) => {
      packed.set([this.data.xy[2 * i], this.data.xy[2 * i + 1], this.data.popularity[i], style,
                  0, 0], k * stride);
      new Uint8Array(packed.buffer, (k * stride + 4) * 4, 4).set(this.colors.subarray(4 * i, 4 * i + 4));
    });
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.highlightBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, packed, gl.DYNAMIC_DRAW);
    this.highlightCount = items.length;
    this.dim = dim;
  }

  baseRadius(view) {
    const spacing = Math.sqrt((view.width * view.height) / Math.max(1, this.n));
    const atFit = Math.min(3.2, Math.max(0.8, 0.2 * spacing));
    return atFit * Math.min(10, Math.max(0.7, Math.pow(view.k / view.fitK, 0.4)));
  }

  maxRadius() { return 40; }

  /* On-screen radius of item i in CSS pixels (the shader's formula). */
  radius(view, i) {
    return Math.min(this.baseRadius(view) * (1 + this.grow * this.data.popularity[i]), this.maxRadius());
  }

  resize(width, height, pixelRatio) {
    this.pixelRatio = pixelRatio;
    this.canvas.width = Math.round(width * pixelRatio);
    this.canvas.height = Math.round(height * pixelRatio);
  }

  draw(view) {
    const gl = this.gl, a = this.attributes, u = this.uniforms;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(this.background[0], this.background[1], this.background[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(this.program);
    gl.uniform2f(u.u_center, view.cx, view.cy);
    gl.uniform2f(u.u_scale, (2 * view.k) / view.width, (2 * view.k) / view.height);
    gl.uniform1f(u.u_radius, this.baseRadius(view));
    gl.uniform1f(u.u_grow, this.grow);
    gl.uniform1f(u.u_maxRadius, this.maxRadius());
    gl.uniform1f(u.u_pixelRatio, this.pixelRatio);

    gl.uniform1f(u.u_dim, this.dim);
    this.bind(a.a_position, this.positionBuffer, 2, gl.FLOAT, false, 0, 0);
    this.bind(a.a_popularity, this.popularityBuffer, 1, gl.FLOAT, false, 0, 0);
    this.bind(a.a_color, this.colorBuffer, 4, gl.UNSIGNED_BYTE, true, 0, 0);
    gl.disableVertexAttribArray(a.a_style);
    gl.vertexAttrib1f(a.a_style, 0);
    gl.drawArrays(gl.POINTS, 0, this.n);

    if (this.highlightCount) {
      const stride = 24;
      this.bind(a.a_position, this.highlightBuffer, 2, gl.FLOAT, false, stride, 0);
      this.bind(a.a_popularity, this.highlightBuffer, 1, gl.FLOAT, false, stride, 8);
      this.bind(a.a_style, this.highlightBuffer, 1, gl.FLOAT, false, stride, 12);
      this.bind(a.a_color, this.highlightBuffer, 4, gl.UNSIGNED_BYTE, true, stride, 16);
      gl.drawArrays(gl.POINTS, 0, this.highlightCount);
    }
  }

  bind(location, buffer, size, type, normalized, stride, offset) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, size, type, normalized, stride, offset);
  }
}
