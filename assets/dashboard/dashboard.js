// The load-balancer dashboard: live data over server-sent events from the admin listener
// (/api/stream), charts with uPlot, actions through the admin API. No framework, no build step.
'use strict';

(() => {
  const KEEP = 900; // samples: 15 minutes, as the balancer keeps
  const TOKEN_KEY = 'lb-admin-token';
  const COLOURS = ['#0969da', '#1a7f37', '#bc4c00', '#8250df', '#cf222e', '#1b7c83', '#9a6700', '#bf3989'];
  const CLASS_COLOURS = ['#8c959f', '#1a7f37', '#0969da', '#9a6700', '#cf222e'];
  const $ = (id) => document.getElementById(id);

  const state = { info: undefined, samples: [], events: [], windowSec: 60, charts: {}, chartKey: '', frame: 0 };

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
      renderEvents();
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
  const ms = (n) => `${fmt(n, n < 10 ? 2 : 1)} ms`;

  function uptime(startedAt) {
    let s = Math.max(0, Math.floor((Date.now() - startedAt) / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${s}s`;
  }

  function render() {
    const last = state.samples[state.samples.length - 1];
    if (state.info !== undefined) {
      $('t-strategy').textContent = state.info.strategy;
      $('t-version').textContent = state.info.version;
      $('t-workers').textContent = state.info.workers === 0 ? '1 process' : String(state.info.workers);
      $('t-uptime').textContent = uptime(state.info.startedAt);
    }
    if (last === undefined) return;
    $('t-rps').textContent = fmt(last.rps);
    $('t-err').textContent = pct(last.errorRate);
    $('t-p50').textContent = ms(last.p50);
    $('t-p99').textContent = ms(last.p99);
    $('t-conn').textContent = String(last.connections);
    $('t-queue').textContent = String(last.queued);
    renderBackends(last);
    renderCharts();
  }

  function badge(b) {
    if (b.state === 'up' && b.warm < 1) return ['warming', `slow start ${Math.round(b.warm * 100)}%`];
    return [b.state, b.state];
  }

  function renderBackends(last) {
    const body = $('backends').tBodies[0];
    const rows = new Map([...body.rows].map((r) => [r.dataset.id, r]));
    const recent = state.samples.slice(-120);
    for (const b of last.backends) {
      let row = rows.get(b.id);
      rows.delete(b.id);
      if (row === undefined) row = makeRow(b.id, body);
      const [cls, text] = badge(b);
      const cells = row.cells;
      cells[0].firstChild.className = `badge ${cls}`;
      cells[0].firstChild.textContent = text;
      cells[2].textContent = String(b.weight);
      cells[3].textContent = String(b.inFlight);
      cells[4].textContent = fmt(b.rps);
      cells[5].textContent = pct(b.errorRate);
      cells[6].textContent = b.rps === 0 ? '–' : ms(b.p50);
      cells[7].textContent = b.rps === 0 ? '–' : ms(b.p99);
      const series = recent.map((s) => s.backends.find((x) => x.id === b.id)?.rps ?? 0);
      const max = Math.max(1, ...series);
      const points = series.map((v, i) => `${(i / Math.max(1, series.length - 1)) * 120},${24 - (v / max) * 22 - 1}`).join(' ');
      cells[8].querySelector('polyline').setAttribute('points', points);
      row.dataset.weight = String(b.weight);
    }
    for (const row of rows.values()) row.remove();
  }

  function makeRow(id, body) {
    const row = body.insertRow();
    row.dataset.id = id;
    row.innerHTML = '<td><span class="badge"></span></td><td></td><td class="num"></td><td class="num"></td><td class="num"></td><td class="num"></td>'
      + '<td class="num"></td><td class="num"></td><td><svg class="spark" viewBox="0 0 120 24" role="img"><polyline points=""></polyline></svg></td><td class="actions"></td>';
    row.cells[1].textContent = id;
    row.cells[8].querySelector('svg').setAttribute('aria-label', `requests per second of ${id} over the last two minutes`);
    const actions = [
      ['Drain', () => act(`Drain ${id}? It takes no new requests; those in flight finish.`, 'POST', `/api/backends/${encodeURIComponent(id)}/drain`)],
      ['Maintenance', () => act(`Put ${id} in maintenance?`, 'PATCH', `/api/backends/${encodeURIComponent(id)}`, { state: 'maintenance' })],
      ['Enable', () => act(`Enable ${id}?`, 'PATCH', `/api/backends/${encodeURIComponent(id)}`, { state: 'up' })],
      ['Weight…', () => {
        const value = prompt(`New weight for ${id}`, row.dataset.weight ?? '1');
        if (value === null) return;
        act(`Set the weight of ${id} to ${value}?`, 'PATCH', `/api/backends/${encodeURIComponent(id)}`, { weight: Number(value) });
      }],
    ];
    for (const [label, fn] of actions) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.setAttribute('aria-label', `${label.replace('…', '')} ${id}`);
      button.addEventListener('click', fn);
      row.cells[9].append(button);
    }
    return row;
  }

  // ---- actions ------------------------------------------------------------------------------
  async function act(question, method, path, body) {
    if (!confirm(question)) return;
    if (token() === '' && state.info?.tokenRequired !== false && !(await askToken())) return;
    const answer = $('answer');
    try {
      const response = await fetch(path, {
        method,
        headers: { ...authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      answer.className = response.ok ? '' : 'error';
      answer.textContent = `${method} ${path} → ${response.status}\n${text}`;
      if (response.status === 401 || response.status === 403) sessionStorage.removeItem(TOKEN_KEY);
    } catch (err) {
      answer.className = 'error';
      answer.textContent = `${method} ${path} failed: ${err.message}`;
    }
  }

  $('add').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = $('add-url').value.trim();
    const weight = Number($('add-weight').value);
    void act(`Add ${url} with weight ${weight}? It gets traffic once a health check passes.`, 'POST', '/api/backends', { url, weight });
  });

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
        ctx.strokeStyle = 'rgba(207, 34, 46, 0.6)';
        ctx.setLineDash([4, 4]);
        ctx.lineWidth = 1;
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

  function chartWidth(el) {
    return Math.max(280, el.clientWidth);
  }

  function makeChart(el, series, stacked) {
    const opts = {
      width: chartWidth(el), height: 180,
      plugins: [eventMarks()],
      scales: { x: { time: true } },
      axes: [{ stroke: getComputedStyle(document.body).color }, { stroke: getComputedStyle(document.body).color, size: 56 }],
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

  window.addEventListener('resize', () => {
    for (const [name, chart] of Object.entries(state.charts)) {
      const el = $(`chart-${name}`);
      chart.setSize({ width: chartWidth(el), height: 180 });
    }
  });

  // ---- events -------------------------------------------------------------------------------
  function renderEvents() {
    const list = $('events');
    list.textContent = '';
    for (const e of [...state.events].reverse().slice(0, 200)) {
      const item = document.createElement('li');
      const time = document.createElement('time');
      time.dateTime = new Date(e.time).toISOString();
      time.textContent = new Date(e.time).toLocaleTimeString();
      const kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = e.kind;
      const text = document.createElement('span');
      text.textContent = e.backend === undefined ? e.message : `${e.backend}: ${e.message}`;
      item.append(time, kind, text);
      list.append(item);
    }
  }

  setInterval(() => { if (state.info !== undefined) $('t-uptime').textContent = uptime(state.info.startedAt); }, 1000);
  void connect();
})();
