/* The bows explorer (written into analysis/explorer.html by bows.analysis.explorer): Word, Group, Map
   and Compare views of one model or of every model of a sweep / study, drawn with plotly.
   A group's ring and line scores are computed here with the analysis's definitions:
   ring score  = bows.core.geometry.ring_analysis (PCA-3 of the raw vectors, angles around the
                 centroid in PC1-2, share of calendar-adjacent pairs that are angular neighbours;
                 chance 2/(n-1); p = share of random orders with at least as many adjacent pairs);
   shape ring / line = bows.core.discovery.group_shapes on the group's cosine block. */
(function () {
  "use strict";
  var HEAD = JSON.parse(document.getElementById("bows-head").textContent);
  var MODELS = HEAD.models.map(function (m) { return { meta: m, m: null, waiting: [] }; });
  var state = { model: 0, view: "word", word: null, group: null, compare: "word" };
  var view = document.getElementById("view");

  // ------------------------------------------------------------------------- decoding
  var F16 = (function () {
    var t = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
      t[h] = e === 0 ? s * Math.pow(2, -14) * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * Math.pow(2, e - 15) * (1 + f / 1024);
    }
    return t;
  })();
  function buffer(b64) {
    var s = atob(b64), n = s.length, u = new Uint8Array(n);
    for (var i = 0; i < n; i++) u[i] = s.charCodeAt(i);
    return u.buffer;
  }
  function typed(b64, dtype) {
    var buf = buffer(b64);
    return dtype === "i4" ? new Int32Array(buf) : new Uint16Array(buf); // f2 and u2 as raw uint16
  }
  function prepare(d) {
    var m = { d: d, V: d.words.length, L: d.info.latent_size, index: Object.create(null), vcache: Object.create(null) };
    for (var i = 0; i < m.V; i++) m.index[d.words[i]] = i;
    var nb = d.neighbours;
    m.k = nb.k;
    m.nearest = typed(nb.nearest, "i4"); m.nearestCos = typed(nb.nearest_cos, "f2");
    m.opposed = typed(nb.opposed, "i4"); m.opposedCos = typed(nb.opposed_cos, "f2");
    var w = d.windows;
    m.win = { n: w.n, k: w.k, split: w.split, offsets: typed(w.offsets, "i4"), indices: typed(w.indices, w.index_dtype),
      lifted: typed(w.lifted, "i4"), liftedZ: typed(w.lifted_z, "f2"), missed: typed(w.missed, "i4"), missedZ: typed(w.missed_z, "f2") };
    if (d.cooc) {
      m.cooc = { k: d.cooc.k, ids: typed(d.cooc.ids, "i4"), phi: typed(d.cooc.phi, "f2"), pmi: typed(d.cooc.pmi, "f2"), count: typed(d.cooc.count, "i4") };
    }
    return m;
  }
  function byteRange(b64, a, b) { // bytes [a, b) of base64 text, decoding only the characters that hold them
    var s = atob(b64.substring(Math.floor(a / 3) * 4, Math.ceil(b / 3) * 4)), skip = a % 3, out = new Uint8Array(b - a);
    for (var i = 0; i < b - a; i++) out[i] = s.charCodeAt(skip + i);
    return out;
  }
  function vec(m, i) { // word i's vector (float64), decoded on demand (never the whole matrix)
    var c = m.d.vectors, L = m.L, out = new Float64Array(L), j;
    if (m.vcache[i]) return m.vcache[i];
    if (c.coding === "f2") {
      var h = new Uint16Array(byteRange(c.data, 2 * L * i, 2 * L * (i + 1)).buffer);
      for (j = 0; j < L; j++) out[j] = F16[h[j]];
    } else { // q8: int8 times the word's scale
      if (!m.scale) m.scale = new Float32Array(buffer(c.scale));
      var q = new Int8Array(byteRange(c.data, L * i, L * (i + 1)).buffer);
      for (j = 0; j < L; j++) out[j] = q[j] * m.scale[i];
    }
    return (m.vcache[i] = out);
  }
  window.BOWS_EXPLORER = {
    state: state,
    add: function (i, data) {
      MODELS[i].m = prepare(data);
      var w = MODELS[i].waiting; MODELS[i].waiting = [];
      w.forEach(function (f) { f(MODELS[i].m); });
    }
  };
  function withModel(i, f) { // call f(model) once model i's data is loaded (its script added on first use)
    var M = MODELS[i];
    if (M.m) return f(M.m);
    M.waiting.push(f);
    if (M.waiting.length === 1) {
      var s = document.createElement("script");
      s.src = M.meta.src;
      s.onerror = function () { view.insertAdjacentHTML("afterbegin", "<p class='bad'>Could not load " + esc(M.meta.src) + " (keep the explorer/ folder next to the page).</p>"); };
      document.body.appendChild(s);
    }
  }

  // ------------------------------------------------------------------------- small helpers
  function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&#39;").replace(/"/g, "&quot;"); }
  function fmt(v, d) { return v === null || v === undefined || !isFinite(v) ? "n/a" : Number(v).toFixed(d === undefined ? 3 : d); }
  function el(html) { var t = document.createElement("div"); t.innerHTML = html; return t.firstElementChild; }
  function wlink(w, extra) { return "<a class='w' data-go='" + esc(w) + "'>" + esc(w) + "</a>" + (extra || ""); }
  view.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("[data-go]") : null;
    if (a) { state.word = a.getAttribute("data-go"); setView("word"); }
  });
  function cosine(a, b) {
    var d = 0, na = 0, nb = 0;
    for (var i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    return na > 0 && nb > 0 ? d / Math.sqrt(na * nb) : NaN;
  }

  // ------------------------------------------------------------------------- linear algebra (small symmetric)
  function eigSym(A) { // Jacobi: eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix
    var n = A.length, a = A.map(function (r) { return Float64Array.from(r); }), v = [];
    for (var i = 0; i < n; i++) { v.push(new Float64Array(n)); v[i][i] = 1; }
    for (var sweep = 0; sweep < 100; sweep++) {
      var off = 0, diag = 0;
      for (var p = 0; p < n; p++) { diag += a[p][p] * a[p][p]; for (var q = p + 1; q < n; q++) off += a[p][q] * a[p][q]; }
      if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
      for (p = 0; p < n; p++) for (q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        var th = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        var t = (th >= 0 ? 1 : -1) / (Math.abs(th) + Math.sqrt(th * th + 1)), c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (var k = 0; k < n; k++) { var kp = a[k][p], kq = a[k][q]; a[k][p] = c * kp - s * kq; a[k][q] = s * kp + c * kq; }
        for (k = 0; k < n; k++) { var pk = a[p][k], qk = a[q][k]; a[p][k] = c * pk - s * qk; a[q][k] = s * pk + c * qk; }
        for (k = 0; k < n; k++) { var vp = v[k][p], vq = v[k][q]; v[k][p] = c * vp - s * vq; v[k][q] = s * vp + c * vq; }
      }
    }
    var order = []; for (i = 0; i < n; i++) order.push(i);
    order.sort(function (x, y) { return a[y][y] - a[x][x]; });
    return { values: order.map(function (j) { return a[j][j]; }), vectors: v.map(function (row) { return order.map(function (j) { return row[j]; }); }) };
  }
  function centredGram(G) { // H G H, H = I - 1/n
    var n = G.length, rm = new Float64Array(n), all = 0, out = [];
    for (var i = 0; i < n; i++) { for (var j = 0; j < n; j++) rm[i] += G[i][j] / n; all += rm[i] / n; }
    for (i = 0; i < n; i++) { out.push(new Float64Array(n)); for (j = 0; j < n; j++) out[i][j] = G[i][j] - rm[i] - rm[j] + all; }
    return out;
  }
  function pcaCoords(G, k) { // point coordinates from a Gram matrix of centred points (as geometry.pca_from_gram)
    var e = eigSym(G), n = G.length, coords = [];
    for (var i = 0; i < n; i++) { var c = []; for (var j = 0; j < k; j++) c.push(j < n ? e.vectors[i][j] * Math.sqrt(Math.max(e.values[j], 0)) : 0); coords.push(c); }
    var vals = e.values.map(function (x) { return Math.max(x, 0); }), tot = vals.reduce(function (s, x) { return s + x; }, 0);
    return { coords: coords, values: vals, explained: vals.map(function (x) { return tot > 0 ? x / tot : 0; }) };
  }

  // ------------------------------------------------------------------------- the analysis's scores
  function angles(coords) { // geometry.angles
    var n = coords.length, mx = 0, my = 0, scale = 0;
    coords.forEach(function (c) { mx += c[0] / n; my += c[1] / n; scale = Math.max(scale, Math.abs(c[0]), Math.abs(c[1])); });
    return coords.map(function (c) {
      var x = c[0] - mx, y = c[1] - my, r = Math.hypot(x, y), th = Math.atan2(y, x);
      th = ((th % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
      return r > Math.max(scale, 1e-300) * 1e-9 ? th : NaN;
    });
  }
  function argsortStable(x) { return x.map(function (v, i) { return i; }).sort(function (a, b) { return x[a] - x[b] || a - b; }); }
  function adjacentCount(rank) {
    var n = rank.length, c = 0;
    for (var i = 0; i < n; i++) { var g = Math.abs(rank[i] - rank[(i + 1) % n]); if (g === 1 || g === n - 1) c++; }
    return c;
  }
  function ringScore(theta) { // geometry.ring_score
    var n = theta.length;
    if (n < 3) return { reason: n + " points (a ring needs >= 3)" };
    if (theta.some(function (t) { return !isFinite(t); })) return { reason: "points without an angle (at the centroid)" };
    if (new Set(theta).size < n) return { reason: "tied angles: the angular order is undefined" };
    var rank = new Array(n); argsortStable(theta).forEach(function (idx, r) { rank[idx] = r; });
    var adj = adjacentCount(rank) / n, best = 0;
    [1, -1].forEach(function (sign) {
      var re = 0, im = 0;
      for (var i = 0; i < n; i++) { var d = 2 * Math.PI * rank[i] / n - sign * 2 * Math.PI * i / n; re += Math.cos(d) / n; im += Math.sin(d) / n; }
      best = Math.max(best, re * re + im * im);
    });
    return { adjacent_fraction: adj, circular_rank_corr: best, chance: 2 / (n - 1), p: ringP(Math.round(adj * n), n), reason: null };
  }
  function ringP(k, n) { // share of random orders with >= k adjacent pairs (claims.ring_p, by simulation here)
    var draws = 20000, hit = 0, seed = 12345, perm = new Array(n), rank = new Array(n);
    function rnd() { // mulberry32
      seed = (seed + 0x6d2b79f5) | 0; var t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
    for (var d = 0; d < draws; d++) {
      for (var i = 0; i < n; i++) perm[i] = i;
      for (i = n - 1; i > 0; i--) { var j = Math.floor(rnd() * (i + 1)), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
      for (i = 0; i < n; i++) rank[perm[i]] = i;
      if (adjacentCount(rank) >= k) hit++;
    }
    return { value: hit / draws, draws: draws };
  }
  function groupShapes(S) { // discovery.group_shapes of one group (S: its similarity block)
    var s = S.length, pairs = [], iu = [];
    for (var i = 0; i < s; i++) for (var j = i + 1; j < s; j++) { pairs.push(S[i][j]); iu.push([i, j]); }
    var pc = pcaCoords(centredGram(S), 2), l = pc.values, total = Math.max(l.reduce(function (a, b) { return a + b; }, 0), 1e-300);
    var coords = pc.coords, r = coords.map(function (c) { return Math.hypot(c[0], c[1]); });
    var rm = r.reduce(function (a, b) { return a + b; }, 0) / s, rsd = Math.sqrt(r.reduce(function (a, b) { return a + (b - rm) * (b - rm); }, 0) / s);
    var radial = 1 - Math.min(rsd / Math.max(rm, 1e-12), 1);
    var angle = coords.map(function (c) { var t = Math.atan2(c[1], c[0]); return ((t % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI); });
    var theta = angle.slice().sort(function (a, b) { return a - b; }), maxGap = 0;
    for (i = 0; i < s; i++) maxGap = Math.max(maxGap, (i + 1 < s ? theta[i + 1] : theta[0] + 2 * Math.PI) - theta[i]);
    var coverage = 1 - Math.max(maxGap - 2 * Math.PI / s, 0) / (2 * Math.PI);
    var re = 0, im = 0; theta.forEach(function (t) { re += Math.cos(2 * t) / s; im += Math.sin(2 * t) / s; });
    var spreadAngle = 1 - Math.hypot(re, im);
    var rank = new Array(s); argsortStable(angle).forEach(function (idx, q) { rank[idx] = q; });
    var tpl = iu.map(function (p) { return Math.cos(2 * Math.PI * (rank[p[0]] - rank[p[1]]) / s); });
    var pm = pairs.reduce(function (a, b) { return a + b; }, 0) / pairs.length, tm = tpl.reduce(function (a, b) { return a + b; }, 0) / tpl.length;
    var num = 0, da = 0, dt = 0;
    for (i = 0; i < pairs.length; i++) { num += (pairs[i] - pm) * (tpl[i] - tm); da += (pairs[i] - pm) * (pairs[i] - pm); dt += (tpl[i] - tm) * (tpl[i] - tm); }
    var den = Math.sqrt(da * dt), adjacency = den > 1e-300 ? num / den : 0;
    var l1 = l[0], l2 = s > 1 ? l[1] : 0, roundness = l1 > 0 ? l2 / l1 : 0;
    var pc1 = coords.map(function (c) { return c[0] * c[0]; }), pcs = pc1.reduce(function (a, b) { return a + b; }, 0);
    var spread = 1 - Math.max.apply(null, pc1) / Math.max(pcs, 1e-300);
    var x = coords.map(function (c) { return c[0]; }).sort(function (a, b) { return a - b; }), extent = Math.max(x[s - 1] - x[0], 1e-300), md = 0;
    for (i = 1; i < s; i++) md = Math.max(md, x[i] - x[i - 1]);
    var evenness = 1 - Math.max(md - extent / (s - 1), 0) / extent;
    return { ring: Math.max(adjacency, 0) * coverage * spreadAngle * radial, line: l1 / total * (1 - roundness) * spread * evenness, adjacency: adjacency, cluster: pm };
  }
  function groupNumbers(m, ids) { // everything the Group view shows for word ids (in the given order)
    var V = ids.map(function (i) { return vec(m, i); }), n = ids.length, L = m.L;
    var gram = V.map(function (a) { return V.map(function (b) { var d = 0; for (var j = 0; j < L; j++) d += a[j] * b[j]; return d; }); });
    var cos = V.map(function (a) { return V.map(function (b) { return cosine(a, b); }); });
    var out = { gram: gram, cos: cos, n: n };
    if (n >= 2) {
      var pca = pcaCoords(centredGram(gram), 3); // PCA of the raw vectors (geometry.ring_analysis, k=3)
      out.pca = pca;
      out.ring = ringScore(angles(pca.coords));
    }
    if (n >= 3) out.shapes = groupShapes(cos.map(function (r) { return r.map(function (v) { return isFinite(v) ? v : 0; }); }));
    else out.shapeReason = n + " words (a shape needs >= 3)";
    out.phi = dataPhi(m, ids);
    return out;
  }
  function dataPhi(m, ids) { // phi of the words' window indicators over the held-out windows of the page
    var n = m.win.n, pos = Object.create(null), k = ids.length, c = new Float64Array(k), cc = [];
    ids.forEach(function (w, a) { pos[w] = a; cc.push(new Float64Array(k)); });
    var off = m.win.offsets, idx = m.win.indices, hit = [];
    for (var r = 0; r < n; r++) {
      hit.length = 0;
      for (var q = off[r]; q < off[r + 1]; q++) { var a = pos[idx[q]]; if (a !== undefined) hit.push(a); }
      for (var i = 0; i < hit.length; i++) { c[hit[i]]++; for (var j = 0; j < hit.length; j++) if (i !== j) cc[hit[i]][hit[j]]++; }
    }
    return cc.map(function (row, i) {
      return Array.prototype.map.call(row, function (cij, j) {
        if (i === j) return c[i] > 0 && c[i] < n ? 1 : NaN;
        var den = Math.sqrt(c[i] * (n - c[i]) * c[j] * (n - c[j]));
        return den > 0 ? (n * cij - c[i] * c[j]) / den : NaN;
      });
    });
  }

  // ------------------------------------------------------------------------- page frame
  var TABS = [["word", "Word"], ["group", "Group"], ["map", "Map"]];
  if (MODELS.length > 1) TABS.push(["compare", "Compare models"]);
  var nav = document.getElementById("tabs");
  TABS.forEach(function (t) {
    var b = el("<button data-tab='" + t[0] + "'>" + t[1] + "</button>");
    b.onclick = function () { setView(t[0]); };
    nav.appendChild(b);
  });
  if (MODELS.length > 1) {
    var pick = el("<label>model <select id='model-select'>" + MODELS.map(function (M, i) { return "<option value='" + i + "'>" + esc(M.meta.label) + "</option>"; }).join("") + "</select></label>");
    pick.querySelector("select").onchange = function (e) { state.model = +e.target.value; setView(state.view); };
    document.getElementById("model-pick").appendChild(pick);
  }
  function setView(name) {
    state.view = name;
    Array.prototype.forEach.call(nav.children, function (b) { b.className = b.getAttribute("data-tab") === name ? "on" : ""; });
    if (name === "compare") return compareView();
    withModel(state.model, function (m) { ({ word: wordView, group: groupView, map: mapView })[name](m); });
  }

  // ------------------------------------------------------------------------- Word view
  function datalist(m) {
    if (document.getElementById("vocab-" + state.model)) return "vocab-" + state.model;
    var dl = document.createElement("datalist"); dl.id = "vocab-" + state.model;
    var order = m.d.words.map(function (w, i) { return i; }).sort(function (a, b) { return m.d.rank[a] - m.d.rank[b]; });
    dl.innerHTML = order.map(function (i) { return "<option value='" + esc(m.d.words[i]) + "'>"; }).join("");
    document.body.appendChild(dl);
    return dl.id;
  }
  function defaultWord(m) {
    var pref = ["Christmas", "January", "Thursday"];
    for (var i = 0; i < pref.length; i++) if (pref[i] in m.index) return pref[i];
    return m.d.words[m.d.rank.indexOf(1)];
  }
  function wordView(m) {
    var w = state.word && state.word in m.index ? state.word : state.word ? null : defaultWord(m);
    view.innerHTML = "<div class='row'><label>word <input type='text' id='word-input' list='" + datalist(m) + "' placeholder='type a word' value='" + esc(state.word || w || "") + "'></label>"
      + "<span class='note'>" + esc(m.d.info.title || "") + "</span></div><div id='word-body'></div>";
    var input = document.getElementById("word-input");
    function go() { state.word = input.value.trim(); renderWord(m, state.word); }
    input.addEventListener("change", go);
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") go(); });
    renderWord(m, w || state.word);
  }
  function wordCard(m, i) {
    var d = m.d, cnt = d.count ? d.count[i] : null, cat = d.category[i];
    var rows = [
      ["frequency", cnt === null ? "n/a" : cnt + " of " + d.n_windows + " windows (" + fmt(100 * cnt / Math.max(d.n_windows, 1), 2) + "%)"],
      ["rank (by frequency)", d.rank[i] + " of " + m.V],
      ["category", cat >= 0 ? esc(d.categories[cat]) : "none"],
      ["norm |w|", fmt(d.norm[i])],
      ["dimensionality D", fmt(d.dim[i])],
      ["alone: b + |w|^2", fmt(d.onehot_z[i]) + (d.onehot_z[i] < 0 ? " (filtered out alone)" : " (through alone)")],
      ["held-out R^2 with context", d.r2 ? fmt(d.r2[i]) : "n/a"],
      ["R^2 alone (one-hot)", d.onehot_r2 ? fmt(d.onehot_r2[i]) : "n/a"],
      ["held-out windows with it", d.heldout_count ? d.heldout_count[i] + " (of the analysis's held-out windows)" : "n/a"]
    ];
    return "<div class='card'><h3>" + esc(d.words[i]) + "</h3><table id='word-stats'>" + rows.map(function (r) { return "<tr><td>" + r[0] + "</td><td>" + r[1] + "</td></tr>"; }).join("") + "</table></div>";
  }
  function neighbourList(m, id, ids, vals, i) {
    var k = m.k, items = [];
    for (var j = 0; j < k; j++) { var n = ids[i * k + j]; if (n < 0) break; items.push("<li data-word='" + esc(m.d.words[n]) + "'>" + wlink(m.d.words[n]) + " <span class='note'>" + fmt(F16[vals[i * k + j]], 3) + "</span></li>"); }
    return items.length ? "<ol id='" + id + "'>" + items.join("") + "</ol>" : "<p class='note' id='" + id + "'>none (the word has no direction: |w| ~ 0)</p>";
  }
  function coocList(m, i) {
    if (!m.cooc) return "<p class='note'>no co-occurrence statistics in this page</p>";
    var c = m.cooc, k = c.k, me = vec(m, i), items = [];
    for (var j = 0; j < k; j++) {
      var n = c.ids[i * k + j]; if (n < 0) break;
      items.push("<li data-word='" + esc(m.d.words[n]) + "'>" + wlink(m.d.words[n]) + " <span class='note'>phi " + fmt(F16[c.phi[i * k + j]], 3) + ", PMI " + fmt(F16[c.pmi[i * k + j]], 2)
        + ", " + c.count[i * k + j] + " together; cos in W " + fmt(cosine(me, vec(m, n)), 3) + "</span></li>");
    }
    return items.length ? "<ol id='cooc'>" + items.join("") + "</ol>" : "<p class='note' id='cooc'>it co-occurs with no word in the sample</p>";
  }
  function windowsList(m, i, which) {
    var W = m.win, k = W.k, ids = which === "lifted" ? W.lifted : W.missed, zs = which === "lifted" ? W.liftedZ : W.missedZ, out = [];
    for (var j = 0; j < k; j++) {
      var r = ids[i * k + j]; if (r < 0) break;
      var words = [];
      for (var q = W.offsets[r]; q < W.offsets[r + 1]; q++) { var w = W.indices[q]; words.push(w === i ? "<b>" + esc(m.d.words[w]) + "</b>" : esc(m.d.words[w])); }
      out.push("<div class='win'>z = " + fmt(F16[zs[i * k + j]], 2) + ": " + words.join(" ") + "</div>");
    }
    return out.length ? out.join("") : "<p class='note'>none among the " + W.n + " " + esc(W.split) + " windows of this page</p>";
  }
  function renderWord(m, w) {
    var body = document.getElementById("word-body");
    if (!(w in m.index)) { body.innerHTML = "<p class='bad' id='word-missing'>" + esc(w) + " is not in this model's vocabulary.</p>"; return; }
    var i = m.index[w];
    body.innerHTML = "<div class='row'>" + wordCard(m, i)
      + "<div class='card'><h3>nearest in W (cosine)</h3>" + neighbourList(m, "nearest", m.nearest, m.nearestCos, i) + "</div>"
      + "<div class='card'><h3>most opposed in W (cosine)</h3>" + neighbourList(m, "opposed", m.opposed, m.opposedCos, i) + "</div>"
      + "<div class='card'><h3>co-occurs with in the data (phi)</h3>" + coocList(m, i) + "</div></div>"
      + "<div class='row'><div class='card'><h3>held-out windows where context lifts it over the ReLU threshold (z &gt; 0)</h3>" + windowsList(m, i, "lifted") + "</div>"
      + "<div class='card'><h3>held-out windows where it is missed (z &lt;= 0)</h3>" + windowsList(m, i, "missed") + "</div></div>"
      + "<p class='note'>z = b + sum over the window's words of &lt;w_word, w_other&gt; (its own |w|^2 included); the model outputs ReLU(z). "
      + "Co-occurrence: phi correlation and PMI over the " + m.d.n_windows + " windows of the stats sample; cos in W: cosine of the two word vectors.</p>";
  }

  // ------------------------------------------------------------------------- Group view
  function parseWords(text) { return text.split(/[\s,;]+/).filter(function (s) { return s.length; }); }
  function groupView(m) {
    var groups = m.d.groups;
    view.innerHTML = "<div class='row'><label>group <select id='group-select'><option value=''>(type a list)</option>"
      + groups.map(function (g, i) { return "<option value='" + i + "'>" + esc(g.name) + "</option>"; }).join("") + "</select></label>"
      + "<textarea id='group-input' placeholder='or type words in their order, e.g. January February March ...'></textarea>"
      + "<button id='group-show'>Show</button></div><div id='group-body'></div>";
    var sel = document.getElementById("group-select"), ta = document.getElementById("group-input");
    sel.onchange = function () { if (sel.value !== "") { ta.value = groups[+sel.value].words.join(" "); show(); } };
    function show() { state.group = ta.value; renderGroup(m, parseWords(ta.value), document.getElementById("group-body")); }
    document.getElementById("group-show").onclick = show;
    ta.value = state.group || (groups.length ? groups[0].words.join(" ") : "");
    if (!state.group && groups.length) sel.value = "0";
    show();
  }
  function groupScoresHtml(g, analysisRing) {
    var h = "";
    if (g.ring && !g.ring.reason) {
      h += "<div class='score'>ring score (calendar neighbours adjacent around PC1-2): <b id='ring-score' data-value='" + g.ring.adjacent_fraction + "'>" + fmt(g.ring.adjacent_fraction) + "</b>"
        + " -- chance " + fmt(g.ring.chance) + ", p " + (g.ring.p.value > 0 ? "= " + fmt(g.ring.p.value, 4) : "< " + (1 / g.ring.p.draws).toExponential(0)) + " (" + g.ring.p.draws + " random orders); circular rank correlation "
        + "<span id='circ-score' data-value='" + g.ring.circular_rank_corr + "'>" + fmt(g.ring.circular_rank_corr) + "</span>"
        + (analysisRing !== undefined ? " <span class='note'>(analysis: " + fmt(analysisRing) + ")</span>" : "") + "</div>";
    } else if (g.ring) h += "<div class='score'>ring score: <span id='ring-score' data-value=''>not defined</span> (" + esc(g.ring.reason) + ")</div>";
    if (g.shapes) {
      h += "<div class='score'>shape of the cosine block (label-free, as the discovery): ring <span id='shape-ring' data-value='" + g.shapes.ring + "'>" + fmt(g.shapes.ring) + "</span>, line <b id='line-score' data-value='" + g.shapes.line + "'>" + fmt(g.shapes.line) + "</b>"
        + ", adjacency consistency " + fmt(g.shapes.adjacency) + ", mean cosine " + fmt(g.shapes.cluster) + "</div>";
    } else h += "<div class='score'>shape: " + esc(g.shapeReason || "") + "</div>";
    return h;
  }
  function renderGroup(m, words, body, compact) {
    var ids = [], missing = [];
    words.forEach(function (w) { if (w in m.index) { if (ids.indexOf(m.index[w]) < 0) ids.push(m.index[w]); } else missing.push(w); });
    if (ids.length < 2) { body.innerHTML = "<p class='bad'>Need at least 2 words of the vocabulary" + (missing.length ? " (not in it: " + esc(missing.join(", ")) + ")" : "") + ".</p>"; return; }
    var names = ids.map(function (i) { return m.d.words[i]; }), g = groupNumbers(m, ids);
    var named = m.d.groups.filter(function (x) { return x.words.join(" ") === names.join(" "); })[0];
    var metric = named ? m.d.metrics["geometry/" + named.name + "/ring_score"] : undefined;
    var uid = "g" + Math.random().toString(36).slice(2, 8);
    body.innerHTML = (missing.length ? "<p class='note'>not in the vocabulary: " + esc(missing.join(", ")) + "</p>" : "")
      + "<div id='group-scores'>" + groupScoresHtml(g, metric === null ? NaN : metric) + "</div>"
      + "<div class='row'><div id='" + uid + "-pca' style='width:" + (compact ? 380 : 470) + "px;height:" + (compact ? 360 : 430) + "px'></div>"
      + (compact ? "" : "<div id='" + uid + "-gram' style='width:430px;height:430px'></div><div id='" + uid + "-phi' style='width:430px;height:430px'></div>") + "</div>"
      + (compact ? "" : "<p class='note'>PCA of the raw vectors (as the analysis's ring), words joined in the order given. Gram: &lt;w_i, w_j&gt; in the model. "
      + "Data: phi correlation of the words' window indicators over the " + m.win.n + " " + esc(m.win.split) + " windows kept in this page.</p>");
    var xy = g.pca.coords, closed = names.concat([names[0]]);
    Plotly.newPlot(uid + "-pca", [{ x: xy.map(function (c) { return c[0]; }).concat([xy[0][0]]), y: xy.map(function (c) { return c[1]; }).concat([xy[0][1]]),
      text: closed.map(function (w, j) { return j < names.length ? w : ""; }), mode: "lines+markers+text", textposition: "top center", type: "scatter",
      line: { color: "#999", width: 1 }, marker: { size: 8, color: names.map(function (w, j) { return j; }), colorscale: "Viridis" }, hoverinfo: "text" }],
      { title: { text: (compact ? esc(m.d.info.label || "") + ": " : "") + "PC1-2 of the vectors (" + fmt(100 * (g.pca.explained[0] + g.pca.explained[1]), 0) + "% of variance)", font: { size: 13 } },
        margin: { l: 40, r: 10, t: 40, b: 30 }, showlegend: false, xaxis: { zeroline: false }, yaxis: { zeroline: false, scaleanchor: "x" } },
      { displayModeBar: false });
    if (compact) return;
    [["gram", g.gram, "model Gram <w_i, w_j>", "RdBu"], ["phi", g.phi, "data phi (held-out windows)", "RdBu"]].forEach(function (h) {
      var z = h[1].map(function (r) { return r.map(function (v) { return isFinite(v) ? v : null; }); }), mx = 0;
      z.forEach(function (r, i) { r.forEach(function (v, j) { if (i !== j && v !== null) mx = Math.max(mx, Math.abs(v)); }); });
      Plotly.newPlot(uid + "-" + h[0], [{ z: z, x: names, y: names, type: "heatmap", colorscale: h[3], reversescale: true, zmin: -mx || -1, zmax: mx || 1 }],
        { title: { text: h[2] + " (colour: off-diagonal range)", font: { size: 13 } }, margin: { l: 80, r: 10, t: 40, b: 80 }, yaxis: { autorange: "reversed" } }, { displayModeBar: false });
    });
  }

  // ------------------------------------------------------------------------- Map view
  function mapView(m) {
    var d = m.d;
    view.innerHTML = "<div class='row'><label><input type='radio' name='colour' value='category' checked> colour by category</label>"
      + "<label><input type='radio' name='colour' value='frequency'> by frequency</label><span class='note'>" + esc(d.map.method) + "; hover for the word, click to open it</span></div>"
      + "<div id='map' style='width:100%;height:760px'></div>";
    function draw(by) {
      var traces = [];
      if (by === "frequency") {
        traces.push({ x: d.map.x, y: d.map.y, text: d.words, type: "scattergl", mode: "markers", hoverinfo: "text",
          marker: { size: 4, color: (d.count || d.norm).map(function (c) { return Math.log10(1 + (c || 0)); }), colorscale: "Viridis", colorbar: { title: d.count ? "log10 count" : "log10 |w|" } } });
      } else {
        var groups = d.categories.map(function () { return []; }), none = [];
        d.category.forEach(function (c, i) { (c >= 0 ? groups[c] : none).push(i); });
        traces.push(trace(none, "uncategorised", { size: 3, color: "#ccc" }));
        groups.forEach(function (ids, c) { if (ids.length) traces.push(trace(ids, d.categories[c], { size: 7 })); });
      }
      Plotly.newPlot("map", traces, { margin: { l: 30, r: 10, t: 10, b: 30 }, hovermode: "closest", legend: { itemsizing: "constant" } }, { displayModeBar: false });
      document.getElementById("map").on("plotly_click", function (ev) { if (ev.points.length) { state.word = ev.points[0].text; setView("word"); } });
    }
    function trace(ids, name, marker) {
      return { x: ids.map(function (i) { return d.map.x[i]; }), y: ids.map(function (i) { return d.map.y[i]; }), text: ids.map(function (i) { return d.words[i]; }),
        name: name, type: "scattergl", mode: "markers", hoverinfo: "text", marker: marker };
    }
    Array.prototype.forEach.call(document.querySelectorAll("input[name=colour]"), function (r) { r.onchange = function () { draw(r.value); }; });
    draw("category");
  }

  // ------------------------------------------------------------------------- Compare view (sweeps, studies)
  function compareView() {
    var first = MODELS[0].m;
    view.innerHTML = "<div class='row'><label><input type='radio' name='cmp' value='word'" + (state.compare === "word" ? " checked" : "") + "> word</label>"
      + "<label><input type='radio' name='cmp' value='group'" + (state.compare === "group" ? " checked" : "") + "> group</label>"
      + "<input type='text' id='compare-input' value='" + esc(state.compare === "word" ? state.word || "Christmas" : state.group || "January February March April May June July August September October November December") + "'>"
      + "<button id='compare-show'>Show in every model</button></div><div class='row' id='compare-body'></div>"
      + "<h3>The sweep's metrics</h3><div id='sweep-table'>" + sweepTable() + "</div>";
    var input = document.getElementById("compare-input");
    Array.prototype.forEach.call(document.querySelectorAll("input[name=cmp]"), function (r) { r.onchange = function () { state.compare = r.value; }; });
    function show() {
      if (state.compare === "word") state.word = input.value.trim(); else state.group = input.value;
      var body = document.getElementById("compare-body"); body.innerHTML = "";
      MODELS.forEach(function (M, i) {
        var col = el("<div class='card' style='max-width:420px'><h3>" + esc(M.meta.label) + "</h3><div>loading...</div></div>");
        body.appendChild(col);
        withModel(i, function (m) {
          var box = col.lastElementChild;
          if (state.compare === "group") return renderGroup(m, parseWords(state.group), box, true);
          var w = state.word;
          if (!(w in m.index)) { box.innerHTML = "<p class='bad'>not in the vocabulary</p>"; return; }
          var j = m.index[w];
          box.innerHTML = wordCard(m, j) + "<h3>nearest</h3>" + neighbourList(m, "nearest-" + i, m.nearest, m.nearestCos, j);
        });
      });
    }
    document.getElementById("compare-show").onclick = show;
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") show(); });
    void first;
    show();
  }
  function sweepTable() {
    var rows = HEAD.sweep || [];
    if (!rows.length) return "<p class='note'>no sweep metrics</p>";
    var cols = Object.keys(rows[0]);
    return "<table><tr>" + cols.map(function (c) { return "<th>" + esc(c) + "</th>"; }).join("") + "</tr>"
      + rows.map(function (r) { return "<tr>" + cols.map(function (c) { var v = r[c]; return "<td>" + (typeof v === "number" ? fmt(v, Number.isInteger(v) ? 0 : 3) : esc(v === null ? "n/a" : v)) + "</td>"; }).join("") + "</tr>"; }).join("") + "</table>";
  }

  // ------------------------------------------------------------------------- start
  var inline = document.getElementById("bows-model-0");
  if (inline) BOWS_EXPLORER.add(0, JSON.parse(inline.textContent));
  var loading = document.getElementById("loading");
  // a link can open a view: explorer.html#view=group&group=months&model=1 (or word=Christmas, compare=word)
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (kv) { var p = kv.split("="); if (p[0]) params[p[0]] = decodeURIComponent(p[1] || ""); });
  if (params.model && +params.model < MODELS.length) {
    state.model = +params.model;
    var ms = document.getElementById("model-select"); if (ms) ms.value = String(state.model);
  }
  if (params.word) state.word = params.word;
  if (params.compare) state.compare = params.compare;
  withModel(state.model, function (m) {
    if (loading) loading.remove();
    if (params.group) {
      var named = m.d.groups.filter(function (g) { return g.name === params.group; })[0];
      state.group = named ? named.words.join(" ") : params.group;
    }
    setView(TABS.some(function (t) { return t[0] === params.view; }) ? params.view : "word");
    window.BOWS_READY_MS = performance.now();
  });
})();
