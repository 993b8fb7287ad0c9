// The load-balancer dashboard: live data over server-sent events from the admin listener
// (/api/stream), charts with uPlot, actions through the admin API (actions.js). No framework, no
// build step.
'use strict';

(() => {
  const KEEP = 900; // samples: 15 minutes, as the balancer keeps
  const TOKEN_KEY = 'lb-admin-token';
  const COLOURS = ['#0969da', '#1a7f37', '#bc4c00', '#8250df', '#cf222e', '#1b7c83', '#9a6700', '#bf3989'];
  const CLASS_COLOURS = ['#8c959f', '#1a7f37', '#0969da', '#9a6700', '#cf222e'];
  const $ = (id) => document.getElementById(id);

  const state = { info: undefined, samples: [], events: [], windowSec: 60, charts: {}, chartKey: '', frame: 0, confirming: undefined, rowCount: 0, pools: [], routes: [], poolTimer: 0 };

  // ---- token --------------------------------------------------------------------------------
  const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';
  const authHeaders = () => (token() === '' ? {} : { authorization: `Bearer ${token()}` });
  function askToken() {
    return new Promise((resolve) => {
      const dialog = $('token-dialog');
      const input = $('token');
      input.value = token();
      const done = (value) => {
        dialog.close();
        if (value !== undefined && value !== '') sessionStorage.setItem(TOKEN_KEY, value);
        resolve(value !== undefined && value !== '');
      };
      $('token-form').onsubmit = (e) => { e.preventDefault(); done(input.value.trim()); };
      $('token-cancel').onclick = () => done(undefined);
      dialog.showModal();
      input.focus();
    });
  }

  const clock = (time) => new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const actions = window.lbActions({
    $, state, authHeaders, askToken, clock,
    forgetToken: () => sessionStorage.removeItem(TOKEN_KEY),
    needsToken: () => token() === '' && state.info?.tokenRequired !== false,
  });

  // ---- the live stream ----------------------------------------------------------------------
  function setConnection(text, cls) {
    const el = $('connection');
    el.textContent = text;
    el.className = `connection ${cls}`;
  }

  async function connect() {
    let response;
    try {
      response = await fetch('/api/stream', { headers: authHeaders(), cache: 'no-store' });
    } catch {
      return retry('the balancer is not answering');
    }
    if (response.status === 401 || response.status === 403) {
      setConnection('a token is needed', 'lost');
      if (await askToken()) return connect();
      return retry('no token given');
    }
    if (!response.ok || response.body === null) return retry(`the stream answered ${response.status}`);
    setConnection('live', 'live');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          handle(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // the connection broke: reconnect below
    }
    retry('disconnected');
  }

  function retry(why) {
    setConnection(`${why}: reconnecting…`, 'lost');
    setTimeout(connect, 1000);
  }

  function handle(message) {
    let event = 'message';
    let data = '';
    for (const line of message.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    const payload = JSON.parse(data);
    if (event === 'snapshot') {
      state.info = payload.info;
      state.samples = payload.samples;
      state.events = payload.events;
      state.pools = payload.pools ?? [];
      state.routes = payload.routes ?? [];
      renderEvents();
      renderRouting();
    } else if (event === 'sample') {
      state.samples.push(payload);
      if (state.samples.length > KEEP) state.samples.splice(0, state.samples.length - KEEP);
    } else if (event === 'event') {
      state.events.push(payload);
      if (state.events.length > 500) state.events.shift();
      renderEvents();
    }
    schedule();
  }

  function schedule() {
    if (state.frame !== 0) return;
    state.frame = requestAnimationFrame(() => { state.frame = 0; render(); });
  }

  // ---- rendering ----------------------------------------------------------------------------
  const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
  const pct = (n) => `${fmt(n * 100)}%`;
  /** A histogram bound as people write it: 2.5 ms, 250 ms, 1 s, 30 s. */
  const duration = (ms) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);

  /**
   * A percentile as the histogram knows it: the bound of the bucket that holds it ("≤ 10 ms"),
   * not an interpolated figure's digits; the estimate within the bucket goes in the tooltip.
   */
  function latency(el, name, estimate, le, requests) {
    if (requests === 0 || le === 0 || le === undefined) {
      el.textContent = '–';
      el.title = requests === 0 ? 'no requests in the last second' : '';
      return;
    }
    el.textContent = le === null ? '> 30 s' : `≤ ${duration(le)}`;
    el.title = le === null ? `${name} is past the histogram's last bucket (30 s)`
      : `${name} is in the histogram bucket up to ${duration(le)}; about ${fmt(estimate, estimate < 10 ? 1 : 0)} ms if its requests are spread evenly in it`;
  }

  function uptime(startedAt) {
    let s = Math.max(0, Math.floor((Date.now() - startedAt) / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${s}s`;
  }

  function text(id, value) {
    const el = $(id);
    el.textContent = value;
    el.title = value;
  }

  function render() {
    const last = state.samples[state.samples.length - 1];
    if (state.info !== undefined) {
      text('t-strategy', state.info.strategy);
      text('t-version', state.info.version);
      text('t-workers', state.info.workers === 0 ? '1 process' : String(state.info.workers));
      $('t-uptime').textContent = uptime(state.info.startedAt);
    }
    if (last === undefined) return;
    $('t-rps').textContent = fmt(last.rps);
    $('t-err').textContent = pct(last.errorRate);
    latency($('t-p50'), 'p50', last.p50, last.p50Le, last.rps);
    latency($('t-p99'), 'p99', last.p99, last.p99Le, last.rps);
    $('t-conn').textContent = String(last.connections);
    $('t-queue').textContent = String(last.queued);
    renderBackends(last);
    renderRefusals(last);
    renderCharts();
  }

  // ---- refusals: what the edge policies turned away (shown once any policy has refused) ----
  const RATE_LIMITED = 'rate-limit';

  function renderRefusals(last) {
    const refusals = last.refusals ?? [];
    const section = $('refusals-section');
    section.hidden = refusals.length === 0;
    if (section.hidden) return;
    const sum = (keep) => refusals.filter(keep).reduce((n, r) => n + r.total, 0);
    const limited = sum((r) => r.policy === RATE_LIMITED);
    const refused = sum((r) => r.policy !== RATE_LIMITED && !r.policy.endsWith('(shadow)'));
    const shadow = sum((r) => r.policy.endsWith('(shadow)'));
    $('refusals-summary').textContent = `Rate-limited: ${limited} · refused by access lists and authentication: ${refused}`
      + (shadow > 0 ? ` · a shadow rate limit would have refused: ${shadow}` : '');
    const body = $('refusals').tBodies[0];
    body.replaceChildren();
    for (const r of refusals) {
      const row = body.insertRow();
      row.dataset.policy = r.policy;
      row.dataset.route = r.route;
      cell(row, r.policy, 'id');
      cell(row, r.route === '' ? '(no route)' : r.route);
      cell(row, String(r.total), 'num total');
      cell(row, fmt(r.perSecond), 'num rate');
    }
  }

  function badge(b) {
    if (b.state === 'up' && b.warm < 1) return ['warming', `slow start ${Math.round(b.warm * 100)}%`];
    return [b.state, b.state];
  }

  // The cells of a row, by class: the phone layout places them by class too.
  const CELLS = [
    ['state', 'State'], ['id', 'Backend'], ['weight', 'Weight'], ['num inflight', 'In flight'], ['num rps', 'Req/s'],
    ['num err', '5xx'], ['num p50', 'p50'], ['num p99', 'p99'], ['spark', 'Last 2 min'], ['actions', 'Actions'],
  ];

  function renderBackends(last) {
    const body = $('backends').tBodies[0];
    const rows = new Map([...body.rows].map((r) => [r.dataset.id, r]));
    const recent = state.samples.slice(-120);
    for (const b of last.backends) {
      let row = rows.get(b.id);
      rows.delete(b.id);
      if (row === undefined) row = makeRow(b.id, body);
      const [cls, label] = badge(b);
      const cells = row.cells;
      cells[0].firstChild.className = `badge ${cls}`;
      cells[0].firstChild.textContent = label;
      actions.updateWeight(cells[2], row, b.weight);
      cells[3].textContent = String(b.inFlight);
      cells[4].textContent = fmt(b.rps);
      cells[5].textContent = pct(b.errorRate);
      latency(cells[6], 'p50', b.p50, b.p50Le, b.rps);
      latency(cells[7], 'p99', b.p99, b.p99Le, b.rps);
      const series = recent.map((s) => s.backends.find((x) => x.id === b.id)?.rps ?? 0);
      const max = Math.max(1, ...series);
      const points = series.map((v, i) => `${(i / Math.max(1, series.length - 1)) * 120},${24 - (v / max) * 22 - 1}`).join(' ');
      cells[8].querySelector('polyline').setAttribute('points', points);
      // The state names the admin state unless it is enabled (then it says up, down or ejected).
      actions.renderActions(cells[9], row, b.state === 'draining' || b.state === 'maintenance' ? b.state : 'enabled');
    }
    const changed = rows.size > 0 || body.rows.length !== state.rowCount;
    for (const row of rows.values()) row.remove();
    state.rowCount = body.rows.length;
    if (changed) fitTable();
  }

  /**
   * Cards instead of the table where the table would scroll sideways (a phone, or long ids on a
   * narrow window): measured as a table, at each resize and when backends come or go.
   */
  function fitTable() {
    const wrap = $('backends').parentElement;
    wrap.classList.remove('cards');
    if ($('backends').scrollWidth > wrap.clientWidth) wrap.classList.add('cards');
  }

  function makeRow(id, body) {
    const row = body.insertRow();
    row.dataset.id = id;
    for (const [cls, label] of CELLS) {
      const cell = row.insertCell();
      cell.className = cls;
      cell.dataset.label = label;
    }
    row.cells[0].innerHTML = '<span class="badge"></span>';
    row.cells[1].textContent = id;
    actions.weightControl(row.cells[2], row);
    const svg = row.cells[8].appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'svg'));
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 120 24');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `requests per second of ${id} over the last two minutes`);
    svg.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'polyline'));
    return row;
  }

  // ---- charts -------------------------------------------------------------------------------
  for (const input of document.querySelectorAll('input[name=window]')) {
    input.addEventListener('change', () => { state.windowSec = Number(input.value); render(); });
  }

  /** Marks the timeline's events on a chart as vertical lines. */
  const eventMarks = () => ({
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        const [min, max] = [u.scales.x.min, u.scales.x.max];
        ctx.save();
        // The theme's own colour, at full strength: a translucent red vanished on the dark background.
        ctx.strokeStyle = css('--marker');
        ctx.setLineDash([4, 3]);
        ctx.lineWidth = Math.max(1, Math.round(devicePixelRatio * 1.5));
        for (const e of state.events) {
          const x = e.time / 1000;
          if (x < min || x > max) continue;
          const px = Math.round(u.valToPos(x, 'x', true));
          ctx.beginPath();
          ctx.moveTo(px, u.bbox.top);
          ctx.lineTo(px, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  });

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function chartWidth(el) {
    return Math.max(280, el.clientWidth);
  }

  function makeChart(el, series, stacked) {
    const opts = {
      width: chartWidth(el), height: 180,
      plugins: [eventMarks()],
      scales: { x: { time: true } },
      axes: [0, 56].map((size) => ({
        stroke: css('--muted'), grid: { stroke: css('--grid'), width: 1 }, ticks: { stroke: css('--grid'), width: 1 },
        // Samples are a second apart: time ticks no finer than that (a young page showed ":21.200").
        ...(size > 0 ? { size } : { incrs: TIME_STEPS }),
      })),
      series: [{}, ...series.map((s) => ({
        label: s.label, stroke: s.colour, width: 1.5, points: { show: false },
        fill: stacked ? `${s.colour}55` : undefined,
        value: (u, v) => (v === null || v === undefined ? '–' : fmt(v)),
      }))],
    };
    el.textContent = '';
    return new uPlot(opts, [[], ...series.map(() => [])], el);
  }

  function renderCharts() {
    const cutoff = Date.now() - state.windowSec * 1000;
    const samples = state.samples.filter((s) => s.time >= cutoff);
    const last = state.samples[state.samples.length - 1];
    const ids = last.backends.map((b) => b.id);
    const key = ids.join('\n');
    if (key !== state.chartKey) {
      state.chartKey = key;
      for (const chart of Object.values(state.charts)) chart.destroy();
      // Stacked: each series is the sum up to it, drawn from the top down so each fills to the one below.
      const reversed = [...ids].reverse();
      state.charts.rps = makeChart($('chart-rps'), reversed.map((id) => ({ label: id, colour: COLOURS[ids.indexOf(id) % COLOURS.length] })), true);
      state.charts.latency = makeChart($('chart-latency'), [{ label: 'p50', colour: COLOURS[0] }, { label: 'p99', colour: COLOURS[4] }], false);
      state.charts.status = makeChart($('chart-status'), ['1xx', '2xx', '3xx', '4xx', '5xx'].map((label, i) => ({ label, colour: CLASS_COLOURS[i] })), false);
    }
    const x = samples.map((s) => s.time / 1000);
    const perBackend = ids.map((id) => samples.map((s) => s.backends.find((b) => b.id === id)?.rps ?? 0));
    const stacked = perBackend.map((_, i) => samples.map((__, k) => perBackend.slice(0, i + 1).reduce((sum, series) => sum + series[k], 0)));
    state.charts.rps.setData([x, ...[...stacked].reverse()]);
    state.charts.latency.setData([x, samples.map((s) => s.p50), samples.map((s) => s.p99)]);
    state.charts.status.setData([x, ...[0, 1, 2, 3, 4].map((c) => samples.map((s) => s.classes[c]))]);
  }

  // A theme switch redraws the charts in the new theme's colours.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { state.chartKey = ''; if (state.samples.length > 0) render(); });

  window.addEventListener('resize', () => {
    fitTable();
    for (const [name, chart] of Object.entries(state.charts)) {
      const el = $(`chart-${name}`);
      chart.setSize({ width: chartWidth(el), height: 180 });
    }
  });

  // ---- events -------------------------------------------------------------------------------
  // ---- pools and routes (shown when there is more than one pool, or any route) -------------
  const routed = () => state.pools.length > 1 || state.routes.length > 0;

  function cell(row, value, cls) {
    const td = row.insertCell();
    td.textContent = value;
    if (cls !== undefined) td.className = cls;
    return td;
  }

  /** A route's match as a config file says it: `PathPrefix /v1`, then method, headers and query. */
  function describeMatch(m) {
    const parts = [m.path === undefined ? 'PathPrefix /' : `${m.path.type} ${m.path.value}`];
    if (m.method) parts.push(m.method);
    for (const h of m.headers ?? []) parts.push(`${h.name}: ${h.value}`);
    for (const q of m.queryParams ?? []) parts.push(`?${q.name}=${q.value}`);
    return parts.join(' ');
  }

  function renderRouting() {
    const section = $('routing');
    section.hidden = !routed();
    if (section.hidden) return;
    const main = state.pools.find((p) => p.default);
    $('backends-title').textContent = main === undefined ? 'Backends' : `Backends of pool ${main.name}`;
    const pools = $('pools').tBodies[0];
    pools.replaceChildren();
    for (const p of state.pools) {
      const row = pools.insertRow();
      row.dataset.pool = p.name;
      cell(row, p.name, 'id');
      cell(row, `${p.available}/${p.backends}`, `num${p.available === 0 ? ' down' : ''}`);
      cell(row, p.strategy);
    }
    $('routes-wrap').hidden = state.routes.length === 0;
    const routes = $('routes').tBodies[0];
    routes.replaceChildren();
    for (const r of state.routes) {
      const row = routes.insertRow();
      row.dataset.route = r.name;
      cell(row, r.name, 'id');
      cell(row, r.hostnames.length === 0 ? 'any' : r.hostnames.join(', '));
      cell(row, r.matches.length === 0 ? 'PathPrefix /' : r.matches.map(describeMatch).join('; '));
      cell(row, r.backendRefs.map((b) => `${b.name} (${b.weight})`).join(', '));
    }
    // Availability changes with health: read again every few seconds while the section shows.
    if (state.poolTimer === 0) state.poolTimer = setInterval(refreshPools, 3000);
  }

  async function refreshPools() {
    try {
      const response = await fetch('/api/pools', { headers: authHeaders(), cache: 'no-store' });
      if (!response.ok) return;
      state.pools = (await response.json()).pools;
      renderRouting();
    } catch {
      // the stream's reconnection says the balancer is gone
    }
  }

  function renderEvents() {
    const list = $('events');
    list.textContent = '';
    for (const e of [...state.events].reverse().slice(0, 200)) {
      const item = document.createElement('li');
      const time = document.createElement('time');
      time.dateTime = new Date(e.time).toISOString();
      time.textContent = clock(e.time);
      time.title = new Date(e.time).toLocaleString();
      const kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = e.kind;
      const text = document.createElement('span');
      text.textContent = e.backend === undefined ? e.message : `${e.backend}: ${e.message}`;
      if (e.kind === 'error') text.append(...errorLinks(e));
      item.append(time, kind, text);
      list.append(item);
    }
  }

  /** An error's request: its id, a link to its trace (TRACE_URL_TEMPLATE) when traced, and its explanation to open. */
  function errorLinks(e) {
    const parts = [];
    if (e.requestId !== undefined) {
      const id = document.createElement('code');
      id.className = 'request-id';
      id.textContent = e.requestId;
      parts.push(' request ', id);
    }
    const template = state.info?.traceUrl;
    if (e.traceId !== undefined && template !== undefined) {
      const link = document.createElement('a');
      link.className = 'trace-link';
      link.href = template.replaceAll('{trace_id}', encodeURIComponent(e.traceId));
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      link.textContent = 'trace';
      parts.push(' ', link);
    } else if (e.traceId !== undefined) {
      const id = document.createElement('code');
      id.className = 'trace-id';
      id.textContent = e.traceId;
      parts.push(' trace ', id);
    }
    if (e.explain !== undefined) {
      const details = document.createElement('details');
      details.className = 'explain';
      const summary = document.createElement('summary');
      summary.textContent = 'explain';
      const body = document.createElement('pre');
      body.textContent = e.explain;
      details.append(summary, body);
      parts.push(details);
    }
    return parts;
  }

  setInterval(() => { if (state.info !== undefined) $('t-uptime').textContent = uptime(state.info.startedAt); }, 1000);
  void connect();
})();
