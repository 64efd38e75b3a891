// Cross-origin login in a real browser: Debian's chromium, headless, driven by playwright-core
// (never a downloaded browser). tests/api/login_cors/browser.rs starts tollgate and the page
// servers, then runs
//
//   node tests/browser/login_cors.mjs '{"tollgate": URL, "page": URL, "unlistedPage": URL,
//                                       "username": U, "password": P, "widget": NAME}'
//
// and asserts on the one JSON object this prints: what the pages saw, the cookies the browser
// kept, and the CORS preflights it sent. Any failure of the harness itself exits non-zero.

import { chromium } from 'playwright-core';

const EXECUTABLE = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// The whole scenario takes a few seconds; a hung browser must not hang the test suite.
const DEADLINE_MS = 60_000;

const params = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['tollgate', 'page', 'unlistedPage', 'username', 'password', 'widget']) {
  if (!params[key]) {
    console.error(`login_cors.mjs: missing "${key}" in the JSON argument`);
    process.exit(2);
  }
}

const deadline = setTimeout(() => {
  console.error(`login_cors.mjs: no result within ${DEADLINE_MS} ms`);
  process.exit(3);
}, DEADLINE_MS);

const browser = await chromium.launch({ executablePath: EXECUTABLE, args: ARGS, timeout: 30_000 });
try {
  const context = await browser.newContext();
  const report = {};

  // Playwright's request events leave preflights out; the DevTools protocol shows them.
  const preflights = [];
  const watch = async (page) => {
    const cdp = await context.newCDPSession(page);
    const byId = new Map();
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.type === 'Preflight' || e.request.method === 'OPTIONS') {
        const p = { url: e.request.url, origin: e.request.headers.Origin ?? e.request.headers.origin };
        byId.set(e.requestId, p);
        preflights.push(p);
      }
    });
    cdp.on('Network.responseReceived', (e) => {
      const p = byId.get(e.requestId);
      if (p) p.status = e.response.status;
    });
    await cdp.send('Network.enable');
  };

  const open = async (origin) => {
    const page = await context.newPage();
    await watch(page);
    const url = new URL('/', origin);
    url.searchParams.set('tollgate', params.tollgate);
    await page.goto(url.href);
    return page;
  };

  // A listed origin: the login, the cookie it set, a wrong password, then the widget token.
  const page = await open(params.page);
  report.login = await page.evaluate(([u, p]) => window.login(u, p), [params.username, params.password]);
  report.documentCookie = await page.evaluate(() => document.cookie);
  report.cookies = (await context.cookies(params.tollgate)).map((c) => ({
    name: c.name,
    value: c.value,
    httpOnly: c.httpOnly,
    secure: c.secure,
    sameSite: c.sameSite,
  }));
  report.widget = await page.evaluate((name) => window.widgetToken(name), params.widget);
  report.wrongPassword = await page.evaluate(
    ([u, p]) => window.login(u, p),
    [params.username, `${params.password} but wrong`],
  );

  // An origin tollgate does not list: the browser must keep the answer from the page.
  const unlisted = await open(params.unlistedPage);
  report.unlisted = await unlisted.evaluate(
    ([u, p]) => window.login(u, p),
    [params.username, params.password],
  );

  report.preflights = preflights;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
  clearTimeout(deadline);
}
