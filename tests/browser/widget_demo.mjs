// The widget demo page (examples/widget-demo/index.html) in a real browser: Debian's chromium,
// headless, driven by playwright-core. tests/api/widgets/browser.rs starts tollgate and the page
// servers, then runs
//
//   node tests/browser/widget_demo.mjs '{"tollgate": URL, "page": URL, "unlistedPage": URL,
//       "username": U, "password": P, "visitor": NAME, "customer": NAME, "refresh": NAME,
//       "screenshot": PATH (optional)}'
//
// and asserts on the one JSON object this prints. Any failure of the harness exits non-zero.

import { chromium } from 'playwright-core';

const EXECUTABLE = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DEADLINE_MS = 60_000;

const params = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['tollgate', 'page', 'unlistedPage', 'username', 'password', 'visitor',
  'customer', 'refresh']) {
  if (!params[key]) {
    console.error(`widget_demo.mjs: missing "${key}" in the JSON argument`);
    process.exit(2);
  }
}
const deadline = setTimeout(() => {
  console.error(`widget_demo.mjs: no result within ${DEADLINE_MS} ms`);
  process.exit(3);
}, DEADLINE_MS);

const demoUrl = (origin) => {
  const url = new URL('/', origin);
  for (const k of ['tollgate', 'visitor', 'customer', 'refresh']) url.searchParams.set(k, params[k]);
  url.searchParams.set('auto', '0');
  return url.href;
};
const cookiesOf = async (context) => (await context.cookies(params.tollgate)).map((c) => ({
  name: c.name, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite,
}));

const browser = await chromium.launch({ executablePath: EXECUTABLE, args: ARGS, timeout: 30_000 });
try {
  const report = {};
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  await page.goto(demoUrl(params.page));

  // An anonymous visitor, then the same browser after a reload.
  report.anonymous = await page.evaluate(() => window.demo.anonymous());
  await page.reload();
  report.anonymousAfterReload = await page.evaluate(() => window.demo.anonymous());

  // A fresh browser context is another visitor.
  const fresh = await browser.newContext();
  const freshPage = await fresh.newPage();
  await freshPage.goto(demoUrl(params.page));
  report.anonymousFreshContext = await freshPage.evaluate(() => window.demo.anonymous());
  await fresh.close();

  // The customer logs in (cross-origin, the session cookie set), then the widget token comes
  // with the cookie alone; the page's script sees neither cookie.
  report.login = await page.evaluate(([u, p]) => window.demo.login(u, p),
    [params.username, params.password]);
  report.customer = await page.evaluate(() => window.demo.customer());
  report.documentCookie = await page.evaluate(() => document.cookie);
  report.cookies = await cookiesOf(context);

  // Refreshed before expiry: wait for the third token of a short-lived profile.
  await page.evaluate(() => { window.demo.startRefresh(); });
  await page.waitForFunction(() => window.demo.refreshes.length >= 3, null, { timeout: 30_000 });
  report.refreshes = await page.evaluate(() => window.demo.refreshes);

  // A page on an origin tollgate does not list: the browser keeps the answer from it.
  const unlisted = await context.newPage();
  await unlisted.goto(demoUrl(params.unlistedPage));
  report.unlisted = await unlisted.evaluate(() => window.demo.anonymous());
  report.unlistedCustomer = await unlisted.evaluate(() => window.demo.customer());

  if (params.screenshot) {
    await page.bringToFront();
    await page.fill('#username', params.username);
    await page.screenshot({ path: params.screenshot, fullPage: true });
  }
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
  clearTimeout(deadline);
}
