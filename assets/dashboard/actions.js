// The dashboard's actions on backends through the admin API: the buttons that fit each backend's
// admin state, the inline weight, adding a backend, and the status line that says how each went.
// dashboard.js calls `lbActions(page)` with what the two share; no framework, no build step.
'use strict';

window.lbActions = (page) => {
  const { $, state, authHeaders, askToken, forgetToken, clock, needsToken } = page;
  /** As the pool checks it (src/pool/backend-spec.ts). */
  const MAX_WEIGHT = 1_000_000;
  const backendPath = (id) => `/api/backends/${encodeURIComponent(id)}`;

  /** Says how the last action went, in words, in the status line above the backends. */
  function say(message, error = false) {
    const el = $('status');
    el.className = error ? 'status error' : 'status ok';
    el.textContent = '';
    const time = document.createElement('time');
    time.dateTime = new Date().toISOString();
    time.textContent = clock(Date.now());
    el.append(time, ` ${message}`);
  }

  /**
   * Calls the admin API and says what came of it: `done(answer)` on success, the API's own error
   * message otherwise. Resolves with whether it worked.
   */
  async function act({ method, path, body, button, verb, done }) {
    if (needsToken() && !(await askToken())) return false;
    if (button !== undefined) button.disabled = true;
    try {
      const response = await fetch(path, {
        method,
        headers: { ...authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let answer;
      try { answer = await response.json(); } catch { answer = undefined; }
      if (response.status === 401 || response.status === 403) forgetToken();
      if (!response.ok) {
        say(`${verb} failed: ${answer?.error?.message ?? `the balancer answered ${response.status}`}`, true);
        return false;
      }
      say(done(answer));
      return true;
    } catch (err) {
      say(`${verb} failed: the balancer did not answer (${err.message})`, true);
      return false;
    } finally {
      if (button !== undefined && button.isConnected) button.disabled = false;
    }
  }

  const validWeight = (text) => /^\s*\d+\s*$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_WEIGHT;
  const weightRule = `a whole number from 1 to ${MAX_WEIGHT.toLocaleString('en')}`;

  /** The weight cell's control: a number and Save, checked here before anything is sent. */
  function weightControl(cell, row) {
    const id = row.dataset.id;
    cell.innerHTML = '<form class="weight-form" novalidate><input type="number" min="1" step="1" inputmode="numeric" required><button type="submit" disabled>Save</button></form>';
    const form = cell.firstChild;
    const [input, save] = form.elements;
    input.max = String(MAX_WEIGHT);
    input.setAttribute('aria-label', `Weight of ${id}`);
    save.setAttribute('aria-label', `Save the weight of ${id}`);
    input.addEventListener('input', () => {
      input.removeAttribute('aria-invalid');
      save.disabled = input.value === row.dataset.weight;
    });
    input.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      input.value = row.dataset.weight;
      input.dispatchEvent(new Event('input'));
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!validWeight(input.value)) {
        input.setAttribute('aria-invalid', 'true');
        say(`the weight of ${id} must be ${weightRule}`, true);
        input.focus();
        return;
      }
      const weight = Number(input.value);
      void act({ method: 'PATCH', path: backendPath(id), body: { weight }, button: save, verb: `Set the weight of ${id}`,
        done: () => `backend ${id}: weight ${weight}` });
    });
  }

  /** Shows the balancer's weight, unless the operator is typing a new one. */
  function updateWeight(cell, row, weight) {
    const input = cell.querySelector('input');
    const shown = String(weight);
    const edited = row.dataset.weight !== undefined && input.value !== row.dataset.weight;
    row.dataset.weight = shown;
    if (!edited) input.value = shown;
    cell.querySelector('button').disabled = input.value === shown;
  }

  /**
   * The actions that apply to the admin state: an enabled backend can be drained, put in
   * maintenance or removed; a draining one or one in maintenance can be enabled or removed.
   * Removing asks first, in the row itself. Rebuilt only when the state or the question changes,
   * so that focus stays where it was between samples.
   */
  function renderActions(cell, row, admin) {
    const id = row.dataset.id;
    // A backend this page asked to remove drains first: nothing but waiting applies then.
    const key = row.dataset.removing === 'true' ? 'removing' : `${admin}|${state.confirming === id}`;
    if (row.dataset.actions === key) return;
    const hadFocus = cell.contains(document.activeElement);
    row.dataset.actions = key;
    cell.textContent = '';
    const button = (label, name, onClick, cls = '') => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.className = cls;
      b.setAttribute('aria-label', name);
      b.addEventListener('click', () => onClick(b));
      cell.append(b);
      return b;
    };
    const note = (text, cls) => {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      cell.append(span);
    };
    if (key === 'removing') {
      note('removing: its requests in flight finish first', 'pending');
      return;
    }
    if (state.confirming === id) {
      note(`Remove ${id}?`, 'question');
      button('Remove', `Yes, remove ${id}`, async (b) => {
        state.confirming = undefined;
        const removed = await act({ method: 'DELETE', path: backendPath(id), button: b, verb: `Remove ${id}`,
          done: () => `backend ${id} removing: it goes once its requests in flight finish` });
        if (removed) row.dataset.removing = 'true';
        renderActions(cell, row, admin);
      }, 'danger');
      const keep = button('Cancel', `Keep ${id}`, () => {
        state.confirming = undefined;
        renderActions(cell, row, admin);
        cell.querySelector('button')?.focus();
      });
      cell.addEventListener('keydown', function escape(e) {
        if (e.key !== 'Escape' || state.confirming !== id) return;
        cell.removeEventListener('keydown', escape);
        keep.click();
      });
      keep.focus();
      return;
    }
    if (admin === 'enabled') {
      button('Drain', `Drain ${id}`, (b) => act({ method: 'POST', path: `${backendPath(id)}/drain`, button: b, verb: `Drain ${id}`,
        done: () => `backend ${id} draining: no new requests; it goes to maintenance once idle` }));
      button('Maintenance', `Maintenance ${id}`, (b) => act({ method: 'PATCH', path: backendPath(id), body: { state: 'maintenance' }, button: b,
        verb: `Put ${id} in maintenance`, done: () => `backend ${id} in maintenance: no new requests` }));
    } else {
      button('Enable', `Enable ${id}`, (b) => act({ method: 'PATCH', path: backendPath(id), body: { state: 'up' }, button: b, verb: `Enable ${id}`,
        done: () => `backend ${id} enabled: back in rotation once healthy` }));
    }
    button('Remove…', `Remove ${id}`, () => {
      state.confirming = id;
      renderActions(cell, row, admin);
    }, 'subtle');
    if (hadFocus) cell.querySelector('button').focus();
  }

  $('add').addEventListener('submit', async (e) => {
    e.preventDefault();
    const urlInput = $('add-url');
    const weightInput = $('add-weight');
    const url = urlInput.value.trim();
    for (const input of [urlInput, weightInput]) input.removeAttribute('aria-invalid');
    if (!/^https?:\/\/\S+$/.test(url)) {
      urlInput.setAttribute('aria-invalid', 'true');
      say('a new backend needs a URL such as http://10.0.0.7:3000', true);
      return;
    }
    if (!validWeight(weightInput.value)) {
      weightInput.setAttribute('aria-invalid', 'true');
      say(`the weight must be ${weightRule}`, true);
      return;
    }
    const added = await act({ method: 'POST', path: '/api/backends', body: { url, weight: Number(weightInput.value) }, button: e.submitter ?? undefined,
      verb: `Add ${url}`, done: (b) => `backend ${b.id} added (${b.url}, weight ${b.weight}): traffic once a health check passes` });
    if (added) urlInput.value = '';
  });

  return { weightControl, updateWeight, renderActions };
};
