// @engine-independent: the admin listener's page in Chromium; the traffic engine is not what it tests
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { get } from './helpers/http.js';
import { startBackend, startBackends } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-output/', import.meta.url));
const TOKEN = 'dashboard-token-0123456789';

/** Chromium, or a skip where it is missing (never in CI, which installs it). */
async function launch(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    assert.notEqual(process.env.CI, 'true', `${CHROMIUM} is required in CI`);
    t.skip(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH) to run the browser test`);
    return undefined;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.after(() => browser.close());
  return browser;
}

/** A page with the token in its session, and every console error and native dialog recorded. */
async function open(browser: Browser, url: string, options: { width: number; height: number; dark?: boolean }): Promise<{ page: Page; problems: string[]; dialogs: string[]; transferred: () => number }> {
  const page = await browser.newPage({ viewport: { width: options.width, height: options.height }, colorScheme: options.dark === true ? 'dark' : 'light' });
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  let transferred = 0;
  page.on('response', (r) => { if (!r.url().includes('/api/')) transferred += Number(r.headers()['content-length'] ?? 0); });
  await page.addInitScript((token) => { if (sessionStorage.getItem('lb-admin-token') === null) sessionStorage.setItem('lb-admin-token', token); }, TOKEN);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('connection')?.textContent === 'live');
  return { page, problems, dialogs, transferred: () => transferred };
}

/** The accessible names of a backend row's action buttons, in order. */
function actions(page: Page, id: string): Promise<string[]> {
  return page.evaluate((id) => [...document.querySelectorAll(`tr[data-id="${id}"] td.actions button`)].map((b) => b.getAttribute('aria-label') ?? ''), id);
}

async function waitForActions(page: Page, id: string, expected: readonly string[]): Promise<void> {
  await page.waitForFunction(({ id, expected }) => JSON.stringify([...document.querySelectorAll(`tr[data-id="${id}"] td.actions button`)]
    .map((b) => b.getAttribute('aria-label'))) === JSON.stringify(expected), { id, expected });
}

const status = (page: Page): Promise<string> => page.evaluate(() => document.getElementById('status')?.textContent ?? '');

test('the dashboard in headless Chromium: live rows and charts, a stopped backend turns down, actions that fit each state with readable outcomes, inline weight and remove, a wrong token shows the API\'s message, a restart is reconnected', async (t) => {
  const browser = await launch(t);
  if (browser === undefined) return;
  const [a] = await startBackends(t, undefined, ['a']);
  const b = await startBackend('b', undefined, { port: 'dedicated' });
  t.after(() => b.close());
  const lb = await startLb({
    BACKENDS: `${a!.url}|id=a,${b.url}|id=b`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN,
    HEALTH_CHECK_PATH: '/health', HEALTH_CHECK_INTERVAL: '500ms', HEALTH_CHECK_DOWN_INTERVAL: '500ms', HEALTH_CHECK_TIMEOUT: '400ms',
  });
  t.after(() => lb.stop());
  const adminPort = (await lb.waitForLog((l) => l.msg === 'admin listening')).port as number;
  const admin = `http://127.0.0.1:${adminPort}`;

  const { page, problems, dialogs, transferred } = await open(browser, admin, { width: 1280, height: 900 });
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length > 0);
  assert.equal(await page.locator('#backends tbody tr').count(), 2, 'one row per backend');

  // Traffic moves the counters and the charts; latency is shown as the histogram knows it.
  for (let i = 0; i < 40; i++) await get(lb.url);
  await page.waitForFunction(() => Number(document.getElementById('t-rps')?.textContent) > 0);
  await page.waitForFunction(() => (document.querySelector('tr[data-id="a"] polyline')?.getAttribute('points') ?? '').split(' ').length > 1);
  assert.ok(await page.locator('#chart-rps canvas').count() >= 1);
  // A second without requests shows '–': keep some traffic going until a second with requests is on the tile.
  let p99: { text: string; title: string } | undefined;
  for (let i = 0; i < 200 && p99 === undefined; i++) {
    for (let j = 0; j < 5; j++) await get(lb.url);
    p99 = await page.evaluate(() => {
      const tile = document.getElementById('t-p99');
      const text = tile?.textContent ?? '';
      return text.startsWith('≤') ? { text, title: tile?.getAttribute('title') ?? '' } : undefined;
    });
  }
  assert.ok(p99 !== undefined, 'the p99 tile shows a value while requests flow');
  assert.match(p99.text, /^≤ \d+(\.\d)? m?s$/, 'p99 as the bound of its histogram bucket, not three made-up digits');
  assert.match(p99.title, /^p99 is in the histogram bucket up to \d+(\.\d)? m?s; about \d+(\.\d)? ms/);

  // A backend that stops turns its badge to down.
  const stoppedAt = Date.now();
  await b.close();
  await page.waitForFunction(() => document.querySelector('tr[data-id="b"] .badge')?.classList.contains('down') === true, undefined, { timeout: 20_000 });
  t.diagnostic(`backend stopped → badge down in ${Date.now() - stoppedAt} ms (3 failed checks at 500 ms, then the next sample)`);
  await page.waitForFunction(() => [...document.querySelectorAll('#events li')].some((li) => /b: down/.test(li.textContent ?? '')));
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}dashboard-desktop.png`, fullPage: true });

  // Enabled backends (up or down) offer what takes them out of rotation, and removal; never Enable.
  assert.deepEqual(await actions(page, 'a'), ['Drain a', 'Maintenance a', 'Remove a']);
  assert.deepEqual(await actions(page, 'b'), ['Drain b', 'Maintenance b', 'Remove b']);

  // A drain reaches the API at once, says so in words, and the row then offers Enable.
  await page.getByRole('button', { name: 'Drain a' }).click();
  await page.waitForFunction(() => /backend a draining/.test(document.getElementById('status')?.textContent ?? ''));
  await lb.waitForLog((l) => l.msg === 'admin: backend draining' && l.backend === 'a');
  await waitForActions(page, 'a', ['Enable a', 'Remove a']);
  await page.getByRole('button', { name: 'Maintenance b' }).click();
  await page.waitForFunction(() => /backend b in maintenance/.test(document.getElementById('status')?.textContent ?? ''));
  await waitForActions(page, 'b', ['Enable b', 'Remove b']);
  assert.equal(await page.locator('tr[data-id="b"] .badge').textContent(), 'maintenance');
  await page.getByRole('button', { name: 'Enable b' }).click();
  await page.waitForFunction(() => /backend b enabled/.test(document.getElementById('status')?.textContent ?? ''));
  await waitForActions(page, 'b', ['Drain b', 'Maintenance b', 'Remove b']);

  // The weight: an inline number, checked before it is sent; a valid one is saved.
  const weight = page.getByRole('spinbutton', { name: 'Weight of a' });
  const save = page.getByRole('button', { name: 'Save the weight of a' });
  assert.equal(await weight.inputValue(), '1');
  assert.equal(await save.isDisabled(), true, 'nothing to save while the weight is unchanged');
  await weight.fill('0');
  await save.click();
  assert.match(await status(page), /the weight of a must be a whole number from 1 to 1,000,000$/);
  assert.equal(await page.locator('#status').getAttribute('class'), 'status error');
  assert.equal(await weight.getAttribute('aria-invalid'), 'true');
  await weight.fill('2.5');
  await save.click();
  assert.match(await status(page), /must be a whole number/);
  await weight.fill('3');
  assert.equal(await weight.getAttribute('aria-invalid'), null);
  await save.click();
  await page.waitForFunction(() => /backend a: weight 3$/.test(document.getElementById('status')?.textContent ?? ''));
  await lb.waitForLog((l) => l.msg === 'admin: backend changed' && l.backend === 'a');
  assert.deepEqual(lb.logs.filter((l) => l.msg === 'admin: backend changed' && l.weight !== undefined).map((l) => l.weight), [3], 'the invalid weights were never sent');
  await page.waitForFunction(() => (document.querySelector('tr[data-id="a"] .weight-form button') as HTMLButtonElement | null)?.disabled === true);
  assert.equal(await weight.inputValue(), '3');

  // A wrong token: the API's refusal, in its own words, as an error (not a dump of JSON).
  await page.evaluate(() => sessionStorage.setItem('lb-admin-token', 'not-the-right-token'));
  await page.getByRole('button', { name: 'Enable a' }).click();
  await page.waitForFunction(() => /failed/.test(document.getElementById('status')?.textContent ?? ''));
  assert.match(await status(page), /^\d\d:\d\d:\d\d Enable a failed: the token is not ADMIN_TOKEN$/);
  assert.equal(await page.locator('#status').getAttribute('class'), 'status error');
  await page.evaluate((token) => sessionStorage.setItem('lb-admin-token', token), TOKEN);

  // Remove asks first, in the row; Cancel (or Escape) keeps the backend.
  await page.getByRole('button', { name: 'Remove b' }).click();
  await waitForActions(page, 'b', ['Yes, remove b', 'Keep b']);
  assert.equal(await page.locator('tr[data-id="b"] td.actions .question').textContent(), 'Remove b?');
  await page.getByRole('button', { name: 'Keep b' }).click();
  await waitForActions(page, 'b', ['Drain b', 'Maintenance b', 'Remove b']);
  await page.getByRole('button', { name: 'Remove b' }).click();
  await page.keyboard.press('Escape');
  await waitForActions(page, 'b', ['Drain b', 'Maintenance b', 'Remove b']);
  assert.equal(lb.logs.some((l) => l.msg === 'admin: backend removing'), false);
  await page.getByRole('button', { name: 'Remove b' }).click();
  await page.getByRole('button', { name: 'Yes, remove b' }).click();
  await page.waitForFunction(() => /backend b removing/.test(document.getElementById('status')?.textContent ?? ''));
  await lb.waitForLog((l) => l.msg === 'admin: backend removing' && l.backend === 'b');
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 1);
  assert.deepEqual(dialogs, [], 'no browser prompt or confirm: everything happens in the page');
  assert.deepEqual(problems.filter((p) => !/403/.test(p)), [], 'no console errors but the refused request');
  t.diagnostic(`page weight: ${transferred()} bytes transferred (gzip)`);

  // The balancer restarts: the page says it is disconnected, then reconnects by itself.
  await lb.stop();
  await page.waitForFunction(() => /reconnecting/.test(document.getElementById('connection')?.textContent ?? ''));
  const again = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: String(adminPort), ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health' });
  t.after(() => again.stop());
  await page.waitForFunction(() => document.getElementById('connection')?.textContent === 'live', undefined, { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 1, undefined, { timeout: 20_000 });
});

/** What a phone shows of the page, measured in the page. */
interface Layout {
  viewport: number;
  pageWidth: number;
  tilesBottom: number;
  firstCardTop: number;
  /** The backends as cards (where the table would not fit) rather than as a table. */
  cards: boolean;
  /** Key parts of each backend (id, state, 5xx, p99, each action) that are cut off or hidden. */
  hidden: string[];
  strategy: { text: string; title: string; fits: boolean; lines: number };
  timeLines: number[];
  /** Contrast of the charts' event markers against the page. */
  markerContrast: number;
}

function measure(page: Page): Promise<Layout> {
  return page.evaluate(() => {
    const width = innerWidth;
    const hidden: string[] = [];
    for (const row of document.querySelectorAll<HTMLTableRowElement>('#backends tbody tr')) {
      for (const part of [...row.querySelectorAll<HTMLElement>('td.id, td.state .badge, td.err, td.p99, td.actions button')]) {
        const r = part.getBoundingClientRect();
        if (r.width === 0 || r.left < 0 || r.right > width) hidden.push(`${row.dataset.id}: ${part.className || part.textContent}`);
      }
    }
    const lines = (el: Element): number => Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight));
    const strategy = document.getElementById('t-strategy')!;
    // Relative luminance and contrast ratio, WCAG 2.
    const luminance = (colour: string): number => {
      const [r, g, b] = colour.match(/\d+(\.\d+)?/g)!.slice(0, 3).map((v) => Number(v) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    const probe = document.createElement('span');
    document.body.append(probe);
    probe.style.color = 'var(--marker)';
    const marker = luminance(getComputedStyle(probe).color);
    probe.remove();
    const background = luminance(getComputedStyle(document.body).backgroundColor);
    // The charts draw their event markers in --marker: without it, they had a fixed translucent red.
    const themed = getComputedStyle(document.documentElement).getPropertyValue('--marker').trim() !== '';
    return {
      viewport: width,
      pageWidth: document.documentElement.scrollWidth,
      tilesBottom: document.querySelector('.totals')!.getBoundingClientRect().bottom,
      firstCardTop: document.querySelector('#backends tbody tr')!.getBoundingClientRect().top,
      cards: document.getElementById('backends')!.parentElement!.classList.contains('cards'),
      hidden,
      strategy: { text: strategy.textContent ?? '', title: strategy.title, fits: strategy.scrollWidth <= strategy.clientWidth, lines: lines(strategy) },
      timeLines: [...document.querySelectorAll('#events time')].map(lines),
      markerContrast: themed ? (Math.max(marker, background) + 0.05) / (Math.min(marker, background) + 0.05) : 0,
    };
  });
}

test('the dashboard on a phone (390×844), light and dark: compact tiles, each backend\'s key figures and actions in view with no sideways scroll, one-line event times and names, visible event markers', async (t) => {
  const browser = await launch(t);
  if (browser === undefined) return;
  const backends = await startBackends(t, undefined, ['api-blue-1', 'api-blue-2', 'api-green-1']);
  const lb = await startLb({
    BACKENDS: backends.map((b) => `${b.url}|id=${b.name}`).join(','), STRATEGY: 'weighted-round-robin', ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN,
    HEALTH_CHECK_PATH: '/health',
  });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  for (let i = 0; i < 30; i++) await get(lb.url);
  mkdirSync(SHOTS, { recursive: true });
  for (const dark of [false, true]) {
    const { page, problems } = await open(browser, admin, { width: 390, height: 844, dark });
    await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 3 && document.querySelectorAll('#events li').length >= 3);
    await page.waitForFunction(() => document.getElementById('t-strategy')?.textContent !== '–');
    const layout = await measure(page);
    const scheme = dark ? 'dark' : 'light';
    t.diagnostic(`${scheme}: tiles end at ${layout.tilesBottom}px, the first backend starts at ${layout.firstCardTop}px, marker contrast ${layout.markerContrast.toFixed(1)}:1`);
    assert.ok(layout.pageWidth <= layout.viewport, `${scheme}: no sideways scroll (page ${layout.pageWidth}px wide in ${layout.viewport}px)`);
    assert.deepEqual(layout.hidden, [], `${scheme}: every backend's id, state, 5xx, p99 and actions in view`);
    assert.equal(layout.cards, true, `${scheme}: backends as cards`);
    assert.ok(layout.tilesBottom < 844 * 0.4, `${scheme}: the ten tiles take under 40% of the first screen (${layout.tilesBottom}px)`);
    assert.ok(layout.firstCardTop < 844 / 2, `${scheme}: the first backend in the first half of the screen`);
    assert.deepEqual(layout.strategy, { text: 'weighted-round-robin', title: 'weighted-round-robin', fits: true, lines: 1 }, `${scheme}: the strategy on one line`);
    assert.ok(layout.timeLines.length >= 3 && layout.timeLines.every((n) => n === 1), `${scheme}: event times on one line (${layout.timeLines.join(', ')})`);
    assert.ok(layout.markerContrast >= 3, `${scheme}: event markers stand out from the background (${layout.markerContrast.toFixed(2)}:1, WCAG asks 3:1 for graphics)`);
    await page.screenshot({ path: `${SHOTS}dashboard-phone-${scheme}.png`, fullPage: true });
    // A desktop shows the same long names whole.
    await page.setViewportSize({ width: 1280, height: 900 });
    // The page refits on 'resize', which comes with the next frame: two frames later it has run.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    const wide = await measure(page);
    assert.deepEqual(wide.strategy, layout.strategy, `${scheme}: the strategy whole on a desktop too`);
    assert.deepEqual(wide.hidden, []);
    assert.equal(wide.cards, false, `${scheme}: a table where it fits`);
    assert.ok(wide.pageWidth <= wide.viewport);
    assert.deepEqual(problems, []);
    await page.close();
  }
});

test('the dashboard with pools and routes: a pools section (name, available/total, strategy) and a routes table; without them, none', async (t) => {
  const browser = await launch(t);
  if (browser === undefined) return;
  const [a, b, c] = await startBackends(t, undefined, ['a', 'b', 'c']);
  const file = join(mkdtempSync(join(tmpdir(), 'lb-dashboard-')), 'lb.json');
  writeFileSync(file, JSON.stringify({
    pools: { api: { backends: [`${b!.url}|id=b`, `${c!.url}|id=c`], strategy: 'least-connections' } },
    routes: [{
      name: 'api-v1', hostnames: ['api.example.com'], filters: [],
      matches: [{ path: { type: 'PathPrefix', value: '/v1' }, headers: [], queryParams: [] }],
      backendRefs: [{ name: 'api', weight: 9 }, { name: 'default', weight: 1 }],
    }],
  }));
  const lb = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const { page, problems } = await open(browser, admin, { width: 1280, height: 900 });
  await page.waitForFunction(() => document.getElementById('routing')?.hidden === false);
  const rows = (table: string) => page.evaluate((table) => [...document.querySelectorAll(`#${table} tbody tr`)].map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)), table);
  assert.deepEqual(await rows('pools'), [['default', '1/1', 'round-robin'], ['api', '2/2', 'least-connections']]);
  assert.deepEqual(await rows('routes'), [['api-v1', 'api.example.com', 'PathPrefix /v1', 'api (9), default (1)']]);
  assert.equal(await page.locator('#backends-title').textContent(), 'Backends of pool default');
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 1);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}dashboard-pools.png`, fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();

  // One pool and no routes: the page as it always was.
  const [d] = await startBackends(t, undefined, ['d']);
  const plain = await startLb({ BACKENDS: `${d!.url}|id=d`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN });
  t.after(() => plain.stop());
  const plainAdmin = `http://127.0.0.1:${(await plain.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const other = await open(browser, plainAdmin, { width: 1280, height: 900 });
  await other.page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 1);
  assert.equal(await other.page.evaluate(() => document.getElementById('routing')?.hidden), true);
  assert.equal(await other.page.locator('#backends-title').textContent(), 'Backends');
  await other.page.close();
});

test('the dashboard shows what the edge policies refused: rate-limited and refused counts by policy and route, live; hidden before any refusal', async (t) => {
  const browser = await launch(t);
  if (browser === undefined) return;
  const [a] = await startBackends(t, undefined, ['a']);
  const file = join(mkdtempSync(join(tmpdir(), 'lb-dashboard-')), 'lb.json');
  writeFileSync(file, JSON.stringify({
    routes: [{
      name: 'closed', filters: [{ type: 'AccessList', accessList: { deny: ['127.0.0.0/8'] } }],
      matches: [{ path: { type: 'PathPrefix', value: '/closed' } }], backendRefs: [{ name: 'default' }],
    }],
  }));
  // Two requests an hour: the third and later are refused however slow the machine.
  const lb = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, RATE_LIMIT: '2/h', RATE_LIMIT_BURST: '2' }, { args: ['--config', file] });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const { page, problems } = await open(browser, admin, { width: 1280, height: 900 });
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 1);
  assert.equal(await page.evaluate(() => document.getElementById('refusals-section')?.hidden), true, 'nothing refused yet: no section');

  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await get(lb.url)).status);
  for (let i = 0; i < 2; i++) statuses.push((await get(`${lb.url}/closed`)).status);
  assert.deepEqual(statuses, [200, 200, 429, 429, 429, 403, 403]);
  const rows = (): Promise<(string | null)[][]> => page.evaluate(() => [...document.querySelectorAll('#refusals tbody tr')].map((r) => [...r.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)));
  await page.waitForFunction(() => [...document.querySelectorAll('#refusals tbody tr td.total')].map((td) => td.textContent).join(',') === '2,3');
  assert.deepEqual(await rows(), [['access-list', 'closed', '2'], ['rate-limit', '(no route)', '3']]);
  assert.equal(await page.locator('#refusals-summary').textContent(), 'Rate-limited: 3 · refused by access lists and authentication: 2');
  assert.equal(await page.evaluate(() => document.getElementById('refusals-section')?.hidden), false);

  // Live: one more refusal moves its count with the next sample.
  assert.equal((await get(`${lb.url}/closed`)).status, 403);
  await page.waitForFunction(() => document.querySelector('#refusals tr[data-policy="access-list"] td.total')?.textContent === '3');
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}dashboard-refusals.png`, fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the timeline of errors: a 5xx request shows its request id and its explanation; a traced one links to its trace (TRACE_URL_TEMPLATE)', async (t) => {
  const browser = await launch(t);
  if (browser === undefined) return;
  const [a] = await startBackends(t, (req, res) => { req.resume(); res.statusCode = req.url === '/boom' ? 500 : 200; res.end('x'); }, ['a']);
  const lb = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: '0', ADMIN_TOKEN: TOKEN, TRACE_URL_TEMPLATE: 'http://127.0.0.1:16686/trace/{trace_id}' });
  t.after(() => lb.stop());
  const admin = `http://127.0.0.1:${(await lb.waitForLog((l) => l.msg === 'admin listening')).port as number}`;
  const { page, problems } = await open(browser, admin, { width: 1280, height: 900 });
  assert.equal((await get(`${lb.url}/boom`, { headers: { 'x-request-id': 'boom-1' } })).status, 500);
  await page.waitForFunction(() => [...document.querySelectorAll('#events li code.request-id')].some((c) => c.textContent === 'boom-1'));
  const item = page.locator('#events li', { has: page.locator('code.request-id', { hasText: 'boom-1' }) });
  assert.equal(await item.locator('.kind').textContent(), 'error');
  assert.match(await item.textContent() ?? '', /a: 500 GET \/boom/);
  await item.locator('details.explain summary').click();
  assert.match(await item.locator('details.explain pre').textContent() ?? '', /^status 500, backend a, tries 1, pool default/);
  assert.equal(await item.locator('a.trace-link').count(), 0, 'an untraced request has no trace to link to');
  assert.deepEqual(problems, []);

  // A traced error, as the stream sends it once tracing sets the request's trace id: the page is
  // given a snapshot holding one (the balancer records none without tracing).
  const traced = await browser.newPage();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const snapshot = {
    info: { strategy: 'round-robin', version: 'test', workers: 0, startedAt: Date.now(), tokenRequired: true, traceUrl: 'http://127.0.0.1:16686/trace/{trace_id}' },
    samples: [], pools: [], routes: [],
    events: [{ time: Date.now(), kind: 'error', backend: 'a', message: '502 GET /pay LB_ERR_UPSTREAM_CONNECT', requestId: 'pay-1', traceId, explain: 'status 502, backend a, tries 2, pool default' }],
  };
  await traced.route('**/api/stream', (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n` }));
  await traced.addInitScript((token) => sessionStorage.setItem('lb-admin-token', token), TOKEN);
  await traced.goto(admin);
  await traced.waitForFunction(() => document.querySelector('#events a.trace-link') !== null);
  const link = traced.locator('#events a.trace-link');
  assert.equal(await link.getAttribute('href'), `http://127.0.0.1:16686/trace/${traceId}`);
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await traced.locator('#events code.request-id').textContent(), 'pay-1');
  await traced.close();
});
