// The script inlined into report.html: draws the charts as hand-written SVG from the JSON data
// block (<script type="application/json" id="report-data">). Plain ES2017, no library, no
// network: every element is built with createElementNS/textContent (never innerHTML), so team
// and variant names are inert text. The SVG namespace is read from the <svg> slots the HTML
// already contains, so the page holds no URL at all.
// Kept as a string (String.raw: backslashes reach the browser as written); it must contain no
// backtick and no dollar-brace. test/report-browser.test.ts runs it in Chromium and fails on any
// console or page error.

export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var DATA = JSON.parse(document.getElementById('report-data').textContent);
  var firstSvg = document.querySelector('svg');
  if (!firstSvg) return;
  var NS = firstSvg.namespaceURI;
  var TEAM_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  var VARIANT_COLORS = ['#1c64b4', '#e8590c', '#2b8a3e', '#9c36b5', '#c2255c', '#0b7285', '#b08800', '#495057'];
  var TIME_TICKS = [1, 10, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400];
  var variants = DATA.variants;

  // Hours for traces up to 3 days, days beyond.
  var maxEnd = 0;
  variants.forEach(function (v) { maxEnd = Math.max(maxEnd, v.t0 + v.dt * v.buckets); });
  var UNIT = maxEnd <= 3 * 86400 ? { s: 3600, name: 'hours', short: 'h' } : { s: 86400, name: 'days', short: 'd' };

  function teamColor(name) {
    var i = DATA.teams.indexOf(name);
    return i < 0 ? '#868e96' : TEAM_COLORS[i % TEAM_COLORS.length];
  }
  function variantColor(i) { return VARIANT_COLORS[i % VARIANT_COLORS.length]; }
  function darken(hex, f) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgb(' + Math.round(((n >> 16) & 255) * f) + ',' + Math.round(((n >> 8) & 255) * f) + ',' + Math.round((n & 255) * f) + ')';
  }

  // ---- formatting ----
  var DUR_UNITS = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  function human(s) {
    if (!isFinite(s)) return String(s);
    if (s < 0) return '-' + human(-s);
    if (s < 10) return (Math.round(s * 10) / 10) + ' s';
    var r = Math.round(s);
    var i = 0;
    while (i < DUR_UNITS.length - 1 && r < DUR_UNITS[i][1]) i++;
    if (i === DUR_UNITS.length - 1) return r + ' s';
    var small = DUR_UNITS[i + 1][1];
    var total = Math.round(r / small);
    var per = DUR_UNITS[i][1] / small;
    var top = Math.floor(total / per);
    var rest = total - top * per;
    return top + ' ' + DUR_UNITS[i][0] + (rest ? ' ' + rest + ' ' + DUR_UNITS[i + 1][0] : '');
  }
  function fmtNum(x, digits) {
    return x.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  function pct(f) { return (f * 100).toFixed(1) + '%'; }
  /** A moment of the trace: "5.25 h" on an hours axis, "day 8, 06:15" on a days axis. */
  function fmtTime(t) {
    if (UNIT.s === 3600) return fmtNum(t / 3600, 2) + ' h';
    var m = Math.round(t / 60);
    var day = Math.floor(m / 1440), hh = Math.floor((m % 1440) / 60), mm = m % 60;
    return 'day ' + day + ', ' + (hh < 10 ? '0' : '') + hh + ':' + (mm < 10 ? '0' : '') + mm;
  }

  // ---- scales and ticks ----
  function linear(d0, d1, r0, r1) {
    var span = d1 - d0 || 1;
    var f = function (v) { return r0 + ((v - d0) / span) * (r1 - r0); };
    f.inv = function (p) { return d0 + ((p - r0) / (r1 - r0)) * span; };
    return f;
  }
  function logarithmic(d0, d1, r0, r1) {
    var l0 = Math.log(d0), l1 = Math.log(d1), span = l1 - l0 || 1;
    var f = function (v) { return r0 + ((Math.log(Math.max(v, d0)) - l0) / span) * (r1 - r0); };
    f.inv = function (p) { return Math.exp(l0 + ((p - r0) / (r1 - r0)) * span); };
    return f;
  }
  function niceTicks(lo, hi, count) {
    var span = hi - lo;
    if (!(span > 0)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log(span / count) / Math.LN10));
    var err = span / count / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var out = [];
    for (var k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) out.push(parseFloat((k * step).toPrecision(12)));
    return out;
  }
  function timeTicks(lo, hi) {
    var t = TIME_TICKS.filter(function (v) { return v >= lo * 0.999 && v <= hi * 1.001; });
    return t.length >= 2 ? t : [lo, hi];
  }

  // ---- SVG helpers ----
  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }
  function label(parent, x, y, str, cls, anchor) {
    var t = el('text', { x: x, y: y, class: cls || 'tick', 'text-anchor': anchor || 'middle' }, parent);
    t.textContent = str;
    return t;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function r2(x) { return Math.round(x * 100) / 100; }

  /** Plot area inside a W x H viewBox. */
  function plotBox(svg) {
    var vb = svg.viewBox.baseVal;
    return { l: 70, r: vb.width - 20, t: 14, b: vb.height - 46, W: vb.width, H: vb.height };
  }
  /** About one time tick per 90 viewBox units across, one value tick per 50 up. */
  function tickCount(box) { return Math.max(4, Math.round((box.r - box.l) / 90)); }
  function yTickCount(box) { return Math.max(3, Math.round((box.b - box.t) / 50)); }

  function axes(svg, box, xs, ys, xTicks, yTicks, xLabel, yLabel) {
    var g = el('g', { class: 'axes' }, svg);
    yTicks.forEach(function (t) {
      var y = r2(ys(t.v));
      el('line', { x1: box.l, x2: box.r, y1: y, y2: y, class: 'grid' }, g);
      label(g, box.l - 8, y + 4, t.label, 'tick', 'end');
    });
    xTicks.forEach(function (t) {
      var x = r2(xs(t.v));
      el('line', { x1: x, x2: x, y1: box.t, y2: box.b, class: 'grid grid-x' }, g);
      label(g, x, box.b + 18, t.label, 'tick', 'middle');
    });
    el('line', { x1: box.l, x2: box.r, y1: box.b, y2: box.b, class: 'axis' }, g);
    el('line', { x1: box.l, x2: box.l, y1: box.t, y2: box.b, class: 'axis' }, g);
    label(g, (box.l + box.r) / 2, box.b + 40, xLabel, 'axis-label', 'middle');
    var yl = label(g, 0, 0, yLabel, 'axis-label', 'middle');
    yl.setAttribute('transform', 'translate(16,' + (box.t + box.b) / 2 + ') rotate(-90)');
  }

  function timeAxisTicks(d0, d1, count) {
    return niceTicks(d0 / UNIT.s, d1 / UNIT.s, count).map(function (u) { return { v: u * UNIT.s, label: fmtNum(u, 2) }; });
  }

  // ---- tooltip and hover ----
  var tip = document.getElementById('tip');
  function showTip(evt, lines) {
    clear(tip);
    lines.forEach(function (line, i) {
      var row = document.createElement('div');
      row.className = i === 0 ? 'tip-head' : 'tip-row';
      if (line.color) {
        var sw = document.createElement('span');
        sw.className = 'sw' + (line.dashed ? ' dashed' : '');
        sw.style.background = line.dashed ? 'transparent' : line.color;
        sw.style.borderColor = line.color;
        row.appendChild(sw);
      }
      var txt = document.createElement('span');
      txt.textContent = line.text;
      row.appendChild(txt);
      tip.appendChild(row);
    });
    tip.hidden = false;
    var pad = 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var x = evt.clientX + pad, y = evt.clientY + pad;
    if (x + w > window.innerWidth - 4) x = Math.max(4, evt.clientX - pad - w);
    if (y + h > window.innerHeight - 4) y = Math.max(4, evt.clientY - pad - h);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { tip.hidden = true; }
  function svgX(svg, evt) {
    var pt = svg.createSVGPoint();
    pt.x = evt.clientX;
    pt.y = evt.clientY;
    var m = svg.getScreenCTM();
    return m ? pt.matrixTransform(m.inverse()).x : 0;
  }
  /** A crosshair over the plot; onMove(x in viewBox units) returns the tooltip lines or null. */
  function hover(svg, box, onMove) {
    var cross = el('line', { x1: 0, x2: 0, y1: box.t, y2: box.b, class: 'cross', visibility: 'hidden' }, svg);
    var area = el('rect', { x: box.l, y: box.t, width: box.r - box.l, height: box.b - box.t, class: 'hover' }, svg);
    area.addEventListener('mousemove', function (evt) {
      var x = Math.min(box.r, Math.max(box.l, svgX(svg, evt)));
      var lines = onMove(x);
      if (!lines) { hideTip(); return; }
      cross.setAttribute('x1', x);
      cross.setAttribute('x2', x);
      cross.setAttribute('visibility', 'visible');
      showTip(evt, lines);
    });
    area.addEventListener('mouseleave', function () { cross.setAttribute('visibility', 'hidden'); hideTip(); });
  }

  function legend(fig, items) {
    var box = fig.querySelector('.legend');
    if (!box) return;
    clear(box);
    items.forEach(function (it) {
      var item = document.createElement('span');
      item.className = 'legend-item';
      if (it.kind !== 'note') {
        var sw = document.createElement('span');
        sw.className = 'sw' + (it.kind ? ' ' + it.kind : '');
        if (it.kind === 'dashed' || it.kind === 'line') sw.style.borderColor = it.color;
        else sw.style.background = it.color;
        item.appendChild(sw);
      } else item.className += ' legend-note';
      var txt = document.createElement('span');
      txt.textContent = it.text;
      item.appendChild(txt);
      box.appendChild(item);
    });
  }
  function empty(svg, box, msg) { label(svg, box.W / 2, box.H / 2, msg, 'empty', 'middle'); }

  /** Index of the last value <= x in ascending arr, or -1. */
  function lastAtOrBelow(arr, x) {
    var lo = 0, hi = arr.length - 1, ans = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (arr[mid] <= x) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans;
  }
  function bucketAt(v, t) {
    var k = Math.floor((t - v.t0) / v.dt);
    return k >= 0 && k < v.buckets ? k : -1;
  }

  // ---- JCT CDF: one line per variant ----
  function drawCdf(fig, svg, scale) {
    clear(svg);
    var box = plotBox(svg);
    var lo = Infinity, hi = 0;
    variants.forEach(function (v) {
      var x = v.cdf.jct;
      for (var i = 0; i < x.length; i++) if (x[i] > 0) { lo = Math.min(lo, x[i]); break; }
      if (x.length) hi = Math.max(hi, x[x.length - 1]);
    });
    legend(fig, variants.map(function (v, i) { return { color: variantColor(i), text: v.name + ' (' + fmtNum(v.cdf.n, 0) + ' jobs)', kind: 'line' }; }));
    if (!(hi > 0)) { empty(svg, box, 'No job ended by itself: there is no JCT to show.'); return; }
    var xs, xTicks, xLabel;
    if (scale === 'log') {
      lo = Math.max(1, Math.min(lo, hi));
      if (hi <= lo) hi = lo * 10;
      xs = logarithmic(lo, hi, box.l, box.r);
      xTicks = timeTicks(lo, hi).map(function (v) { return { v: v, label: human(v) }; });
      xLabel = 'job completion time, submit to end (log scale)';
    } else {
      xs = linear(0, hi, box.l, box.r);
      xTicks = niceTicks(0, hi / UNIT.s, tickCount(box)).map(function (u) { return { v: u * UNIT.s, label: fmtNum(u, 2) }; });
      xLabel = 'job completion time, submit to end (' + UNIT.name + ')';
    }
    var ys = linear(0, 1, box.b, box.t);
    var yTicks = [0, 0.25, 0.5, 0.75, 1].map(function (p) { return { v: p, label: p * 100 + '%' }; });
    axes(svg, box, xs, ys, xTicks, yTicks, xLabel, 'jobs ended within that time');
    variants.forEach(function (v, vi) {
      var x = v.cdf.jct, p = v.cdf.p;
      if (!x.length) return;
      var d = 'M' + r2(xs(x[0])) + ',' + r2(ys(0));
      for (var i = 0; i < x.length; i++) {
        var px = r2(xs(x[i]));
        d += 'L' + px + ',' + r2(ys(i ? p[i - 1] : 0)) + 'L' + px + ',' + r2(ys(p[i]));
      }
      d += 'L' + box.r + ',' + r2(ys(p[p.length - 1]));
      el('path', { d: d, class: 'line', stroke: variantColor(vi), 'data-variant': v.name }, svg);
    });
    hover(svg, box, function (px) {
      var t = xs.inv(px);
      var lines = [{ text: 'JCT \u2264 ' + human(t) }];
      variants.forEach(function (v, vi) {
        var i = lastAtOrBelow(v.cdf.jct, t);
        lines.push({ color: variantColor(vi), text: v.name + ': ' + pct(i < 0 ? 0 : v.cdf.p[i]) + ' of jobs' });
      });
      return lines;
    });
  }

  // ---- GPUs held per top-level team: stacked bands, or one line per team ----
  /** Per team, the sum of the teams below it in the stack (bucket by bucket), and the total. */
  function stack(v) {
    var n = v.buckets;
    var lower = v.teams.map(function () { return new Float64Array(n); });
    var total = new Float64Array(n);
    v.teams.forEach(function (team, k) {
      for (var i = 0; i < n; i++) {
        lower[k][i] = total[i];
        total[i] += team.held[i];
      }
    });
    return { lower: lower, total: total };
  }
  /** Top of the y axis for one variant; the same for every variant so their charts compare. */
  function heldMax(v, mode) {
    var m = 0;
    if (mode === 'stacked') {
      var st = stack(v);
      m = v.fleetGpus;
      var sum = 0;
      v.teams.forEach(function (team) { sum += team.guarantee; });
      m = Math.max(m, sum);
      for (var i = 0; i < v.buckets; i++) m = Math.max(m, st.total[i]);
    } else {
      v.teams.forEach(function (team) {
        m = Math.max(m, team.guarantee);
        for (var i = 0; i < v.buckets; i++) m = Math.max(m, team.held[i]);
      });
    }
    return m;
  }

  function drawHeld(fig, svg, mode) {
    var v = variants[Number(fig.getAttribute('data-variant'))];
    clear(svg);
    var box = plotBox(svg);
    var n = v.buckets, teams = v.teams;
    var t1 = v.t0 + v.dt * n;
    var st = stack(v);
    var ymax = 0;
    variants.forEach(function (w) { ymax = Math.max(ymax, heldMax(w, mode)); });
    var stacked = mode === 'stacked';
    var items = teams.map(function (t) { return { color: teamColor(t.name), text: t.name + (t.guarantee ? ' (guarantee ' + fmtNum(t.guarantee, 0) + ')' : ''), kind: stacked ? undefined : 'line' }; });
    items.push({ color: '#495057', text: stacked ? 'guarantees, stacked in the order of the bands (each line: the guarantees up to that team; all of them within the fleet)' : 'guarantee', kind: 'dashed' });
    if (stacked) items.push({ color: '#212529', text: 'fleet: ' + fmtNum(v.fleetGpus, 0) + ' GPUs', kind: 'line' });
    legend(fig, items);
    if (!(ymax > 0)) { empty(svg, box, 'No GPUs and no guarantees to show.'); return; }
    var xs = linear(v.t0, t1, box.l, box.r);
    var ys = linear(0, ymax * 1.04, box.b, box.t);
    var yTicks = niceTicks(0, ymax * 1.04, yTickCount(box)).map(function (g) { return { v: g, label: fmtNum(g, 0) }; });
    axes(svg, box, xs, ys, timeAxisTicks(v.t0, t1, tickCount(box)), yTicks, 'time since trace start (' + UNIT.name + ')', 'GPUs held');
    var edge = function (i) { return r2(xs(v.t0 + i * v.dt)); };
    /** Step path through value(i) over every bucket, left to right. */
    function steps(value) {
      var d = '';
      for (var i = 0; i < n; i++) {
        var y = r2(ys(value(i)));
        d += (i ? 'L' : 'M') + edge(i) + ',' + y + 'L' + edge(i + 1) + ',' + y;
      }
      return d;
    }
    /** Closes a step path back along value(i), right to left. */
    function back(value) {
      var d = '';
      for (var j = n - 1; j >= 0; j--) {
        var y = r2(ys(value(j)));
        d += 'L' + edge(j + 1) + ',' + y + 'L' + edge(j) + ',' + y;
      }
      return d + 'Z';
    }
    teams.forEach(function (team, k) {
      var color = teamColor(team.name);
      var low = stacked ? st.lower[k] : null;
      var top = function (i) { return (low ? low[i] : 0) + team.held[i]; };
      var bottom = function (i) { return low ? low[i] : 0; };
      el('path', { d: steps(top) + back(bottom), class: stacked ? 'band' : 'band light', fill: color, 'data-team': team.name }, svg);
      if (!stacked) el('path', { d: steps(top), class: 'line thin', stroke: color, 'data-team': team.name }, svg);
    });
    // Stacked: guarantees are stacked like the bands but flat, team k's line at the sum of the
    // guarantees up to it, so they stay within the fleet's line (guarantees never exceed the
    // fleet) and none reads as more than the fleet; a band above its team's strip is borrowing.
    var below = 0;
    teams.forEach(function (team) {
      if (!(team.guarantee > 0)) return;
      var g = team.guarantee;
      var stroke = darken(teamColor(team.name), 0.55);
      if (stacked) {
        var cum = (below += g);
        el('path', { d: steps(function () { return cum; }), class: 'guarantee', stroke: stroke, 'data-team': team.name }, svg);
      } else {
        var gy = r2(ys(g));
        el('line', { x1: box.l, x2: box.r, y1: gy, y2: gy, class: 'guarantee', stroke: stroke }, svg);
        label(svg, box.r - 4, gy - 5, team.name + ' guarantee ' + fmtNum(g, 0), 'fleet-label', 'end').setAttribute('fill', stroke);
      }
    });
    if (stacked) {
      var fy = r2(ys(v.fleetGpus));
      el('line', { x1: box.l, x2: box.r, y1: fy, y2: fy, class: 'fleet' }, svg);
      label(svg, box.r - 4, fy - 5, 'fleet ' + fmtNum(v.fleetGpus, 0) + ' GPUs', 'fleet-label', 'end');
    }
    hover(svg, box, function (px) {
      var t = xs.inv(px);
      var i = bucketAt(v, t);
      if (i < 0) return null;
      var lines = [{ text: fmtTime(v.t0 + i * v.dt) + ' \u2013 ' + fmtTime(v.t0 + (i + 1) * v.dt) + ' (average)' }];
      for (var k = teams.length - 1; k >= 0; k--) {
        var team = teams[k];
        var s = team.name + ': ' + fmtNum(team.held[i], 1) + ' GPUs';
        if (team.guarantee > 0) s += ' of ' + fmtNum(team.guarantee, 0) + ' guaranteed (' + Math.round((100 * team.held[i]) / team.guarantee) + '%)';
        lines.push({ color: teamColor(team.name), text: s });
      }
      lines.push({ text: 'total: ' + fmtNum(st.total[i], 1) + ' of ' + fmtNum(v.fleetGpus, 0) + ' GPUs (' + pct(v.fleetGpus ? st.total[i] / v.fleetGpus : 0) + ')' });
      lines.push({ text: 'pending jobs: ' + fmtNum(v.queue[i], 1) });
      return lines;
    });
  }

  // ---- one line per variant over time (queue length, utilization) ----
  function drawLines(fig, svg, pick, yFmt, yLabel, yMaxFloor, tipFmt) {
    clear(svg);
    var box = plotBox(svg);
    var t0 = Infinity, t1 = -Infinity, ymax = yMaxFloor;
    variants.forEach(function (v) {
      t0 = Math.min(t0, v.t0);
      t1 = Math.max(t1, v.t0 + v.dt * v.buckets);
      var ys = pick(v);
      for (var i = 0; i < ys.length; i++) if (ys[i] > ymax) ymax = ys[i];
    });
    legend(fig, variants.map(function (v, i) { return { color: variantColor(i), text: v.name, kind: 'line' }; }));
    if (!(ymax > 0)) ymax = 1;
    var xs = linear(t0, t1, box.l, box.r);
    var ys = linear(0, ymax * 1.05, box.b, box.t);
    var yTicks = niceTicks(0, ymax * 1.05, yTickCount(box)).map(function (y) { return { v: y, label: yFmt(y) }; });
    axes(svg, box, xs, ys, timeAxisTicks(t0, t1, tickCount(box)), yTicks, 'time since trace start (' + UNIT.name + ')', yLabel);
    variants.forEach(function (v, vi) {
      var vals = pick(v), d = '';
      for (var i = 0; i < vals.length; i++) d += (i ? 'L' : 'M') + r2(xs(v.t0 + (i + 0.5) * v.dt)) + ',' + r2(ys(vals[i]));
      if (d) el('path', { d: d, class: 'line thin', stroke: variantColor(vi), 'data-variant': v.name }, svg);
    });
    hover(svg, box, function (px) {
      var t = xs.inv(px);
      var lines = [{ text: fmtTime(t) }];
      variants.forEach(function (v, vi) {
        var i = bucketAt(v, t);
        lines.push({ color: variantColor(vi), text: v.name + ': ' + (i < 0 ? 'no data' : tipFmt(pick(v)[i])) });
      });
      return lines;
    });
  }

  // ---- wait distribution per top-level team: box and whiskers ----
  function drawWaits(fig, svg, scale) {
    clear(svg);
    var box = plotBox(svg);
    box.b = box.H - 64;
    // Categories: every top-level team with a started job, after "all teams" when there are several.
    var cats = [];
    variants.forEach(function (v) {
      v.waits.forEach(function (w) {
        if (w.n > 0 && !cats.some(function (c) { return c.name === w.team; })) cats.push({ name: w.team, all: false });
      });
    });
    if (cats.length > 1) cats.unshift({ name: 'all teams', all: true });
    var nv = variants.length;
    function stats(v, cat) {
      if (cat.all) return v.allWaits;
      for (var i = 0; i < v.waits.length; i++) if (v.waits[i].team === cat.name) return v.waits[i];
      return null;
    }
    var hi = 0;
    variants.forEach(function (v) { cats.forEach(function (c) { var s = stats(v, c); if (s && s.n) hi = Math.max(hi, s.max); }); });
    var colorOf = function (cat, vi) { return nv > 1 ? variantColor(vi) : cat.all ? '#868e96' : teamColor(cat.name); };
    var items = nv > 1 ? variants.map(function (v, i) { return { color: variantColor(i), text: v.name }; }) : [];
    items.push({ color: '#495057', text: 'box p25\u2013p75, bar median, whiskers p10\u2013p90, \u25cb p99, \u25c6 max', kind: 'note' });
    legend(fig, items);
    if (cats.length === 0) { empty(svg, box, 'No job started: there is no wait to show.'); return; }
    var ys, yTicks, yLabel;
    if (scale === 'log') {
      var top = Math.max(hi, 60) * 1.3;
      ys = logarithmic(1, top, box.b, box.t);
      yTicks = timeTicks(1, top).map(function (s) { return { v: s, label: s === 1 ? '\u2264 1 s' : human(s) }; });
      yLabel = 'wait, submit to first start (log scale)';
    } else {
      var topL = Math.max(hi, 1) * 1.05;
      ys = linear(0, topL, box.b, box.t);
      yTicks = niceTicks(0, topL / UNIT.s, yTickCount(box)).map(function (u) { return { v: u * UNIT.s, label: fmtNum(u, 2) }; });
      yLabel = 'wait, submit to first start (' + UNIT.name + ')';
    }
    var band = (box.r - box.l) / Math.max(1, cats.length);
    var bw = Math.min(44, (band * 0.72) / nv);
    var xs = function (v) { return box.l + v; };
    axes(svg, box, xs, ys, [], yTicks, '', yLabel);
    cats.forEach(function (cat, ci) {
      var cx = box.l + band * (ci + 0.5);
      var name = cat.name.length > 22 ? cat.name.slice(0, 21) + '\u2026' : cat.name;
      var tl = label(svg, cx, box.b + 20, name, 'cat', 'middle');
      var title = el('title', {}, tl);
      title.textContent = cat.name;
      variants.forEach(function (v, vi) {
        var s = stats(v, cat);
        if (!s || !s.n) return;
        var x = r2(cx - (nv * bw) / 2 + vi * bw + bw / 2);
        var half = bw * 0.38;
        var c = colorOf(cat, vi);
        var g = el('g', { class: 'box', 'data-team': cat.name }, svg);
        el('line', { x1: x, x2: x, y1: r2(ys(s.p10)), y2: r2(ys(s.p90)), stroke: c, class: 'whisker' }, g);
        [s.p10, s.p90].forEach(function (q) { el('line', { x1: r2(x - half / 2), x2: r2(x + half / 2), y1: r2(ys(q)), y2: r2(ys(q)), stroke: c, class: 'whisker' }, g); });
        var y75 = ys(s.p75), y25 = ys(s.p25);
        el('rect', { x: r2(x - half), y: r2(y75), width: r2(2 * half), height: r2(Math.max(1, y25 - y75)), fill: c, stroke: c, class: 'iqr' }, g);
        el('line', { x1: r2(x - half), x2: r2(x + half), y1: r2(ys(s.p50)), y2: r2(ys(s.p50)), stroke: darken(c.charAt(0) === '#' ? c : '#495057', 0.6), class: 'median' }, g);
        el('circle', { cx: x, cy: r2(ys(s.p99)), r: 3.5, stroke: c, class: 'p99' }, g);
        var my = r2(ys(s.max));
        el('path', { d: 'M' + x + ',' + (my - 4.5) + 'l4.5,4.5l-4.5,4.5l-4.5,-4.5Z', fill: c, class: 'max' }, g);
        var hit = el('rect', { x: r2(x - bw / 2), y: box.t, width: r2(bw), height: box.b - box.t, class: 'hit' }, g);
        hit.addEventListener('mousemove', function (evt) {
          showTip(evt, [
            { text: cat.name + (nv > 1 ? ' \u2014 ' + v.name : '') },
            { color: c, text: fmtNum(s.n, 0) + ' jobs started' },
            { text: 'p10 ' + human(s.p10) + ' \u00b7 p25 ' + human(s.p25) + ' \u00b7 median ' + human(s.p50) },
            { text: 'p75 ' + human(s.p75) + ' \u00b7 p90 ' + human(s.p90) + ' \u00b7 p99 ' + human(s.p99) },
            { text: 'max ' + human(s.max) },
          ]);
        });
        hit.addEventListener('mouseleave', hideTip);
      });
    });
  }

  // ---- wiring ----
  /** Draws with the mode of the figure's pressed button (data-mode), redrawing on a click. */
  function withModes(fig, draw) {
    var svg = fig.querySelector('svg');
    var buttons = Array.prototype.slice.call(fig.querySelectorAll('button[data-mode]'));
    var current = fig.getAttribute('data-mode');
    function render() {
      buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.getAttribute('data-mode') === current)); });
      draw(fig, svg, current);
    }
    buttons.forEach(function (b) {
      b.addEventListener('click', function () { current = b.getAttribute('data-mode'); render(); });
    });
    render();
  }

  Array.prototype.forEach.call(document.querySelectorAll('figure[data-chart]'), function (fig) {
    var kind = fig.getAttribute('data-chart');
    var svg = fig.querySelector('svg');
    if (kind === 'cdf') withModes(fig, drawCdf);
    else if (kind === 'waits') withModes(fig, drawWaits);
    else if (kind === 'held') withModes(fig, drawHeld);
    else if (kind === 'queue')
      drawLines(fig, svg, function (v) { return v.queue; }, function (y) { return fmtNum(y, 1); }, 'pending jobs', 1, function (y) { return fmtNum(y, 1) + ' pending jobs'; });
    else if (kind === 'util')
      drawLines(fig, svg, function (v) { return v.util; }, function (y) { return Math.round(y * 100) + '%'; }, 'GPUs in use (% of fleet)', 1, pct);
  });
  document.documentElement.setAttribute('data-rendered', 'true');
})();
`;
