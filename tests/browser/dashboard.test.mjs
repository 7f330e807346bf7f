// dashboard.test.mjs - the dashboard in headless Chromium, against a
// running dmarcd (tests/browser/run.sh starts one and sets the
// environment). Plain node (18 or later) and playwright-core; one line
// per check (ok/FAIL), a summary, exit 1 when a check failed.
//
// Environment:
//   DMARCD_URL       http://127.0.0.1:PORT of `dmarcd serve --http`
//   DMARCD_TOKEN     an admin token
//   DMARCD_WORK      where screenshots/, downloads/ and the profile go
//   DMARCD_EXPECTED  bench/gen's expected.json (optional)
//   DMARCD_HOSTILE   the hostile report as ingested (for the raw download)
//   DMARCD_TLS       the folder of the TLS-RPT files run.sh wrote and ingested (optional)
//   DMARCD_TOKEN_BETA a token of a second account, with a TLS report of its own (optional)
//   DMARCD_FAILURES  the folder of the ARF failure reports run.sh wrote and ingested (optional)
//   DMARCD_ALERTS    the folder where run.sh put `dmarcd alerts list --json` of each account (optional)
//   CHROMIUM         default /usr/bin/chromium
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium, request } from 'playwright-core';

const BASE = (process.env.DMARCD_URL || '').replace(/\/+$/, '');
const TOKEN = process.env.DMARCD_TOKEN || '';
const WORK = process.env.DMARCD_WORK || '';
const EXPECTED = process.env.DMARCD_EXPECTED || '';
const HOSTILE = process.env.DMARCD_HOSTILE || '';
const TLS_DIR = process.env.DMARCD_TLS || '';
const TOKEN_BETA = process.env.DMARCD_TOKEN_BETA || '';
const FAIL_DIR = process.env.DMARCD_FAILURES || '';
const ALERTS_DIR = process.env.DMARCD_ALERTS || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE || !TOKEN || !WORK) {
	console.error('dashboard.test.mjs: set DMARCD_URL, DMARCD_TOKEN and DMARCD_WORK (tests/browser/run.sh does)');
	process.exit(2);
}

const CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const HOSTILE_ORG = '<img src=x onerror="window.__xss=1">';
const HOSTILE_RID = '<script>window.__xss=2</script>';
const TOKEN_KEY = 'dmarcd.token';
const WAIT = 20000; // ms for any one view to render
const SHOTS = path.join(WORK, 'screenshots');
const DOWNLOADS = path.join(WORK, 'downloads');
fs.mkdirSync(SHOTS, { recursive: true });
fs.mkdirSync(DOWNLOADS, { recursive: true });

// the whole run may not hang a ctest
const watchdog = setTimeout(() => {
	console.log('FAIL the suite took over 5 minutes');
	process.exit(1);
}, 300000);

/* ---- checks ---------------------------------------------------------- */

let checks = 0;
let failures = 0;
const started = Date.now();

async function check(name, fn) {
	checks++;
	try {
		await fn();
		console.log('ok   ' + name);
		return true;
	} catch (e) {
		failures++;
		console.log('FAIL ' + name);
		const msg = (e && e.message ? e.message : String(e)).split('\n').slice(0, 12);
		for (const l of msg) console.log('     ' + l);
		return false;
	}
}

function addDays(day, n) {
	return new Date(Date.parse(day + 'T00:00:00Z') + n * 86400000).toISOString().slice(0, 10);
}

/* ---- the API, straight (what the dashboard must agree with) ---------- */

const api = await request.newContext({
	baseURL: BASE,
	extraHTTPHeaders: { Authorization: 'Bearer ' + TOKEN },
});

async function apiGet(p, params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
	const url = '/api/v1/' + p + (q.toString() ? '?' + q : '');
	const res = await api.get(url);
	if (res.status() !== 200) throw new Error(`GET ${url}: ${res.status()} ${await res.text()}`);
	return res;
}
async function apiJSON(p, params) {
	return (await apiGet(p, params)).json();
}

/* ---- the browser ----------------------------------------------------- */

const profile = path.join(WORK, 'profile');
fs.rmSync(profile, { recursive: true, force: true });
const context = await chromium.launchPersistentContext(profile, {
	executablePath: CHROMIUM,
	headless: true,
	args: [
		'--headless=new',
		'--no-sandbox',
		'--disable-gpu',
		'--disable-quic',
		'--no-first-run',
		'--disable-background-networking',
		'--disable-component-update',
		'--disable-sync',
	],
	viewport: { width: 1280, height: 900 },
	acceptDownloads: true,
	timezoneId: 'America/Los_Angeles', // the dashboard must show UTC days whatever the zone
	locale: 'de-DE', // and en-US numbers whatever the locale
});

// Everything the pages do wrong, collected from every page. While a test
// provokes an error on purpose (a 401, a 404), `provoking` names it and
// the 4xx answers and their console lines are expected.
const problems = { console: [], page: [], failed: [], status: [] };
let provoking = null;
const apiRequests = [];
function watch(page) {
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		if (provoking && /status of [45]\d\d/.test(m.text())) return;
		problems.console.push(m.text());
	});
	page.on('pageerror', (e) => problems.page.push(e.message));
	page.on('requestfailed', (r) => problems.failed.push(r.url() + ' ' + (r.failure() ? r.failure().errorText : '')));
	page.on('request', (r) => {
		if (new URL(r.url()).pathname.startsWith('/api/')) apiRequests.push(r.url());
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && !provoking) problems.status.push(r.status() + ' ' + r.url());
	});
}
context.on('page', watch); // pages opened from now on
let page = context.pages()[0];
if (page) watch(page);
else page = await context.newPage();

// the view is rendered for the address shown
async function ready(p = page) {
	await p.waitForFunction(
		() => {
			const m = document.getElementById('main');
			return m && m.dataset.ready === location.hash && m.getAttribute('aria-busy') !== 'true';
		},
		null,
		{ timeout: WAIT }
	);
	const err = await p.evaluate(() => {
		const e = document.querySelector('[data-testid=view-error]');
		return e ? e.textContent : null;
	});
	if (err) throw new Error('the view shows an error: ' + err);
}

function route(p = page) {
	const u = new URL(p.url());
	const hash = u.hash.replace(/^#/, '');
	const i = hash.indexOf('?');
	return {
		path: i >= 0 ? hash.slice(0, i) : hash,
		params: Object.fromEntries(new URLSearchParams(i >= 0 ? hash.slice(i + 1) : '')),
	};
}

async function attr(sel, name, p = page) {
	return p.getAttribute(sel, name, { timeout: WAIT });
}

async function shot(name, p = page) {
	await p.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function xss(p = page) {
	return p.evaluate(() => [window.__xss, document.querySelectorAll('main img, main script').length]);
}

// what the Sender column shows for a source of the API: its service, else
// its AS organisation, else "unknown"
function senderOf(x) {
	const w = x.who || {};
	return w.service || w.as_org || 'unknown';
}

// a source list's rows as shown: IP, sender name, type label, country
async function senderRows(testid, p = page) {
	return p.$$eval(`[data-testid=${testid}] tbody tr`, (trs) =>
		trs.map((tr) => {
			const td = tr.children[1];
			const t = (sel) => {
				const e = td.querySelector(sel);
				return e ? e.textContent : null;
			};
			return { ip: tr.children[0].textContent, name: t('.who-name'), type: t('.who-type'), cc: t('.who-cc'), ptr: t('.who-ptr') };
		})
	);
}

function sendersOfAPI(items) {
	return items.map((x) => {
		const w = x.who || {};
		return { ip: x.ip, name: senderOf(x), type: w.service ? w.service_type || null : null, cc: w.country || null, ptr: w.ptr || null };
	});
}

const PTR_STATES = {
	confirmed: 'confirmed',
	unconfirmed: "not confirmed: the name's addresses do not include this IP",
	none: 'no reverse name',
	failed: 'DNS failed, asked again later',
	unknown: 'not looked up yet',
};

// the source page's who block against a /api/v1/sources/{ip} answer
async function whoBlockMatches(s, p = page) {
	const w = s.who || {};
	const got = await p.evaluate(() => {
		const q = (id) => document.querySelector(`[data-testid=source-who] [data-testid=${id}]`);
		const one = (id) => {
			const e = q(id);
			return e ? { text: e.textContent, value: e.getAttribute('data-value'), state: e.getAttribute('data-state') } : null;
		};
		return { service: one('who-service'), ptr: one('who-ptr'), asn: one('who-asn'), country: one('who-country') };
	});
	assert.ok(got.service && got.ptr && got.asn && got.country, 'the who block: ' + JSON.stringify(got));
	assert.equal(got.service.value, w.service || '', 'service');
	assert.equal(got.service.text, w.service ? w.service + (w.service_type ? ' ' + w.service_type : '') : 'none known');
	assert.equal(got.asn.value, w.asn === null || w.asn === undefined ? '' : String(w.asn), 'AS number');
	if (w.asn !== null && w.asn !== undefined) assert.equal(got.asn.text, 'AS' + w.asn + (w.as_org ? ' ' + w.as_org : ''));
	else assert.equal(got.asn.text, w.as_org || 'unknown');
	assert.equal(got.country.value, w.country || '', 'country');
	if (w.country) assert.ok(got.country.text.startsWith(w.country), 'country ' + got.country.text);
	const state = w.ptr_state || 'unknown';
	assert.equal(got.ptr.state, state);
	assert.equal(got.ptr.text, w.ptr ? `${w.ptr} (${PTR_STATES[state] || state})` : PTR_STATES[state] || state, 'reverse name');
}

async function download(selector, p = page) {
	const [dl] = await Promise.all([p.waitForEvent('download', { timeout: WAIT }), p.click(selector)]);
	const name = dl.suggestedFilename();
	const to = path.join(DOWNLOADS, name);
	await dl.saveAs(to);
	return { name, bytes: fs.readFileSync(to) };
}

// the overview's numbers and chart for the route's domain and range
// against /api/v1/summary and /api/v1/timeseries
async function overviewMatchesAPI() {
	const { params } = route();
	const q = { domain: params.domain, from: params.from, to: params.to };
	const s = await apiJSON('summary', q);
	const ts = await apiJSON('timeseries', q);
	await page.waitForSelector('[data-testid=chart][data-drawn] canvas', { timeout: WAIT });
	const got = await page.evaluate(() => {
		const v = (id) => {
			const el = document.querySelector(`[data-testid=${id}]`);
			return el ? Number(el.getAttribute('data-value')) : null;
		};
		const c = document.querySelector('[data-testid=chart]');
		const t = (k) => Number(c.getAttribute('data-total-' + k));
		return {
			messages: v('kpi-messages'),
			messagesText: document.querySelector('[data-testid=kpi-messages] .kpi-value').textContent,
			dmarc: v('kpi-dmarc'),
			spf: v('kpi-spf'),
			dkim: v('kpi-dkim'),
			quarantine: v('kpi-quarantine'),
			reject: v('kpi-reject'),
			chart: {
				messages: t('messages'),
				pass: t('pass'),
				fail: t('fail'),
				quarantine: t('quarantine'),
				reject: t('reject'),
				domain: c.getAttribute('data-domain'),
				from: c.getAttribute('data-from'),
				to: c.getAttribute('data-to'),
			},
		};
	});
	const disp = s.disposition || {};
	assert.deepEqual(
		{ messages: got.messages, dmarc: got.dmarc, spf: got.spf, dkim: got.dkim, quarantine: got.quarantine, reject: got.reject },
		{
			messages: s.messages,
			dmarc: s.dmarc_pass,
			spf: s.spf_aligned,
			dkim: s.dkim_aligned,
			quarantine: disp.quarantine || 0,
			reject: disp.reject || 0,
		},
		'the numbers shown are /api/v1/summary ' + JSON.stringify(q)
	);
	assert.equal(got.messagesText, s.messages.toLocaleString('en-US'), 'messages as shown');
	assert.equal(got.chart.domain, params.domain);
	assert.equal(got.chart.from, params.from || '');
	assert.equal(got.chart.to, params.to || '');
	assert.equal(got.chart.messages, s.messages, "the chart's plotted total is summary.messages");
	const sum = (k) => (ts.points || []).reduce((a, p) => a + (p[k] || 0), 0);
	assert.equal(sum('messages'), s.messages, 'timeseries messages add up to summary.messages');
	assert.equal(got.chart.quarantine, sum('quarantine'), 'quarantined as plotted');
	assert.equal(got.chart.reject, sum('reject'), 'rejected as plotted');
	assert.equal(got.chart.pass + got.chart.fail, s.messages - sum('quarantine') - sum('reject'), 'pass + fail as plotted');
	return s;
}

/* ---- 1. login by link, first load ------------------------------------- */

const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
const transfer = new Map(); // requestId -> encoded bytes (headers + body as sent)
cdp.on('Network.loadingFinished', (e) => transfer.set(e.requestId, e.encodedDataLength));
const bodies = []; // [url, body bytes]
const onBody = async (r) => {
	try {
		bodies.push([r.url(), (await r.body()).length]);
	} catch {
		/* a redirect or a download has no body to read */
	}
};
page.on('response', onBody);

let domains = [];
let firstResponse = null;
const loginOK = await check('login link: the overview renders', async () => {
	firstResponse = await page.goto(BASE + '/#token=' + encodeURIComponent(TOKEN), { waitUntil: 'load' });
	await ready();
	await page.waitForSelector('[data-testid=chart][data-drawn] canvas', { timeout: WAIT });
});

await check('first load: under 300 KB, chart drawn', async () => {
	assert.ok(loginOK, 'no first load to measure');
	await page.waitForLoadState('networkidle').catch(() => {});
	const chartMs = await page.evaluate(() => {
		const m = performance.getEntriesByName('dmarcd:chart-drawn')[0];
		return m ? Math.round(m.startTime) : -1;
	});
	page.off('response', onBody);
	const bytes = [...transfer.values()].reduce((a, b) => a + b, 0);
	const staticBody = bodies.filter(([u]) => !new URL(u).pathname.startsWith('/api/')).reduce((a, [, n]) => a + n, 0);
	const apiBody = bodies.filter(([u]) => new URL(u).pathname.startsWith('/api/')).reduce((a, [, n]) => a + n, 0);
	console.log(`first-load: bytes=${bytes} chart_ms=${chartMs}`);
	console.log(`     (${bodies.length} responses; bodies: static ${staticBody} B, API ${apiBody} B)`);
	assert.ok(chartMs > 0, 'the page marks when the chart is drawn');
	assert.ok(bytes > 0 && bytes < 300 * 1024, `transferred ${bytes} bytes`);
	assert.ok(staticBody < 300 * 1024, `static files ${staticBody} bytes`);
});
await cdp.detach().catch(() => {});

await check('security headers on /: the CSP of docs/API.md, nosniff, no-referrer, DENY', async () => {
	assert.ok(firstResponse, 'no response for /');
	const hd = firstResponse.headers();
	assert.equal(hd['content-security-policy'], CSP);
	assert.equal(hd['x-content-type-options'], 'nosniff');
	assert.equal(hd['referrer-policy'], 'no-referrer');
	assert.equal((hd['x-frame-options'] || '').toUpperCase(), 'DENY');
	const js = await api.get('/app.js');
	assert.equal(js.status(), 200, '/app.js');
	assert.equal(js.headers()['x-content-type-options'], 'nosniff', '/app.js nosniff');
});

await check('login link: the token moved to sessionStorage and out of the address bar', async () => {
	const href = page.url();
	assert.ok(!href.includes(TOKEN), 'the token is still in ' + href);
	assert.ok(!href.includes('token='), 'token= still in ' + href);
	assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY), TOKEN);
	assert.equal(route().path, '/overview');
});

await check('overview: the first domain, the 30 days ending at its last day', async () => {
	domains = (await apiJSON('domains')).domains;
	assert.ok(domains.length >= 1, 'the API lists no domain');
	const { params } = route();
	assert.equal(params.domain, domains[0].domain);
	assert.equal(params.to, domains[0].last);
	assert.equal(params.from, addDays(domains[0].last, -29));
	const options = await page.$$eval('[data-testid=domain-select] option', (os) => os.map((o) => o.value));
	// then the domains with TLS reports only (the TLS checks below hold them against the files)
	const tlsOnly = (await apiJSON('tls/domains')).domains.map((d) => d.domain).filter((d) => !domains.some((x) => x.domain === d)).sort();
	assert.deepEqual(options, domains.map((d) => d.domain).concat(tlsOnly), 'the domain picker lists /api/v1/domains, then /api/v1/tls/domains');
});

if (EXPECTED) {
	await check('the domains are those bench/gen wrote', async () => {
		const exp = JSON.parse(fs.readFileSync(EXPECTED, 'utf8'));
		assert.deepEqual(domains.map((d) => d.domain).sort(), Object.keys(exp.domains).sort());
	});
}

await check('overview: numbers and chart equal /api/v1/summary', async () => {
	await overviewMatchesAPI();
	const legend = await page.textContent('[data-testid=chart-legend]');
	assert.match(legend, /DMARC pass/);
	await shot('overview');
});

await check('overview: top sources and top reporters', async () => {
	const { params } = route();
	const src = await apiJSON('sources', { domain: params.domain, from: params.from, to: params.to, limit: 10 });
	const ips = await page.$$eval('[data-testid=top-sources] tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
	assert.deepEqual(ips, src.items.map((x) => x.ip));
	const head = await page.$$eval('[data-testid=top-sources] thead th', (ths) => ths.map((t) => t.textContent));
	assert.equal(head[1], 'Sender', 'the Sender column follows the IP');
	assert.deepEqual(await senderRows('top-sources'), sendersOfAPI(src.items), 'the senders are /api/v1/sources who');
	const reps = await page.$$eval('[data-testid=top-reporters] tbody tr', (trs) => trs.length);
	assert.ok(reps > 0, 'no reporters shown');
});

await check('overview: the hostile reporter is text, nothing ran', async () => {
	const names = await page.$$eval('[data-testid=top-reporters] tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
	const rep = await apiJSON('reporters', { domain: route().params.domain, from: route().params.from, to: route().params.to });
	const inTop = rep.reporters
		.slice()
		.sort((a, b) => b.messages - a.messages)
		.slice(0, 10)
		.some((r) => r.reporter === HOSTILE_ORG);
	if (inTop) assert.ok(names.includes(HOSTILE_ORG), 'the hostile name is not shown as text');
	assert.deepEqual(await xss(), [undefined, 0]);
});

/* ---- 2. domain and range ----------------------------------------------- */

const history = []; // addresses visited, for back/forward
await check('switch domain: numbers and chart follow', async () => {
	assert.ok(domains.length >= 2, 'needs two domains');
	history.push(page.url());
	await page.selectOption('[data-testid=domain-select]', domains[1].domain);
	await page.waitForFunction((d) => location.hash.includes('domain=' + encodeURIComponent(d)), domains[1].domain, { timeout: WAIT });
	await ready();
	const { params } = route();
	assert.equal(params.domain, domains[1].domain);
	assert.equal(params.to, domains[1].last, 'the 30-day preset follows the domain');
	await overviewMatchesAPI();
});

await check('range: last 7 days', async () => {
	history.push(page.url());
	await page.click('[data-testid=range-7]');
	await page.waitForFunction(() => /[?&]from=/.test(location.hash), null, { timeout: WAIT });
	await ready();
	const { params } = route();
	assert.equal(params.from, addDays(domains[1].last, -6));
	assert.equal(params.to, domains[1].last);
	assert.equal(await attr('[data-testid=range-7]', 'aria-pressed'), 'true');
	await overviewMatchesAPI();
});

await check('range: custom from/to', async () => {
	history.push(page.url());
	const from = addDays(domains[1].last, -20);
	const to = addDays(domains[1].last, -10);
	await page.fill('[data-testid=range-from]', from);
	await page.fill('[data-testid=range-to]', to);
	await page.click('[data-testid=range-apply]');
	await page.waitForFunction((f) => location.hash.includes('from=' + f), from, { timeout: WAIT });
	await ready();
	const { params } = route();
	assert.deepEqual([params.from, params.to], [from, to]);
	await overviewMatchesAPI();
});

await check('range: all time (matches bench/gen totals)', async () => {
	history.push(page.url());
	await page.click('[data-testid=range-all]');
	await page.waitForFunction(() => /[?&]range=all/.test(location.hash), null, { timeout: WAIT });
	await ready();
	const { params } = route();
	assert.equal(params.from, undefined);
	assert.equal(params.to, undefined);
	const s = await overviewMatchesAPI();
	if (EXPECTED) {
		const exp = JSON.parse(fs.readFileSync(EXPECTED, 'utf8')).domains[params.domain];
		const hostile = await apiJSON('reports', { domain: params.domain, reporter: HOSTILE_ORG });
		const extra = hostile.items.reduce((a, r) => a + r.messages, 0);
		assert.equal(s.messages, exp.messages + extra, 'all-time messages vs expected.json');
	}
});

await check('back/forward restore the previous views', async () => {
	const allTime = page.url();
	await page.goBack();
	await ready();
	assert.equal(page.url(), history[history.length - 1], 'back: the custom range');
	await overviewMatchesAPI();
	await page.goBack();
	await ready();
	assert.equal(page.url(), history[history.length - 2], 'back again: the 7 days');
	assert.equal(await attr('[data-testid=range-7]', 'aria-pressed'), 'true');
	await overviewMatchesAPI();
	await page.goForward();
	await ready();
	await page.goForward();
	await ready();
	assert.equal(page.url(), allTime, 'forward twice: all time');
	await overviewMatchesAPI();
});

/* ---- 3. sources ------------------------------------------------------------ */

let sourceIP = null;
await check('sources: every sending IP, as the API lists them', async () => {
	// back to the first domain, last 30 days: the hostile report's
	await page.selectOption('[data-testid=domain-select]', domains[0].domain);
	await ready();
	await page.click('[data-testid=range-30]');
	await page.waitForFunction(() => /[?&]from=/.test(location.hash), null, { timeout: WAIT });
	await ready();
	await page.click('[data-testid=nav-sources]');
	await page.waitForFunction(() => location.hash.startsWith('#/sources'), null, { timeout: WAIT });
	await ready();
	const { params } = route();
	assert.equal(params.domain, domains[0].domain, 'the domain is kept');
	const src = await apiJSON('sources', { domain: params.domain, from: params.from, to: params.to, limit: 50 });
	const rows = await page.$$eval('[data-testid=sources-table] tbody tr', (trs) =>
		trs.map((tr) => [...tr.children].map((td) => td.textContent))
	);
	assert.equal(rows.length, Math.min(50, src.total));
	const head = await page.$$eval('[data-testid=sources-table] thead th', (ths) => ths.map((t) => t.textContent));
	assert.deepEqual(head.slice(0, 3), ['Source IP', 'Sender', 'Messages']);
	assert.deepEqual(rows.map((r) => r[0]), src.items.map((x) => x.ip));
	assert.deepEqual(rows.map((r) => r[2]), src.items.map((x) => x.messages.toLocaleString('en-US')));
	sourceIP = src.items[0].ip;
	await shot('sources');
});

await check('sources: the Sender column is what the API says of each source', async () => {
	const { params } = route();
	const src = await apiJSON('sources', { domain: params.domain, from: params.from, to: params.to, limit: 50 });
	assert.ok(src.items.every((x) => 'who' in x), 'every item of /api/v1/sources carries who');
	const shown = await senderRows('sources-table');
	assert.deepEqual(shown.map((r) => r.name), src.items.map(senderOf), 'service, else AS organisation, else unknown');
	assert.deepEqual(shown, sendersOfAPI(src.items), 'name, type, country and reverse name per row');
	// the generated data: IP databases installed, so most rows name a network
	assert.ok(src.items.some((x) => x.who && x.who.as_org), 'no source with an AS organisation');
	// the tooltip spells out the AS
	const x = src.items.find((i) => i.who && i.who.asn !== null && i.who.as_org);
	const i = src.items.indexOf(x);
	const title = await page.getAttribute(`[data-testid=sources-table] tbody tr:nth-child(${i + 1}) .who`, 'title');
	assert.ok(title.split('\n').includes(`AS${x.who.asn} ${x.who.as_org}`), 'tooltip ' + JSON.stringify(title));
});

await check('the DB-IP attribution: a link to https://db-ip.com on the page', async () => {
	const link = page.locator('[data-testid=dbip-link]');
	assert.equal(await link.isVisible(), true, 'visible');
	assert.ok(['https://db-ip.com', 'https://db-ip.com/'].includes(await link.getAttribute('href')), 'href');
	assert.equal(await link.evaluate((a) => a.href), 'https://db-ip.com/');
	assert.match(await link.getAttribute('rel'), /\bnoopener\b/);
	assert.equal(await page.textContent('[data-testid=ip-data]').then((t) => t.replace(/\s+/g, ' ').trim()), 'IP data: DB-IP (CC BY 4.0)');
});

await check('sources: sort by DMARC failures', async () => {
	await page.selectOption('[data-testid=sources-sort]', 'dmarc_fail');
	await page.waitForFunction(() => location.hash.includes('sort=dmarc_fail'), null, { timeout: WAIT });
	await ready();
	const { params } = route();
	const src = await apiJSON('sources', { domain: params.domain, from: params.from, to: params.to, sort: 'dmarc_fail', limit: 50 });
	const ips = await page.$$eval('[data-testid=sources-table] tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
	assert.deepEqual(ips, src.items.map((x) => x.ip));
	await page.goBack();
	await ready();
});

await check('drill into a source', async () => {
	assert.ok(sourceIP, 'no source listed');
	await page.click(`[data-testid=sources-table] tbody tr:first-child td:first-child a`);
	await page.waitForFunction(() => location.hash.startsWith('#/source/'), null, { timeout: WAIT });
	await ready();
	const { path: p, params } = route();
	assert.equal(decodeURIComponent(p.slice('/source/'.length)), sourceIP);
	assert.equal(await page.textContent('[data-testid=source-ip]'), sourceIP);
	const s = await apiJSON('sources/' + encodeURIComponent(sourceIP), { domain: params.domain, from: params.from, to: params.to });
	assert.equal(Number(await attr('[data-testid=kpi-messages]', 'data-value')), s.messages);
	assert.equal(Number(await attr('[data-testid=kpi-dmarc]', 'data-value')), s.dmarc_pass);
	await page.waitForSelector('[data-testid=chart][data-drawn] canvas', { timeout: WAIT });
	assert.equal(Number(await attr('[data-testid=chart]', 'data-total-messages')), s.messages, 'chart total');
	const reps = await page.$$eval('[data-testid=source-reporters] tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
	assert.deepEqual(reps, s.reporters.map((r) => r.reporter));
	await whoBlockMatches(s);
	await shot('source');
	await page.goBack();
	await ready();
	assert.ok(route().path.startsWith('/sources'), 'back: the sources list');
	await page.goForward();
	await ready();
	assert.ok(route().path.startsWith('/source/'), 'forward: the source');
});

await check('source view: the who block with the AS number of the API', async () => {
	const { params } = route();
	const src = await apiJSON('sources', { domain: params.domain, from: params.from, to: params.to, limit: 200 });
	const x = src.items.find((i) => i.who && i.who.asn !== null && i.who.as_org && i.who.country);
	assert.ok(x, 'no source with an AS number in the first 200');
	const back = page.url();
	await page.goto(BASE + '/#/source/' + x.ip + '?' + new URLSearchParams({ domain: params.domain, from: params.from, to: params.to }));
	await ready();
	const s = await apiJSON('sources/' + x.ip, { domain: params.domain, from: params.from, to: params.to });
	assert.deepEqual(s.who, x.who, 'the list and the source agree');
	await whoBlockMatches(s);
	assert.ok((await page.textContent('[data-testid=who-asn]')).startsWith('AS' + s.who.asn + ' '), 'AS number shown');
	assert.equal(await page.isVisible('[data-testid=dbip-link]'), true, 'the DB-IP link');
	await shot('source-who');
	// and one without an AS number, if the data has one
	const y = src.items.find((i) => !i.who || i.who.asn === null);
	if (y) {
		await page.goto(BASE + '/#/source/' + y.ip + '?' + new URLSearchParams({ domain: params.domain, from: params.from, to: params.to }));
		await ready();
		await whoBlockMatches(await apiJSON('sources/' + y.ip, { domain: params.domain, from: params.from, to: params.to }));
	}
	await page.goto(back);
	await ready();
});

// the hostile who: the server's real answers with markup put into every
// text field of `who` (an AS name, a reverse name are whatever whoever
// runs the address chose; the test data cannot hold them, so the answer
// is changed on its way to the page, for this check only)
const HOSTILE_WHO = {
	ptr: '<svg onload="window.__xss=6">.mail.example',
	ptr_state: 'confirmed',
	base_domain: '<b>x</b>.example',
	asn: 64496,
	as_org: '<img src=x onerror="window.__xss=5">',
	country: '<i>US</i>',
	service: '<script>window.__xss=4</script>',
	service_type: '<u>esp</u>',
};
await check('a hostile who (service, AS name, reverse name) is text, nothing ran', async () => {
	const { params } = route();
	const rewrite = async (r) => {
		const res = await r.fetch();
		const body = await res.json();
		if (Array.isArray(body.items)) body.items = body.items.map((x) => ({ ...x, who: HOSTILE_WHO }));
		else body.who = HOSTILE_WHO;
		await r.fulfill({ response: res, json: body });
	};
	await page.route(/\/api\/v1\/sources(\/|\?|$)/, rewrite);
	const back = page.url();
	try {
		await page.goto(BASE + '/#/sources?' + new URLSearchParams({ domain: params.domain, from: params.from, to: params.to }));
		await ready();
		const rows = await senderRows('sources-table');
		assert.ok(rows.length > 0);
		for (const r of rows) {
			assert.deepEqual(
				{ name: r.name, type: r.type, cc: r.cc, ptr: r.ptr },
				{ name: HOSTILE_WHO.service, type: HOSTILE_WHO.service_type, cc: HOSTILE_WHO.country, ptr: HOSTILE_WHO.ptr }
			);
		}
		assert.deepEqual(await xss(), [undefined, 0]);
		assert.equal(await page.evaluate(() => document.querySelectorAll('main svg, main b, main i, main u').length), 0, 'markup elements');
		await page.goto(BASE + '/#/source/' + sourceIP + '?' + new URLSearchParams({ domain: params.domain, from: params.from, to: params.to }));
		await ready();
		await whoBlockMatches({ who: HOSTILE_WHO });
		assert.deepEqual(await xss(), [undefined, 0]);
		assert.equal(await page.evaluate(() => document.querySelectorAll('main svg, main b, main i, main u').length), 0, 'markup elements');
	} finally {
		await page.unroute(/\/api\/v1\/sources(\/|\?|$)/, rewrite);
	}
	await page.goto(back);
	await ready();
});

await check("the hostile report's source: its reporter and SPF domain as text", async () => {
	const { params } = route();
	const ip = '192.0.2.66';
	const s = await apiJSON('sources/' + ip, { domain: domains[0].domain, from: params.from, to: params.to });
	const back = page.url();
	await page.goto(BASE + '/#/source/' + ip + '?' + new URLSearchParams({ domain: domains[0].domain, from: params.from, to: params.to }));
	await ready();
	const reps = await page.$$eval('[data-testid=source-reporters] tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
	assert.deepEqual(reps, s.reporters.map((r) => r.reporter));
	assert.ok(reps.includes(HOSTILE_ORG), 'the hostile reporter');
	const spf = await page.$$eval('[data-testid=source-spf] tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
	assert.deepEqual(spf, s.spf.map((r) => r.domain));
	assert.deepEqual(await xss(), [undefined, 0]);
	await page.goto(back);
	await ready();
});

/* ---- 4. reports --------------------------------------------------------- */

let hostileId = null;
await check('reports: the list, newest first, with the hostile one as text', async () => {
	await page.click('[data-testid=nav-reports]');
	await page.waitForFunction(() => location.hash.startsWith('#/reports'), null, { timeout: WAIT });
	await ready();
	const { params } = route();
	const lst = await apiJSON('reports', { domain: params.domain, from: params.from, to: params.to, limit: 50 });
	const rows = await page.$$eval('[data-testid=reports-table] tbody tr', (trs) =>
		trs.map((tr) => [...tr.children].map((td) => td.textContent))
	);
	assert.equal(rows.length, Math.min(50, lst.total));
	assert.deepEqual(rows.map((r) => r[1]), lst.items.map((x) => x.org_name), 'reporters in order');
	assert.deepEqual(rows.map((r) => r[2]), lst.items.map((x) => x.report_id), 'report ids in order');
	const h = lst.items.find((x) => x.org_name === HOSTILE_ORG);
	assert.ok(h, 'the hostile report is not on the first page of the API');
	hostileId = h.id;
	assert.ok(rows.some((r) => r[1] === HOSTILE_ORG && r[2] === HOSTILE_RID), 'hostile org_name/report_id shown as text');
	assert.deepEqual(await xss(), [undefined, 0], 'window.__xss, img/script elements in main');
});

await check('reports: filter by the hostile reporter (URL holds it)', async () => {
	await page.selectOption('[data-testid=reporter-select]', HOSTILE_ORG);
	await page.waitForFunction(() => location.hash.includes('reporter='), null, { timeout: WAIT });
	await ready();
	assert.equal(route().params.reporter, HOSTILE_ORG);
	const rows = await page.$$eval('[data-testid=reports-table] tbody tr', (trs) => trs.length);
	const lst = await apiJSON('reports', { domain: route().params.domain, from: route().params.from, to: route().params.to, reporter: HOSTILE_ORG });
	assert.equal(rows, lst.items.length);
	assert.deepEqual(await xss(), [undefined, 0]);
	// a shared link opens the same view
	const again = await context.newPage();
	await again.goto(BASE + '/#token=' + encodeURIComponent(TOKEN));
	await ready(again);
	await again.goto(page.url());
	await ready(again);
	assert.equal(await again.inputValue('[data-testid=reporter-select]'), HOSTILE_ORG);
	await again.close();
});

await check('reports: export CSV of the current filters', async () => {
	const { name, bytes } = await download('[data-testid=export-csv]');
	const text = bytes.toString('utf8');
	assert.ok(text.startsWith('xml_schema,org_name,org_email,'), 'CSV header: ' + text.slice(0, 60));
	assert.ok(/^[A-Za-z0-9._!@+-]+$/.test(name), 'file name ' + name);
	const { params } = route();
	const want = await (await apiGet('export.csv', { domain: params.domain, from: params.from, to: params.to, reporter: params.reporter })).body();
	assert.ok(bytes.equals(want), 'the file is what /api/v1/export.csv answers');
});

await check('reports: export JSON of the current filters', async () => {
	const { bytes } = await download('[data-testid=export-json]');
	const rows = JSON.parse(bytes.toString('utf8'));
	assert.ok(Array.isArray(rows) && rows.length > 0, 'a JSON array of the records');
	assert.ok(rows.every((r) => r.org_name === HOSTILE_ORG), 'only the filtered reporter');
});

await check('open the hostile report: text, nothing ran', async () => {
	await page.click('[data-testid=reports-table] tbody tr:first-child td:first-child a');
	await page.waitForFunction(() => location.hash.startsWith('#/report/'), null, { timeout: WAIT });
	await ready();
	assert.equal(route().path, '/report/' + hostileId);
	assert.equal(await page.textContent('[data-testid=report-org-name]'), HOSTILE_ORG);
	assert.equal(await page.textContent('[data-testid=report-id]'), HOSTILE_RID);
	assert.equal(await page.textContent('[data-testid=report-title]'), HOSTILE_RID);
	const d = await apiJSON('reports/' + hostileId);
	const rows = await page.$$eval('[data-testid=report-rows] tbody tr', (trs) => trs.length);
	assert.equal(rows, d.rows.length, 'every record');
	assert.deepEqual(await xss(), [undefined, 0]);
	await shot('report');
});

await check('download the hostile report raw: the bytes as ingested', async () => {
	const { name, bytes } = await download('[data-testid=download-raw]');
	assert.ok(/^[A-Za-z0-9._!@+-]+$/.test(name), 'file name made safe: ' + name);
	const want = await (await apiGet(`reports/${hostileId}/raw`)).body();
	assert.ok(bytes.equals(want), 'the file is what /raw answers');
	if (HOSTILE) assert.ok(bytes.equals(fs.readFileSync(HOSTILE)), 'the file is the report as written');
	assert.deepEqual(await xss(), [undefined, 0]);
});

await check('open a generated report: every record, raw download', async () => {
	await page.goBack(); // the filtered list
	await ready();
	await page.selectOption('[data-testid=reporter-select]', '');
	await page.waitForFunction(() => !location.hash.includes('reporter='), null, { timeout: WAIT });
	await ready();
	const { params } = route();
	const lst = await apiJSON('reports', { domain: params.domain, from: params.from, to: params.to, limit: 50 });
	const i = lst.items.findIndex((x) => x.org_name !== HOSTILE_ORG);
	const item = lst.items[i];
	await page.click(`[data-testid=reports-table] tbody tr:nth-child(${i + 1}) td:first-child a`);
	await page.waitForFunction((id) => location.hash.startsWith('#/report/' + id + '?') || location.hash === '#/report/' + id, item.id, { timeout: WAIT });
	await ready();
	const d = await apiJSON('reports/' + item.id);
	assert.equal(await page.textContent('[data-testid=report-org-name]'), d.org_name);
	assert.equal(await page.textContent('[data-testid=report-messages]'), d.messages.toLocaleString('en-US'));
	const rows = await page.$$eval('[data-testid=report-rows] tbody tr', (trs) => trs.length);
	assert.equal(rows, Math.min(d.rows.length, 500), 'records shown');
	const { bytes } = await download('[data-testid=download-raw]');
	const want = await (await apiGet(`reports/${item.id}/raw`)).body();
	assert.ok(bytes.equals(want), 'the file is what /raw answers');
	assert.ok(bytes.length > 2 && ((bytes[0] === 0x1f && bytes[1] === 0x8b) || (bytes[0] === 0x50 && bytes[1] === 0x4b)), 'still compressed');
});

await check('an unknown report says so', async () => {
	provoking = 'a 404';
	try {
		await page.goto(BASE + '/#/report/999999999');
		await ready();
		await page.waitForSelector('[data-testid=not-found]', { timeout: WAIT });
	} finally {
		provoking = null;
	}
});

/* ---- 5. advice ------------------------------------------------------------- */

// /api/v1/advice, or null when the domain has no reports in the window (404)
async function adviceAPI(domain, days) {
	const url = '/api/v1/advice?' + new URLSearchParams({ domain, days: String(days) });
	const res = await api.get(url);
	if (res.status() === 404) return null;
	if (res.status() !== 200) throw new Error(`GET ${url}: ${res.status()} ${await res.text()}`);
	return res.json();
}

// the advice view as shown: every number and text the API gave it
async function adviceShown(p = page) {
	return p.evaluate(() => {
		const q = (sel) => document.querySelector(sel);
		const text = (sel) => (q(sel) ? q(sel).textContent : null);
		const attr = (sel, a) => (q(sel) ? q(sel).getAttribute(a) : null);
		const all = (sel, root = document) => [...root.querySelectorAll(sel)];
		const items = (li) => ({ code: li.getAttribute('data-code'), message: li.querySelector('.advice-msg').textContent });
		return {
			none: text('[data-testid=advice-none]'),
			pressed: all('[data-testid=advice-days] button[aria-pressed=true]').map((b) => b.textContent),
			rangeShown: !!(q('[data-testid=range-7]') && q('[data-testid=range-7]').offsetParent),
			passRate: text('[data-testid=advice-pass-rate] .kpi-value'),
			passRateValue: attr('[data-testid=advice-pass-rate]', 'data-value'),
			messages: attr('[data-testid=advice-messages]', 'data-value'),
			messagesText: text('[data-testid=advice-messages] .kpi-value'),
			reports: attr('[data-testid=advice-messages]', 'data-reports'),
			policy: text('[data-testid=advice-policy] .kpi-value'),
			step: text('[data-testid=advice-step-name]'),
			safe: text('[data-testid=advice-safe]'),
			why: text('[data-testid=advice-why]'),
			blockers: all('[data-testid=advice-blockers] li').map(items),
			dnsName: text('[data-testid=advice-dns-name]'),
			record: text('pre[data-testid=advice-record]'),
			zone: text('pre[data-testid=advice-zone]'),
			services: all('[data-testid=advice-services-table] tbody tr.svc').map((tr) => ({
				service: tr.children[0].textContent,
				type: tr.children[1].textContent,
				counts: tr.children[2].textContent,
				sources: tr.children[3].textContent,
				actions: all('li', tr.nextElementSibling).map(items),
			})),
			forwarders: {
				failing: text('[data-testid=advice-fw-failing]'),
				sources: text('[data-testid=advice-fw-sources]'),
				services: all('[data-testid=advice-fw-services] .chip').map((c) => c.textContent),
			},
			unknown: all('[data-testid=advice-unknown-table] tbody tr').map((tr) => ({
				ip: tr.children[0].textContent,
				href: tr.children[0].querySelector('a') ? tr.children[0].querySelector('a').getAttribute('href') : null,
				failing: tr.children[1].textContent,
				messages: tr.children[2].textContent,
				network: tr.children[3].textContent,
				country: tr.children[4].textContent,
				ptr: tr.children[5].textContent,
			})),
		};
	});
}

// what the view must show for an /api/v1/advice answer (docs/ADVICE.md)
function adviceExpected(a) {
	const fmt = (n) => n.toLocaleString('en-US');
	const dash = (v) => (v === null || v === undefined || v === '' ? '–' : String(v));
	const pol = a.policy ? ['p', 'sp', 'np', 'pct'].filter((k) => a.policy[k] !== null && a.policy[k] !== undefined && a.policy[k] !== '').map((k) => `${k}=${a.policy[k]}`) : [];
	const n = a.next;
	const fw = a.forwarders;
	return {
		passRate: (100 * a.pass_rate).toFixed(2) + '%',
		passRateValue: String(a.pass_rate),
		messages: String(a.messages),
		messagesText: fmt(a.messages),
		reports: String(a.reports),
		policy: pol.length ? pol.join(' ') : 'unknown',
		step: n.step,
		safe: n.step === 'done' ? 'done' : n.safe ? 'safe' : 'not yet',
		why: n.why || null,
		blockers: n.blockers.map((b) => ({ code: b.code, message: b.message })),
		dnsName: n.record ? '_dmarc.' + a.domain : null,
		record: n.record,
		zone: n.zone ? `_dmarc.${a.domain}. IN TXT ${n.zone}` : null,
		services: a.services.map((s) => ({
			service: s.service,
			type: dash(s.type),
			counts: fmt(s.failing) + ' / ' + fmt(s.messages),
			sources: fmt(s.sources),
			actions: s.actions.map((x) => ({ code: x.code, message: x.message })),
		})),
		forwarders: { failing: `${fmt(fw.failing)} of ${fmt(fw.messages)} messages`, sources: fmt(fw.sources), services: fw.services },
		unknown: a.unknown.top.map((x) => ({
			ip: x.ip,
			href: '#/source/' + encodeURIComponent(x.ip).replace(/%3A/gi, ':') + '?' + new URLSearchParams({ domain: a.domain }),
			failing: fmt(x.failing),
			messages: fmt(x.messages),
			network: x.asn !== null && x.asn !== undefined ? 'AS' + x.asn + (x.as_name ? ' ' + x.as_name : '') : dash(x.as_name),
			country: dash(x.country),
			ptr: dash(x.ptr),
		})),
	};
}

// the view shown against the API's answer for the route's domain and days
async function adviceMatchesAPI() {
	const { params } = route();
	const a = await adviceAPI(params.domain, params.days);
	const got = await adviceShown();
	assert.equal(got.rangeShown, false, 'the range presets are hidden (the advice counts days back from today)');
	const pressed = ['7', '30', '90'].includes(params.days) ? [params.days + ' d'] : [];
	assert.deepEqual(got.pressed, pressed, 'the days button pressed');
	if (!a) {
		assert.equal(got.none, `No reports of ${params.domain} in the last ${params.days === '1' ? 'day' : params.days + ' days'}.`);
		return null;
	}
	assert.equal(got.none, null, 'the view says there are no reports');
	const want = adviceExpected(a);
	const shown = {};
	for (const k of Object.keys(want)) shown[k] = got[k];
	assert.deepEqual(shown, want, `the view is /api/v1/advice?domain=${params.domain}&days=${params.days}`);
	return a;
}

// open the advice (a 404 of the API is expected when the API says so)
async function openAdvice(how, domain, days) {
	provoking = (await adviceAPI(domain, days)) ? null : 'a 404: no reports in the window';
	try {
		await how();
		await page.waitForFunction(
			([dom, d]) => {
				const h = location.hash;
				const q = new URLSearchParams(h.slice(h.indexOf('?') + 1));
				return h.startsWith('#/advice?') && q.get('domain') === dom && q.get('days') === d;
			},
			[domain, String(days)],
			{ timeout: WAIT }
		);
		await ready();
		return await adviceMatchesAPI();
	} finally {
		provoking = null;
	}
}

let adviceDomain = null;
await check('advice: from the navigation, every number and text is /api/v1/advice', async () => {
	adviceDomain = domains[0].domain;
	const a = await openAdvice(() => page.click('[data-testid=nav-advice]'), adviceDomain, 30);
	const { params } = route();
	assert.deepEqual(params, { domain: adviceDomain, days: '30' }, 'the address: domain and days, no range');
	assert.equal(await attr('[data-testid=nav-advice]', 'aria-current'), 'page');
	if (!a) console.log('     (no reports in the last 30 days: the clock is past the data)');
	await shot('advice');
});

await check('advice: the whole history (3660 days): step, record, services and unknown sources', async () => {
	const a = await openAdvice(() => page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain: adviceDomain, days: '3660' })), adviceDomain, 3660);
	assert.ok(a, 'the API has no advice for ' + adviceDomain);
	assert.ok(a.messages > 0 && a.reports > 0);
	assert.equal(await page.textContent('[data-testid=advice-pass-rate] .kpi-value'), (100 * a.pass_rate).toFixed(2) + '%', 'the pass rate card');
	assert.match(await page.textContent('[data-testid=advice-step]'), new RegExp('^Next step' + a.next.step), 'the step named');
	if (a.next.record === null) {
		// the strongest policy is published: nothing left to publish
		assert.equal(await page.textContent('[data-testid=advice-no-record]'), 'Nothing to publish.');
	} else {
		assert.equal(await page.textContent('pre[data-testid=advice-record]'), a.next.record, 'the record to publish');
	}
	assert.ok(a.services.length || a.unknown.top.length, 'the generated data has failing services or unknown sources');
	if (a.services.length) {
		const first = page.locator('[data-testid=advice-services-table] tbody tr.svc').first();
		assert.equal(await first.locator('td').first().textContent(), a.services[0].service);
	}
	if (a.unknown.top.length) {
		// the unknown source leads to its page, for the domain
		const ip = a.unknown.top[0].ip;
		await page.click('[data-testid=advice-unknown-table] tbody tr:first-child td:first-child a');
		await page.waitForFunction(() => location.hash.startsWith('#/source/'), null, { timeout: WAIT });
		await ready();
		assert.equal(await page.textContent('[data-testid=source-ip]'), ip);
		assert.equal(route().params.domain, adviceDomain);
		assert.equal(await page.isVisible('[data-testid=range-7]'), true, 'the range presets are back');
		await page.goBack();
		await ready();
		assert.equal(route().params.days, '3660', 'back: the advice');
	}
	await shot('advice-all');
});

await check('advice: the days buttons change the address and the numbers', async () => {
	const byDays = {};
	const shownMessages = {};
	for (const d of [7, 90, 30]) {
		byDays[d] = await openAdvice(() => page.click(`[data-testid=advice-days-${d}]`), adviceDomain, d);
		assert.deepEqual(route().params, { domain: adviceDomain, days: String(d) });
		shownMessages[d] = (await adviceShown()).messages;
	}
	// a window the buttons do not offer, from the address: today only
	byDays[1] = await openAdvice(() => page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain: adviceDomain, days: '1' })), adviceDomain, 1);
	shownMessages[1] = (await adviceShown()).messages;
	const msgs = Object.entries(byDays).map(([d, a]) => `${d}=${a ? a.messages : 'none'}`);
	console.log('     advice messages by days: ' + msgs.join(' '));
	// each window was held against its own answer above; where two
	// answers differ (the generated data reaches past today, so 1 day
	// holds less than 7), the page showed different numbers too
	if (byDays[1] && byDays[7] && byDays[1].messages !== byDays[7].messages) {
		assert.notEqual(shownMessages[1], shownMessages[7], 'the messages shown for 1 and 7 days');
	}
	// a bad days value becomes the default
	await page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain: adviceDomain, days: '0', from: '2026-01-01' }));
	await page.waitForFunction(() => location.hash.includes('days=30'), null, { timeout: WAIT });
	provoking = byDays[30] ? null : 'a 404';
	try {
		await ready();
	} finally {
		provoking = null;
	}
	assert.deepEqual(route().params, { domain: adviceDomain, days: '30' });
	// back: the days of before
	await page.goBack();
	await ready();
	assert.equal(route().params.days, '1', 'back: 1 day');
});

await check('advice: another domain keeps the view and its days', async () => {
	assert.ok(domains.length >= 2, 'needs two domains');
	await page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain: adviceDomain, days: '3660' }));
	await ready();
	const d = domains[1].domain;
	await openAdvice(() => page.selectOption('[data-testid=domain-select]', d), d, 3660);
	assert.deepEqual(route().params, { domain: d, days: '3660' });
});

await check('advice: the Copy button puts the record on the clipboard', async () => {
	const a = await adviceAPI(route().params.domain, 3660);
	assert.ok(a && a.next.record, 'no record to copy');
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
	await page.click('[data-testid=advice-record-copy]');
	await page.waitForFunction(() => document.querySelector('[data-testid=advice-record-copy]').textContent === 'Copied', null, { timeout: WAIT });
	assert.equal(await page.evaluate(() => navigator.clipboard.readText()), a.next.record);
	await context.clearPermissions();
});

await check('advice: no reports in the window says so', async () => {
	// the generated data reaches past today, so every window has some:
	// the server's 404 is played for this check
	const none = (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no reports of the domain in the window"}' });
	await page.route(/\/api\/v1\/advice\?/, none);
	provoking = 'a 404';
	try {
		await page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain: adviceDomain, days: '7' }));
		await ready();
		assert.equal(await page.textContent('[data-testid=advice-none]'), `No reports of ${adviceDomain} in the last 7 days.`);
		assert.deepEqual((await adviceShown()).pressed, ['7 d'], 'the days buttons stay, to widen the window');
		assert.equal(await page.$('[data-testid=advice-kpis]'), null, 'no numbers');
	} finally {
		provoking = null;
		await page.unroute(/\/api\/v1\/advice\?/, none);
	}
});

// markup in every text of the advice: service names and actions come
// from services.conf and the reports (DKIM domains, selectors), AS and
// reverse names from whoever runs an address, the policy from a report
await check('advice: hostile text everywhere is text, nothing ran', async () => {
	const evil = (n) => `<img src=x onerror="window.__xss=${n}">`;
	let rewritten = null;
	const rewrite = async (r) => {
		const res = await r.fetch();
		const a = await res.json();
		rewritten = a;
		a.policy = { p: '<i>none</i>', sp: evil(20), np: null, pct: 100 };
		a.services = [
			{
				service: '<script>window.__xss=21</script>',
				type: '<u>esp</u>',
				messages: 5,
				failing: 5,
				sources: 1,
				actions: [{ code: '<b>dkim_fails</b>', message: 'publish ' + evil(22) + ' at <svg onload="window.__xss=23">._domainkey' }],
			},
		].concat(a.services);
		a.forwarders.services = ['<svg onload="window.__xss=24">'].concat(a.forwarders.services);
		a.unknown.top = [{ ip: '192.0.2.66', messages: 7, failing: 7, ptr: '<b>x</b>.example', asn: 64496, as_name: evil(25), country: '<i>US</i>' }].concat(a.unknown.top);
		a.next.why = '<b>why</b> ' + evil(26);
		a.next.blockers = [{ code: '<u>service_fails</u>', message: evil(27) }].concat(a.next.blockers);
		a.next.record = 'v=DMARC1; p=quarantine; rua=mailto:' + evil(28);
		a.next.zone = '"<script>window.__xss=29</script>"';
		await r.fulfill({ response: res, json: a });
	};
	await page.route(/\/api\/v1\/advice\?/, rewrite);
	const back = page.url();
	try {
		await page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain: adviceDomain, days: '3660' }));
		await ready();
		assert.ok(rewritten, 'the answer was not rewritten');
		const got = await adviceShown();
		const want = adviceExpected(rewritten);
		const shown = {};
		for (const k of Object.keys(want)) shown[k] = got[k];
		assert.deepEqual(shown, want, 'every hostile string shown as sent');
		assert.equal(got.services[0].service, '<script>window.__xss=21</script>');
		assert.equal(got.record, rewritten.next.record);
		assert.deepEqual(await xss(), [undefined, 0]);
		assert.equal(await page.evaluate(() => document.querySelectorAll('main svg, main b, main i, main u').length), 0, 'markup elements');
	} finally {
		await page.unroute(/\/api\/v1\/advice\?/, rewrite);
	}
	await page.goto(back);
	await ready();
});

/* ---- 5b. advice: published records, the record generator ------------------- */

// An answer of GET /api/v1/dns as a real run gave it: `dmarcd serve` with
// its resolver at a knotd (tests/dns/knot.py) serving acme.com's DMARC
// record (p=none, an authorized rua and an unauthorized ruf on other
// hosts), an SPF record with a two-level include and a void `a`, and DKIM
// keys at s1 (RSA 2048) and old (revoked); scph0124 is a selector of the
// reports without a key; `selector=old` was asked. The suite's server has
// no resolver of its own, so the browser is given this answer.
const DNS_CHECK = {
	"domain": "acme.com",
	"valid": false,
	"errors": 2,
	"warnings": 3,
	"dmarc": {
		"name": "_dmarc.acme.com",
		"dns": "ok",
		"records": 1,
		"text": "v=DMARC1; p=none; rua=mailto:dmarc@acme.com,mailto:d@reports.vendor.com; ruf=mailto:f@noauth.com; fo=1",
		"record": {
			"is_dmarc": true,
			"valid": true,
			"tags": {
				"p": "none",
				"sp": null,
				"np": null,
				"adkim": null,
				"aspf": null,
				"fo": "1",
				"t": null,
				"psd": null,
				"pct": null,
				"rf": null,
				"ri": null,
			},
			"effective": {
				"p": "none",
				"sp": "none",
				"np": "none",
				"adkim": "r",
				"aspf": "r",
				"fo": "1",
				"t": "n",
				"psd": "u",
				"pct": 100,
			},
			"rua": [
				{"uri": "mailto:dmarc@acme.com", "address": "dmarc@acme.com", "host": "acme.com", "size": null},
				{
					"uri": "mailto:d@reports.vendor.com",
					"address": "d@reports.vendor.com",
					"host": "reports.vendor.com",
					"size": null,
				},
			],
			"ruf": [{"uri": "mailto:f@noauth.com", "address": "f@noauth.com", "host": "noauth.com", "size": null}],
			"findings": [
				{
					"severity": "warning",
					"code": "p_none",
					"message": "p=none: monitoring only, mail that fails DMARC is delivered as usual",
				},
			],
		},
		"psl": {"org_domain": "acme.com", "record_at": "acme.com", "policy": "none"},
		"tree_walk": {
			"org_domain": "acme.com",
			"record_at": "acme.com",
			"policy": "none",
			"asked": ["_dmarc.acme.com", "_dmarc.com"],
		},
		"applies": {"record_at": "acme.com", "policy": "none"},
		"destinations": [
			{"uri": "mailto:dmarc@acme.com", "tag": "rua", "host": "acme.com", "ours": false, "external": false},
			{
				"uri": "mailto:d@reports.vendor.com",
				"tag": "rua",
				"host": "reports.vendor.com",
				"ours": false,
				"external": true,
				"authorization": {"name": "acme.com._report._dmarc.reports.vendor.com", "dns": "ok", "records": 1, "text": "v=DMARC1;"},
				"authorized": true,
			},
			{
				"uri": "mailto:f@noauth.com",
				"tag": "ruf",
				"host": "noauth.com",
				"ours": false,
				"external": true,
				"authorization": {"name": "acme.com._report._dmarc.noauth.com", "dns": "nxdomain", "records": 0, "text": null},
				"authorized": false,
			},
		],
	},
	"spf": {
		"lookups": 4,
		"void_lookups": 1,
		"record": {
			"is_spf": true,
			"valid": true,
			"lookups": 3,
			"terms": [
				{"kind": "ip4", "qualifier": "+", "value": "192.0.2.1", "lookup": false},
				{"kind": "include", "qualifier": "+", "value": "_spf.esp.com", "lookup": true},
				{"kind": "a", "qualifier": "+", "value": "nx.acme.com", "lookup": true},
				{"kind": "mx", "qualifier": "+", "value": null, "lookup": true},
				{"kind": "all", "qualifier": "-", "value": null, "lookup": false},
			],
			"findings": [],
		},
		"tree": {
			"name": "acme.com",
			"status": "ok",
			"lookups": 4,
			"void_lookups": 1,
			"record": "v=spf1 ip4:192.0.2.1 include:_spf.esp.com a:nx.acme.com mx -all",
			"children": [
				{
					"name": "_spf.esp.com",
					"via": "include",
					"status": "ok",
					"lookups": 2,
					"void_lookups": 0,
					"record": "v=spf1 ip4:198.51.100.0/24 include:_spf2.esp.com -all",
					"children": [
						{
							"name": "_spf2.esp.com",
							"via": "include",
							"status": "ok",
							"lookups": 1,
							"void_lookups": 0,
							"record": "v=spf1 ip4:198.51.101.0/24 ~all",
						},
					],
				},
				{"name": "nx.acme.com", "via": "a", "status": "void", "lookups": 1, "void_lookups": 1, "answers": 0},
				{"name": "acme.com", "via": "mx", "status": "ok", "lookups": 1, "void_lookups": 0, "answers": 1},
			],
		},
	},
	"dkim": [
		{
			"selector": "old",
			"name": "old._domainkey.acme.com",
			"dns": "ok",
			"records": 1,
			"text": "v=DKIM1; k=rsa; p=",
			"key": {
				"is_dkim": true,
				"valid": true,
				"tags": {"v": "dkim1", "k": "rsa", "h": null, "s": null, "t": null},
				"key_type": null,
				"bits": null,
				"revoked": true,
				"testing": false,
				"findings": [
					{
						"severity": "warning",
						"code": "revoked",
						"message": "p= is empty: the key is revoked; mail signed with this selector fails DKIM",
					},
				],
			},
		},
		{
			"selector": "scph0124",
			"name": "scph0124._domainkey.acme.com",
			"dns": "nxdomain",
			"records": 0,
			"text": null,
			"key": null,
		},
		{
			"selector": "s1",
			"name": "s1._domainkey.acme.com",
			"dns": "ok",
			"records": 1,
			"text": "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuHTn6RTxWBxolZyGuWiPi9lpgfYjxGip54b+dN8TaLUvX0CEX8p2PSJcfAODngTwC68nSDxca/mps5vhhOvcC0vSGKfbZ3aMNwyr9EIGX9799lhc20YmRYi5ong/d1YoQWyOAtSJsM3F2YHst6cochpebs8vuqgq50NMqk55Lo+ZXp3X1jxzOHRqyJSLN59oetxkdO0vYcHSox8c8lRacdY4cRAWMpX5ZfuhD6at/0fEhigB6TsvqVcPcLm3Rv0/iSFIBEOAt2LSpeWP1pZuoLHnEQFcnBIyYd7SwnO6PxeCl7n1naLzz2YKef5r4/uOVrljx5BrarFjVgcERC3EVwIDAQAB",
			"key": {
				"is_dkim": true,
				"valid": true,
				"tags": {"v": "dkim1", "k": "rsa", "h": null, "s": null, "t": null},
				"key_type": "rsa",
				"bits": 2048,
				"revoked": false,
				"testing": false,
				"findings": [],
			},
		},
	],
	"findings": [
		{
			"severity": "warning",
			"code": "p_none",
			"where": "dmarc",
			"message": "p=none: monitoring only, mail that fails DMARC is delivered as usual",
		},
		{
			"severity": "error",
			"code": "ext_not_authorized",
			"where": "ruf:noauth.com",
			"message": "noauth.com is outside acme.com and has not authorized its reports: receivers drop mailto:f@noauth.com. In noauth.com's zone: acme.com._report._dmarc.noauth.com TXT \"v=DMARC1\"",
		},
		{
			"severity": "info",
			"code": "softfail_all",
			"where": "spf:_spf2.esp.com",
			"message": "~all: mail from anywhere else soft-fails (DMARC decides what happens)",
		},
		{
			"severity": "warning",
			"code": "spf_void_lookup",
			"where": "spf:acme.com",
			"message": "a:nx.acme.com finds nothing (nxdomain): a void lookup; more than 2 are a permerror",
		},
		{
			"severity": "warning",
			"code": "revoked",
			"where": "dkim:old",
			"message": "p= is empty: the key is revoked; mail signed with this selector fails DKIM",
		},
		{
			"severity": "error",
			"code": "dkim_missing",
			"where": "dkim:scph0124",
			"message": "no DKIM key at scph0124._domainkey.acme.com: mail signed with selector scph0124 fails DKIM",
		},
	],
	"dns_questions": 26,
	"took_ms": 12,
};

// the fixture for a domain: its names follow it
function dnsCheckFor(domain) {
	return JSON.parse(JSON.stringify(DNS_CHECK).replaceAll('acme.com', domain));
}

// the card of a finding by its `where` (rua:/ruf: go with the DMARC record)
function cardOf(where) {
	if (where === 'dmarc' || /^ru[af]:/.test(where)) return 'dmarc';
	if (where.startsWith('spf:')) return 'spf';
	if (where.startsWith('dkim:')) return 'dkim';
	return 'other';
}

function worstOf(findings) {
	const rank = { info: 1, warning: 2, error: 3 };
	const w = Math.max(0, ...findings.map((f) => rank[f.severity] || 0));
	return w === 3 ? 'error' : w === 2 ? 'warning' : 'ok';
}

// the SPF tree in document order: name, via, lookups, status, depth
function spfFlat(n, depth = 0) {
	return [{ name: n.name, via: n.via || '', lookups: String(n.lookups), status: n.status, depth }].concat(
		...(n.children || []).map((k) => spfFlat(k, depth + 1))
	);
}

// the published records as shown
async function dnsShown(p = page) {
	return p.evaluate(() => {
		const q = (sel) => document.querySelector(sel);
		const text = (sel) => (q(sel) ? q(sel).textContent : null);
		const all = (sel, root = document) => [...root.querySelectorAll(sel)];
		const findings = (id) =>
			all(`[data-testid=${id}] li`).map((li) => ({
				severity: li.getAttribute('data-severity'),
				code: li.getAttribute('data-code'),
				where: li.getAttribute('data-where'),
				message: li.querySelector('.finding-msg').textContent,
			}));
		const card = (id) => ({
			status: q(`[data-testid=${id}]`) ? q(`[data-testid=${id}]`).getAttribute('data-status') : null,
			word: text(`[data-testid=${id}-status]`),
			count: q(`[data-testid=${id}-findings]`) ? q(`[data-testid=${id}-findings]`).getAttribute('data-count') : null,
			findings: findings(`${id}-findings`),
		});
		const tree = q('[data-testid=dns-spf-tree]');
		const applies = q('[data-testid=dns-dmarc-applies]');
		return {
			state: q('[data-testid=dns-result]').getAttribute('data-state'),
			errors: q('[data-testid=dns-summary]').getAttribute('data-errors'),
			warnings: q('[data-testid=dns-summary]').getAttribute('data-warnings'),
			dmarc: card('dns-dmarc'),
			spf: card('dns-spf'),
			dkim: card('dns-dkim'),
			dmarcRecord: text('pre[data-testid=dns-dmarc-record]'),
			dmarcName: text('[data-testid=dns-dmarc-name]'),
			applies: applies ? { at: applies.getAttribute('data-record-at'), policy: applies.getAttribute('data-policy'), text: applies.textContent } : null,
			dests: all('[data-testid=dns-dests] li').map((li) => ({
				uri: li.querySelector('code').textContent,
				authorized: li.getAttribute('data-authorized'),
			})),
			lookups: { value: q('[data-testid=dns-spf-lookups]').getAttribute('data-value'), text: text('[data-testid=dns-spf-lookups]') },
			voids: { value: q('[data-testid=dns-spf-voids]').getAttribute('data-value'), text: text('[data-testid=dns-spf-voids]') },
			spfRecord: text('pre[data-testid=dns-spf-record]'),
			tree: all('li', tree).map((li) => {
				let depth = 0;
				for (let e = li.parentElement; e !== tree; e = e.parentElement) if (e.tagName === 'UL') depth++;
				return {
					name: li.querySelector(':scope > .spf-node .spf-name').textContent,
					via: li.getAttribute('data-via'),
					lookups: li.getAttribute('data-lookups'),
					status: li.querySelector(':scope > .spf-node .spf-status').textContent,
					depth,
				};
			}),
			dkimRows: all('[data-testid=dns-dkim-list] > li').map((li) => ({
				selector: li.querySelector('.dkim-sel').textContent,
				status: li.getAttribute('data-status'),
				key: li.querySelector('.dkim-key').textContent,
			})),
		};
	});
}

// what the panel must show for an answer of /api/v1/dns
function dnsExpected(c) {
	const by = { dmarc: [], spf: [], dkim: [], other: [] };
	for (const f of c.findings) by[cardOf(f.where)].push(f);
	const card = (list) => ({
		status: worstOf(list),
		word: worstOf(list),
		count: String(list.length),
		findings: list.map((f) => ({ severity: f.severity, code: f.code, where: f.where, message: f.message })),
	});
	return {
		state: 'done',
		errors: String(c.errors),
		warnings: String(c.warnings),
		dmarc: card(by.dmarc),
		spf: card(by.spf),
		dkim: card(by.dkim),
		dmarcRecord: c.dmarc.text,
		dmarcName: c.dmarc.name,
		applies: {
			at: c.dmarc.applies.record_at,
			policy: c.dmarc.applies.policy,
			text: `_dmarc.${c.dmarc.applies.record_at}, policy ${c.dmarc.applies.policy}`,
		},
		dests: c.dmarc.destinations.filter((d) => d.external).map((d) => ({ uri: d.uri, authorized: String(d.authorized) })),
		lookups: { value: String(c.spf.lookups), text: `${c.spf.lookups} of 10 DNS lookups` },
		voids: { value: String(c.spf.void_lookups), text: `${c.spf.void_lookups} of 2 void lookups` },
		spfRecord: c.spf.tree.record,
		tree: spfFlat(c.spf.tree),
		dkimRows: c.dkim.map((k) => ({
			selector: k.selector,
			status: worstOf(c.findings.filter((f) => f.where === 'dkim:' + k.selector)),
			// the fixture's three kinds: a revoked key, no key, an RSA key
			key: k.dns !== 'ok' ? `no key (${k.dns}: no such name)` : k.key.revoked ? 'revoked (p= is empty)' : `${k.key.key_type}, ${k.key.bits.toLocaleString('en-US')} bits`,
		})),
	};
}

// open the advice over every day stored, for the domain
async function openAdviceAll(domain = adviceDomain) {
	await page.goto(BASE + '/#/advice?' + new URLSearchParams({ domain, days: '3660' }));
	await ready();
}

await check('published records: Check DNS shows the DMARC, SPF and DKIM cards of /api/v1/dns, hostile text as text', async () => {
	const c = dnsCheckFor(adviceDomain);
	// markup where the DNS and the reports put text: a record, a finding,
	// an SPF name, a DKIM selector, a report address
	c.dmarc.text = `v=DMARC1; p=none; rua=mailto:<img src=x onerror="window.__xss=40">@${adviceDomain}`;
	c.findings[0].message += ' <script>window.__xss=41</script>';
	c.spf.tree.children[0].name = '<svg onload="window.__xss=42">.example';
	c.dkim[0].selector = '<b>old</b>';
	for (const f of c.findings) if (f.where === 'dkim:old') f.where = 'dkim:<b>old</b>';
	c.dmarc.destinations[1].uri = 'mailto:<i>d</i>@reports.vendor.com';
	const asked = [];
	const mock = (r) => {
		asked.push(r.request().url());
		return r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(c) });
	};
	await page.route(/\/api\/v1\/dns\?/, mock);
	try {
		await openAdviceAll();
		assert.equal(await attr('[data-testid=dns-result]', 'data-state'), 'idle', 'nothing asked before the button');
		assert.equal(asked.length, 0, 'the DNS was asked on load');
		// by keyboard: a selector, Enter
		await page.focus('[data-testid=dns-selector]');
		await page.keyboard.type('old');
		await page.keyboard.press('Enter');
		await page.waitForSelector('[data-testid=dns-result][data-state=done]', { timeout: WAIT });
		assert.equal(asked.length, 1, 'one question');
		const q = new URL(asked[0]).searchParams;
		assert.deepEqual({ domain: q.get('domain'), selector: q.get('selector') }, { domain: adviceDomain, selector: 'old' });
		const got = await dnsShown();
		const want = dnsExpected(c);
		assert.deepEqual(got, want, 'the cards are the answer of /api/v1/dns');
		// what the fixture holds, said plainly
		assert.deepEqual([got.dmarc.word, got.spf.word, got.dkim.word], ['error', 'warning', 'error'], 'the status words');
		assert.deepEqual([got.dmarc.count, got.spf.count, got.dkim.count], ['2', '2', '2'], 'findings per card');
		assert.equal(got.lookups.value, '4');
		assert.deepEqual(got.tree.map((n) => n.name), [adviceDomain, '<svg onload="window.__xss=42">.example', '_spf2.esp.com', 'nx.' + adviceDomain, adviceDomain]);
		assert.deepEqual(got.dkimRows.map((k) => [k.selector, k.status]), [['<b>old</b>', 'warning'], ['scph0124', 'error'], ['s1', 'ok']]);
		assert.equal(got.dmarcRecord, c.dmarc.text);
		assert.ok(got.dmarc.findings[0].message.endsWith('<script>window.__xss=41</script>'));
		assert.deepEqual(await xss(), [undefined, 0]);
		assert.equal(await page.evaluate(() => document.querySelectorAll('main svg, main b, main i, main u').length), 0, 'markup elements');
		assert.equal(await page.textContent('[data-testid=dns-check]'), 'Check again');
		await shot('advice-dns');
		// a phone: the cards in one column, nothing wider than the screen
		await page.setViewportSize({ width: 390, height: 844 });
		const o = await page.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]);
		assert.ok(o[0] <= o[2] && o[1] <= o[2], `page ${o[0]}/${o[1]} px wide in a ${o[2]} px window`);
		await shot('phone-advice-dns');
	} finally {
		await page.setViewportSize({ width: 1280, height: 900 });
		await page.unroute(/\/api\/v1\/dns\?/, mock);
	}
});

await check('published records: a 503 of /api/v1/dns says the DNS cannot be asked, a 404 that there are no reports', async () => {
	let status = 503;
	const fail = (r) =>
		r.fulfill({
			status,
			contentType: 'application/json',
			body: JSON.stringify({ error: status === 503 ? 'the DNS cannot be asked' : 'no such domain' }),
		});
	await page.route(/\/api\/v1\/dns\?/, fail);
	provoking = 'a 503 and a 404 of /api/v1/dns';
	try {
		await openAdviceAll();
		await page.click('[data-testid=dns-check]');
		await page.waitForSelector('[data-testid=dns-result][data-state=error]', { timeout: WAIT });
		assert.equal(await attr('[data-testid=dns-error]', 'data-status'), '503');
		assert.match(await page.textContent('[data-testid=dns-error]'), /^The server cannot ask the DNS now \(the DNS cannot be asked\)/);
		assert.equal(await attr('[data-testid=dns-error]', 'role'), 'alert');
		assert.equal(await page.isEnabled('[data-testid=dns-check]'), true, 'the button is back, to try again');
		status = 404;
		await page.click('[data-testid=dns-check]');
		await page.waitForSelector('[data-testid=dns-error][data-status="404"]', { timeout: WAIT });
		assert.match(await page.textContent('[data-testid=dns-error]'), new RegExp('^No reports of ' + adviceDomain.replaceAll('.', '\\.') + ' under this token'));
		assert.equal(await page.$('[data-testid=dns-dmarc]'), null, 'no cards');
	} finally {
		provoking = null;
		await page.unroute(/\/api\/v1\/dns\?/, fail);
	}
});

// GET /api/v1/record straight: the answer and its status
async function recordAPI(params) {
	const res = await api.get('/api/v1/record?' + new URLSearchParams(params));
	return { status: res.status(), body: await res.json() };
}

// the generator's answer as shown
async function generatorShown(p = page) {
	return p.evaluate(() => {
		const q = (sel) => document.querySelector(sel);
		const text = (sel) => (q(sel) ? q(sel).textContent : null);
		return {
			params: q('[data-testid=gen-out]').getAttribute('data-params'),
			state: q('[data-testid=gen-out]').getAttribute('data-state'),
			name: text('[data-testid=gen-name]'),
			record: text('pre[data-testid=gen-record]'),
			zone: text('pre[data-testid=gen-zone]'),
			valid: text('[data-testid=gen-valid]'),
			findings: [...document.querySelectorAll('[data-testid=gen-findings] li')].map((li) => ({
				severity: li.getAttribute('data-severity'),
				code: li.getAttribute('data-code'),
				message: li.querySelector('.finding-msg').textContent,
			})),
		};
	});
}

function generatorExpected(g, params) {
	return {
		params,
		state: 'done',
		name: g.name,
		record: g.record,
		zone: `${g.name}. IN TXT ${g.zone}`,
		valid: g.parsed.valid ? 'valid' : 'not valid',
		findings: g.parsed.findings.map((f) => ({ severity: f.severity, code: f.code, message: f.message })),
	};
}

// the generator shows the answer of these params (in the form's order)
async function generatorIs(params) {
	const key = new URLSearchParams(params).toString();
	await page.waitForSelector(`[data-testid=gen-out][data-state=done][data-params="${key}"]:not([aria-busy])`, { timeout: WAIT });
	const g = await recordAPI({ domain: adviceDomain, ...params });
	assert.equal(g.status, 200, JSON.stringify(g.body));
	assert.deepEqual(await generatorShown(), generatorExpected(g.body, key), '/api/v1/record?' + key);
	return g.body;
}

await check('record generator: starts from the next step; p=reject adkim=s is /api/v1/record, findings as parsed', async () => {
	await openAdviceAll();
	const a = await adviceAPI(adviceDomain, 3660);
	// the first record: p of the advice's record, else of the published policy
	const tag = (rec, k) => {
		const m = new RegExp('(?:^|;)\\s*' + k + '\\s*=\\s*([^;\\s]*)', 'i').exec(rec || '');
		return m ? m[1].toLowerCase() : null;
	};
	const p0 = a.next.record ? tag(a.next.record, 'p') : a.policy && a.policy.p;
	assert.equal(await page.inputValue('[data-testid=gen-p]'), ['none', 'quarantine', 'reject'].includes(p0) ? p0 : 'none', 'p as the advice says');
	const start = await page.evaluate(() =>
		Object.fromEntries(
			['p', 'sp', 'np', 'adkim', 'aspf']
				.map((k) => [k, document.querySelector(`[data-testid=gen-${k}]`).value])
				.concat([['t', document.querySelector('[data-testid=gen-t]').checked ? 'y' : '']])
				.filter((x) => x[1])
		)
	);
	await generatorIs(start);
	// the brief's record, chosen in the form
	await page.selectOption('[data-testid=gen-p]', 'reject');
	await page.selectOption('[data-testid=gen-sp]', '');
	await page.selectOption('[data-testid=gen-np]', '');
	await page.selectOption('[data-testid=gen-adkim]', 's');
	await page.selectOption('[data-testid=gen-aspf]', '');
	if (await page.isChecked('[data-testid=gen-t]')) await page.uncheck('[data-testid=gen-t]');
	const g = await generatorIs({ p: 'reject', adkim: 's' });
	assert.match(g.record, /^v=DMARC1; p=reject; adkim=s(;|$)/);
	// by keyboard: Space on the testing box adds t=y
	await page.focus('[data-testid=gen-t]');
	await page.keyboard.press('Space');
	const gt = await generatorIs({ p: 'reject', adkim: 's', t: 'y' });
	assert.ok(gt.parsed.findings.some((f) => f.code === 'testing'), 'the API reads t=y back');
	await page.keyboard.press('Space');
	await generatorIs({ p: 'reject', adkim: 's' });
	// the Copy button
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
	try {
		await page.click('[data-testid=gen-record-copy]');
		await page.waitForFunction(() => document.querySelector('[data-testid=gen-record-copy]').textContent === 'Copied', null, { timeout: WAIT });
		assert.equal(await page.evaluate(() => navigator.clipboard.readText()), g.record);
	} finally {
		await context.clearPermissions();
	}
	await shot('advice-generator');
});

await check("record generator: a 400 of /api/v1/record shows the API's message", async () => {
	const bad = await recordAPI({ domain: adviceDomain, p: 'block' });
	assert.equal(bad.status, 400);
	assert.ok(bad.body.error, 'the 400 says why');
	// the form offers no bad value: the browser's question is made one
	const rewrite = (r) => {
		const u = new URL(r.request().url());
		u.searchParams.set('p', 'block');
		return r.continue({ url: u.toString() });
	};
	await openAdviceAll();
	await page.route(/\/api\/v1\/record\?/, rewrite);
	provoking = 'a 400 of /api/v1/record';
	try {
		await page.selectOption('[data-testid=gen-p]', 'quarantine');
		await page.waitForSelector('[data-testid=gen-out][data-state=error]:not([aria-busy])', { timeout: WAIT });
		assert.equal(await attr('[data-testid=gen-error]', 'data-status'), '400');
		assert.equal(await page.textContent('[data-testid=gen-error]'), 'No record: ' + bad.body.error + '.');
		assert.equal(await page.$('pre[data-testid=gen-record]'), null, 'no record shown');
	} finally {
		provoking = null;
		await page.unroute(/\/api\/v1\/record\?/, rewrite);
	}
	// and the next change is answered again
	await page.selectOption('[data-testid=gen-p]', 'reject');
	await page.waitForSelector('[data-testid=gen-out][data-state=done]:not([aria-busy])', { timeout: WAIT });
});

/* ---- 5b. SMTP TLS reports --------------------------------------------------- */

// What run.sh wrote into tls/: the documents as dicts and the files'
// bytes. Every number the TLS checks expect is computed from these, not
// from the API.
const TLS_DOMAIN = 'acme.com';
const TLS_ONLY = 'tls-only.example';
const TLS_HOSTILE_ORG = '<img src=x onerror="window.__xss=11">';
const TLS_HOSTILE_RID = '<script>window.__xss=12</script>';
const tlsDocs = []; // [{file, bytes, doc, domain, day}]
if (TLS_DIR) {
	for (const f of fs.readdirSync(TLS_DIR).sort()) {
		const bytes = fs.readFileSync(path.join(TLS_DIR, f));
		const doc = JSON.parse((f.endsWith('.gz') ? zlib.gunzipSync(bytes) : bytes).toString('utf8'));
		tlsDocs.push({ file: f, bytes, doc, domain: doc.policies[0].policy['policy-domain'], day: doc['date-range']['start-datetime'].slice(0, 10) });
	}
}
function tlsExpected(domain, from = null, to = null) {
	const docs = tlsDocs.filter((d) => d.domain === domain && (!from || d.day >= from) && (!to || d.day <= to));
	const e = { success: 0, failure: 0, reports: docs.length, groups: new Map(), docs };
	for (const { doc } of docs) {
		for (const p of doc.policies) {
			e.success += p.summary['total-successful-session-count'];
			e.failure += p.summary['total-failure-session-count'];
			for (const f of p['failure-details'] || []) {
				// the parser lower-cases result types and host names
				const k = JSON.stringify([f['result-type'].toLowerCase(), (f['receiving-mx-hostname'] || '').toLowerCase()]);
				e.groups.set(k, (e.groups.get(k) || 0) + f['failed-session-count']);
			}
		}
	}
	// newest first
	e.docs = docs.slice().sort((a, b) => (a.day < b.day ? 1 : a.day > b.day ? -1 : 0));
	return e;
}
const pctText = (part, whole) => (whole ? ((100 * part) / whole).toFixed(1) + '%' : '–');

const dialogs = [];
const onDialog = (d) => {
	dialogs.push(d.message());
	d.dismiss().catch(() => {});
};
// no markup of a report became an element, no script ran, no javascript: link
async function noInjection(p = page) {
	assert.deepEqual(await xss(p), [undefined, 0], 'window.__xss, img/script in main');
	const bad = await p.evaluate(() => {
		const out = [];
		for (const el of document.querySelectorAll('main *')) {
			if (/^(svg|b|i|u|img|script|iframe)$/i.test(el.tagName)) out.push(el.tagName);
			for (const a of el.attributes) if (/^on/i.test(a.name) || /^\s*javascript:/i.test(a.value)) out.push(el.tagName + '[' + a.name + ']');
		}
		return out;
	});
	assert.deepEqual(bad, [], 'elements or attributes from a report');
	assert.deepEqual(dialogs, [], 'dialogs opened');
}

async function tlsKpis(p = page) {
	return p.evaluate(() => {
		const v = (id) => {
			const el = document.querySelector(`[data-testid=${id}]`);
			return el ? { value: Number(el.getAttribute('data-value')), text: el.querySelector('.kpi-value').textContent } : null;
		};
		return { sessions: v('tls-sessions'), rate: v('tls-rate'), failed: v('tls-failed'), reports: v('tls-reports') };
	});
}

async function tlsTotalsMatch(e, p = page) {
	const k = await tlsKpis(p);
	const all = e.success + e.failure;
	assert.deepEqual(
		[k.sessions.value, k.rate.value, k.failed.value, k.reports.value],
		[all, e.success, e.failure, e.reports],
		'sessions, successful, failed, reports'
	);
	assert.equal(k.sessions.text, all.toLocaleString('en-US'));
	assert.equal(k.rate.text, pctText(e.success, all));
	assert.equal(k.failed.text, e.failure.toLocaleString('en-US'));
}

async function tlsTable(testid, p = page) {
	return p.$$eval(`[data-testid=${testid}] tbody tr`, (trs) =>
		trs.map((tr) => [...tr.children].map((td) => {
			const m = td.querySelector('.mono');
			const pre = td.querySelector('pre');
			return pre ? pre.textContent : m ? m.textContent : td.textContent;
		}))
	);
}

let tlsIds = {}; // report-id -> the store's id (from the list the page shows)
if (TLS_DIR) {
	page.on('dialog', onDialog);

	await check('TLS: from the navigation, the totals of the reports written', async () => {
		await page.goto(BASE + '/#/overview?domain=' + TLS_DOMAIN);
		await ready();
		await page.click('[data-testid=nav-tls]');
		await page.waitForFunction(() => location.hash.startsWith('#/tls?'), null, { timeout: WAIT });
		await ready();
		const { params } = route();
		assert.equal(params.domain, TLS_DOMAIN, 'the domain is kept');
		assert.equal(await attr('[data-testid=nav-tls]', 'aria-current'), 'page');
		const e = tlsExpected(TLS_DOMAIN, params.from, params.to);
		assert.equal(e.reports, tlsDocs.filter((d) => d.domain === TLS_DOMAIN).length, 'the default range holds every TLS report written');
		await tlsTotalsMatch(e);
		assert.equal(await page.textContent('main h1'), `SMTP TLS ${TLS_DOMAIN} · ${params.from} – ${params.to}`);
	});

	await check('TLS: the chart is drawn, its totals are the sessions written', async () => {
		await page.waitForSelector('[data-testid=chart][data-drawn] canvas', { timeout: WAIT });
		const { params } = route();
		const e = tlsExpected(TLS_DOMAIN, params.from, params.to);
		assert.equal(Number(await attr('[data-testid=chart]', 'data-total-success')), e.success);
		assert.equal(Number(await attr('[data-testid=chart]', 'data-total-failure')), e.failure);
		assert.equal(Number(await attr('[data-testid=chart]', 'data-days')), 30, 'one bar slot a day');
		const legend = await page.textContent('[data-testid=chart-legend]');
		assert.match(legend, /Successful sessions/);
		assert.match(legend, /Failed sessions/);
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('tls');
	});

	await check("TLS: the chart's success-rate line is each day's success / (success + failure) of the files", async () => {
		const { params } = route();
		const e = tlsExpected(TLS_DOMAIN, params.from, params.to);
		const byDay = new Map();
		for (const { doc, day } of e.docs) {
			const c = byDay.get(day) || { ok: 0, bad: 0 };
			for (const p of doc.policies) {
				c.ok += p.summary['total-successful-session-count'];
				c.bad += p.summary['total-failure-session-count'];
			}
			byDay.set(day, c);
		}
		const want = {};
		for (const [day, c] of [...byDay].sort()) if (c.ok + c.bad) want[day] = Math.round((10000 * c.ok) / (c.ok + c.bad)) / 100;
		assert.ok(Object.keys(want).length >= 3, 'days with sessions: ' + JSON.stringify(want));
		assert.deepEqual(JSON.parse(await attr('[data-testid=chart]', 'data-line-rate')), want, 'the rate plotted per day');
		// the legend: the range's rate, then the hovered day's
		const item = '[data-testid=chart-legend] [data-key=rate]';
		assert.equal(await page.textContent(item), 'Success rate' + pctText(e.success, e.success + e.failure));
		const worst = Object.keys(want).sort((a, b) => want[a] - want[b])[0];
		const over = await page.$eval('[data-testid=chart] .u-over', (o) => {
			o.scrollIntoView({ block: 'center' });
			const r = o.getBoundingClientRect();
			return { x: r.x, y: r.y, w: r.width, h: r.height };
		});
		const n = Number(await attr('[data-testid=chart]', 'data-days'));
		const i = (Date.parse(worst) - Date.parse(params.from)) / 86400000;
		await page.mouse.move(over.x + ((i + 0.5) * over.w) / n, over.y + over.h / 2);
		await page.waitForFunction((d) => document.querySelector('[data-testid=chart-legend] .lg-day').textContent === d, worst, { timeout: WAIT });
		const c = byDay.get(worst);
		assert.equal(await page.textContent(item), 'Success rate' + pctText(c.ok, c.ok + c.bad), 'the rate of ' + worst);
		assert.equal(await page.textContent('[data-testid=chart-legend] [data-key=failure] .lg-val'), String(c.bad));
		await page.mouse.move(0, 0);
	});

	await check('TLS: failed sessions by result type and MX, hostile ones as text', async () => {
		const { params } = route();
		const e = tlsExpected(TLS_DOMAIN, params.from, params.to);
		const rows = await tlsTable('tls-failures');
		const head = await page.$$eval('[data-testid=tls-failures] thead th', (ths) => ths.map((t) => [t.textContent, t.getAttribute('scope')]));
		assert.deepEqual(head.map((x) => x[0]), ['Result type', 'Receiving MX', 'Failed sessions', 'Share of failures']);
		assert.ok(head.every((x) => x[1] === 'col'), 'column headers');
		const got = rows.map((r) => [r[0], r[1], Number(r[2].replace(/,/g, ''))]);
		const want = [...e.groups].map(([k, n]) => [...JSON.parse(k), n]);
		const key = (x) => JSON.stringify(x);
		assert.deepEqual(got.map(key).sort(), want.map(key).sort(), 'one row per result type and MX');
		const n = got.map((r) => r[2]);
		assert.deepEqual(n, n.slice().sort((a, b) => b - a), 'most first');
		assert.deepEqual(rows.map((r) => r[3]), got.map((r) => pctText(r[2], e.failure)), 'share of the failed sessions');
		assert.ok(got.some((r) => r[0] === '<img src=x onerror="window.__xss=16">' && r[1] === '<svg onload="window.__xss=17">.acme.com'), 'the hostile result type and MX as text');
		// a known result type is explained
		assert.match(await page.textContent('[data-testid=tls-failures]'), /certificate has expired/);
		await noInjection();
	});

	await check('TLS: the reports, newest first, link to their details', async () => {
		const { params } = route();
		const e = tlsExpected(TLS_DOMAIN, params.from, params.to);
		const rows = await page.$$eval('[data-testid=tls-reports-table] tbody tr', (trs) =>
			trs.map((tr) => ({ cells: [...tr.children].map((td) => td.textContent), href: tr.querySelector('a').getAttribute('href') }))
		);
		assert.deepEqual(rows.map((r) => r.cells[1]), e.docs.map((d) => d.doc['organization-name']), 'reporters, newest first');
		assert.deepEqual(rows.map((r) => r.cells[2]), e.docs.map((d) => d.doc['report-id']), 'report ids');
		assert.deepEqual(rows.map((r) => r.cells[4]), e.docs.map((d) => d.doc.policies.reduce((a, p) => a + p.summary['total-successful-session-count'], 0).toLocaleString('en-US')), 'successful');
		assert.deepEqual(rows.map((r) => r.cells[5]), e.docs.map((d) => d.doc.policies.reduce((a, p) => a + p.summary['total-failure-session-count'], 0).toLocaleString('en-US')), 'failed');
		assert.deepEqual(rows.map((r) => r.cells[0].slice(0, 10)), e.docs.map((d) => d.day), 'periods');
		for (const [i, r] of rows.entries()) {
			const m = /^#\/tlsreport\/(\d+)\?/.exec(r.href);
			assert.ok(m, 'a link to the report: ' + r.href);
			tlsIds[e.docs[i].doc['report-id']] = m[1];
		}
		assert.equal(await page.$('[data-testid=tls-reports-pager]'), null, 'one page');
		await noInjection();
	});

	await check('TLS: the range controls apply (a custom range, then 7 days)', async () => {
		const from = '2026-12-28';
		const to = '2026-12-30';
		await page.fill('[data-testid=range-from]', from);
		await page.fill('[data-testid=range-to]', to);
		await page.click('[data-testid=range-apply]');
		await page.waitForFunction((f) => location.hash.includes('from=' + f), from, { timeout: WAIT });
		await ready();
		assert.equal(route().path, '/tls');
		const e = tlsExpected(TLS_DOMAIN, from, to);
		assert.equal(e.reports, 2);
		await tlsTotalsMatch(e);
		assert.equal(await page.$$eval('[data-testid=tls-reports-table] tbody tr', (t) => t.length), 2);
		await page.click('[data-testid=range-7]');
		await page.waitForFunction((f) => !location.hash.includes('from=' + f), from, { timeout: WAIT });
		await ready();
		const p = route().params;
		await tlsTotalsMatch(tlsExpected(TLS_DOMAIN, p.from, p.to));
	});

	await check("TLS: a report's detail: policies, failure details, warnings, raw bytes", async () => {
		const d = tlsDocs.find((x) => x.file === 'acme-microsoft-2.json.gz');
		const id = tlsIds[d.doc['report-id']];
		assert.ok(id, 'the report is listed');
		await page.click(`[data-testid=tls-reports-table] a[href^="#/tlsreport/${id}?"]`);
		await page.waitForFunction((i) => location.hash.startsWith('#/tlsreport/' + i + '?'), id, { timeout: WAIT });
		await ready();
		assert.equal(await attr('[data-testid=nav-tls]', 'aria-current'), 'page');
		assert.equal(await page.textContent('[data-testid=tlsreport-title]'), d.doc['report-id']);
		assert.equal(await page.textContent('[data-testid=tlsreport-org-name]'), d.doc['organization-name']);
		assert.equal(await page.textContent('[data-testid=tlsreport-contact]'), d.doc['contact-info']);
		assert.equal(await page.textContent('[data-testid=tlsreport-domain]'), TLS_DOMAIN);
		const sum = (k) => d.doc.policies.reduce((a, p) => a + p.summary[k], 0);
		assert.equal(await page.textContent('[data-testid=tlsreport-success]'), sum('total-successful-session-count').toLocaleString('en-US'));
		assert.equal(await page.textContent('[data-testid=tlsreport-failure]'), String(sum('total-failure-session-count')));
		const pol = await tlsTable('tlsreport-policies');
		assert.deepEqual(
			pol,
			d.doc.policies.map((p, i) => {
				const mx = p.policy['mx-host'];
				return [String(i + 1), p.policy['policy-type'], p.policy['policy-domain'], Array.isArray(mx) ? mx.join(', ') : mx,
					p.summary['total-successful-session-count'].toLocaleString('en-US'), String(p.summary['total-failure-session-count']), p.policy['policy-string'].join('\n')];
			}),
			'the policies with their policy strings'
		);
		const fl = await tlsTable('tlsreport-failures');
		const want = [];
		d.doc.policies.forEach((p, i) =>
			(p['failure-details'] || []).forEach((f) =>
				want.push([String(i + 1), f['result-type'], f['sending-mta-ip'] || '–', f['receiving-mx-hostname'], f['receiving-mx-helo'] || '–',
					f['receiving-ip'] || '–', f['failure-reason-code'] || '–', f['additional-information'] || '–', String(f['failed-session-count'])])
			)
		);
		assert.deepEqual(fl, want, 'the failure details');
		// its dates have no time zone: the parser said so
		const warn = await page.$$eval('[data-testid=tlsreport-warnings] li', (lis) => lis.map((l) => l.textContent));
		assert.ok(warn.some((w) => /no time zone/.test(w)), 'warnings: ' + JSON.stringify(warn));
		const { name, bytes } = await download('[data-testid=tls-download-raw]');
		assert.ok(/^[A-Za-z0-9._!@+-]+$/.test(name), 'file name made safe: ' + name);
		assert.ok(bytes.equals(d.bytes), 'the raw file is the gzip written, byte for byte');
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('tls-report');
	});

	await check('TLS: the hostile report is text everywhere, nothing ran, no link to fetch', async () => {
		const d = tlsDocs.find((x) => x.file === 'hostile-tls.json');
		const id = tlsIds[d.doc['report-id']];
		assert.ok(id, 'the hostile report is listed');
		await page.goBack();
		await ready();
		assert.equal(route().path, '/tls', 'back: the TLS page');
		await page.click(`[data-testid=tls-reports-table] a[href^="#/tlsreport/${id}?"]`);
		await page.waitForFunction((i) => location.hash.startsWith('#/tlsreport/' + i + '?'), id, { timeout: WAIT });
		await ready();
		assert.equal(await page.textContent('[data-testid=tlsreport-title]'), TLS_HOSTILE_RID);
		assert.equal(await page.textContent('[data-testid=tlsreport-org-name]'), TLS_HOSTILE_ORG);
		assert.equal(await page.textContent('[data-testid=tlsreport-contact]'), 'javascript:window.__xss=13');
		const p = d.doc.policies[0];
		const pol = await tlsTable('tlsreport-policies');
		assert.deepEqual(pol[0].slice(1, 4), [p.policy['policy-type'], TLS_DOMAIN, p.policy['mx-host']]);
		assert.equal(pol[0][6], p.policy['policy-string'].join('\n'), 'the policy string');
		const fl = await tlsTable('tlsreport-failures');
		assert.deepEqual(fl.map((r) => [r[1], r[3], r[4], r[6], r[7]]), p['failure-details'].map((f) => [f['result-type'], f['receiving-mx-hostname'], f['receiving-mx-helo'] || '–', f['failure-reason-code'] || '–', f['additional-information']]));
		// additional-information is text: no link of any kind in the table
		assert.equal(await page.$$eval('[data-testid=tlsreport-failures] a', (as) => as.length), 0, 'links in the failure details');
		const warn = await page.$$eval('[data-testid=tlsreport-warnings] li', (lis) => lis.map((l) => l.textContent));
		assert.ok(warn.includes("unknown policy-type '<b>sts</b>' kept"), 'the warning as text: ' + JSON.stringify(warn));
		assert.equal(await page.title(), 'dmarcd · TLS report ' + TLS_HOSTILE_RID);
		await noInjection();
		const { bytes } = await download('[data-testid=tls-download-raw]');
		assert.ok(bytes.equals(d.bytes), 'the raw file is the JSON written');
		await noInjection();
	});

	await check('TLS: a domain with TLS reports only is in the picker and has its TLS page', async () => {
		const want = tlsDocs.map((d) => d.domain).filter((x) => !domains.some((a) => a.domain === x));
		const opts = await page.$$eval('[data-testid=domain-select] option', (os) => os.map((o) => [o.value, o.textContent]));
		assert.deepEqual(opts.map((o) => o[0]), domains.map((d) => d.domain).concat([...new Set(want)].sort()), 'DMARC domains, then TLS-only ones');
		assert.ok(opts.some((o) => o[0] === TLS_ONLY && o[1] === TLS_ONLY + ' (TLS only)'), 'marked TLS only');
		// from a DMARC view, choosing it opens its TLS page
		await page.goto(BASE + '/#/overview?domain=' + TLS_DOMAIN);
		await ready();
		await page.selectOption('[data-testid=domain-select]', TLS_ONLY);
		await page.waitForFunction((d) => location.hash.startsWith('#/tls?') && location.hash.includes('domain=' + d), TLS_ONLY, { timeout: WAIT });
		await ready();
		const { params } = route();
		assert.equal(params.to, tlsDocs.find((d) => d.domain === TLS_ONLY).day, 'the range ends at its last TLS day');
		await tlsTotalsMatch(tlsExpected(TLS_ONLY));
		// its DMARC views say there is nothing and point to the TLS page
		await page.click('[data-testid=nav-overview]');
		await page.waitForFunction(() => location.hash.startsWith('#/overview'), null, { timeout: WAIT });
		await ready();
		await page.waitForSelector('[data-testid=tls-only]', { timeout: WAIT });
		await page.click('[data-testid=tls-only-link]');
		await page.waitForFunction(() => location.hash.startsWith('#/tls?'), null, { timeout: WAIT });
		await ready();
		assert.equal(route().params.domain, TLS_ONLY);
	});

	await check('TLS: a domain without TLS reports explains TLS-RPT and the record to publish', async () => {
		const dom = domains.find((d) => !tlsDocs.some((x) => x.domain === d.domain));
		assert.ok(dom, 'a DMARC domain without TLS reports');
		provoking = 'a 404 of /api/v1/tls';
		try {
			await page.goto(BASE + '/#/tls?domain=' + dom.domain);
			await ready();
			await page.waitForSelector('[data-testid=tls-none]', { timeout: WAIT });
		} finally {
			provoking = null;
		}
		const text = await page.textContent('[data-testid=tls-none]');
		assert.match(text, /TLS-RPT/);
		assert.match(text, /RFC 8460/);
		assert.equal(await page.textContent('[data-testid=tls-setup-name]'), '_smtp._tls.' + dom.domain);
		const rec = await page.textContent('[data-testid=tls-setup-record]');
		assert.match(rec, /^v=TLSRPTv1; rua=mailto:[^@\s]+@[^@\s]+$/, 'the record: ' + rec);
		assert.equal(await page.textContent('[data-testid=tls-setup-zone]'), `_smtp._tls.${dom.domain}. IN TXT "${rec}"`);
		assert.equal(await page.$('[data-testid=view-error]'), null, 'not an error');
		assert.equal(await page.$('[data-testid=chart]'), null, 'no chart');
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('tls-empty');
	});

	if (TOKEN_BETA) {
		await check("TLS: another account's token sees none of it", async () => {
			const other = await context.newPage(); // a new tab: its own sessionStorage
			other.on('dialog', onDialog);
			provoking = "404s of another account's data";
			try {
				await other.goto(BASE + '/#token=' + encodeURIComponent(TOKEN_BETA));
				await ready(other);
				const opts = await other.$$eval('[data-testid=domain-select] option', (os) => os.map((o) => o.value));
				const mine = [...new Set(tlsDocs.filter((d) => !d.file.startsWith('acme') && !d.file.startsWith('hostile') && !d.file.startsWith('tlsonly')).map((d) => d.domain))];
				assert.deepEqual(opts, mine, "the picker: the account's own domains only");
				await other.goto(BASE + '/#/tls?domain=' + TLS_DOMAIN);
				await ready(other);
				assert.equal(route(other).params.domain, mine[0], 'acme.com is replaced by its own domain');
				await tlsTotalsMatch(tlsExpected(mine[0]), other);
				const texts = await other.textContent('main');
				assert.ok(!texts.includes(TLS_DOMAIN), 'nothing of acme.com shown');
				await other.goto(BASE + '/#/tlsreport/' + tlsIds[tlsDocs.find((x) => x.file === 'acme-google-1.json').doc['report-id']] + '?domain=' + mine[0]);
				await ready(other);
				await other.waitForSelector('[data-testid=not-found]', { timeout: WAIT });
				const res = await other.evaluate(async ([t, d]) => {
					const r = await fetch('/api/v1/tls?domain=' + d, { headers: { Authorization: 'Bearer ' + t } });
					return r.status;
				}, [TOKEN_BETA, TLS_DOMAIN]);
				assert.equal(res, 404, "the API: another account's domain");
			} finally {
				provoking = null;
				await other.close();
			}
		});
	}

	await check('TLS: no dialog opened on any TLS view', async () => assert.deepEqual(dialogs, []));
}

/* ---- 5c. DMARC failure reports ---------------------------------------------- */

// What run.sh wrote into failures/: ARF mails (multipart/report). Every
// field the checks expect is read from these files, not from the API.
const FAIL_DOMAIN = 'acme.com';
const FAIL_MARKER = 'BODY-SECRET-4e1d-marker';
const FAIL_HOSTILE_SUBJECT = '<img src=x onerror="window.__xss=21">';
const FAIL_HOSTILE_UA = '<script>window.__xss=22</script>';

// 'Name: value' lines (folded ones joined) up to the first empty line
function mailHeaders(text) {
	const end = text.search(/\r?\n\r?\n/);
	const head = end >= 0 ? text.slice(0, end) : text;
	const out = {};
	for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
		const i = line.indexOf(':');
		if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
	}
	return { headers: out, body: end >= 0 ? text.slice(end).replace(/^\r?\n\r?\n/, '') : '' };
}
function parseArf(file, text) {
	const top = mailHeaders(text).headers;
	const boundary = /boundary="?([^";]+)"?/.exec(top['content-type'])[1];
	const parts = text.split('--' + boundary).slice(1, -1).map((p) => mailHeaders(p.replace(/^\r?\n/, '')));
	const fb = mailHeaders(parts.find((p) => p.headers['content-type'] === 'message/feedback-report').body).headers;
	const orig = mailHeaders(parts.find((p) => p.headers['content-type'] === 'message/rfc822').body);
	const o = orig.headers;
	// the local parts of the addresses: the redaction hides them
	const locals = [o.from, o.to, fb['original-rcpt-to']].map((a) => /([^\s<>"]+)@/.exec(a)[1]);
	return {
		file,
		text,
		domain: fb['reported-domain'],
		arrival: Date.parse(fb['arrival-date']) / 1000,
		ip: fb['source-ip'],
		ua: fb['user-agent'],
		mta: fb['reporting-mta'],
		authFailure: fb['auth-failure'],
		delivery: fb['delivery-result'],
		alignment: fb['identity-alignment'],
		authResults: fb['authentication-results'],
		feedbackType: fb['feedback-type'],
		from: o.from,
		subject: o.subject,
		messageId: o['message-id'],
		body: orig.body,
		locals,
	};
}
const failDocs = [];
if (FAIL_DIR) {
	for (const f of fs.readdirSync(FAIL_DIR).filter((x) => x.endsWith('.eml')).sort()) {
		failDocs.push(parseArf(f, fs.readFileSync(path.join(FAIL_DIR, f), 'utf8')));
	}
}
const utcMinute = (s) => new Date(s * 1000).toISOString().slice(0, 16).replace('T', ' ');
// an address as stored: its local part a keyed hash (h- and 8 hex digits)
const HASHED = /h-[0-9a-f]{8}@/;
const unhash = (s) => String(s).replace(/h-[0-9a-f]{8}@/g, 'h-@');
const hashed = (addr) => String(addr).replace(/[^\s<>"]+@/g, 'h-@');
function failExpected(domain, from = null, to = null) {
	const day = (d) => new Date(d.arrival * 1000).toISOString().slice(0, 10);
	return failDocs
		.filter((d) => d.domain === domain && (!from || day(d) >= from) && (!to || day(d) <= to))
		.sort((a, b) => b.arrival - a.arrival);
}
async function failRows(testid, p = page) {
	return p.$$eval(`[data-testid=${testid}] tbody tr`, (trs) =>
		trs.map((tr) => ({
			cells: [...tr.children].map((td) => td.textContent),
			links: [...tr.querySelectorAll('a')].map((a) => a.getAttribute('href')),
		}))
	);
}
// nothing of the original message's body, nor the addresses' local parts
function assertRedacted(text, what) {
	assert.ok(!text.includes(FAIL_MARKER), what + ': the body marker');
	assert.ok(!text.includes('12345678'), what + ': the body');
	for (const d of failDocs) for (const l of d.locals) assert.ok(!text.includes(l + '@'), `${what}: the local part ${l}`);
}

const failIds = {}; // file -> the store's id
if (FAIL_DIR) {
	if (!TLS_DIR) page.on('dialog', onDialog);

	await check('failures: from the navigation, the reports written, newest first, every column', async () => {
		await page.goto(BASE + '/#/overview?domain=' + FAIL_DOMAIN);
		await ready();
		await page.click('[data-testid=nav-failures]');
		await page.waitForFunction(() => location.hash.startsWith('#/failures?'), null, { timeout: WAIT });
		await ready();
		const { params } = route();
		assert.equal(params.domain, FAIL_DOMAIN, 'the domain is kept');
		assert.equal(await attr('[data-testid=nav-failures]', 'aria-current'), 'page');
		const want = failExpected(FAIL_DOMAIN, params.from, params.to);
		assert.equal(want.length, failDocs.filter((d) => d.domain === FAIL_DOMAIN).length, 'the default range holds every one written');
		assert.equal(await page.textContent('[data-testid=failures-card] h2'), `${want.length} failure reports`);
		assert.match(await page.textContent('[data-testid=failures-note]'), /body is never stored.*redacted.*by default/);
		const head = await page.$$eval('[data-testid=failures-table] thead th', (ths) => ths.map((t) => t.textContent));
		assert.deepEqual(head, ['Arrival (UTC)', 'Source IP', 'Header From', 'Subject', 'Auth failure', 'Delivery result', 'Alignment', 'Reporter']);
		const rows = await failRows('failures-table');
		assert.deepEqual(
			rows.map((r) => r.cells.slice(0, 7).map(unhash)),
			want.map((d) => [utcMinute(d.arrival), d.ip, hashed(d.from), d.subject, d.authFailure, d.delivery, d.alignment]),
			'arrival, source, redacted From, subject, auth failure, delivery result, alignment'
		);
		assert.ok(rows.every((r) => HASHED.test(r.cells[2])), 'every From hashed');
		assert.deepEqual(rows.map((r) => r.cells[7]), want.map((d) => d.ua + d.mta), 'user agent, reporting MTA under it');
		for (const [i, r] of rows.entries()) {
			const m = /^#\/failure\/(\d+)\?/.exec(r.links[0]);
			assert.ok(m, 'a link to the report: ' + r.links[0]);
			failIds[want[i].file] = m[1];
			assert.ok(r.links[1].startsWith(`#/source/${want[i].ip}?`) && r.links[1].includes('domain=' + FAIL_DOMAIN), 'the source link ' + r.links[1]);
			assert.equal(r.links.length, 2, 'no other link in a row');
		}
		const lst = await apiJSON('failures', { domain: FAIL_DOMAIN, from: params.from, to: params.to });
		assert.equal(lst.total, want.length, 'the API agrees');
		assertRedacted(await page.textContent('main'), 'the list');
		await noInjection();
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('failures');
	});

	await check('failures: a detail: every field, the headers redacted, no body, raw download', async () => {
		const d = failDocs.find((x) => x.file === 'acme-1.eml');
		const id = failIds[d.file];
		assert.ok(id, 'listed');
		await page.click(`[data-testid=failures-table] a[href^="#/failure/${id}?"]`);
		await page.waitForFunction((i) => location.hash.startsWith('#/failure/' + i + '?'), id, { timeout: WAIT });
		await ready();
		assert.equal(await attr('[data-testid=nav-failures]', 'aria-current'), 'page');
		const f = await apiJSON('failures/' + id);
		const t = async (tid) => (await page.textContent(`[data-testid=${tid}]`)).trim();
		// from the file
		assert.deepEqual(
			[await t('failure-reported-domain'), await t('failure-arrival'), await t('failure-user-agent'), await t('failure-reporting-mta'),
				await t('failure-auth-failure'), await t('failure-delivery-result'), await t('failure-alignment'), await t('failure-source-ip'),
				await t('failure-subject'), await t('failure-feedback-type'), await t('failure-format'), await t('failure-auth-results')],
			[d.domain, utcMinute(d.arrival), d.ua, d.mta, d.authFailure, d.delivery, d.alignment, d.ip, d.subject, d.feedbackType, 'ARF (RFC 6591)', d.authResults]
		);
		assert.equal(unhash(await t('failure-header-from')), hashed(d.from), 'From, redacted');
		assert.equal(unhash(await t('failure-message-id')), hashed(d.messageId), 'Message-ID, redacted');
		// every field of the API is on the page
		const shown = {
			'failure-version': f.version, 'failure-mail-from': f.original_mail_from, 'failure-rcpt-to': f.original_rcpt_to,
			'failure-to': f.to, 'failure-header-from-domain': f.header_from_domain, 'failure-archive-key': f.archive_key,
			'failure-received': utcMinute(f.received_at), 'failure-date': utcMinute(f.date),
			'failure-dkim-domain': f.dkim_domain, 'failure-dkim-selector': f.dkim_selector, 'failure-dkim-identity': f.dkim_identity,
			'failure-spf-dns': f.spf_dns, 'failure-incidents': f.incidents === null ? null : String(f.incidents),
		};
		for (const [tid, v] of Object.entries(shown)) assert.equal(await t(tid), v === null || v === undefined || v === '' ? '–' : String(v), tid);
		assert.ok(HASHED.test(await t('failure-rcpt-to')), 'Original-Rcpt-To hashed');
		const link = await page.getAttribute('[data-testid=failure-source-ip] a', 'href');
		assert.ok(link.startsWith(`#/source/${d.ip}?`) && link.includes('domain=' + FAIL_DOMAIN), 'the source link ' + link);
		// the original headers, as text in a <pre>
		const pre = await page.$eval('[data-testid=failure-headers]', (e) => [e.tagName, e.textContent]);
		assert.equal(pre[0], 'PRE');
		assert.equal(pre[1], f.headers, 'the headers as stored');
		assert.ok(HASHED.test(pre[1]), 'an h-XXXXXXXX@ token in the headers');
		assert.ok(pre[1].includes('Subject: ' + d.subject + '\n'), 'the subject line');
		assertRedacted(pre[1], 'the headers');
		assertRedacted(await page.evaluate(() => document.documentElement.outerHTML), 'the page');
		assert.match(await page.textContent('[data-testid=failure-note]'), /body is never stored/);
		const { name, bytes } = await download('[data-testid=failure-download-raw]');
		assert.ok(/^[A-Za-z0-9._!@+-]+$/.test(name), 'file name made safe: ' + name);
		const raw = bytes.toString('utf8');
		assert.ok(raw.includes('Subject: ' + d.subject), 'the raw download holds the headers');
		assert.ok(HASHED.test(raw), 'redacted in the raw download');
		assertRedacted(raw, 'the raw download');
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('failure');
	});

	await check('failures: the hostile report is text in the list and the detail, nothing ran, no link from its text', async () => {
		const d = failDocs.find((x) => x.file === 'hostile-failure.eml');
		const id = failIds[d.file];
		assert.ok(id, 'listed');
		await page.goBack();
		await ready();
		assert.equal(route().path, '/failures', 'back: the list');
		const rows = await failRows('failures-table');
		const row = rows.find((r) => r.links[0].startsWith(`#/failure/${id}?`));
		assert.equal(row.cells[3], FAIL_HOSTILE_SUBJECT);
		assert.equal(row.cells[7], d.ua + d.mta);
		await noInjection();
		await page.click(`[data-testid=failures-table] a[href^="#/failure/${id}?"]`);
		await page.waitForFunction((i) => location.hash.startsWith('#/failure/' + i + '?'), id, { timeout: WAIT });
		await ready();
		const t = async (tid) => (await page.textContent(`[data-testid=${tid}]`)).trim();
		assert.equal(await t('failure-subject'), FAIL_HOSTILE_SUBJECT);
		assert.equal(await t('failure-user-agent'), FAIL_HOSTILE_UA);
		assert.equal(await t('failure-reporting-mta'), d.mta);
		assert.equal(await t('failure-message-id'), d.messageId);
		assert.equal(unhash(await t('failure-header-from')), hashed(d.from));
		const pre = await page.textContent('[data-testid=failure-headers]');
		assert.ok(pre.includes('Subject: ' + FAIL_HOSTILE_SUBJECT + '\n'), 'the headers as text');
		await noInjection();
		const hrefs = await page.$$eval('main a', (as) => as.map((a) => a.getAttribute('href')));
		assert.ok(hrefs.every((h) => /^#\/(failures|source\/192\.0\.2\.66)\?/.test(h)), 'links: ' + JSON.stringify(hrefs));
		assert.equal(await page.title(), 'dmarcd · Failure report ' + utcMinute(d.arrival));
	});

	await check("source page: its failure reports, or a short line when it has none", async () => {
		const { params } = route();
		const q = new URLSearchParams({ domain: FAIL_DOMAIN, from: params.from, to: params.to });
		const byIp = (ip) => failExpected(FAIL_DOMAIN, params.from, params.to).filter((d) => d.ip === ip);
		// a source of the generated history with two
		const ip = failDocs.find((x) => x.file === 'acme-1.eml').ip;
		await page.goto(BASE + '/#/source/' + ip + '?' + q);
		await ready();
		assert.equal(await page.textContent('[data-testid=source-ip]'), ip, 'an aggregate source');
		const want = byIp(ip);
		assert.equal(want.length, 2);
		assert.equal(await page.textContent('[data-testid=source-failures-card] h2'), '2 failure reports');
		let rows = await failRows('source-failures');
		assert.deepEqual(rows.map((r) => [r.cells[0], r.cells[2], r.cells[3]]), want.map((d) => [utcMinute(d.arrival), d.subject, d.authFailure]));
		assert.deepEqual(rows.map((r) => r.links), want.map((d) => [linkOf(d)]), 'each row links to its report');
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('source-failures');
		await page.click(`[data-testid=source-failures] a[href^="#/failure/${failIds[want[0].file]}?"]`);
		await page.waitForFunction((i) => location.hash.startsWith('#/failure/' + i + '?'), failIds[want[0].file], { timeout: WAIT });
		await ready();
		assert.equal(await page.textContent('[data-testid=failure-subject]'), want[0].subject);
		// the hostile aggregate report's source has the hostile failure report
		await page.goto(BASE + '/#/source/192.0.2.66?' + q);
		await ready();
		rows = await failRows('source-failures');
		assert.deepEqual(rows.map((r) => r.cells[2]), [FAIL_HOSTILE_SUBJECT]);
		await noInjection();
		// a source only failure reports name
		provoking = 'a 404 of a source no aggregate report names';
		try {
			await page.goto(BASE + '/#/source/198.51.100.23?' + q);
			await ready();
		} finally {
			provoking = null;
		}
		await page.waitForSelector('[data-testid=not-found]', { timeout: WAIT });
		rows = await failRows('source-failures');
		assert.deepEqual(rows.map((r) => r.cells[2]), byIp('198.51.100.23').map((d) => d.subject));
		// a source without any
		const src = await apiJSON('sources', { domain: FAIL_DOMAIN, from: params.from, to: params.to, limit: 10 });
		const none = src.items.find((x) => !failDocs.some((d) => d.ip === x.ip));
		await page.goto(BASE + '/#/source/' + none.ip + '?' + q);
		await ready();
		assert.equal(await page.textContent('[data-testid=source-failures-none]'), 'No failure reports from this source.');
		assert.equal(await page.$('[data-testid=source-failures-card]'), null, 'no empty card');
	});

	function linkOf(d) {
		const { params } = route();
		return `#/failure/${failIds[d.file]}?` + new URLSearchParams({ domain: FAIL_DOMAIN, from: params.from, to: params.to });
	}

	await check('failures: a range without any says so', async () => {
		await page.goto(BASE + '/#/failures?domain=' + FAIL_DOMAIN + '&from=2026-12-01&to=2026-12-10');
		await ready();
		assert.equal(await page.textContent('[data-testid=failures-card] h2'), '0 failure reports');
		assert.match(await page.textContent('[data-testid=failures-table]'), /^No failure report of acme\.com in this range/);
	});

	if (TOKEN_BETA) {
		await check("failures: another account's token sees none of them", async () => {
			const other = await context.newPage();
			other.on('dialog', onDialog);
			provoking = "404s of another account's data";
			try {
				await other.goto(BASE + '/#token=' + encodeURIComponent(TOKEN_BETA));
				await ready(other);
				await other.goto(BASE + '/#/failures?domain=' + FAIL_DOMAIN);
				await ready(other);
				const mine = failDocs.filter((d) => d.file.startsWith('beta'));
				assert.equal(route(other).params.domain, mine[0].domain, 'acme.com is replaced by its own domain');
				const rows = await failRows('failures-table', other);
				assert.deepEqual(rows.map((r) => r.cells[3]), mine.map((d) => d.subject), 'its own failure report only');
				const text = await other.textContent('main');
				for (const d of failDocs.filter((x) => x.domain === FAIL_DOMAIN)) assert.ok(!text.includes(d.subject), 'shown: ' + d.subject);
				await other.goto(BASE + '/#/failure/' + failIds['acme-1.eml'] + '?domain=' + mine[0].domain);
				await ready(other);
				await other.waitForSelector('[data-testid=not-found]', { timeout: WAIT });
				const st = await other.evaluate(async ([t, id, dom]) => {
					const get = (u) => fetch(u, { headers: { Authorization: 'Bearer ' + t } });
					const lst = await get('/api/v1/failures?domain=' + dom);
					const body = lst.status === 200 ? await lst.json() : null;
					return [lst.status === 404 || (body.total === 0 && body.items.length === 0), (await get('/api/v1/failures/' + id)).status, (await get('/api/v1/failures/' + id + '/raw')).status];
				}, [TOKEN_BETA, failIds['acme-1.eml'], FAIL_DOMAIN]);
				assert.deepEqual(st, [true, 404, 404], "the API: another account's failures (an empty list or a 404; the report and its raw 404)");
				await noInjection(other);
			} finally {
				provoking = null;
				await other.close();
			}
		});
	}

	await check('failures: no dialog opened', async () => assert.deepEqual(dialogs, []));
}

/* ---- 5d. alerts ------------------------------------------------------------- */

// What `dmarcd alerts list --json` said of each account after run.sh ran
// the rules (alerts/ACCOUNT.jsonl): every row the checks expect is
// computed from these. acme has a silent reporter whose name is markup
// (and calls alert()), the generated history's new sources and pass-rate
// drops, some resolved; beta has report mails that could not be read.
const ALERT_LABELS = {
	silent: 'Reporter went silent',
	rejected: 'Reports could not be read',
	pass_drop: 'Pass rate dropped',
	new_source: 'New failing source',
	dns: 'DMARC record changed',
};
const ALERT_HOSTILE = '<img src=x onerror="alert(31);window.__xss=31">';
const alertsOf = {}; // account -> [alert]
if (ALERTS_DIR) {
	for (const a of ['acme', 'beta']) {
		alertsOf[a] = fs.readFileSync(path.join(ALERTS_DIR, a + '.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
	}
}
const isOpen = (x) => x.resolved_at === null;
// the rows the Alerts page must show: newest first as the API orders
// them (by the last change, then the id), each with its links (the
// domain's overview; a new source's page)
function alertRowsWanted(list, openOnly) {
	return list
		.filter((x) => !openOnly || isOpen(x))
		.sort((a, b) => (b.resolved_at ?? b.opened_at) - (a.resolved_at ?? a.opened_at) || b.id - a.id)
		.map((x) => {
			const links = [];
			if (x.domain) links.push('#/overview?domain=' + x.domain);
			if (x.rule === 'new_source' && x.domain) links.push(`#/source/${x.subject}?domain=${x.domain}`);
			return {
				id: String(x.id),
				state: isOpen(x) ? 'open' : 'resolved',
				cells: [utcMinute(x.opened_at), ALERT_LABELS[x.rule], x.domain || '–', x.message, isOpen(x) ? 'open' : 'resolved ' + utcMinute(x.resolved_at)],
				links,
			};
		});
}
async function alertRows(p = page) {
	return p.$$eval('[data-testid=alerts-table] tbody tr', (trs) =>
		trs.map((tr) => ({
			id: tr.getAttribute('data-id'),
			state: tr.getAttribute('data-state'),
			cells: [...tr.children].map((td, i) => (i === 3 ? td.querySelector('.alert-text').textContent : td.textContent)),
			links: [...tr.querySelectorAll('a')].map((a) => a.getAttribute('href')),
		}))
	);
}
async function alertBadge(p = page) {
	return p.evaluate(() => {
		const b = document.querySelector('[data-testid=alerts-badge]');
		const a = document.querySelector('[data-testid=nav-alerts]');
		return { shown: !b.hidden && b.offsetParent !== null, text: b.textContent, title: a.getAttribute('title') };
	});
}
const countWords = (n) => (n ? `${n} open alert${n === 1 ? '' : 's'}` : 'no open alerts');

if (ALERTS_DIR) {
	if (!TLS_DIR && !FAIL_DIR) page.on('dialog', onDialog);
	const everyone = [...alertsOf.acme, ...alertsOf.beta];
	const nOpen = everyone.filter(isOpen).length;

	await check('alerts: the data has open alerts of both accounts, a resolved one, the hostile silent reporter', async () => {
		assert.ok(alertsOf.acme.some(isOpen) && alertsOf.beta.some(isOpen), 'open alerts of acme and beta');
		assert.ok(everyone.some((x) => !isOpen(x)), 'a resolved alert');
		assert.ok(alertsOf.acme.some((x) => x.rule === 'silent' && isOpen(x) && x.message.includes(ALERT_HOSTILE)), 'the silent reporter');
		assert.ok(alertsOf.acme.some((x) => x.rule === 'new_source' && isOpen(x)), 'an open new source');
		// the admin token: every account's (docs/API.md)
		const api = (await apiJSON('alerts')).items;
		assert.deepEqual(api.map((x) => String(x.id)), alertRowsWanted(everyone, false).map((x) => x.id), '/api/v1/alerts of the admin');
	});

	await check('alerts: the Alerts tab counts the open ones on every page', async () => {
		for (const v of ['#/overview', '#/tls']) {
			await page.goto(BASE + '/' + v + '?domain=' + TLS_DOMAIN);
			await ready();
			assert.deepEqual(await alertBadge(), { shown: true, text: String(nOpen), title: countWords(nOpen) }, v);
		}
	});

	await check('alerts: the page lists the open ones, newest first: when, rule, domain, message, state, links', async () => {
		await page.click('[data-testid=nav-alerts]');
		await page.waitForFunction(() => location.hash.startsWith('#/alerts'), null, { timeout: WAIT });
		await ready();
		const { params } = route();
		assert.equal(params.domain, TLS_DOMAIN, 'the domain is kept for the other views');
		assert.equal(params.show, undefined);
		assert.equal(await attr('[data-testid=nav-alerts]', 'aria-current'), 'page');
		assert.equal(await page.isVisible('[data-testid=range-7]'), false, 'no range controls');
		assert.equal(await page.inputValue('[data-testid=domain-select]'), TLS_DOMAIN);
		assert.deepEqual(await alertRows(), alertRowsWanted(everyone, true));
		assert.equal(await page.textContent('[data-testid=alerts-card] h2'), countWords(nOpen));
		assert.equal(await attr('[data-testid=alerts-show-open]', 'aria-pressed'), 'true');
		assert.deepEqual(await alertBadge(), { shown: true, text: String(nOpen), title: countWords(nOpen) });
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('alerts');
	});

	await check("alerts: the silent reporter's markup is text, nothing ran, no link from it", async () => {
		const x = alertsOf.acme.find((a) => a.rule === 'silent');
		const row = (await alertRows()).find((r) => r.id === String(x.id));
		assert.ok(row, 'the silent reporter is listed');
		assert.equal(row.cells[1], 'Reporter went silent');
		assert.ok(row.cells[3].startsWith(ALERT_HOSTILE + ' sent reports for acme.com'), 'the message as text: ' + row.cells[3]);
		assert.deepEqual(row.links, ['#/overview?domain=acme.com'], 'the domain is the one link');
		assert.equal(await page.$$eval('[data-testid=alerts-table] td:nth-child(4) a:not([data-testid=alert-source-link])', (as) => as.length), 0, 'links in the messages');
		await noInjection();
		assert.equal(await page.title(), 'dmarcd · Alerts');
	});

	await check("alerts: a new source links to its page, a domain to its overview", async () => {
		const x = alertsOf.acme.find((a) => a.rule === 'new_source' && isOpen(a));
		await page.click(`[data-testid=alerts-table] tr[data-id="${x.id}"] [data-testid=alert-source-link]`);
		await page.waitForFunction((ip) => location.hash.startsWith('#/source/' + ip + '?'), x.subject, { timeout: WAIT });
		await ready();
		assert.equal(route().params.domain, x.domain);
		assert.equal(await page.textContent('[data-testid=source-ip]'), x.subject);
		assert.equal(await page.inputValue('[data-testid=domain-select]'), x.domain);
		await page.goBack();
		await ready();
		assert.equal(route().path, '/alerts', 'back: the alerts');
		await page.click(`[data-testid=alerts-table] tr[data-id="${x.id}"] [data-testid=alert-domain-link]`);
		await page.waitForFunction(() => location.hash.startsWith('#/overview?'), null, { timeout: WAIT });
		await ready();
		assert.equal(route().params.domain, x.domain);
		await page.goBack();
		await ready();
	});

	await check('alerts: All lists the resolved ones too, Open again the open ones', async () => {
		await page.click('[data-testid=alerts-show-all]');
		await page.waitForFunction(() => location.hash.includes('show=all'), null, { timeout: WAIT });
		await ready();
		const want = alertRowsWanted(everyone, false);
		const rows = await alertRows();
		assert.deepEqual(rows, want);
		assert.ok(rows.some((r) => r.state === 'resolved' && /^resolved \d{4}-\d\d-\d\d \d\d:\d\d$/.test(r.cells[4])), 'resolved at a time');
		assert.equal(await page.textContent('[data-testid=alerts-card] h2'), `${want.length} alerts, ${nOpen} open`);
		assert.equal(await attr('[data-testid=alerts-show-all]', 'aria-pressed'), 'true');
		await noInjection();
		await page.evaluate(() => window.scrollTo(0, 0));
		await shot('alerts-all');
		await page.click('[data-testid=alerts-show-open]');
		await page.waitForFunction(() => !location.hash.includes('show='), null, { timeout: WAIT });
		await ready();
		assert.deepEqual(await alertRows(), alertRowsWanted(everyone, true));
	});

	await check('alerts: without a domain in the address; the picker then opens a domain', async () => {
		await page.goto(BASE + '/#/alerts');
		await ready();
		assert.equal(route().params.domain, undefined, 'no domain put in');
		assert.deepEqual(await alertRows(), alertRowsWanted(everyone, true));
		assert.equal(await page.inputValue('[data-testid=domain-select]'), '', 'no domain chosen');
		assert.equal(await page.$('[data-testid=notice]:not([hidden])'), null, 'no notice');
		await page.selectOption('[data-testid=domain-select]', domains[1].domain);
		await page.waitForFunction(() => location.hash.startsWith('#/overview?'), null, { timeout: WAIT });
		await ready();
		assert.equal(route().params.domain, domains[1].domain);
		assert.equal(route().params.to, domains[1].last, 'its default range');
		// an unknown domain is dropped without a word
		await page.goto(BASE + '/#/alerts?domain=nowhere.example&show=all');
		await ready();
		assert.deepEqual(route().params, { show: 'all' });
		assert.equal(await page.$$eval('[data-testid=alerts-table] tbody tr', (t) => t.length), everyone.length);
	});

	if (TOKEN_BETA) {
		await check("alerts: another account's token sees its own only", async () => {
			const other = await context.newPage();
			other.on('dialog', onDialog);
			try {
				await other.goto(BASE + '/#token=' + encodeURIComponent(TOKEN_BETA));
				await ready(other);
				const mine = alertsOf.beta;
				const n = mine.filter(isOpen).length;
				assert.deepEqual(await alertBadge(other), { shown: true, text: String(n), title: countWords(n) }, 'its count');
				await other.click('[data-testid=nav-alerts]');
				await other.waitForFunction(() => location.hash.startsWith('#/alerts'), null, { timeout: WAIT });
				await ready(other);
				assert.deepEqual(await alertRows(other), alertRowsWanted(mine, true));
				await other.click('[data-testid=alerts-show-all]');
				await other.waitForFunction(() => location.hash.includes('show=all'), null, { timeout: WAIT });
				await ready(other);
				assert.deepEqual(await alertRows(other), alertRowsWanted(mine, false));
				const text = await other.textContent('main');
				for (const x of alertsOf.acme) assert.ok(!text.includes(x.message), 'shown: ' + x.message);
				assert.ok(!text.includes('acme.com') && !text.includes(ALERT_HOSTILE), "acme's alerts");
				const ids = await other.evaluate(async (t) => {
					const r = await fetch('/api/v1/alerts', { headers: { Authorization: 'Bearer ' + t } });
					return (await r.json()).items.map((x) => x.id);
				}, TOKEN_BETA);
				assert.deepEqual(ids, mine.map((x) => x.id).sort((a, b) => b - a), 'the API: its own alerts');
				await noInjection(other);
			} finally {
				await other.close();
			}
		});
	}

	await check('alerts: no dialog opened', async () => assert.deepEqual(dialogs, []));
}

/* ---- 6. phone ------------------------------------------------------------ */

await check('phone 390x844: no horizontal overflow, chart fits', async () => {
	await page.setViewportSize({ width: 390, height: 844 });
	const views = ['#/overview', '#/sources', '#/source/' + sourceIP, '#/reports', '#/report/' + hostileId, '#/advice', '#/tls', '#/failures', '#/alerts'];
	const failId = failIds['acme-1.eml'];
	if (failId) views.push('#/failure/' + failId);
	for (const v of views) {
		// the advice over every day stored (its default window counts back from today)
		await page.goto(BASE + '/' + v + '?domain=' + encodeURIComponent(domains[0].domain) + (v === '#/advice' ? '&days=3660' : ''));
		await ready();
		const o = await page.evaluate(() => ({
			doc: document.documentElement.scrollWidth,
			body: document.body.scrollWidth,
			w: window.innerWidth,
		}));
		assert.ok(o.doc <= o.w && o.body <= o.w, `${v}: page ${o.doc}/${o.body} px wide in a ${o.w} px window`);
		if (v === '#/overview') {
			await page.waitForSelector('[data-testid=chart][data-drawn] canvas', { timeout: WAIT });
			const cw = await page.evaluate(() => document.querySelector('[data-testid=chart] canvas').getBoundingClientRect().right);
			assert.ok(cw <= o.w, 'chart right edge at ' + cw);
			await shot('phone');
		}
		if (v === '#/sources') await shot('phone-sources');
		if (v === '#/advice') await shot('phone-advice');
		if (v === '#/tls') await shot('phone-tls');
		if (v === '#/failures') await shot('phone-failures');
		if (v === '#/alerts') await shot('phone-alerts');
	}
	await page.setViewportSize({ width: 1280, height: 900 });
});

/* ---- 7. logged out ---------------------------------------------------------- */

await check('no token: the login screen, no API request', async () => {
	const fresh = await context.newPage(); // a new tab: empty sessionStorage
	const before = apiRequests.length;
	await fresh.goto(BASE + '/');
	await fresh.waitForSelector('[data-testid=login]', { state: 'visible', timeout: WAIT });
	const text = await fresh.textContent('[data-testid=login]');
	assert.match(text, /make run/);
	assert.match(text, /dmarcd token add/);
	assert.equal(await fresh.isVisible('#app'), false, 'the app is hidden');
	assert.equal(apiRequests.length, before, 'API requests without a token');
	await shot('login', fresh);
	await fresh.close();
});

await check('a 401 clears the token and shows the login screen', async () => {
	provoking = 'a 401';
	try {
		await page.evaluate((k) => sessionStorage.setItem(k, 'not-a-token'), TOKEN_KEY);
		await page.reload();
		await page.waitForSelector('[data-testid=login]', { state: 'visible', timeout: WAIT });
		assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY), null);
		assert.equal(await page.isVisible('[data-testid=login-reason]'), true, 'says why');
	} finally {
		provoking = null;
	}
	// and the link logs in again
	await page.goto(BASE + '/#token=' + encodeURIComponent(TOKEN));
	await ready();
});

/* ---- 8. what went wrong along the way -------------------------------------- */

await check('no console errors', async () => assert.deepEqual(problems.console, []));
await check('no uncaught page errors', async () => assert.deepEqual(problems.page, []));
await check('no failed requests', async () => assert.deepEqual(problems.failed, []));
await check('no HTTP errors (but the provoked ones)', async () => assert.deepEqual(problems.status, []));

await context.close();
await api.dispose();
clearTimeout(watchdog);
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(`browser: ${checks - failures}/${checks} checks ok in ${secs} s (the pages made ${apiRequests.length} API requests)` + (failures ? `, ${failures} FAILED` : ''));
console.log('browser: screenshots in ' + SHOTS);
process.exit(failures ? 1 : 0);
