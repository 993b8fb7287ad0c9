/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { get } from './helpers/http.js';
import { startBackend, startBackends } from './helpers/backend.js';
import { startLb } from './helpers/lb.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-output/', import.meta.url));
const TOKEN = 'dashboard-token-0123456789';

test('the dashboard in headless Chromium: live rows and charts, a stopped backend turns down, a drain reaches the API, a wrong token shows the error, a restart is reconnected', async (t) => {
  if (!existsSync(CHROMIUM)) {
    // CI installs it (.ci/run); there the test must run.
    assert.notEqual(process.env.CI, 'true', `${CHROMIUM} is required in CI`);
    t.skip(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH) to run the browser test`);
    return;
  }
  const { chromium } = await import('playwright-core');
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

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  let transferred = 0;
  page.on('response', (r) => { if (!r.url().includes('/api/stream')) transferred += Number(r.headers()['content-length'] ?? 0); });
  await page.addInitScript((token) => { if (sessionStorage.getItem('lb-admin-token') === null) sessionStorage.setItem('lb-admin-token', token); }, TOKEN);
  await page.goto(admin);
  await page.waitForFunction(() => document.getElementById('connection')?.textContent === 'live');
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length > 0);
  assert.equal(await page.locator('#backends tbody tr').count(), 2, 'one row per backend');
  t.diagnostic(`page weight: ${transferred} bytes transferred (gzip)`);

  // Traffic moves the counters and the charts.
  for (let i = 0; i < 40; i++) await get(lb.url);
  await page.waitForFunction(() => Number(document.getElementById('t-rps')?.textContent) > 0);
  await page.waitForFunction(() => (document.querySelector('tr[data-id="a"] polyline')?.getAttribute('points') ?? '').split(' ').length > 1);
  assert.ok(await page.locator('#chart-rps canvas').count() >= 1);

  // A backend that stops turns its badge to down.
  const stoppedAt = Date.now();
  await b.close();
  await page.waitForFunction(() => document.querySelector('tr[data-id="b"] .badge')?.classList.contains('down') === true, undefined, { timeout: 20_000 });
  t.diagnostic(`backend stopped → badge down in ${Date.now() - stoppedAt} ms (3 failed checks at 500 ms, then the next sample)`);
  await page.waitForFunction(() => [...document.querySelectorAll('#events li')].some((li) => /b: down/.test(li.textContent ?? '')));

  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}dashboard-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SHOTS}dashboard-phone.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // A drain from the page reaches the API, after a confirmation.
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.accept(); });
  await page.getByRole('button', { name: 'Drain a' }).click();
  await page.waitForFunction(() => /→ 202/.test(document.getElementById('answer')?.textContent ?? ''));
  await lb.waitForLog((l) => l.msg === 'admin: backend draining' && l.backend === 'a');
  assert.match(dialogs[0]!, /^Drain a\?/);

  // A wrong token: the API's refusal is shown, as an error.
  await page.evaluate(() => sessionStorage.setItem('lb-admin-token', 'not-the-right-token'));
  await page.getByRole('button', { name: 'Enable a' }).click();
  await page.waitForFunction(() => /→ 403/.test(document.getElementById('answer')?.textContent ?? ''));
  assert.equal(await page.locator('#answer').getAttribute('class'), 'error');
  assert.match((await page.locator('#answer').textContent()) ?? '', /the token is not ADMIN_TOKEN/);
  assert.deepEqual(problems.filter((p) => !/403/.test(p)), [], 'no console errors but the refused request');

  // The balancer restarts: the page says it is disconnected, then reconnects by itself.
  await page.evaluate((token) => sessionStorage.setItem('lb-admin-token', token), TOKEN);
  await lb.stop();
  await page.waitForFunction(() => /reconnecting/.test(document.getElementById('connection')?.textContent ?? ''));
  const again = await startLb({ BACKENDS: `${a!.url}|id=a`, ADMIN_PORT: String(adminPort), ADMIN_TOKEN: TOKEN, HEALTH_CHECK_PATH: '/health' });
  t.after(() => again.stop());
  await page.waitForFunction(() => document.getElementById('connection')?.textContent === 'live', undefined, { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelectorAll('#backends tbody tr').length === 1, undefined, { timeout: 20_000 });
});
