/*
 * app.js - the dmarcd dashboard: one page, hash routes, the JSON API of
 * docs/API.md, uPlot for the chart.
 *
 * Routes (the URL holds the whole view, so it can be bookmarked, shared,
 * and back/forward work):
 *   #/overview?domain=D&from=YYYY-MM-DD&to=YYYY-MM-DD
 *   #/sources?domain=D&from=&to=&sort=messages&page=1
 *   #/source/IP?domain=D&from=&to=
 *   #/reports?domain=D&from=&to=&reporter=R&page=1
 *   #/report/ID?domain=D&from=&to=
 *   #/advice?domain=D&days=30
 *   #/tls?domain=D&from=&to=&page=1      SMTP TLS reports (RFC 8460)
 *   #/tlsreport/ID?domain=D&from=&to=
 *   #/failures?domain=D&from=&to=&page=1  DMARC failure reports (RFC 6591)
 *   #/failure/ID?domain=D&from=&to=
 *   #/alerts?show=all                    the alerts (docs/ALERTS.md); open
 *                                        ones only without show=all
 * `range=all` instead of from/to means all time; with neither, the range
 * is the last 30 days that have data (ending at the domain's `last` day).
 * The advice has no range: `days` (1 to 3660, default 30) counted back
 * from today, UTC, as `dmarcd advise` counts (docs/ADVICE.md). Under it,
 * the records published now (/api/v1/dns, asked on a button press: it
 * asks the DNS live) and a record generator (/api/v1/record).
 * The domain picker lists the domains of /api/v1/domains, then those
 * of /api/v1/tls/domains that have TLS reports only; on the DMARC
 * views such a domain points to its TLS page (its failure reports are
 * shown: a receiver may send those without aggregate reports).
 * The alerts are the token's, not a domain's: their page needs no
 * domain (it keeps one the token knows, for the other views' links) and
 * works with no reports stored. The Alerts tab counts the open ones on
 * every page (asked at most once a minute, and by the Alerts page).
 *
 * Login: the link `/#token=T` puts T into sessionStorage and replaces the
 * address (history.replaceState) so the token is in no history entry.
 * A 401 drops the token and shows the login screen.
 *
 * Safety: everything that came from a report is attacker-controlled. It
 * goes into the page through textContent, option values and attribute
 * values only; nothing here assigns innerHTML or builds markup from
 * strings. The page runs under a CSP without inline script or style.
 * An alert's subject and message quote reports and DNS records (a
 * reporter's name, a DMARC record): text too, and never a link.
 */
(function () {
	'use strict';

	var TOKEN_KEY = 'dmarcd.token';
	var PAGE_SIZE = 50;
	var ROW_CHUNK = 500; /* report rows rendered per click */
	var PRESETS = [7, 30, 90, 365];
	var DEFAULT_DAYS = 30;
	var PARAM_ORDER = ['domain', 'range', 'from', 'to', 'days', 'reporter', 'sort', 'page'];
	var ADVICE_DAYS = [7, 30, 90]; /* the advice's window buttons */
	var MAX_ADVICE_DAYS = 3660; /* the API's limit */
	var SOURCE_SORTS = [
		['messages', 'Most messages'],
		['dmarc_fail', 'Most DMARC failures'],
		['dmarc_pass', 'Most DMARC passes'],
		['ip', 'IP address'],
	];

	var $ = function (id) {
		return document.getElementById(id);
	};
	var els = {};
	var domains = null; /* [{domain, first, last, ...}] once loaded */
	var generation = 0; /* bumps on each render: late answers are dropped */
	var chart = null; /* {u, el, height} of the chart on screen */
	var chartMarked = false;
	/* the open alerts' count on the Alerts tab: whose token, when asked */
	var alertBadge = {token: null, at: 0};

	/* ---- small helpers ------------------------------------------------ */

	/* h('td', {class: 'num', text: x}, child...) : an element; strings
	 * become text nodes, never markup */
	function h(tag, attrs) {
		var el = document.createElement(tag);
		var k, v, i;
		if (attrs) {
			for (k in attrs) {
				if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
				v = attrs[k];
				if (v === null || v === undefined || v === false) continue;
				if (k === 'text') el.textContent = String(v);
				else if (k === 'class') el.className = v;
				else if (k === 'testid') el.setAttribute('data-testid', v);
				else if (k.slice(0, 2) === 'on' && typeof v === 'function')
					el.addEventListener(k.slice(2), v);
				else if (k === 'style' || k.slice(0, 2) === 'on')
					throw new Error('h: refusing attribute ' + k);
				else el.setAttribute(k, v === true ? '' : String(v));
			}
		}
		for (i = 2; i < arguments.length; i++) appendChild(el, arguments[i]);
		return el;
	}

	/* a node, a string (as text), or an array of those, nested or not */
	function appendChild(el, c) {
		if (c === null || c === undefined || c === false) return;
		if (Array.isArray(c)) c.forEach(function (x) {
			appendChild(el, x);
		});
		else if (c instanceof Node) el.append(c);
		else el.append(String(c));
	}

	function fmtInt(n) {
		if (n === null || n === undefined || isNaN(n)) return '–';
		return Number(n).toLocaleString('en-US');
	}

	function pct(part, whole) {
		if (!whole) return '–';
		return ((100 * part) / whole).toFixed(1) + '%';
	}

	function compact(n) {
		if (n >= 1e9) return +(n / 1e9).toFixed(1) + 'G';
		if (n >= 1e6) return +(n / 1e6).toFixed(1) + 'M';
		if (n >= 1e4) return +(n / 1e3).toFixed(0) + 'k';
		if (n >= 1e3) return +(n / 1e3).toFixed(1) + 'k';
		return String(n);
	}

	/* Unix seconds -> 'YYYY-MM-DD HH:MM' UTC */
	function fmtTime(s) {
		if (s === null || s === undefined) return '–';
		var d = new Date(s * 1000);
		if (isNaN(d.getTime())) return String(s);
		return d.toISOString().slice(0, 16).replace('T', ' ');
	}

	function fmtDay(s) {
		return fmtTime(s).slice(0, 10);
	}

	var DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

	function validDay(s) {
		if (!s || !DAY_RE.test(s)) return false;
		var t = Date.parse(s + 'T00:00:00Z');
		return !isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
	}

	function dayToSec(s) {
		return Date.parse(s + 'T00:00:00Z') / 1000;
	}

	function addDays(s, n) {
		return new Date((dayToSec(s) + n * 86400) * 1000).toISOString().slice(0, 10);
	}

	function todayUTC() {
		return new Date().toISOString().slice(0, 10);
	}

	/* ---- token ---------------------------------------------------------- */

	function getToken() {
		try {
			return sessionStorage.getItem(TOKEN_KEY);
		} catch (e) {
			return null;
		}
	}

	function setToken(t) {
		try {
			if (t) sessionStorage.setItem(TOKEN_KEY, t);
			else sessionStorage.removeItem(TOKEN_KEY);
		} catch (e) {
			/* storage disabled: the token lives as long as the page */
		}
		domains = null;
		alertBadge.token = null;
		if (els.alertCount) setAlertCount(0, false);
	}

	/* '#token=T' -> sessionStorage; the address becomes '#/overview'.
	 * Returns true when a token was taken. */
	function takeTokenFromAddress() {
		var hash = location.hash;
		if (hash.slice(0, 7) !== '#token=') return false;
		var t = hash.slice(7).split('&')[0];
		try {
			t = decodeURIComponent(t);
		} catch (e) {
			t = '';
		}
		t = t.trim();
		history.replaceState(null, '', location.pathname + location.search + '#/overview');
		if (t) setToken(t);
		return !!t;
	}

	/* ---- API ---------------------------------------------------------------- */

	function ApiError(status, message) {
		this.status = status;
		this.message = message;
	}
	ApiError.prototype = Object.create(Error.prototype);
	ApiError.prototype.name = 'ApiError';

	function apiURL(path, params) {
		var q = new URLSearchParams();
		if (params) {
			Object.keys(params).forEach(function (k) {
				var v = params[k];
				if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
			});
		}
		var s = q.toString();
		return '/api/v1/' + path + (s ? '?' + s : '');
	}

	/* fetch with the token; a non-2xx answer throws ApiError, a 401 also
	 * logs out. Returns the Response. */
	function apiFetch(path, params) {
		var token = getToken();
		if (!token) {
			showLogin(null);
			return Promise.reject(new ApiError(401, 'no token'));
		}
		return fetch(apiURL(path, params), {
			headers: {Authorization: 'Bearer ' + token},
			cache: 'no-store',
			credentials: 'omit',
			referrerPolicy: 'no-referrer',
		}).then(
			function (res) {
				if (res.ok) return res;
				return res
					.text()
					.catch(function () {
						return '';
					})
					.then(function (body) {
						var reason = '';
						try {
							reason = JSON.parse(body).error || '';
						} catch (e) {
							reason = '';
						}
						if (res.status === 401) {
							setToken(null);
							showLogin('The server refused the token (unknown, revoked or malformed).');
						}
						if (res.status === 429) {
							var after = res.headers.get('Retry-After');
							reason = 'too many requests' + (after ? ', retry in ' + after + ' s' : '');
						}
						throw new ApiError(res.status, reason || 'HTTP ' + res.status);
					});
			},
			function (e) {
				throw new ApiError(0, 'the server did not answer (' + (e && e.message ? e.message : e) + ')');
			}
		);
	}

	function api(path, params) {
		return apiFetch(path, params).then(function (res) {
			return res.json();
		});
	}

	/* fetch with the token, save the body under the server's file name
	 * through a blob: URL (a plain link could not send the token) */
	function saveDownload(path, params, fallbackName, button) {
		if (button) button.disabled = true;
		return apiFetch(path, params)
			.then(function (res) {
				var name = fileNameFrom(res.headers.get('Content-Disposition')) || fallbackName;
				return res.blob().then(function (blob) {
					var url = URL.createObjectURL(blob);
					var a = h('a', {href: url, download: name, class: 'sr'});
					document.body.append(a);
					a.click();
					a.remove();
					setTimeout(function () {
						URL.revokeObjectURL(url);
					}, 60000);
				});
			})
			.catch(function (e) {
				if (!(e instanceof ApiError && e.status === 401)) notice('Download failed: ' + e.message);
			})
			.then(function () {
				if (button) button.disabled = false;
			});
	}

	/* the file name of a Content-Disposition, made safe for a file system
	 * (the reporter chose part of it) */
	function fileNameFrom(cd) {
		if (!cd) return null;
		var m = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(cd);
		var name = null;
		if (m) {
			try {
				name = decodeURIComponent(m[1]);
			} catch (e) {
				name = null;
			}
		}
		if (!name) {
			m = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(cd) || /filename\s*=\s*([^;\s]+)/i.exec(cd);
			if (m) name = m[1].replace(/\\(.)/g, '$1');
		}
		if (!name) return null;
		name = name.replace(/[^A-Za-z0-9._!@+-]+/g, '_').replace(/^[._]+/, '');
		return name.slice(0, 200) || null;
	}

	/* ---- routing ---------------------------------------------------------- */

	/* the current route: {view, arg, params: URLSearchParams} */
	function route() {
		var hash = location.hash.replace(/^#/, '');
		var q = hash.indexOf('?');
		var path = q >= 0 ? hash.slice(0, q) : hash;
		var params = new URLSearchParams(q >= 0 ? hash.slice(q + 1) : '');
		var parts = path.split('/').filter(Boolean);
		var view = parts[0] || 'overview';
		var arg = null;
		if (parts.length > 1) {
			try {
				arg = decodeURIComponent(parts.slice(1).join('/'));
			} catch (e) {
				arg = parts.slice(1).join('/');
			}
		}
		return {view: view, arg: arg, params: params};
	}

	/* params: an object or URLSearchParams; keys in a fixed order so one
	 * view has one address */
	function hashFor(view, arg, params) {
		var src = params instanceof URLSearchParams ? params : new URLSearchParams();
		if (!(params instanceof URLSearchParams) && params) {
			Object.keys(params).forEach(function (k) {
				if (params[k] !== null && params[k] !== undefined && params[k] !== '') src.set(k, String(params[k]));
			});
		}
		var out = new URLSearchParams();
		PARAM_ORDER.forEach(function (k) {
			var v = src.get(k);
			if (v !== null && v !== '') out.set(k, v);
		});
		src.forEach(function (v, k) {
			if (PARAM_ORDER.indexOf(k) < 0 && v !== '') out.set(k, v);
		});
		var s = out.toString();
		/* ':' kept as is: an IPv6 address stays readable */
		var a = arg !== null && arg !== undefined ? '/' + encodeURIComponent(arg).replace(/%3A/gi, ':') : '';
		return '#/' + view + a + (s ? '?' + s : '');
	}

	/* the current params with `changes` applied (null removes a key) */
	function withParams(changes) {
		var p = new URLSearchParams(route().params);
		Object.keys(changes || {}).forEach(function (k) {
			if (changes[k] === null || changes[k] === undefined || changes[k] === '') p.delete(k);
			else p.set(k, String(changes[k]));
		});
		return p;
	}

	function go(view, arg, params, replace) {
		var hash = hashFor(view, arg, params);
		if (replace) {
			history.replaceState(null, '', location.pathname + location.search + hash);
			render();
		} else if (hash !== location.hash) {
			location.hash = hash; /* hashchange renders */
		} else {
			render();
		}
	}

	/* the params every link keeps: domain and range */
	function scopeParams(params) {
		var out = {};
		['domain', 'range', 'from', 'to'].forEach(function (k) {
			var v = params.get(k);
			if (v) out[k] = v;
		});
		return out;
	}

	function linkTo(view, arg, params, extra) {
		var p = scopeParams(params);
		Object.keys(extra || {}).forEach(function (k) {
			p[k] = extra[k];
		});
		return hashFor(view, arg, p);
	}

	/* the advice of the route's domain (its days kept when the route is
	 * an advice): the range does not apply to it */
	function adviceLink(params) {
		return hashFor('advice', null, {domain: params.get('domain'), days: params.get('days')});
	}

	/* the route's days of the advice: 1 to 3660, else null */
	function adviceDays(params) {
		var s = params.get('days');
		if (s === null || !/^\d{1,4}$/.test(s)) return null;
		var n = Number(s);
		return n >= 1 && n <= MAX_ADVICE_DAYS ? n : null;
	}

	/* from/to of the route for the API (both null for all time) */
	function rangeOf(params) {
		if (params.get('range') === 'all') return {from: null, to: null};
		return {
			from: validDay(params.get('from')) ? params.get('from') : null,
			to: validDay(params.get('to')) ? params.get('to') : null,
		};
	}

	function domainInfo(name) {
		for (var i = 0; domains && i < domains.length; i++) if (domains[i].domain === name) return domains[i];
		return null;
	}

	function presetRange(days, info) {
		var end = info && validDay(info.last) ? info.last : todayUTC();
		return {from: addDays(end, -(days - 1)), to: end};
	}

	/* which preset the route's range is for this domain: 7, 30, ..., 'all' or null */
	function activePreset(params, info) {
		if (params.get('range') === 'all') return 'all';
		var r = rangeOf(params);
		for (var i = 0; i < PRESETS.length; i++) {
			var p = presetRange(PRESETS[i], info);
			if (p.from === r.from && p.to === r.to) return PRESETS[i];
		}
		return null;
	}

	/* ---- screens ----------------------------------------------------------- */

	function showLogin(reason) {
		generation++;
		destroyChart();
		els.app.hidden = true;
		els.login.hidden = false;
		els.loginReason.hidden = !reason;
		els.loginReason.textContent = reason || '';
		document.title = 'dmarcd · sign in';
	}

	function showApp() {
		els.login.hidden = true;
		els.app.hidden = false;
	}

	function notice(msg) {
		els.notice.hidden = !msg;
		els.notice.textContent = msg || '';
	}

	/* ---- controls (domain, range, nav) ------------------------------------ */

	function fillDomainSelect(current) {
		var sel = els.domain;
		if (sel.options.length !== domains.length || Array.prototype.some.call(sel.options, function (o, i) {
			return o.value !== domains[i].domain;
		})) {
			sel.replaceChildren();
			domains.forEach(function (d) {
				sel.append(h('option', {value: d.domain, text: d.tlsOnly ? d.domain + ' (TLS only)' : d.domain}));
			});
		}
		sel.value = current;
		sel.disabled = domains.length === 0;
	}

	function updateControls(r) {
		var info = domainInfo(r.params.get('domain'));
		var preset = activePreset(r.params, info);
		Array.prototype.forEach.call(els.presets.querySelectorAll('button'), function (b) {
			b.setAttribute('aria-pressed', String(b.getAttribute('data-range') === String(preset)));
		});
		var rg = rangeOf(r.params);
		els.from.value = rg.from || '';
		els.to.value = rg.to || '';
		/* the advice has its own window (days back from today), the
		 * alerts none: the range controls do not apply to them */
		var noRange = r.view === 'advice' || r.view === 'alerts';
		els.presets.hidden = noRange;
		els.custom.hidden = noRange;
		var navView = listView(r.view);
		Array.prototype.forEach.call(document.querySelectorAll('.tabs a'), function (a) {
			var v = a.getAttribute('data-view');
			a.setAttribute('href', v === 'advice' ? adviceLink(r.params) : linkTo(v, null, r.params));
			if (v === navView) a.setAttribute('aria-current', 'page');
			else a.removeAttribute('aria-current');
		});
		els.brand.setAttribute('href', linkTo('overview', null, r.params));
	}

	/* the list a detail view belongs to */
	function listView(view) {
		return {source: 'sources', report: 'reports', tlsreport: 'tls', failure: 'failures'}[view] || view;
	}

	function onDomainChange() {
		var r = route();
		var old = domainInfo(r.params.get('domain'));
		var next = domainInfo(els.domain.value);
		if (!next) return;
		var preset = activePreset(r.params, old);
		var changes = {domain: next.domain, reporter: null, ip: null, page: null, show: null};
		if (typeof preset === 'number') {
			var p = presetRange(preset, next);
			changes.from = p.from;
			changes.to = p.to;
		}
		/* a source or a report belongs to the old domain: back to its
		 * list; a domain with TLS reports only has its TLS page; the
		 * alerts are no domain's: its overview */
		var view = listView(r.view);
		if (view === 'alerts') view = 'overview';
		if (next.tlsOnly && view !== 'failures') view = 'tls';
		go(view, view === r.view ? r.arg : null, withParams(changes));
	}

	function onPreset(ev) {
		var b = ev.target.closest('button[data-range]');
		if (!b) return;
		var r = route();
		var which = b.getAttribute('data-range');
		var changes = {page: null};
		if (which === 'all') {
			changes.range = 'all';
			changes.from = changes.to = null;
		} else {
			var p = presetRange(Number(which), domainInfo(r.params.get('domain')));
			changes.range = null;
			changes.from = p.from;
			changes.to = p.to;
		}
		rangeChanged(r, changes);
	}

	function onCustomRange(ev) {
		ev.preventDefault();
		var f = els.from.value;
		var t = els.to.value;
		if ((f && !validDay(f)) || (t && !validDay(t))) {
			notice('Dates are YYYY-MM-DD.');
			return;
		}
		if (f && t && f > t) {
			notice('The range starts after it ends.');
			return;
		}
		notice(null);
		var changes = {page: null, from: f || null, to: t || null, range: f || t ? null : 'all'};
		rangeChanged(route(), changes);
	}

	function rangeChanged(r, changes) {
		/* a report has its own dates: a new range means the list */
		if (r.view === 'report' || r.view === 'tlsreport' || r.view === 'failure') go(listView(r.view), null, withParams(changes));
		else go(r.view, r.arg, withParams(changes));
	}

	/* ---- the chart --------------------------------------------------------- */

	function cssVar(name, fallback) {
		var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
		return v || fallback;
	}

	function destroyChart() {
		if (chart) {
			chart.u.destroy();
			chart = null;
		}
	}

	/*
	 * A stacked bar chart of days. stack: [{key, label, cls}] bottom first;
	 * days: [{date, <key>: n}] (missing days are zero). The bars are drawn
	 * as cumulative sums, top of the stack first, each over the last.
	 * The container gets data-total-<key> and data-total-messages: what was
	 * plotted, so a test can hold it against the API.
	 *
	 * line (optional): {key, label, of(counts) -> percent or null}, a line
	 * over the bars on a second axis (right, in %), one point a day with
	 * counts; of() also gives the legend's value for the range's totals.
	 * The container gets data-line-<key>: {date: percent, 2 decimals} of
	 * the days plotted.
	 */
	function drawChart(box, legend, stack, days, range, line) {
		destroyChart();
		var byDay = {};
		days.forEach(function (d) {
			byDay[d.date] = d;
		});
		var first = range.from || (days.length ? days[0].date : null);
		var last = range.to || (days.length ? days[days.length - 1].date : null);
		var dates = [];
		if (first && last && validDay(first) && validDay(last) && (dayToSec(last) - dayToSec(first)) / 86400 <= 3700) {
			for (var d = first; d <= last; d = addDays(d, 1)) dates.push(d);
		} else {
			dates = days.map(function (x) {
				return x.date;
			});
		}
		var xs = dates.map(dayToSec);
		var raw = stack.map(function (s) {
			return dates.map(function (d) {
				return byDay[d] ? byDay[d][s.key] || 0 : 0;
			});
		});
		var totals = {};
		var all = 0;
		stack.forEach(function (s, i) {
			totals[s.key] = raw[i].reduce(function (a, b) {
				return a + b;
			}, 0);
			all += totals[s.key];
			box.setAttribute('data-total-' + s.key, String(totals[s.key]));
		});
		box.setAttribute('data-total-messages', String(all));
		box.setAttribute('data-days', String(dates.length));

		/* cumulative, top of the stack first */
		var cum = [];
		var run = dates.map(function () {
			return 0;
		});
		stack.forEach(function (s, i) {
			run = run.map(function (v, j) {
				return v + raw[i][j];
			});
			cum.push(run.slice());
		});
		var order = stack.map(function (s, i) {
			return i;
		}).reverse();
		var fg = cssVar('--muted', '#555');
		var grid = cssVar('--grid', '#e5e5e5');
		var bars = uPlot.paths.bars({size: [0.8, 48], align: 0});
		var series = [{}];
		order.forEach(function (i) {
			var color = cssVar('--c-' + stack[i].key, '#888');
			series.push({label: stack[i].label, fill: color, stroke: color, width: 0, paths: bars, points: {show: false}});
		});
		var data = [xs].concat(
			order.map(function (i) {
				return cum[i];
			})
		);
		var lineVals = null;
		if (line) {
			var plotted = {};
			lineVals = dates.map(function (d) {
				var v = byDay[d] ? line.of(byDay[d]) : null;
				if (v === null || v === undefined || !isFinite(v)) return null;
				plotted[d] = Math.round(v * 100) / 100;
				return v;
			});
			box.setAttribute('data-line-' + line.key, JSON.stringify(plotted));
			var lc = cssVar('--c-' + line.key, '#1f5fbf');
			series.push({label: line.label, scale: 'pct', stroke: lc, width: 2, spanGaps: false, points: {show: true, size: 6, fill: lc, stroke: lc}});
			data.push(lineVals);
		}

		var legendItems = stack.map(function (s, i) {
			var val = h('span', {class: 'lg-val'});
			legend.append(h('span', {class: 'lg-item', 'data-key': s.key}, h('span', {class: 'sw sw-' + s.key}), h('span', {text: s.label}), val));
			return val;
		});
		var lineItem = null;
		if (line) {
			lineItem = h('span', {class: 'lg-val'});
			legend.append(h('span', {class: 'lg-item', 'data-key': line.key}, h('span', {class: 'sw sw-line sw-' + line.key}), h('span', {text: line.label}), lineItem));
		}
		var legendDay = h('span', {class: 'lg-day'});
		legend.prepend(legendDay);
		function showLegend(idx) {
			var whole = idx === null || idx === undefined;
			legendDay.textContent = whole ? 'Range total' : dates[idx];
			stack.forEach(function (s, i) {
				legendItems[i].textContent = fmtInt(whole ? totals[s.key] : raw[i][idx]);
			});
			if (lineItem) {
				var v = whole ? line.of(totals) : lineVals[idx];
				lineItem.textContent = v === null || v === undefined || !isFinite(v) ? '–' : v.toFixed(1) + '%';
			}
		}
		showLegend(null);

		var height = box.clientWidth < 500 ? 200 : 260;
		var opts = {
			width: Math.max(box.clientWidth, 200),
			height: height,
			tzDate: function (ts) {
				return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
			},
			legend: {show: false},
			cursor: {drag: {x: false, y: false, setScale: false}, points: {show: false}, y: false},
			scales: {
				x: {
					time: true,
					range: function (u, min, max) {
						return [min - 43200, max + 43200];
					},
				},
				y: {
					range: function (u, min, max) {
						return [0, max > 0 ? max * 1.05 : 1];
					},
				},
				/* the line's: up to 100%, from the ten below its lowest
				 * point (a dip from 99% to 97% stays visible) */
				pct: {
					range: function (u, min) {
						var lo = min === null || min === undefined || !isFinite(min) ? 0 : Math.floor((Math.min(min, 100) - 1) / 10) * 10;
						return [Math.max(0, lo), 100];
					},
				},
			},
			axes: [
				{
					stroke: fg,
					grid: {stroke: grid, width: 1},
					ticks: {stroke: grid, width: 1},
					values: dayTicks,
				},
				{
					stroke: fg,
					grid: {stroke: grid, width: 1},
					ticks: {stroke: grid, width: 1},
					size: 48,
					values: function (u, splits) {
						return splits.map(compact);
					},
				},
			].concat(
				line
					? [{
						scale: 'pct',
						side: 1,
						stroke: fg,
						grid: {show: false},
						ticks: {stroke: grid, width: 1},
						size: 48,
						values: function (u, splits) {
							return splits.map(function (v) {
								return +v.toFixed(1) + '%';
							});
						},
					}]
					: []
			),
			series: series,
			hooks: {
				setCursor: [
					function (u) {
						showLegend(u.cursor.idx);
					},
				],
			},
		};
		var u = new uPlot(opts, data, box);
		chart = {u: u, el: box, height: height};
		box.setAttribute('data-drawn', '1');
		if (!chartMarked && window.performance && performance.mark) {
			chartMarked = true;
			performance.mark('dmarcd:chart-drawn');
		}
	}

	var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

	/* x-axis labels in UTC: 'Dec 2', 'Dec 2026' for month steps, '2026'
	 * for year steps; nothing between midnights */
	function dayTicks(u, splits, axisIdx, space, incr) {
		return splits.map(function (s) {
			if (s % 86400 !== 0) return null;
			var d = new Date(s * 1000);
			if (incr >= 365 * 86400) return String(d.getUTCFullYear());
			if (incr >= 28 * 86400) return MONTHS[d.getUTCMonth()] + ' ' + d.getUTCFullYear();
			return MONTHS[d.getUTCMonth()] + ' ' + d.getUTCDate();
		});
	}

	var resizePending = false;
	window.addEventListener('resize', function () {
		if (resizePending) return;
		resizePending = true;
		requestAnimationFrame(function () {
			resizePending = false;
			if (chart && chart.el.isConnected) chart.u.setSize({width: Math.max(chart.el.clientWidth, 200), height: chart.height});
		});
	});

	/* ---- building blocks ---------------------------------------------------- */

	function kpi(testid, label, value, display, sub) {
		return h(
			'div',
			{class: 'kpi', testid: testid, 'data-value': String(value)},
			h('div', {class: 'kpi-label', text: label}),
			h('div', {class: 'kpi-value', text: display}),
			sub ? h('div', {class: 'kpi-sub', text: sub}) : null
		);
	}

	function rateKpi(testid, label, part, whole) {
		return kpi(testid, label, part, pct(part, whole), fmtInt(part) + ' of ' + fmtInt(whole));
	}

	/* columns: [{label, num, cell(item) -> node|string, testid}];
	 * rowAttrs(item) -> the attributes of its row (optional) */
	function table(testid, columns, items, empty, rowAttrs) {
		if (!items.length) return h('p', {class: 'empty', testid: testid, text: empty || 'Nothing in this range.'});
		var thead = h(
			'thead',
			null,
			h(
				'tr',
				null,
				columns.map(function (c) {
					return h('th', {scope: 'col', class: c.num ? 'num' : null, text: c.label});
				})
			)
		);
		var tbody = h('tbody');
		appendRows(tbody, columns, items, rowAttrs);
		return h('div', {class: 'table-wrap'}, h('table', {testid: testid}, thead, tbody));
	}

	function appendRows(tbody, columns, items, rowAttrs) {
		var frag = document.createDocumentFragment();
		items.forEach(function (it) {
			frag.append(
				h(
					'tr',
					rowAttrs ? rowAttrs(it) : null,
					columns.map(function (c) {
						var v = c.cell(it);
						return h('td', {class: c.num ? 'num' : c.cls || null}, v === null || v === undefined ? '–' : v);
					})
				)
			);
		});
		tbody.append(frag);
	}

	/* a short list of strings (from the report) as one cell */
	function list(values) {
		if (!values || !values.length) return '–';
		return h(
			'span',
			{class: 'list'},
			values.map(function (v) {
				return h('span', {class: 'chip', text: v, title: v});
			})
		);
	}

	function section(title, testid) {
		var s = h('section', {class: 'card', testid: testid || null}, h('h2', {text: title}));
		for (var i = 2; i < arguments.length; i++) appendChild(s, arguments[i]);
		return s;
	}

	function pager(total, page, onPage, testid) {
		var pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
		if (pages <= 1) return null;
		return h(
			'nav',
			{class: 'pager', 'aria-label': 'Pages', testid: testid},
			h('button', {type: 'button', disabled: page <= 1, onclick: function () {
				onPage(page - 1);
			}, text: '‹ Previous'}),
			h('span', {text: 'page ' + fmtInt(page) + ' of ' + fmtInt(pages)}),
			h('button', {type: 'button', disabled: page >= pages, onclick: function () {
				onPage(page + 1);
			}, text: 'Next ›'})
		);
	}

	function pageOf(params) {
		var n = parseInt(params.get('page'), 10);
		return n > 0 && n < 1e6 ? n : 1;
	}

	/* past the last page (a stale link): go to the last page instead.
	 * True when it did. */
	function pastLastPage(view, res, page) {
		if ((res.items || []).length || !res.total || page <= 1) return false;
		var last = Math.max(1, Math.ceil(res.total / PAGE_SIZE));
		go(view, null, withParams({page: last > 1 ? last : null}), true);
		return true;
	}

	function rangeText(params) {
		var rg = rangeOf(params);
		if (!rg.from && !rg.to) return 'all time';
		return (rg.from || '…') + ' – ' + (rg.to || '…');
	}

	/* ---- who a source is (docs/API.md, sources) --------------------------------- */

	/* `who` is enrichment: reverse DNS names and AS names, chosen by
	 * whoever runs the address. Text only, like everything else. */
	var PTR_STATES = {
		confirmed: 'confirmed',
		unconfirmed: "not confirmed: the name's addresses do not include this IP",
		none: 'no reverse name',
		failed: 'DNS failed, asked again later',
		unknown: 'not looked up yet',
	};

	function present(v) {
		return v !== null && v !== undefined && v !== '';
	}

	/* the name a source goes by: its service, else its AS organisation */
	function whoName(w) {
		if (w && present(w.service)) return String(w.service);
		if (w && present(w.as_org)) return String(w.as_org);
		return 'unknown';
	}

	var regionNames;
	/* 'US' -> 'United States' (null when unknown or not a code) */
	function countryName(cc) {
		if (typeof cc !== 'string' || !/^[A-Z]{2}$/.test(cc)) return null;
		try {
			if (regionNames === undefined) regionNames = new Intl.DisplayNames(['en'], {type: 'region'});
			var n = regionNames.of(cc);
			return n && n !== cc ? n : null;
		} catch (e) {
			regionNames = null;
			return null;
		}
	}

	/* 'AS15169 Google LLC' */
	function asText(w) {
		if (!w || !present(w.asn)) return null;
		return 'AS' + w.asn + (present(w.as_org) ? ' ' + w.as_org : '');
	}

	/* the Sender cell of a source list: name, type, country; the reverse
	 * name on a second line; AS and country spelt out in the tooltip */
	function whoCell(w) {
		w = w || {};
		var named = present(w.service) || present(w.as_org);
		var cn = countryName(w.country);
		var tip = [present(w.ptr) ? String(w.ptr) : null, asText(w), cn].filter(Boolean).join('\n');
		return h(
			'div',
			{class: 'who', title: tip || null},
			h('span', {class: named ? 'who-name' : 'who-name who-unknown', text: whoName(w)}),
			present(w.service) && present(w.service_type) ? [' ', h('span', {class: 'who-type', text: w.service_type})] : null,
			present(w.country) ? [' ', h('span', {class: 'who-cc', text: w.country})] : null,
			present(w.ptr) ? h('span', {class: 'who-ptr mono', text: w.ptr}) : null
		);
	}

	function muted(text) {
		return h('span', {class: 'muted', text: text});
	}

	/* the who block of a source's page */
	function whoBlock(w) {
		w = w || {};
		var state = present(w.ptr_state) ? String(w.ptr_state) : 'unknown';
		var stateText = Object.prototype.hasOwnProperty.call(PTR_STATES, state) ? PTR_STATES[state] : state;
		var cn = countryName(w.country);
		/* attrs: the dd's, for a test to hold against the API */
		var item = function (label, testid, attrs, value) {
			attrs.testid = testid;
			return h('div', {class: 'who-item'}, h('dt', {text: label}), h('dd', attrs, value));
		};
		return h(
			'section',
			{class: 'card who-card', testid: 'source-who', 'aria-label': 'Who sends from this address'},
			h(
				'dl',
				{class: 'who-list'},
				item('Service', 'who-service', {'data-value': present(w.service) ? String(w.service) : ''},
					present(w.service)
						? [h('span', {class: 'who-name', text: w.service}), present(w.service_type) ? [' ', h('span', {class: 'who-type', text: w.service_type})] : null]
						: muted('none known')),
				item('Reverse DNS', 'who-ptr', {'data-state': state},
					present(w.ptr)
						? [h('span', {class: 'mono clip', text: w.ptr}), ' ', muted('(' + stateText + ')')]
						: muted(stateText)),
				item('Network', 'who-asn', {'data-value': present(w.asn) ? String(w.asn) : ''},
					present(w.asn)
						? [h('span', {class: 'nowrap', text: 'AS' + w.asn}), present(w.as_org) ? [' ', h('span', {text: w.as_org})] : null]
						: present(w.as_org) ? h('span', {text: w.as_org}) : muted('unknown')),
				item('Country', 'who-country', {'data-value': present(w.country) ? String(w.country) : ''},
					present(w.country)
						? [h('span', {class: 'who-cc', text: w.country}), cn ? ' ' + cn : null]
						: muted('unknown'))
			)
		);
	}

	/* ---- views ------------------------------------------------------------------ */

	var STACK_OVERVIEW = [
		{key: 'pass', label: 'DMARC pass'},
		{key: 'fail', label: 'DMARC fail, delivered'},
		{key: 'quarantine', label: 'Quarantined'},
		{key: 'reject', label: 'Rejected'},
	];

	function viewOverview(r, gen) {
		var dom = r.params.get('domain');
		var rg = rangeOf(r.params);
		var q = {domain: dom, from: rg.from, to: rg.to};
		return Promise.all([
			api('summary', q),
			api('timeseries', q),
			api('sources', {domain: dom, from: rg.from, to: rg.to, limit: 10}),
			api('reporters', q),
		]).then(function (res) {
			if (gen !== generation) return null;
			var s = res[0];
			var ts = res[1];
			var src = res[2];
			var rep = res[3].reporters || [];
			var disp = s.disposition || {};

			var kpis = h(
				'div',
				{class: 'kpis', testid: 'kpis'},
				kpi('kpi-messages', 'Messages', s.messages, fmtInt(s.messages), fmtInt(s.reports) + ' reports'),
				rateKpi('kpi-dmarc', 'DMARC pass', s.dmarc_pass, s.messages),
				rateKpi('kpi-spf', 'SPF aligned', s.spf_aligned, s.messages),
				rateKpi('kpi-dkim', 'DKIM aligned', s.dkim_aligned, s.messages),
				kpi('kpi-quarantine', 'Quarantined', disp.quarantine || 0, fmtInt(disp.quarantine || 0), pct(disp.quarantine || 0, s.messages)),
				kpi('kpi-reject', 'Rejected', disp.reject || 0, fmtInt(disp.reject || 0), pct(disp.reject || 0, s.messages))
			);
			kpis.setAttribute('data-dmarc-fail', String(s.dmarc_fail));

			/* per day: pass / fail not quarantined or rejected / quarantined /
			 * rejected. The four add up to the day's messages. */
			var days = (ts.points || []).map(function (p) {
				var q = p.quarantine || 0;
				var rj = p.reject || 0;
				var fail = Math.max(0, (p.dmarc_fail || 0) - q - rj);
				var pass = Math.max(0, (p.messages || 0) - fail - q - rj);
				return {date: p.date, pass: pass, fail: fail, quarantine: q, reject: rj};
			});
			var chartBox = h('div', {class: 'chart', testid: 'chart', 'data-domain': dom, 'data-from': rg.from || '', 'data-to': rg.to || ''});
			var legend = h('div', {class: 'legend', testid: 'chart-legend'});
			var chartCard = section('Messages per day', 'chart-card', legend, chartBox);

			var sourcesCard = section(
				'Top sources',
				'top-sources-card',
				table(
					'top-sources',
					[
						{label: 'Source IP', cls: 'nowrap', cell: function (x) {
							return h('a', {href: linkTo('source', x.ip, r.params), text: x.ip});
						}},
						{label: 'Sender', cls: 'sender', cell: function (x) {
							return whoCell(x.who);
						}},
						{label: 'Messages', num: true, cell: function (x) {
							return fmtInt(x.messages);
						}},
						{label: 'DMARC pass', num: true, cell: function (x) {
							return pct(x.dmarc_pass, x.messages);
						}},
						{label: 'Reporters', cell: function (x) {
							return list(x.reporters);
						}},
					],
					src.items || []
				),
				h('p', {class: 'more'}, h('a', {href: linkTo('sources', null, r.params), text: 'All ' + fmtInt(src.total) + ' sources ›'}))
			);
			var reportersCard = section(
				'Top reporters',
				'top-reporters-card',
				table(
					'top-reporters',
					[
						{label: 'Reporter', cell: function (x) {
							return h('a', {href: linkTo('reports', null, r.params, {reporter: x.reporter}), text: x.reporter});
						}},
						{label: 'Reports', num: true, cell: function (x) {
							return fmtInt(x.reports);
						}},
						{label: 'Messages', num: true, cell: function (x) {
							return fmtInt(x.messages);
						}},
						{label: 'DMARC pass', num: true, cell: function (x) {
							return pct(x.dmarc_pass, x.messages);
						}},
					],
					rep
						.slice()
						.sort(function (a, b) {
							return b.messages - a.messages;
						})
						.slice(0, 10)
				)
			);
			return {
				title: 'Overview · ' + dom,
				nodes: [
					h('h1', {class: 'view-title'}, 'Overview ', h('span', {class: 'sub', text: dom + ' · ' + rangeText(r.params)})),
					kpis,
					chartCard,
					h('div', {class: 'two'}, sourcesCard, reportersCard),
				],
				after: function () {
					drawChart(chartBox, legend, STACK_OVERVIEW, days, rg);
				},
			};
		});
	}

	function viewSources(r, gen) {
		var dom = r.params.get('domain');
		var rg = rangeOf(r.params);
		var page = pageOf(r.params);
		var sort = r.params.get('sort') || 'messages';
		if (!SOURCE_SORTS.some(function (s) {
			return s[0] === sort;
		}))
			sort = 'messages';
		return api('sources', {domain: dom, from: rg.from, to: rg.to, sort: sort === 'messages' ? null : sort, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE}).then(function (res) {
			if (gen !== generation) return null;
			if (pastLastPage('sources', res, page)) return null;
			var sel = h(
				'select',
				{testid: 'sources-sort', 'aria-label': 'Sort sources', onchange: function (ev) {
					go('sources', null, withParams({sort: ev.target.value === 'messages' ? null : ev.target.value, page: null}));
				}},
				SOURCE_SORTS.map(function (s) {
					return h('option', {value: s[0], text: s[1]});
				})
			);
			sel.value = sort;
			var items = res.items || [];
			return {
				title: 'Sources · ' + dom,
				nodes: [
					h('h1', {class: 'view-title'}, 'Sources ', h('span', {class: 'sub', text: dom + ' · ' + rangeText(r.params)})),
					section(
						fmtInt(res.total) + (res.total === 1 ? ' sending IP' : ' sending IPs'),
						'sources-card',
						h('div', {class: 'toolbar'}, h('label', {class: 'ctl'}, h('span', {text: 'Sort'}), sel)),
						table(
							'sources-table',
							[
								{label: 'Source IP', cls: 'nowrap', cell: function (x) {
									return h('a', {href: linkTo('source', x.ip, r.params), text: x.ip});
								}},
								{label: 'Sender', cls: 'sender', cell: function (x) {
									return whoCell(x.who);
								}},
								{label: 'Messages', num: true, cell: function (x) {
									return fmtInt(x.messages);
								}},
								{label: 'DMARC pass', num: true, cell: function (x) {
									return pct(x.dmarc_pass, x.messages);
								}},
								{label: 'DMARC fail', num: true, cell: function (x) {
									return fmtInt(x.dmarc_fail);
								}},
								{label: 'SPF aligned', num: true, cell: function (x) {
									return pct(x.spf_aligned, x.messages);
								}},
								{label: 'DKIM aligned', num: true, cell: function (x) {
									return pct(x.dkim_aligned, x.messages);
								}},
								{label: 'Header From', cell: function (x) {
									return list(x.header_from);
								}},
								{label: 'Reporters', cell: function (x) {
									return list(x.reporters);
								}},
							],
							items
						),
						pager(res.total, page, function (p) {
							go('sources', null, withParams({page: p > 1 ? p : null}));
						}, 'sources-pager')
					),
				],
			};
		});
	}

	var STACK_SOURCE = [
		{key: 'pass', label: 'DMARC pass'},
		{key: 'fail', label: 'DMARC fail'},
	];

	function viewSource(r, gen) {
		var dom = r.params.get('domain');
		var rg = rangeOf(r.params);
		var ip = r.arg || '';
		/* an IPv4 or IPv6 address: nothing else goes into the API path.
		 * ':' stays as it is (a path may hold it; RFC 3986 pchar). */
		var isIP = IP_RE.test(ip);
		var lookup = isIP
			? api('sources/' + ip, {domain: dom, from: rg.from, to: rg.to})
			: Promise.reject(new ApiError(404, 'not an IP address'));
		/* its failure reports: a section of the page, never its failure */
		var fails = isIP
			? api('failures', {domain: dom, ip: ip, from: rg.from, to: rg.to, limit: SOURCE_FAILURES}).catch(function (e) {
				if (e instanceof ApiError && e.status === 401) throw e;
				return {error: e && e.message ? e.message : String(e)};
			})
			: Promise.resolve(null);
		return Promise.all([lookup, fails]).then(
			function (res) {
				if (gen !== generation) return null;
				var s = res[0];
				var failures = sourceFailures(r, res[1]);
				var days = (s.days || []).map(function (d) {
					return {date: d.date, pass: d.dmarc_pass || 0, fail: d.dmarc_fail || 0};
				});
				var chartBox = h('div', {class: 'chart', testid: 'chart', 'data-domain': dom, 'data-from': rg.from || '', 'data-to': rg.to || ''});
				var legend = h('div', {class: 'legend', testid: 'chart-legend'});
				var msgs = function (x) {
					return fmtInt(x.messages);
				};
				return {
					title: 'Source ' + ip,
					nodes: [
						h('p', {class: 'crumbs'}, h('a', {href: linkTo('sources', null, r.params), text: '‹ Sources'})),
						h('h1', {class: 'view-title'}, 'Source ', h('span', {class: 'mono', testid: 'source-ip', text: s.ip || ip}), ' ', h('span', {class: 'sub', text: dom + ' · ' + rangeText(r.params)})),
						whoBlock(s.who),
						h(
							'div',
							{class: 'kpis', testid: 'source-kpis'},
							kpi('kpi-messages', 'Messages', s.messages, fmtInt(s.messages)),
							rateKpi('kpi-dmarc', 'DMARC pass', s.dmarc_pass, s.messages),
							rateKpi('kpi-spf', 'SPF aligned', s.spf_aligned, s.messages),
							rateKpi('kpi-dkim', 'DKIM aligned', s.dkim_aligned, s.messages)
						),
						section('Messages per day', 'chart-card', legend, chartBox),
						h(
							'div',
							{class: 'two'},
							section('Reporters', null, table('source-reporters', [
								{label: 'Reporter', cell: function (x) {
									return h('a', {href: linkTo('reports', null, r.params, {reporter: x.reporter}), text: x.reporter});
								}},
								{label: 'Messages', num: true, cell: msgs},
							], s.reporters || [])),
							section('Header From', null, table('source-header-from', [
								{label: 'Domain', cell: function (x) {
									return x.domain;
								}},
								{label: 'Messages', num: true, cell: msgs},
							], s.header_from || []))
						),
						section('DKIM results', null, table('source-dkim', [
							{label: 'Domain', cell: function (x) {
								return x.domain;
							}},
							{label: 'Selector', cell: function (x) {
								return x.selector;
							}},
							{label: 'Result', cell: function (x) {
								return result(x.result);
							}},
							{label: 'Messages', num: true, cell: msgs},
						], s.dkim || [], 'No DKIM results.')),
						section('SPF results', null, table('source-spf', [
							{label: 'Domain', cell: function (x) {
								return x.domain;
							}},
							{label: 'Scope', cell: function (x) {
								return x.scope;
							}},
							{label: 'Result', cell: function (x) {
								return result(x.result);
							}},
							{label: 'Messages', num: true, cell: msgs},
						], s.spf || [], 'No SPF results.')),
						failures,
					],
					after: function () {
						drawChart(chartBox, legend, STACK_SOURCE, days, rg);
					},
				};
			},
			function (e) {
				if (e instanceof ApiError && e.status === 404) {
					/* no aggregate report mentions it: its failure reports may */
					return fails.then(function (f) {
						if (gen !== generation) return null;
						return {
							title: 'Source ' + ip,
							nodes: [
								h('p', {class: 'crumbs'}, h('a', {href: linkTo('sources', null, r.params), text: '‹ Sources'})),
								h('p', {class: 'empty', testid: 'not-found', text: 'No aggregate reports mention ' + ip + ' for ' + dom + ' in ' + rangeText(r.params) + '.'}),
								sourceFailures(r, f),
							],
						};
					});
				}
				throw e;
			}
		);
	}

	/* a pass/fail word, tagged for colour (the word itself is the data) */
	function result(v) {
		if (v === null || v === undefined) return '–';
		var s = String(v);
		var cls = s === 'pass' ? 'res res-pass' : s === 'fail' || s === 'permerror' ? 'res res-fail' : 'res';
		return h('span', {class: cls, text: s});
	}

	function viewReports(r, gen) {
		var dom = r.params.get('domain');
		var rg = rangeOf(r.params);
		var page = pageOf(r.params);
		var reporter = r.params.get('reporter') || null;
		var filters = {domain: dom, from: rg.from, to: rg.to, reporter: reporter};
		return Promise.all([
			api('reports', {domain: dom, from: rg.from, to: rg.to, reporter: reporter, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE}),
			api('reporters', {domain: dom, from: rg.from, to: rg.to}),
		]).then(function (res) {
			if (gen !== generation) return null;
			var lst = res[0];
			if (pastLastPage('reports', lst, page)) return null;
			var names = (res[1].reporters || [])
				.map(function (x) {
					return x.reporter;
				})
				.sort(function (a, b) {
					return a.localeCompare(b, 'en');
				});
			/* the rollups may spell a reporter in lower case, the list as sent */
			var chosen = reporter;
			if (reporter && names.indexOf(reporter) < 0) {
				var same = names.filter(function (n) {
					return n.toLowerCase() === reporter.toLowerCase();
				});
				if (same.length) chosen = same[0];
				else names.unshift(reporter);
			}
			var sel = h(
				'select',
				{testid: 'reporter-select', 'aria-label': 'Reporter', onchange: function (ev) {
					go('reports', null, withParams({reporter: ev.target.value || null, page: null}));
				}},
				h('option', {value: '', text: 'All reporters'}),
				names.map(function (n) {
					return h('option', {value: n, text: n});
				})
			);
			sel.value = chosen || '';
			var csv = h('button', {type: 'button', testid: 'export-csv', text: 'Export CSV'});
			var json = h('button', {type: 'button', testid: 'export-json', text: 'Export JSON'});
			csv.addEventListener('click', function () {
				saveDownload('export.csv', filters, 'dmarc-' + (dom || 'all') + '.csv', csv);
			});
			json.addEventListener('click', function () {
				saveDownload('export.json', filters, 'dmarc-' + (dom || 'all') + '.json', json);
			});
			var items = lst.items || [];
			return {
				title: 'Reports · ' + dom,
				nodes: [
					h('h1', {class: 'view-title'}, 'Reports ', h('span', {class: 'sub', text: dom + ' · ' + rangeText(r.params)})),
					section(
						fmtInt(lst.total) + (lst.total === 1 ? ' report' : ' reports'),
						'reports-card',
						h('div', {class: 'toolbar'}, h('label', {class: 'ctl'}, h('span', {text: 'Reporter'}), sel), h('span', {class: 'grow'}), csv, json),
						table(
							'reports-table',
							[
								{label: 'Period (UTC)', cls: 'nowrap', cell: function (x) {
									return h('a', {href: linkTo('report', String(x.id), r.params), text: fmtTime(x.begin) + ' – ' + fmtTime(x.end)});
								}},
								{label: 'Reporter', cell: function (x) {
									return h('span', {class: 'reporter', text: x.org_name});
								}},
								{label: 'Report ID', cell: function (x) {
									return h('span', {class: 'mono clip', text: x.report_id});
								}},
								{label: 'Records', num: true, cell: function (x) {
									return fmtInt(x.records);
								}},
								{label: 'Messages', num: true, cell: function (x) {
									return fmtInt(x.messages);
								}},
								{label: 'Received', cls: 'nowrap', cell: function (x) {
									return fmtTime(x.received_at);
								}},
							],
							items
						),
						pager(lst.total, page, function (p) {
							go('reports', null, withParams({page: p > 1 ? p : null}));
						}, 'reports-pager')
					),
				],
			};
		});
	}

	function dl(pairs, testid) {
		return h(
			'dl',
			{class: 'meta', testid: testid},
			pairs.map(function (p) {
				var v = p[1];
				return [h('dt', {text: p[0]}), h('dd', {testid: p[2] || null}, v === null || v === undefined || v === '' ? '–' : v)];
			})
		);
	}

	function viewReport(r, gen) {
		var id = r.arg || '';
		if (!/^\d{1,19}$/.test(id)) {
			return Promise.resolve({title: 'Report', nodes: [h('p', {class: 'empty', testid: 'not-found', text: 'No such report.'})]});
		}
		return api('reports/' + id).then(
			function (rep) {
				if (gen !== generation) return null;
				var pp = rep.policy_published || {};
				var raw = h('button', {type: 'button', class: 'primary', testid: 'download-raw', text: 'Download raw report'});
				raw.addEventListener('click', function () {
					saveDownload('reports/' + id + '/raw', null, 'report-' + id, raw);
				});
				var rows = rep.rows || [];
				var cols = [
					{label: 'Source IP', cls: 'nowrap', cell: function (x) {
						return h('a', {href: linkTo('source', x.ip, r.params, {domain: rep.policy_domain || r.params.get('domain')}), text: x.ip});
					}},
					{label: 'Count', num: true, cell: function (x) {
						return fmtInt(x.count);
					}},
					{label: 'Disposition', cell: function (x) {
						return x.disposition;
					}},
					{label: 'DMARC', cell: function (x) {
						return result(x.dmarc_pass ? 'pass' : 'fail');
					}},
					{label: 'DKIM', cell: function (x) {
						return result(x.dkim);
					}},
					{label: 'SPF', cell: function (x) {
						return result(x.spf);
					}},
					{label: 'Header From', cell: function (x) {
						return x.header_from;
					}},
					{label: 'Envelope From', cell: function (x) {
						return x.envelope_from;
					}},
					{label: 'Envelope To', cell: function (x) {
						return x.envelope_to;
					}},
					{label: 'Overrides', cell: function (x) {
						return list((x.reasons || []).map(function (o) {
							return typeof o === 'string' ? o : [o.type, o.comment].filter(Boolean).join(': ');
						}));
					}},
					{label: 'DKIM results', cell: function (x) {
						return list((x.dkim_results || []).map(function (d) {
							return (d.domain || '?') + (d.selector ? ' (' + d.selector + ')' : '') + ': ' + (d.result || '?');
						}));
					}},
					{label: 'SPF results', cell: function (x) {
						return list((x.spf_results || []).map(function (d) {
							return (d.domain || '?') + (d.scope ? ' (' + d.scope + ')' : '') + ': ' + (d.result || '?');
						}));
					}},
				];
				var rowsTable = table('report-rows', cols, rows.slice(0, ROW_CHUNK), 'This report has no records.');
				var shown = Math.min(rows.length, ROW_CHUNK);
				var moreBox = null;
				if (rows.length > shown) {
					var status = h('span', {text: 'showing ' + fmtInt(shown) + ' of ' + fmtInt(rows.length) + ' records'});
					var more = h('button', {type: 'button', testid: 'rows-more', text: 'Show more'});
					more.addEventListener('click', function () {
						var tbody = rowsTable.querySelector('tbody');
						appendRows(tbody, cols, rows.slice(shown, shown + ROW_CHUNK));
						shown = Math.min(rows.length, shown + ROW_CHUNK);
						status.textContent = 'showing ' + fmtInt(shown) + ' of ' + fmtInt(rows.length) + ' records';
						if (shown >= rows.length) more.remove();
					});
					moreBox = h('p', {class: 'more'}, status, ' ', more);
				}
				var warnings = rep.warnings || [];
				return {
					title: 'Report ' + (rep.report_id || id),
					nodes: [
						h('p', {class: 'crumbs'}, h('a', {href: linkTo('reports', null, r.params), text: '‹ Reports'})),
						h('h1', {class: 'view-title'}, 'Report ', h('span', {class: 'mono clip', testid: 'report-title', text: rep.report_id || ''})),
						h('div', {class: 'toolbar'}, raw),
						h(
							'div',
							{class: 'two'},
							section('Report', 'report-meta-card', dl([
								['Reporter', rep.org_name, 'report-org-name'],
								['Email', rep.email],
								['Extra contact', rep.extra_contact_info],
								['Report ID', rep.report_id, 'report-id'],
								['Policy domain', rep.policy_domain, 'report-domain'],
								['Period (UTC)', fmtTime(rep.begin) + ' – ' + fmtTime(rep.end)],
								['Received (UTC)', fmtTime(rep.received_at)],
								['Records', fmtInt(rep.records), 'report-records'],
								['Messages', fmtInt(rep.messages), 'report-messages'],
								['Format', [rep.schema, rep.version ? 'version ' + rep.version : null, rep.xmlns].filter(Boolean).join(' · ')],
								['Generator', rep.generator],
								['Report error', rep.report_error],
								['Archive key', rep.archive_key ? h('span', {class: 'mono clip', text: rep.archive_key}) : null],
							], 'report-meta')),
							section('Published policy', 'report-policy-card', dl([
								['Domain', pp.domain],
								['p', pp.p],
								['sp', pp.sp],
								['np', pp.np],
								['pct', pp.pct],
								['adkim', pp.adkim],
								['aspf', pp.aspf],
								['fo', pp.fo],
								['testing', pp.testing],
								['discovery', pp.discovery_method],
							], 'report-policy'))
						),
						warnings.length
							? section('Parser warnings', 'report-warnings', h('ul', {class: 'warnings'}, warnings.map(function (w) {
								return h('li', {text: typeof w === 'string' ? w : JSON.stringify(w)});
							})))
							: null,
						section(fmtInt(rows.length) + (rows.length === 1 ? ' record' : ' records'), 'report-rows-card', rowsTable, moreBox),
					],
				};
			},
			function (e) {
				if (e instanceof ApiError && e.status === 404) {
					if (gen !== generation) return null;
					return {
						title: 'Report',
						nodes: [
							h('p', {class: 'crumbs'}, h('a', {href: linkTo('reports', null, r.params), text: '‹ Reports'})),
							h('p', {class: 'empty', testid: 'not-found', text: 'No such report.'}),
						],
					};
				}
				throw e;
			}
		);
	}

	/* ---- the advice: the road to p=reject (docs/ADVICE.md) --------------------- */

	/* what each next step changes in the record */
	var STEPS = {
		quarantine: 'p=none → p=quarantine',
		pct: 'p=quarantine for all mail (pct=100)',
		reject: 'p=quarantine → p=reject',
		sp: 'subdomains too: sp=reject',
		np: 'names that do not exist: np=reject',
		done: 'nothing left: p=reject everywhere',
	};

	function lastDays(n) {
		return 'the last ' + (n === 1 ? 'day' : fmtInt(n) + ' days');
	}

	/* 0.856843 -> '85.68%' */
	function rate(x) {
		if (x === null || x === undefined || isNaN(x)) return '–';
		return (100 * x).toFixed(2) + '%';
	}

	/* 'p=none pct=100': the tags of the newest report's policy, as published
	 * (absent ones take their defaults) */
	function policyText(p) {
		if (!p) return 'unknown';
		var tags = ['p', 'sp', 'np', 'pct']
			.filter(function (k) {
				return present(p[k]);
			})
			.map(function (k) {
				return k + '=' + p[k];
			});
		return tags.length ? tags.join(' ') : 'unknown';
	}

	function policyAbsent(p) {
		if (!p) return 'no policy in the reports';
		var absent = ['sp', 'np', 'pct'].filter(function (k) {
			return !present(p[k]);
		});
		return absent.length ? absent.join(', ') + ' not published' : 'as published';
	}

	/* safe, not yet, or done: the word is the badge's meaning, the
	 * colour only repeats it */
	function safeBadge(next, testid) {
		var done = next.step === 'done';
		var ok = done || next.safe === true;
		return h('span', {class: ok ? 'badge badge-ok' : 'badge badge-warn', testid: testid || null, 'data-safe': String(next.safe === true), text: done ? 'done' : ok ? 'safe' : 'not yet'});
	}

	/* [{code, message}] as a list: the message, its code for a search */
	function adviceList(items, testid) {
		return h(
			'ul',
			{class: 'advice-list', testid: testid},
			items.map(function (x) {
				return h('li', {'data-code': x.code}, h('span', {class: 'advice-msg', text: x.message}), ' ', h('span', {class: 'chip mono', text: x.code}));
			})
		);
	}

	/* a button that puts text on the clipboard, where the browser offers
	 * one (a secure context: https, or http to 127.0.0.1) */
	function copyButton(text, testid) {
		if (!navigator.clipboard || typeof navigator.clipboard.writeText !== 'function') return null;
		var b = h('button', {type: 'button', class: 'copy', testid: testid, text: 'Copy'});
		b.addEventListener('click', function () {
			navigator.clipboard.writeText(text).then(
				function () {
					b.textContent = 'Copied';
					setTimeout(function () {
						b.textContent = 'Copy';
					}, 1500);
				},
				function (e) {
					notice('Copy failed: ' + (e && e.message ? e.message : e));
				}
			);
		});
		return b;
	}

	function codeBlock(label, testid, text) {
		return h(
			'div',
			{class: 'code-block'},
			h('div', {class: 'code-head'}, h('span', {class: 'muted', text: label}), copyButton(text, testid + '-copy')),
			h('pre', {class: 'code', testid: testid, text: text})
		);
	}

	/* the record of the next step: its DNS name, the TXT value, the line
	 * of a zone file */
	function recordBlock(domain, next) {
		if (!present(next.record)) return h('p', {class: 'empty', testid: 'advice-no-record', text: 'Nothing to publish.'});
		var name = '_dmarc.' + domain;
		return h(
			'div',
			{class: 'advice-record'},
			h('h3', {text: next.safe ? 'Publish' : 'Publish once nothing blocks it'}),
			dl([
				['DNS name', h('code', {text: name}), 'advice-dns-name'],
				['Type', 'TXT'],
			], 'advice-dns'),
			codeBlock('TXT record', 'advice-record', next.record),
			present(next.zone) ? codeBlock('zone file', 'advice-zone', name + '. IN TXT ' + next.zone) : null
		);
	}

	/* the failing services: one row each, its actions in a row under it */
	function servicesTable(items) {
		var testid = 'advice-services-table';
		if (!items.length) return h('p', {class: 'empty', testid: testid, text: 'No known service fails DMARC in this window.'});
		var thead = h(
			'thead',
			null,
			h('tr', null, h('th', {scope: 'col', text: 'Service'}), h('th', {scope: 'col', text: 'Type'}), h('th', {scope: 'col', class: 'num', text: 'Failing / messages'}), h('th', {scope: 'col', class: 'num', text: 'Sources'}))
		);
		var tbody = h('tbody');
		items.forEach(function (s) {
			tbody.append(
				h(
					'tr',
					{class: 'svc'},
					h('td', null, h('span', {class: 'who-name', text: s.service})),
					h('td', null, present(s.type) ? h('span', {class: 'who-type', text: s.type}) : '–'),
					h('td', {class: 'num', text: fmtInt(s.failing) + ' / ' + fmtInt(s.messages)}),
					h('td', {class: 'num', text: fmtInt(s.sources)})
				),
				h('tr', {class: 'svc-actions'}, h('td', {colspan: '4'}, (s.actions || []).length ? adviceList(s.actions, null) : muted('no action named')))
			);
		});
		return h('div', {class: 'table-wrap'}, h('table', {testid: testid}, thead, tbody));
	}

	/* the window buttons: 7, 30, 90 days (another from the address is
	 * shown in the title, no button pressed) */
	function adviceDaysBar(days) {
		return h(
			'div',
			{class: 'toolbar'},
			h(
				'div',
				{class: 'ctl presets', role: 'group', 'aria-label': 'Days', testid: 'advice-days'},
				ADVICE_DAYS.map(function (n) {
					return h('button', {type: 'button', testid: 'advice-days-' + n, 'aria-pressed': String(n === days), text: n + ' d', onclick: function () {
						go('advice', null, withParams({days: n}));
					}});
				})
			),
			h('span', {class: 'muted', text: 'days back from today (UTC)'})
		);
	}

	/* ---- the advice: published records (GET /api/v1/dns) ------------------------ */

	var SEVERITY_RANK = {info: 1, warning: 2, error: 3};
	var SPF_MAX_LOOKUPS = 10; /* RFC 7208 §4.6.4: more is a permerror */
	var SPF_MAX_VOIDS = 2; /* RFC 7208 §4.6.4 */
	var SPF_MAX_DEPTH = 20; /* the server stops at 10 levels; a bound anyway */
	/* the `dns` of a name as asked (docs/RECORDS.md) */
	var DNS_STATES = {
		ok: 'found',
		nodata: 'the name has no record of this type',
		nxdomain: 'no such name',
		servfail: 'the server failed (SERVFAIL)',
		timeout: 'no answer in time',
		error: 'could not be asked',
	};
	/* SPF tree nodes whose status says nothing is wrong */
	var SPF_FINE = {ok: true, macro: true, skipped: true};

	function own(o, k) {
		return Object.prototype.hasOwnProperty.call(o, k);
	}

	function arr(v) {
		return Array.isArray(v) ? v : [];
	}

	/* the card a finding of a check belongs to, by its `where`: the DMARC
	 * record's (with its report destinations, rua:HOST and ruf:HOST), the
	 * SPF tree's (spf:NAME), the DKIM keys' (dkim:SELECTOR), else other */
	function findingCard(f) {
		var w = f && typeof f.where === 'string' ? f.where : '';
		if (w === 'dmarc' || w.slice(0, 4) === 'rua:' || w.slice(0, 4) === 'ruf:') return 'dmarc';
		if (w.slice(0, 4) === 'spf:') return 'spf';
		if (w.slice(0, 5) === 'dkim:') return 'dkim';
		return 'other';
	}

	/* the worst severity among findings: 'error', 'warning', else 'ok'
	 * (an info changes nothing) */
	function worst(findings) {
		var w = 0;
		findings.forEach(function (f) {
			if (f && own(SEVERITY_RANK, f.severity)) w = Math.max(w, SEVERITY_RANK[f.severity]);
		});
		return w === 3 ? 'error' : w === 2 ? 'warning' : 'ok';
	}

	function statusBadge(status, testid) {
		var cls = status === 'ok' ? 'badge-ok' : status === 'warning' ? 'badge-warn' : 'badge-err';
		return h('span', {class: 'badge ' + cls, testid: testid || null, text: status});
	}

	/* [{severity, code, message, where}] as a list: severity, message, code,
	 * and where when it says more than the card does */
	function findingsList(items, testid, quietWhere) {
		if (!items.length) return h('p', {class: 'empty', testid: testid, 'data-count': '0', text: 'No findings.'});
		return h(
			'ul',
			{class: 'findings', testid: testid, 'data-count': String(items.length)},
			items.map(function (f) {
				var sev = own(SEVERITY_RANK, f.severity) ? f.severity : 'info';
				var where = present(f.where) && f.where !== quietWhere ? String(f.where) : null;
				return h(
					'li',
					{'data-severity': String(f.severity), 'data-code': String(f.code), 'data-where': present(f.where) ? String(f.where) : null},
					h('span', {class: 'sev sev-' + sev, text: String(f.severity)}),
					' ',
					h('span', {class: 'finding-msg', text: f.message}),
					' ',
					h('span', {class: 'chip mono', text: f.code}),
					where ? [' ', h('span', {class: 'chip mono finding-where', text: where})] : null
				);
			})
		);
	}

	/* 'nxdomain: no such name' for a `dns` value */
	function dnsStateText(st) {
		st = String(st);
		return own(DNS_STATES, st) && st !== 'ok' ? st + ': ' + DNS_STATES[st] : st;
	}

	/* a card of the check: its title, its status word, its body, its findings */
	function dnsCard(title, testid, findings, body) {
		var status = worst(findings);
		return h(
			'section',
			{class: 'dns-card dns-' + status, testid: testid, 'data-status': status, 'aria-label': title + ': ' + status},
			h('h3', null, title, ' ', statusBadge(status, testid + '-status')),
			body,
			h('h4', {text: 'Findings'}),
			findingsList(findings, testid + '-findings', testid === 'dns-dmarc' ? 'dmarc' : null)
		);
	}

	function dmarcCard(c, findings) {
		var d = c.dmarc || {};
		var ap = d.applies || {};
		var psl = d.psl || {};
		var walk = d.tree_walk || {};
		var ext = arr(d.destinations).filter(function (x) {
			return x && x.external === true;
		});
		var applies = present(ap.record_at)
			? h('span', {testid: 'dns-dmarc-applies', 'data-record-at': String(ap.record_at), 'data-policy': present(ap.policy) ? String(ap.policy) : ''},
				h('code', {text: '_dmarc.' + ap.record_at}),
				ap.record_at !== c.domain ? ' (inherited)' : null,
				', policy ',
				h('strong', {text: present(ap.policy) ? ap.policy : '–'}))
			: h('span', {class: 'res-fail', testid: 'dns-dmarc-applies', 'data-record-at': '', 'data-policy': '', text: 'no record: no policy applies'});
		var differs = psl.record_at !== walk.record_at || psl.org_domain !== walk.org_domain;
		var found = function (x) {
			return (present(x.record_at) ? '_dmarc.' + x.record_at : 'no record') + ' (organisational domain ' + (present(x.org_domain) ? x.org_domain : '–') + ')';
		};
		return dnsCard(
			'DMARC',
			'dns-dmarc',
			findings,
			[
				dl(
					[
						['Name', h('code', {text: d.name}), 'dns-dmarc-name'],
						['DNS', d.dns === 'ok' ? fmtInt(d.records) + (d.records === 1 ? ' record' : ' records') : dnsStateText(d.dns), 'dns-dmarc-dns'],
						['Applies', applies],
						differs ? ['Public Suffix List', found(psl), 'dns-dmarc-psl'] : null,
						differs ? ['DNS tree walk', found(walk), 'dns-dmarc-walk'] : null,
					].filter(Boolean),
					'dns-dmarc-meta'
				),
				present(d.text) ? h('pre', {class: 'code', testid: 'dns-dmarc-record', text: d.text}) : h('p', {class: 'empty', testid: 'dns-dmarc-record', text: 'No DMARC record at ' + d.name + '.'}),
				h('h4', {text: 'External report destinations'}),
				ext.length
					? h(
						'ul',
						{class: 'dests', testid: 'dns-dests'},
						ext.map(function (x) {
							var auth = x.authorization || {};
							return h(
								'li',
								{'data-uri': String(x.uri), 'data-authorized': String(x.authorized === true)},
								h('span', {class: 'chip mono', text: x.tag}),
								' ',
								h('code', {text: x.uri}),
								' ',
								x.authorized === true ? h('span', {class: 'sev sev-ok', text: 'authorized'}) : h('span', {class: 'sev sev-error', text: 'not authorized'}),
								x.ours === true ? [' ', muted('(this dmarcd)')] : null,
								present(x.override) ? [' → ', h('code', {text: x.override})] : null,
								present(auth.name) ? h('div', {class: 'sub-line mono', text: auth.name + (auth.dns === 'ok' ? '' : ' · ' + dnsStateText(auth.dns))}) : null
							);
						})
					)
					: h('p', {class: 'empty', testid: 'dns-dests', text: 'None: every report address is inside the domain.'}),
			]
		);
	}

	/* '17 of 10 lookups', marked when over the limit */
	function spfCount(testid, n, limit, what) {
		var over = typeof n === 'number' && n > limit;
		return h(
			'span',
			{class: over ? 'spf-count over' : 'spf-count', testid: testid, 'data-value': String(n), 'data-limit': String(limit)},
			h('strong', {text: fmtInt(n)}),
			' of ' + limit + ' ' + what
		);
	}

	/* one node of the SPF lookup tree and, nested, the nodes below it */
	function spfNode(n, depth) {
		n = n || {};
		var st = String(n.status);
		var kids = arr(n.children);
		var count = fmtInt(n.lookups) + (n.lookups === 1 ? ' lookup' : ' lookups') + (n.void_lookups ? ', ' + fmtInt(n.void_lookups) + ' void' : '');
		return h(
			'li',
			{'data-name': String(n.name), 'data-via': present(n.via) ? String(n.via) : '', 'data-lookups': String(n.lookups), 'data-status': st},
			h(
				'div',
				{class: 'spf-node'},
				present(n.via) ? [h('span', {class: 'chip mono spf-via', text: n.via}), ' '] : null,
				h('code', {class: 'spf-name', text: n.name}),
				' ',
				h('span', {class: 'spf-lookups muted', text: count}),
				' ',
				h('span', {class: own(SPF_FINE, st) ? 'spf-status' : 'spf-status res-fail', text: st})
			),
			depth > 0 && present(n.record) ? h('div', {class: 'sub-line mono', text: n.record}) : null,
			kids.length && depth < SPF_MAX_DEPTH
				? h(
					'ul',
					null,
					kids.map(function (k) {
						return spfNode(k, depth + 1);
					})
				)
				: null
		);
	}

	function spfCard(c, findings) {
		var s = c.spf || {};
		var tree = s.tree && typeof s.tree === 'object' ? s.tree : null;
		return dnsCard('SPF', 'dns-spf', findings, [
			h('p', {class: 'spf-counts'}, spfCount('dns-spf-lookups', s.lookups, SPF_MAX_LOOKUPS, 'DNS lookups'), spfCount('dns-spf-voids', s.void_lookups, SPF_MAX_VOIDS, 'void lookups')),
			tree && present(tree.record)
				? h('pre', {class: 'code', testid: 'dns-spf-record', text: tree.record})
				: h('p', {class: 'empty', testid: 'dns-spf-record', text: 'No SPF record at ' + c.domain + (tree && present(tree.status) ? ' (' + tree.status + ').' : '.')}),
			tree ? [h('h4', {text: 'Lookup tree'}), h('ul', {class: 'spf-tree', testid: 'dns-spf-tree'}, spfNode(tree, 0))] : null,
		]);
	}

	/* what a selector's key is: 'rsa, 2048 bits', or its problem */
	function dkimKeyText(k) {
		var key = k.key && typeof k.key === 'object' ? k.key : null;
		if (k.records > 1) return 'several key records (' + fmtInt(k.records) + ')';
		if (k.dns !== 'ok') return 'no key (' + dnsStateText(k.dns) + ')';
		if (!key) return 'no key record';
		if (key.revoked === true) return 'revoked (p= is empty)';
		if (key.valid !== true) return 'not a valid key record';
		var t = present(key.key_type) ? String(key.key_type) : 'key';
		if (present(key.bits)) t += ', ' + fmtInt(key.bits) + ' bits';
		if (key.testing === true) t += ', testing (t=y)';
		return t;
	}

	function dkimCard(c, findings) {
		var keys = arr(c.dkim);
		return dnsCard('DKIM', 'dns-dkim', findings, [
			keys.length
				? h(
					'ul',
					{class: 'dkim-list', testid: 'dns-dkim-list'},
					keys.map(function (k) {
						k = k || {};
						var st = worst(
							findings.filter(function (f) {
								return f.where === 'dkim:' + k.selector;
							})
						);
						return h(
							'li',
							{'data-selector': String(k.selector), 'data-status': st},
							h('div', {class: 'dkim-row'}, h('code', {class: 'dkim-sel', text: k.selector}), ' ', h('span', {class: st === 'ok' ? 'dkim-key' : 'dkim-key res-fail', text: dkimKeyText(k)})),
							h('div', {class: 'sub-line mono', text: k.name}),
							present(k.text) ? h('details', null, h('summary', {text: 'Key record'}), h('pre', {class: 'code', text: k.text})) : null
						);
					})
				)
				: h('p', {class: 'empty', testid: 'dns-dkim-list', text: 'No selector to check: none signed for the domain in its reports of the last 90 days. Name one above.'}),
		]);
	}

	/* the answer of GET /api/v1/dns: a summary and the three cards */
	function checkResult(c) {
		var findings = arr(c.findings).filter(function (f) {
			return f && typeof f === 'object';
		});
		var by = {dmarc: [], spf: [], dkim: [], other: []};
		findings.forEach(function (f) {
			by[findingCard(f)].push(f);
		});
		var status = worst(findings);
		return [
			h(
				'p',
				{class: 'dns-summary', testid: 'dns-summary', 'data-errors': String(c.errors), 'data-warnings': String(c.warnings)},
				statusBadge(status),
				' ',
				fmtInt(c.errors) + (c.errors === 1 ? ' error, ' : ' errors, ') + fmtInt(c.warnings) + (c.warnings === 1 ? ' warning' : ' warnings'),
				' ',
				muted('(' + fmtInt(c.dns_questions) + ' DNS questions, ' + fmtInt(c.took_ms) + ' ms)')
			),
			h('div', {class: 'dns-cards'}, dmarcCard(c, by.dmarc), spfCard(c, by.spf), dkimCard(c, by.dkim)),
			by.other.length ? [h('h3', {text: 'Other findings'}), findingsList(by.other, 'dns-other-findings', null)] : null,
		];
	}

	function dnsError(domain, e) {
		var st = e instanceof ApiError ? e.status : 0;
		var msg = e && e.message ? e.message : String(e);
		var text;
		if (st === 404) text = 'No reports of ' + domain + ' under this token: the DNS is checked for those domains only.';
		else if (st === 503) text = 'The server cannot ask the DNS now (' + msg + '). The resolver setting of its configuration names the servers it asks.';
		else if (st === 0) text = 'The DNS check got no answer: ' + msg + '.';
		else text = 'The DNS check failed: ' + msg + '.';
		return h('p', {class: st === 404 ? 'empty' : 'alert', role: 'alert', testid: 'dns-error', 'data-status': String(st), text: text});
	}

	/* "Published records": asked on demand (it asks the DNS, live, and
	 * can take seconds); an optional DKIM selector is asked as well */
	function dnsPanel(domain) {
		var out = h('div', {class: 'dns-out', testid: 'dns-result', 'data-state': 'idle'});
		var status = h('span', {class: 'muted', testid: 'dns-status', role: 'status', text: 'Not checked yet: the server asks the DNS now, which can take a few seconds.'});
		var sel = h('input', {type: 'text', class: 'dns-selector', testid: 'dns-selector', 'aria-label': 'DKIM selector to check as well (optional)', placeholder: 'DKIM selector (optional)', maxlength: '63', spellcheck: 'false', autocomplete: 'off'});
		var btn = h('button', {type: 'submit', class: 'primary', testid: 'dns-check', text: 'Check DNS'});
		var seq = 0;
		var form = h('form', {class: 'toolbar', testid: 'dns-form', autocomplete: 'off', novalidate: true}, btn, sel, status);
		/* while it asks, the button refuses (aria-disabled, not disabled:
		 * a disabled button would lose the keyboard's focus) */
		form.addEventListener('submit', function (ev) {
			ev.preventDefault();
			if (btn.getAttribute('aria-disabled') === 'true') return;
			var my = ++seq;
			btn.setAttribute('aria-disabled', 'true');
			out.setAttribute('aria-busy', 'true');
			out.setAttribute('data-state', 'busy');
			status.textContent = 'Asking the DNS…';
			api('dns', {domain: domain, selector: sel.value.trim()})
				.then(function (c) {
					if (my !== seq) return;
					out.replaceChildren.apply(out, [].concat(checkResult(c || {})).filter(Boolean));
					out.setAttribute('data-state', 'done');
					status.textContent = 'Checked at ' + fmtTime(Date.now() / 1000) + ' UTC.';
				})
				.catch(function (e) {
					if (my !== seq || (e instanceof ApiError && e.status === 401)) return;
					out.replaceChildren(dnsError(domain, e));
					out.setAttribute('data-state', 'error');
					status.textContent = 'The check failed.';
				})
				.then(function () {
					if (my !== seq) return;
					btn.removeAttribute('aria-disabled');
					btn.textContent = 'Check again';
					out.removeAttribute('aria-busy');
				});
		});
		return section(
			'Published records',
			'advice-dns',
			h('p', {class: 'muted', text: 'What the DNS publishes for ' + domain + ' now, asked by the server: the DMARC record and which one applies, the SPF lookups, the DKIM keys of the selectors in the reports.'}),
			form,
			out
		);
	}

	/* ---- the advice: the record generator (GET /api/v1/record) ----------------- */

	var POLICY_VALUES = ['none', 'quarantine', 'reject'];
	var GEN_FIELDS = [
		{key: 'p', label: 'Policy (p)', options: [['none', 'none'], ['quarantine', 'quarantine'], ['reject', 'reject']]},
		{key: 'sp', label: 'Subdomains (sp)', options: [['', 'as p'], ['none', 'none'], ['quarantine', 'quarantine'], ['reject', 'reject']]},
		{key: 'np', label: 'Names that do not exist (np)', options: [['', 'as sp'], ['none', 'none'], ['quarantine', 'quarantine'], ['reject', 'reject']]},
		{key: 'adkim', label: 'DKIM alignment (adkim)', options: [['', 'default (relaxed)'], ['r', 'relaxed (r)'], ['s', 'strict (s)']]},
		{key: 'aspf', label: 'SPF alignment (aspf)', options: [['', 'default (relaxed)'], ['r', 'relaxed (r)'], ['s', 'strict (s)']]},
	];

	/* 'v=DMARC1; p=quarantine; sp=reject' -> {v: 'DMARC1', p: 'quarantine', sp: 'reject'} */
	function recordTags(text) {
		var tags = Object.create(null);
		String(text || '')
			.split(';')
			.forEach(function (part) {
				var i = part.indexOf('=');
				if (i < 0) return;
				var k = part.slice(0, i).trim().toLowerCase();
				if (k && !own(tags, k)) tags[k] = part.slice(i + 1).trim();
			});
		return tags;
	}

	/* the generator's first values: the tags of the advice's next record
	 * (the step to take), else the policy published in the reports; only
	 * values the form offers */
	function generatorStart(a) {
		var next = a.next || {};
		var from = present(next.record) ? recordTags(next.record) : a.policy || {};
		var v = {};
		GEN_FIELDS.forEach(function (f) {
			var x = present(from[f.key]) ? String(from[f.key]).toLowerCase() : '';
			var ok = f.options.some(function (o) {
				return o[0] === x;
			});
			v[f.key] = ok ? x : f.options[0][0];
		});
		if (POLICY_VALUES.indexOf(v.p) < 0) v.p = 'none';
		v.t = present(next.record) && String(recordTags(next.record).t).toLowerCase() === 'y';
		return v;
	}

	/* the query of the form: p first, the rest when chosen */
	function generatorQuery(selects, testing) {
		var q = {};
		GEN_FIELDS.forEach(function (f) {
			if (selects[f.key].value) q[f.key] = selects[f.key].value;
		});
		if (testing.checked) q.t = 'y';
		return q;
	}

	function generatorResult(g) {
		var parsed = g.parsed || {};
		var name = present(g.name) ? String(g.name) : '';
		return [
			dl([['DNS name', h('code', {text: name}), 'gen-name'], ['Type', 'TXT']], 'gen-dns'),
			codeBlock('TXT record', 'gen-record', String(g.record)),
			present(g.zone) ? codeBlock('zone file', 'gen-zone', name + '. IN TXT ' + g.zone) : null,
			h('h3', null, 'Read back ', h('span', {class: parsed.valid === true ? 'badge badge-ok' : 'badge badge-err', testid: 'gen-valid', text: parsed.valid === true ? 'valid' : 'not valid'})),
			findingsList(arr(parsed.findings), 'gen-findings', null),
		];
	}

	/* the form of the record generator, and its answer under it; each
	 * change asks again (the answer of the last question is shown) */
	function generator(domain, start) {
		var selects = {};
		var out = h('div', {class: 'gen-out', testid: 'gen-out', 'data-state': 'idle'});
		var testing = h('input', {type: 'checkbox', testid: 'gen-t', checked: start.t || null});
		var seq = 0;
		var fields = GEN_FIELDS.map(function (f) {
			selects[f.key] = h(
				'select',
				{testid: 'gen-' + f.key, name: f.key},
				f.options.map(function (o) {
					return h('option', {value: o[0], text: o[1], selected: o[0] === start[f.key] || null});
				})
			);
			return h('label', {class: 'gen-field'}, h('span', {text: f.label}), selects[f.key]);
		});
		var run = function () {
			var q = generatorQuery(selects, testing);
			var key = new URLSearchParams(q).toString();
			var my = ++seq;
			out.setAttribute('aria-busy', 'true');
			q.domain = domain;
			return api('record', q)
				.then(function (g) {
					if (my !== seq) return;
					out.replaceChildren.apply(out, generatorResult(g || {}).filter(Boolean));
					out.setAttribute('data-state', 'done');
				})
				.catch(function (e) {
					if (my !== seq || (e instanceof ApiError && e.status === 401)) return;
					out.replaceChildren(h('p', {class: 'alert', role: 'alert', testid: 'gen-error', 'data-status': String(e instanceof ApiError ? e.status : 0), text: 'No record: ' + (e && e.message ? e.message : String(e)) + '.'}));
					out.setAttribute('data-state', 'error');
				})
				.then(function () {
					if (my !== seq) return;
					out.setAttribute('data-params', key);
					out.removeAttribute('aria-busy');
				});
		};
		var form = h(
			'form',
			{class: 'gen-form', testid: 'gen-form', autocomplete: 'off', novalidate: true},
			fields,
			h('label', {class: 'gen-check'}, testing, h('span', {text: 'Testing (t=y): receivers apply one step less'})),
			h('button', {type: 'submit', class: 'primary', testid: 'gen-submit', text: 'Generate'})
		);
		form.addEventListener('change', function () {
			run();
		});
		form.addEventListener('submit', function (ev) {
			ev.preventDefault();
			run();
		});
		return {
			node: section(
				'Record generator',
				'advice-generator',
				h('p', {class: 'muted', text: 'A DMARC record for ' + domain + ' with the report addresses of this dmarcd as rua. It starts from the next step; each change makes it again.'}),
				form,
				out
			),
			run: run,
		};
	}

	function viewAdvice(r, gen) {
		var dom = r.params.get('domain');
		var days = adviceDays(r.params) || DEFAULT_DAYS;
		var title = function (sub) {
			return h('h1', {class: 'view-title'}, 'Advice ', h('span', {class: 'sub', testid: 'advice-window', text: dom + ' · ' + sub}));
		};
		return api('advice', {domain: dom, days: days}).then(
			function (a) {
				if (gen !== generation) return null;
				var next = a.next || {};
				var f = a.failing || {};
				var fw = a.forwarders || {};
				var un = a.unknown || {};
				var top = un.top || [];
				var step = String(next.step || 'done');
				var messages = kpi('advice-messages', 'Messages', a.messages, fmtInt(a.messages), fmtInt(a.reports) + (a.reports === 1 ? ' report' : ' reports'));
				messages.setAttribute('data-reports', String(a.reports));
				var policy = kpi('advice-policy', 'Published policy', policyText(a.policy), policyText(a.policy), policyAbsent(a.policy));
				policy.classList.add('kpi-text'); /* tags, not a number: smaller */
				var kpis = h(
					'div',
					{class: 'kpis', testid: 'advice-kpis'},
					kpi('advice-pass-rate', 'DMARC pass rate', a.pass_rate, rate(a.pass_rate), fmtInt(a.dmarc_pass) + ' of ' + fmtInt(a.messages)),
					messages,
					kpi('advice-failing', 'Failing', f.messages, fmtInt(f.messages), 'services ' + fmtInt(f.services) + ' · forwarders ' + fmtInt(f.forwarders) + ' · unknown ' + fmtInt(f.unknown)),
					policy,
					h(
						'div',
						{class: 'kpi', testid: 'advice-step', 'data-value': step},
						h('div', {class: 'kpi-label', text: 'Next step'}),
						h('div', {class: 'kpi-value'}, h('span', {testid: 'advice-step-name', text: step}), ' ', safeBadge(next, 'advice-safe')),
						h('div', {class: 'kpi-sub', text: Object.prototype.hasOwnProperty.call(STEPS, step) ? STEPS[step] : ''})
					)
				);
				var blockers = next.blockers || [];
				/* the generator's first record is asked before the view
				 * shows, so the page is whole when it appears */
				var recordGen = generator(a.domain || dom, generatorStart(a));
				var view = {
					title: 'Advice · ' + dom,
					nodes: [
						title(a.from + ' – ' + a.to + ' (' + lastDays(days) + ')'),
						adviceDaysBar(days),
						kpis,
						f.not_analysed
							? h('p', {class: 'notice', testid: 'advice-not-analysed', text: fmtInt(f.not_analysed) + ' failing messages came from more sources than are analysed: they are counted in no group.'})
							: null,
						section(
							'Next step: ' + step,
							'advice-next',
							h('p', {class: 'advice-step'}, safeBadge(next), ' ', Object.prototype.hasOwnProperty.call(STEPS, step) ? STEPS[step] : step),
							present(next.why) ? h('p', {testid: 'advice-why', text: next.why}) : null,
							blockers.length ? [h('h3', {text: 'What blocks it'}), adviceList(blockers, 'advice-blockers')] : null,
							recordBlock(a.domain || dom, next)
						),
						section(
							'Services that need a fix',
							'advice-services',
							h('p', {class: 'muted', text: 'Your own mail through a known sending service that is not set up for your domain: it blocks the next step until it is fixed.'}),
							servicesTable(a.services || [])
						),
						section(
							'Forwarders and mailing lists',
							'advice-forwarders',
							h('p', {class: 'muted', text: "Your mail passed on by others: ARC and the receivers' overrides are the remedy, not your records. It never blocks a step."}),
							dl([
								['Failing', fmtInt(fw.failing) + ' of ' + fmtInt(fw.messages) + ' messages', 'advice-fw-failing'],
								['Sources', fmtInt(fw.sources), 'advice-fw-sources'],
								['Services', list(fw.services || []), 'advice-fw-services'],
							], 'advice-fw')
						),
						section(
							'Unknown sources (likely spoofing)',
							'advice-unknown',
							h('p', {class: 'muted', testid: 'advice-unknown-summary', text: fmtInt(un.failing) + ' failing of ' + fmtInt(un.messages) + ' messages from ' + fmtInt(un.sources) + (un.sources === 1 ? ' source' : ' sources') + ' no service is known for: what the policy is for. They never block a step.' + (top.length && top.length < un.sources ? ' The largest ' + top.length + ':' : '')}),
							table(
								'advice-unknown-table',
								[
									{label: 'Source IP', cls: 'nowrap', cell: function (x) {
										return h('a', {href: linkTo('source', x.ip, r.params), text: x.ip});
									}},
									{label: 'Failing', num: true, cell: function (x) {
										return fmtInt(x.failing);
									}},
									{label: 'Messages', num: true, cell: function (x) {
										return fmtInt(x.messages);
									}},
									{label: 'Network', cell: function (x) {
										return asText({asn: x.asn, as_org: x.as_name}) || (present(x.as_name) ? String(x.as_name) : null);
									}},
									{label: 'Country', cell: function (x) {
										return present(x.country) ? h('span', {class: 'who-cc', title: countryName(x.country), text: x.country}) : null;
									}},
									{label: 'Reverse DNS', cell: function (x) {
										return present(x.ptr) ? h('span', {class: 'mono clip', text: x.ptr}) : null;
									}},
								],
								top,
								'No unknown source fails DMARC in this window.'
							)
						),
						dnsPanel(a.domain || dom),
						recordGen.node,
					],
				};
				return recordGen.run().then(function () {
					return gen === generation ? view : null;
				});
			},
			function (e) {
				if (e instanceof ApiError && e.status === 404) {
					if (gen !== generation) return null;
					return {
						title: 'Advice · ' + dom,
						nodes: [
							title(lastDays(days)),
							adviceDaysBar(days),
							h('p', {class: 'card empty', testid: 'advice-none', text: 'No reports of ' + dom + ' in ' + lastDays(days) + '.'}),
						],
					};
				}
				throw e;
			}
		);
	}

	/* ---- SMTP TLS reports (RFC 8460; /api/v1/tls*) --------------------------- */

	var STACK_TLS = [
		{key: 'success', label: 'Successful sessions'},
		{key: 'failure', label: 'Failed sessions'},
	];
	/* the day's success rate over the bars: success / (success + failure) */
	var TLS_RATE = {key: 'rate', label: 'Success rate', of: function (c) {
		var ok = c.success || 0;
		var all = ok + (c.failure || 0);
		return all ? (100 * ok) / all : null;
	}};

	/* what the result types of RFC 8460 4.3 mean (a reporter may send
	 * others: they are shown as sent, without a meaning) */
	var TLS_RESULTS = {
		'starttls-not-supported': 'the MX did not offer STARTTLS',
		'certificate-host-mismatch': "the MX's certificate names another host",
		'certificate-expired': "the MX's certificate has expired",
		'certificate-not-trusted': "the MX's certificate is not from a trusted CA",
		'validation-failure': 'the MX failed validation for another reason',
		'tlsa-invalid': 'the TLSA record (DANE) is not valid',
		'dnssec-invalid': 'the DNSSEC signatures did not validate',
		'dane-required': 'DANE is required but no valid TLSA record was found',
		'sts-policy-fetch-error': 'the MTA-STS policy could not be fetched',
		'sts-policy-invalid': 'the MTA-STS policy is not valid',
		'sts-webpki-invalid': "the MTA-STS policy host's certificate is not valid",
	};

	function tlsResult(v) {
		var s = present(v) ? String(v) : '';
		return h(
			'span',
			{class: 'tls-result'},
			h('span', {class: 'mono', text: s || '(none)'}),
			own(TLS_RESULTS, s) ? h('span', {class: 'sub-line muted', text: TLS_RESULTS[s]}) : null
		);
	}

	function mono(v) {
		return present(v) ? h('span', {class: 'mono clip', text: v}) : null;
	}

	/* a domain without TLS reports: what TLS-RPT is, the record to publish */
	function tlsSetup(dom, rua) {
		var name = '_smtp._tls.' + dom;
		/* the DMARC record's first mailto: address, else a placeholder */
		var m = /(?:^|,)\s*(mailto:[^\s,;!"]+)/i.exec(String(rua || ''));
		var record = 'v=TLSRPTv1; rua=' + (m ? m[1] : 'mailto:reports@dmarcd.example');
		return h(
			'section',
			{class: 'card tls-setup', testid: 'tls-none'},
			h('h2', {text: 'No SMTP TLS reports for ' + dom + ' yet'}),
			h('p', {text: 'SMTP TLS reporting (TLS-RPT, RFC 8460) tells you how the mail servers that deliver to ' + dom + ' fared with TLS: how many of their sessions to your MX hosts were encrypted and valid each day, and for the ones that failed, why (no STARTTLS, an expired or untrusted certificate, an MTA-STS or DANE policy that did not validate) and at which MX. Reporters such as Google and Microsoft send one report a day.'}),
			h('p', {text: 'To receive them, publish a TXT record at _smtp._tls of the domain. Its rua= is an address this dmarcd takes reports at: the one of your DMARC record serves (dmarcd tells TLS reports from DMARC reports by their content)' + (m ? '.' : '; replace reports@dmarcd.example with it.')}),
			dl([
				['DNS name', h('code', {text: name}), 'tls-setup-name'],
				['Type', 'TXT'],
			], 'tls-setup-dns'),
			codeBlock('TXT record', 'tls-setup-record', record),
			codeBlock('zone file', 'tls-setup-zone', name + '. IN TXT "' + record + '"'),
			h('p', {class: 'muted', text: 'The first reports come a day or two after the record is published.'})
		);
	}

	function tlsTitle(dom, r) {
		return h('h1', {class: 'view-title'}, 'SMTP TLS ', h('span', {class: 'sub', text: dom + ' · ' + rangeText(r.params)}));
	}

	function viewTls(r, gen) {
		var dom = r.params.get('domain');
		var rg = rangeOf(r.params);
		var page = pageOf(r.params);
		return Promise.all([
			api('tls', {domain: dom, from: rg.from, to: rg.to}).catch(function (e) {
				if (e instanceof ApiError && e.status === 404) return null; /* no TLS report of the domain */
				throw e;
			}),
			api('tls/reports', {domain: dom, from: rg.from, to: rg.to, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE}),
		]).then(function (res) {
			if (gen !== generation) return null;
			var t = res[0];
			var lst = res[1];
			if (!t) {
				/* the address for rua=: the one of the domain's DMARC record */
				return api('record', {domain: dom}).then(
					function (g) {
						return recordTags(g && g.record).rua;
					},
					function () {
						return null;
					}
				).then(function (rua) {
					if (gen !== generation) return null;
					return {title: 'SMTP TLS · ' + dom, nodes: [tlsTitle(dom, r), tlsSetup(dom, rua)]};
				});
			}
			if (pastLastPage('tls', lst, page)) return null;
			var ok = t.success || 0;
			var bad = t.failure || 0;
			var all = ok + bad;
			var info = domainInfo(dom);
			var known = info && info.tls ? info.tls : null;
			var kpis = h(
				'div',
				{class: 'kpis', testid: 'tls-kpis'},
				kpi('tls-sessions', 'Sessions', all, fmtInt(all), fmtInt(lst.total) + (lst.total === 1 ? ' report' : ' reports')),
				rateKpi('tls-rate', 'Success rate', ok, all),
				kpi('tls-failed', 'Failed sessions', bad, fmtInt(bad), pct(bad, all)),
				kpi('tls-reports', 'Reports', lst.total, fmtInt(lst.total), known ? 'of ' + fmtInt(known.reports) + ' in all' : null)
			);
			var days = (t.points || []).map(function (p) {
				return {date: p.date, success: p.success || 0, failure: p.failure || 0};
			});
			var chartBox = h('div', {class: 'chart', testid: 'chart', 'data-domain': dom, 'data-from': rg.from || '', 'data-to': rg.to || ''});
			var legend = h('div', {class: 'legend', testid: 'chart-legend'});
			var groups = t.failures || [];
			var items = lst.items || [];
			return {
				title: 'SMTP TLS · ' + dom,
				nodes: [
					tlsTitle(dom, r),
					!all && !lst.total && known
						? h('p', {class: 'notice', testid: 'tls-out-of-range', text: 'No TLS report of ' + dom + ' in this range; its reports cover ' + known.first_day + ' – ' + known.last_day + '.'})
						: null,
					kpis,
					section('TLS sessions and success rate per day', 'chart-card', legend, chartBox),
					section(
						'Failed sessions by result type and MX',
						'tls-failures-card',
						table(
							'tls-failures',
							[
								{label: 'Result type', cell: function (x) {
									return tlsResult(x.result_type);
								}},
								{label: 'Receiving MX', cell: function (x) {
									return mono(x.mx);
								}},
								{label: 'Failed sessions', num: true, cell: function (x) {
									return fmtInt(x.sessions);
								}},
								{label: 'Share of failures', num: true, cell: function (x) {
									return pct(x.sessions, bad);
								}},
							],
							groups,
							'No failed session in this range.'
						),
						groups.length >= 100 ? h('p', {class: 'muted', text: 'The 100 largest groups.'}) : null
					),
					section(
						fmtInt(lst.total) + (lst.total === 1 ? ' TLS report' : ' TLS reports'),
						'tls-reports-card',
						table(
							'tls-reports-table',
							[
								{label: 'Period (UTC)', cls: 'nowrap', cell: function (x) {
									return h('a', {href: linkTo('tlsreport', String(x.id), r.params), text: fmtTime(x.begin) + ' – ' + fmtTime(x.end)});
								}},
								{label: 'Reporter', cell: function (x) {
									return h('span', {class: 'reporter', text: x.org_name});
								}},
								{label: 'Report ID', cell: function (x) {
									return mono(x.report_id);
								}},
								{label: 'Policies', num: true, cell: function (x) {
									return fmtInt(x.policies);
								}},
								{label: 'Successful', num: true, cell: function (x) {
									return fmtInt(x.success);
								}},
								{label: 'Failed', num: true, cell: function (x) {
									return fmtInt(x.failure);
								}},
								{label: 'Received', cls: 'nowrap', cell: function (x) {
									return fmtTime(x.received_at);
								}},
							],
							items
						),
						pager(lst.total, page, function (p) {
							go('tls', null, withParams({page: p > 1 ? p : null}));
						}, 'tls-reports-pager')
					),
				],
				after: function () {
					drawChart(chartBox, legend, STACK_TLS, days, rg, TLS_RATE);
				},
			};
		});
	}

	function viewTlsReport(r, gen) {
		var id = r.arg || '';
		var crumbs = h('p', {class: 'crumbs'}, h('a', {href: linkTo('tls', null, r.params), text: '‹ TLS reports'}));
		var notFound = {title: 'TLS report', nodes: [crumbs, h('p', {class: 'empty', testid: 'not-found', text: 'No such TLS report.'})]};
		if (!/^\d{1,19}$/.test(id)) return Promise.resolve(notFound);
		return api('tls/reports/' + id).then(
			function (rep) {
				if (gen !== generation) return null;
				var raw = h('button', {type: 'button', class: 'primary', testid: 'tls-download-raw', text: 'Download raw report'});
				raw.addEventListener('click', function () {
					saveDownload('tls/reports/' + id + '/raw', null, 'tlsrpt-' + id + '.json', raw);
				});
				var ok = rep.success || 0;
				var bad = rep.failure || 0;
				var policies = arr(rep.policies);
				var fails = arr(rep.failures);
				var warnings = arr(rep.warnings);
				var polNo = function (i) {
					return typeof i === 'number' ? String(i + 1) : '–';
				};
				var cols = [
					{label: 'Policy', num: true, cell: function (x) {
						return polNo(x.policy);
					}},
					{label: 'Result type', cell: function (x) {
						return tlsResult(x.result_type);
					}},
					{label: 'Sending MTA IP', cls: 'nowrap', cell: function (x) {
						return mono(x.sending_mta_ip);
					}},
					{label: 'Receiving MX', cell: function (x) {
						return mono(x.receiving_mx_hostname);
					}},
					{label: 'MX HELO', cell: function (x) {
						return mono(x.receiving_mx_helo);
					}},
					{label: 'Receiving IP', cls: 'nowrap', cell: function (x) {
						return mono(x.receiving_ip);
					}},
					{label: 'Reason code', cell: function (x) {
						return mono(x.failure_reason_code);
					}},
					/* additional-information is a URI the reporter chose:
					 * text to copy, never a link (nothing fetches it) */
					{label: 'Additional information', cell: function (x) {
						return present(x.additional_information) ? h('span', {class: 'mono clip tls-addinfo', text: x.additional_information}) : null;
					}},
					{label: 'Failed sessions', num: true, cell: function (x) {
						return fmtInt(x.failed_session_count);
					}},
				];
				var failTable = table('tlsreport-failures', cols, fails.slice(0, ROW_CHUNK), 'This report has no failure details.');
				var shown = Math.min(fails.length, ROW_CHUNK);
				var moreBox = null;
				if (fails.length > shown) {
					var status = h('span', {text: 'showing ' + fmtInt(shown) + ' of ' + fmtInt(fails.length) + ' failure details'});
					var more = h('button', {type: 'button', testid: 'tls-rows-more', text: 'Show more'});
					more.addEventListener('click', function () {
						appendRows(failTable.querySelector('tbody'), cols, fails.slice(shown, shown + ROW_CHUNK));
						shown = Math.min(fails.length, shown + ROW_CHUNK);
						status.textContent = 'showing ' + fmtInt(shown) + ' of ' + fmtInt(fails.length) + ' failure details';
						if (shown >= fails.length) more.remove();
					});
					moreBox = h('p', {class: 'more'}, status, ' ', more);
				}
				return {
					title: 'TLS report ' + (rep.report_id || id),
					nodes: [
						crumbs,
						h('h1', {class: 'view-title'}, 'TLS report ', h('span', {class: 'mono clip', testid: 'tlsreport-title', text: rep.report_id || ''})),
						h('div', {class: 'toolbar'}, raw),
						h(
							'div',
							{class: 'two'},
							section('Report', 'tlsreport-meta-card', dl([
								['Reporter', rep.org_name, 'tlsreport-org-name'],
								['Contact', rep.contact_info, 'tlsreport-contact'],
								['Report ID', rep.report_id, 'tlsreport-id'],
								['Policy domain', rep.policy_domain, 'tlsreport-domain'],
								['Period (UTC)', fmtTime(rep.begin) + ' – ' + fmtTime(rep.end)],
								['Received (UTC)', fmtTime(rep.received_at)],
								['Archive key', rep.archive_key ? h('span', {class: 'mono clip', text: rep.archive_key}) : null],
							], 'tlsreport-meta')),
							section('Sessions', 'tlsreport-sessions-card', dl([
								['Successful', fmtInt(ok), 'tlsreport-success'],
								['Failed', fmtInt(bad), 'tlsreport-failure'],
								['Success rate', pct(ok, ok + bad), 'tlsreport-rate'],
								['Policies', fmtInt(policies.length), 'tlsreport-npolicies'],
								['Failure details', fmtInt(fails.length), 'tlsreport-nfailures'],
							], 'tlsreport-sessions'))
						),
						warnings.length
							? section('Parser warnings', 'tlsreport-warnings', h('ul', {class: 'warnings'}, warnings.map(function (w) {
								return h('li', {text: typeof w === 'string' ? w : JSON.stringify(w)});
							})))
							: null,
						section(
							fmtInt(policies.length) + (policies.length === 1 ? ' policy' : ' policies'),
							'tlsreport-policies-card',
							table('tlsreport-policies', [
								{label: 'Policy', num: true, cell: function (x) {
									return polNo(x.index);
								}},
								{label: 'Type', cell: function (x) {
									return mono(x.policy_type);
								}},
								{label: 'Policy domain', cell: function (x) {
									return mono(x.policy_domain);
								}},
								{label: 'MX host', cell: function (x) {
									return mono(x.mx_host);
								}},
								{label: 'Successful', num: true, cell: function (x) {
									return fmtInt(x.success);
								}},
								{label: 'Failed', num: true, cell: function (x) {
									return fmtInt(x.failure);
								}},
								{label: 'Policy string', cls: 'tls-pstring', cell: function (x) {
									return present(x.policy_string) ? h('pre', {class: 'code', text: x.policy_string}) : null;
								}},
							], policies, 'This report names no policy.')
						),
						section(fmtInt(fails.length) + (fails.length === 1 ? ' failure detail' : ' failure details'), 'tlsreport-failures-card', failTable, moreBox),
					],
				};
			},
			function (e) {
				if (e instanceof ApiError && e.status === 404) return gen === generation ? notFound : null;
				throw e;
			}
		);
	}

	/* ---- DMARC failure reports (RFC 6591; /api/v1/failures*) ------------------- */

	var SOURCE_FAILURES = 20; /* failure reports listed on a source's page */
	var IP_RE = /^[0-9A-Fa-f.:]{2,45}$/;
	var REDACTION_NOTE = "The original message's body is never stored, and the addresses in its headers are redacted (keyed hashes such as h-1a2b3c4d@example.com) by default.";

	/* a source address from a report: a link to its page when it looks
	 * like an IP address (nothing else becomes a link), else text */
	function sourceLink(ip, r, extra) {
		if (!present(ip)) return null;
		if (!IP_RE.test(String(ip))) return mono(ip);
		return h('a', {class: 'mono', href: linkTo('source', String(ip), r.params, extra), text: String(ip)});
	}

	/* when a failure report's message arrived; the day it was received
	 * when the reporter did not say */
	function arrivalText(x) {
		if (present(x.arrival_date)) return fmtTime(x.arrival_date);
		return fmtTime(x.received_at) + ' (received)';
	}

	function failureLink(x, r) {
		return h('a', {class: 'nowrap', href: linkTo('failure', String(x.id), r.params), text: arrivalText(x)});
	}

	/* the reporter of a failure report: its User-Agent, the reporting MTA
	 * under it; the plain-text form says so */
	function failureReporter(x) {
		return h(
			'span',
			{class: 'fail-reporter'},
			h('span', {class: 'reporter', text: present(x.user_agent) ? x.user_agent : '–'}),
			present(x.reporting_mta) ? h('span', {class: 'sub-line mono', text: x.reporting_mta}) : null,
			x.arf === false ? h('span', {class: 'sub-line', text: 'plain-text report'}) : null
		);
	}

	function failureColumns(r, withSource) {
		return [
			{label: 'Arrival (UTC)', cls: 'nowrap', cell: function (x) {
				return failureLink(x, r);
			}},
			withSource ? {label: 'Source IP', cls: 'nowrap', cell: function (x) {
				return sourceLink(x.source_ip, r);
			}} : null,
			{label: 'Header From', cell: function (x) {
				return mono(x.header_from);
			}},
			{label: 'Subject', cls: 'fail-subject', cell: function (x) {
				return present(x.subject) ? h('span', {class: 'clip', text: x.subject}) : null;
			}},
			{label: 'Auth failure', cell: function (x) {
				return mono(x.auth_failure);
			}},
			{label: 'Delivery result', cell: function (x) {
				return mono(x.delivery_result);
			}},
			{label: 'Alignment', cell: function (x) {
				return mono(x.identity_alignment);
			}},
			{label: 'Reporter', cell: failureReporter},
		].filter(Boolean);
	}

	function failuresTitle(dom, r) {
		return h('h1', {class: 'view-title'}, 'Failure reports ', h('span', {class: 'sub', text: dom + ' · ' + rangeText(r.params)}));
	}

	function viewFailures(r, gen) {
		var dom = r.params.get('domain');
		var rg = rangeOf(r.params);
		var page = pageOf(r.params);
		var ip = r.params.get('ip');
		if (ip !== null && !IP_RE.test(ip)) ip = null;
		return api('failures', {domain: dom, from: rg.from, to: rg.to, ip: ip, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE}).then(function (lst) {
			if (gen !== generation) return null;
			if (pastLastPage('failures', lst, page)) return null;
			var items = lst.items || [];
			var filter = ip
				? h('p', {class: 'toolbar', testid: 'failures-ip-filter'}, 'From ', h('span', {class: 'mono', text: ip}), ' only · ', h('a', {href: hashFor('failures', null, withParams({ip: null, page: null})), text: 'all sources'}))
				: null;
			var empty = ip
				? 'No failure report from ' + ip + ' in this range.'
				: 'No failure report of ' + dom + ' in this range. Receivers send one per message that failed DMARC to the ruf= addresses of the record; few receivers send them at all.';
			return {
				title: 'Failure reports · ' + dom,
				nodes: [
					failuresTitle(dom, r),
					section(
						fmtInt(lst.total) + (lst.total === 1 ? ' failure report' : ' failure reports'),
						'failures-card',
						h('p', {class: 'muted', testid: 'failures-note', text: REDACTION_NOTE}),
						filter,
						table('failures-table', failureColumns(r, true), items, empty),
						pager(lst.total, page, function (p) {
							go('failures', null, withParams({page: p > 1 ? p : null}));
						}, 'failures-pager')
					),
				],
			};
		});
	}

	/* a multi-line value from a report (Authentication-Results, the
	 * headers): text in a <pre> */
	function preText(v, testid) {
		return present(v) ? h('pre', {class: 'code', testid: testid || null, text: String(v)}) : null;
	}

	function viewFailure(r, gen) {
		var id = r.arg || '';
		var crumbs = h('p', {class: 'crumbs'}, h('a', {href: linkTo('failures', null, r.params), text: '‹ Failure reports'}));
		var notFound = {title: 'Failure report', nodes: [crumbs, h('p', {class: 'empty', testid: 'not-found', text: 'No such failure report.'})]};
		if (!/^\d{1,19}$/.test(id)) return Promise.resolve(notFound);
		return api('failures/' + id).then(
			function (f) {
				if (gen !== generation) return null;
				var raw = h('button', {type: 'button', class: 'primary', testid: 'failure-download-raw', text: 'Download what was kept'});
				raw.addEventListener('click', function () {
					saveDownload('failures/' + id + '/raw', null, 'failure-' + id + '.txt', raw);
				});
				var warnings = arr(f.warnings);
				var srcDomain = present(f.reported_domain) ? {domain: String(f.reported_domain)} : null;
				return {
					title: 'Failure report ' + arrivalText(f),
					nodes: [
						crumbs,
						h('h1', {class: 'view-title'}, 'Failure report ', h('span', {class: 'sub', testid: 'failure-title', text: (f.reported_domain || '') + ' · ' + arrivalText(f)})),
						h('div', {class: 'toolbar'}, raw),
						h(
							'div',
							{class: 'two'},
							section('Report', 'failure-meta-card', dl([
								['Reported domain', f.reported_domain, 'failure-reported-domain'],
								['Arrival (UTC)', present(f.arrival_date) ? fmtTime(f.arrival_date) : null, 'failure-arrival'],
								['Received (UTC)', fmtTime(f.received_at), 'failure-received'],
								['Format', f.arf === false ? 'plain text (not ARF)' : 'ARF (RFC 6591)', 'failure-format'],
								['Feedback type', f.feedback_type, 'failure-feedback-type'],
								['Version', f.version, 'failure-version'],
								['User agent', f.user_agent, 'failure-user-agent'],
								['Reporting MTA', mono(f.reporting_mta), 'failure-reporting-mta'],
								['Incidents', present(f.incidents) ? fmtInt(f.incidents) : null, 'failure-incidents'],
								['Archive key', mono(f.archive_key), 'failure-archive-key'],
							], 'failure-meta')),
							section('Authentication', 'failure-auth-card', dl([
								['Auth failure', mono(f.auth_failure), 'failure-auth-failure'],
								['Delivery result', mono(f.delivery_result), 'failure-delivery-result'],
								['Identity alignment', mono(f.identity_alignment), 'failure-alignment'],
								['Source IP', sourceLink(f.source_ip, r, srcDomain), 'failure-source-ip'],
								['Original Mail From', mono(f.original_mail_from), 'failure-mail-from'],
								['Original Rcpt To', mono(f.original_rcpt_to), 'failure-rcpt-to'],
								['DKIM domain', mono(f.dkim_domain), 'failure-dkim-domain'],
								['DKIM selector', mono(f.dkim_selector), 'failure-dkim-selector'],
								['DKIM identity', mono(f.dkim_identity), 'failure-dkim-identity'],
								['SPF DNS', mono(f.spf_dns), 'failure-spf-dns'],
								['Authentication-Results', preText(f.authentication_results), 'failure-auth-results'],
							], 'failure-auth'))
						),
						warnings.length
							? section('Parser warnings', 'failure-warnings', h('ul', {class: 'warnings'}, warnings.map(function (w) {
								return h('li', {text: typeof w === 'string' ? w : JSON.stringify(w)});
							})))
							: null,
						section(
							'The original message',
							'failure-message-card',
							h('p', {class: 'muted', testid: 'failure-note', text: REDACTION_NOTE}),
							dl([
								['From', mono(f.header_from), 'failure-header-from'],
								['From domain', mono(f.header_from_domain), 'failure-header-from-domain'],
								['To', mono(f.to), 'failure-to'],
								['Subject', present(f.subject) ? h('span', {class: 'clip', text: f.subject}) : null, 'failure-subject'],
								['Message-ID', mono(f.message_id), 'failure-message-id'],
								['Date (UTC)', present(f.date) ? fmtTime(f.date) : null, 'failure-date'],
							], 'failure-message'),
							h('h3', {text: 'Headers as stored'}),
							preText(f.headers, 'failure-headers') || h('p', {class: 'empty', testid: 'failure-headers', text: 'The report carried no headers of the message.'})
						),
					],
				};
			},
			function (e) {
				if (e instanceof ApiError && e.status === 404) return gen === generation ? notFound : null;
				throw e;
			}
		);
	}

	/* the failure reports of a source on its page (null: not asked) */
	function sourceFailures(r, f) {
		if (!f) return null;
		if (f.error) return h('p', {class: 'muted', testid: 'source-failures-none', text: 'The failure reports could not be loaded: ' + f.error});
		var items = f.items || [];
		if (!items.length) return h('p', {class: 'muted', testid: 'source-failures-none', text: 'No failure reports from this source.'});
		var ip = r.arg || '';
		return section(
			fmtInt(f.total) + (f.total === 1 ? ' failure report' : ' failure reports'),
			'source-failures-card',
			table('source-failures', failureColumns(r, false), items),
			f.total > items.length
				? h('p', {class: 'more'}, h('a', {href: linkTo('failures', null, r.params, {ip: ip}), testid: 'source-failures-all', text: 'All ' + fmtInt(f.total) + ' failure reports from ' + ip + ' ›'}))
				: null
		);
	}

	/* a domain with TLS reports only, on a view of the DMARC reports */
	function tlsOnlyView(r, dom) {
		return {
			title: dom,
			nodes: [
				h(
					'section',
					{class: 'card empty', testid: 'tls-only'},
					h('h2', {text: 'No DMARC reports for ' + dom}),
					h('p', null, 'This token has SMTP TLS reports of ' + dom + ' but no DMARC aggregate reports. ', h('a', {href: linkTo('tls', null, r.params), testid: 'tls-only-link', text: 'See its TLS reports ›'}))
				),
			],
		};
	}

	/* ---- alerts (docs/ALERTS.md; /api/v1/alerts) ------------------------------- */

	var ALERT_RULES = {
		silent: 'Reporter went silent',
		rejected: 'Reports could not be read',
		pass_drop: 'Pass rate dropped',
		new_source: 'New failing source',
		dns: 'DMARC record changed',
	};
	var ALERTS_LIMIT = 200; /* the newest shown on the Alerts page */
	var BADGE_LIMIT = 100; /* open alerts counted for the tab ("100+") */
	var BADGE_TTL = 60000; /* ms a count is shown before it is asked again */
	var ALERTS_NOTE = 'dmarcd looks at the stored reports every few minutes and opens an alert when a reporter that sent reports every day goes silent, a domain\'s DMARC pass rate drops, a source not seen before sends mail failing DMARC, report mails cannot be read, or a domain\'s DMARC record changes. An alert resolves by itself when its cause is gone. What an alert quotes (a reporter\'s name, a DNS record) comes from others, as sent.';

	/* a rule's name for people (an unknown rule as it is called) */
	function alertRule(rule) {
		return own(ALERT_RULES, rule) ? ALERT_RULES[rule] : String(rule || '?');
	}

	/* the Alerts tab's count: hidden at 0 */
	function setAlertCount(n, capped) {
		var words = n ? fmtInt(n) + (capped ? '+' : '') + (n === 1 && !capped ? ' open alert' : ' open alerts') : 'no open alerts';
		els.alertCount.textContent = n ? fmtInt(n) + (capped ? '+' : '') : '';
		els.alertCount.hidden = !n;
		els.navAlerts.setAttribute('data-count', String(n || 0));
		els.navAlerts.setAttribute('title', words);
		els.navAlerts.setAttribute('aria-label', 'Alerts: ' + words);
		els.navAlerts.classList.toggle('has-alerts', !!n);
	}

	/* ask for the open alerts' count: once a minute at most, unless forced */
	function refreshAlertCount(force) {
		var token = getToken();
		var now = Date.now();
		if (!token || (!force && alertBadge.token === token && now - alertBadge.at < BADGE_TTL)) return;
		alertBadge.token = token;
		alertBadge.at = now;
		api('alerts', {open: 1, limit: BADGE_LIMIT}).then(
			function (res) {
				if (getToken() !== token) return;
				var n = arr(res && res.items).filter(function (x) {
					return x && !present(x.resolved_at);
				}).length;
				setAlertCount(n, n >= BADGE_LIMIT);
			},
			function () {
				/* a server without alerts (503) or away: no count; a
				 * 401 has shown the login screen */
				if (getToken() === token) setAlertCount(0, false);
			}
		);
	}

	/* the domain of an alert: a link to its overview when the token
	 * knows the domain, else text */
	function alertDomain(x) {
		if (!present(x.domain)) return null;
		var d = String(x.domain);
		if (!domainInfo(d)) return h('span', {class: 'mono', text: d});
		return h('a', {href: hashFor('overview', null, {domain: d}), testid: 'alert-domain-link', text: d});
	}

	/* the message, as text; a new source's page under it (the address
	 * is the server's, checked again here) */
	function alertMessage(x) {
		var ip = present(x.subject) ? String(x.subject) : '';
		var link = x.rule === 'new_source' && present(x.domain) && IP_RE.test(ip)
			? h('span', {class: 'alert-link'}, h('a', {href: hashFor('source', ip, {domain: String(x.domain)}), testid: 'alert-source-link'}, 'Source ', h('span', {class: 'mono', text: ip}), ' ›'))
			: null;
		return [h('span', {class: 'alert-text', text: present(x.message) ? String(x.message) : ''}), link];
	}

	function alertState(x) {
		if (!present(x.resolved_at)) return h('span', {class: 'badge badge-warn', text: 'open'});
		return h('span', {class: 'muted', text: 'resolved ' + fmtTime(x.resolved_at)});
	}

	function viewAlerts(r, gen) {
		var all = r.params.get('show') === 'all';
		return api('alerts', {open: all ? null : 1, limit: ALERTS_LIMIT}).then(function (res) {
			if (gen !== generation) return null;
			var items = arr(res && res.items).filter(function (x) {
				return x && typeof x === 'object';
			});
			var open = items.filter(function (x) {
				return !present(x.resolved_at);
			}).length;
			var whole = items.length < ALERTS_LIMIT;
			/* the tab's count from this answer when it holds every open one */
			if (!all || whole) {
				setAlertCount(open, !whole);
				alertBadge.token = getToken();
				alertBadge.at = Date.now();
			} else {
				refreshAlertCount(true);
			}
			var show = function (v) {
				return h('button', {type: 'button', testid: 'alerts-show-' + v, 'aria-pressed': String(all === (v === 'all')), text: v === 'all' ? 'All' : 'Open', onclick: function () {
					go('alerts', null, withParams({show: v === 'all' ? 'all' : null}));
				}});
			};
			var head = all
				? fmtInt(items.length) + (whole ? '' : '+') + (items.length === 1 ? ' alert' : ' alerts') + ', ' + fmtInt(open) + ' open'
				: fmtInt(open) + (whole ? '' : '+') + (open === 1 ? ' open alert' : ' open alerts');
			return {
				title: 'Alerts',
				nodes: [
					h('h1', {class: 'view-title'}, 'Alerts ', h('span', {class: 'sub', text: all ? 'all, newest first' : 'open, newest first'})),
					section(
						head,
						'alerts-card',
						h('div', {class: 'toolbar'}, h('div', {class: 'ctl presets', role: 'group', 'aria-label': 'Which alerts', testid: 'alerts-show'}, show('open'), show('all'))),
						table(
							'alerts-table',
							[
								{label: 'Opened (UTC)', cls: 'nowrap', cell: function (x) {
									return fmtTime(x.opened_at);
								}},
								{label: 'Alert', cls: 'nowrap', cell: function (x) {
									return h('span', {class: 'alert-rule', title: String(x.rule || ''), text: alertRule(x.rule)});
								}},
								{label: 'Domain', cell: alertDomain},
								{label: 'Message', cls: 'alert-msg', cell: alertMessage},
								{label: 'State', cls: 'nowrap', cell: alertState},
							],
							items,
							all ? 'No alerts yet.' : 'No open alerts.',
							function (x) {
								return {'data-id': String(x.id), 'data-rule': String(x.rule || ''), 'data-state': present(x.resolved_at) ? 'resolved' : 'open'};
							}
						),
						whole ? null : h('p', {class: 'muted', text: 'The ' + fmtInt(ALERTS_LIMIT) + ' newest.'}),
						h('p', {class: 'muted', testid: 'alerts-note', text: ALERTS_NOTE})
					),
				],
			};
		});
	}

	/* the alerts' route: no domain needed, no range used; a domain the
	 * token knows is kept (the other views' links keep it) */
	function alertsRoute(r, gen) {
		var dom = r.params.get('domain');
		var fix = {};
		if (dom !== null && !domainInfo(dom)) fix.domain = null;
		['days', 'page', 'reporter', 'sort', 'ip'].forEach(function (k) {
			if (r.params.get(k) !== null) fix[k] = null;
		});
		var show = r.params.get('show');
		if (show !== null && show !== 'all') fix.show = null;
		if (Object.keys(fix).length && hashFor(r.view, null, withParams(fix)) !== location.hash) {
			go(r.view, null, withParams(fix), true);
			return null;
		}
		fillDomainSelect(domainInfo(dom) ? dom : '');
		updateControls(r);
		return viewAlerts(r, gen);
	}

	var VIEWS = {overview: viewOverview, sources: viewSources, source: viewSource, reports: viewReports, report: viewReport, advice: viewAdvice, tls: viewTls, tlsreport: viewTlsReport, failures: viewFailures, failure: viewFailure, alerts: viewAlerts};

	/* ---- render ------------------------------------------------------------------ */

	/* the picker's list: the DMARC domains as the API orders them, each
	 * with its TLS entry (tls), then the domains with TLS reports only
	 * (tlsOnly; first and last are their TLS days), by name */
	function mergeDomains(agg, tls) {
		var ok = function (d) {
			return d && typeof d.domain === 'string';
		};
		var byName = Object.create(null);
		arr(tls).filter(ok).forEach(function (t) {
			byName[t.domain] = t;
		});
		var out = arr(agg).filter(ok).map(function (d) {
			var x = Object.assign({}, d, {tls: byName[d.domain] || null});
			delete byName[d.domain];
			return x;
		});
		Object.keys(byName)
			.sort()
			.forEach(function (name) {
				var t = byName[name];
				out.push({domain: name, first: t.first_day, last: t.last_day, tls: t, tlsOnly: true});
			});
		return out;
	}

	function loadDomains() {
		if (domains) return Promise.resolve(domains);
		return Promise.all([api('domains'), api('tls/domains')]).then(function (res) {
			domains = mergeDomains(res[0].domains, res[1].domains);
			return domains;
		});
	}

	function setBusy(on) {
		els.main.setAttribute('aria-busy', on ? 'true' : 'false');
		if (on) els.main.removeAttribute('data-ready');
	}

	function render() {
		takeTokenFromAddress();
		var gen = ++generation;
		if (!getToken()) {
			showLogin(null);
			return Promise.resolve();
		}
		showApp();
		setBusy(true);
		if (route().view !== 'alerts') refreshAlertCount(false);
		return loadDomains()
			.then(function () {
				if (gen !== generation) return null;
				var r = route();
				if (!VIEWS[r.view]) {
					go('overview', null, r.params, true);
					return null;
				}
				/* alerts come without reports too (mails that could not be read) */
				if (r.view === 'alerts') return alertsRoute(r, gen);
				if (!domains.length) {
					fillDomainSelect('');
					updateControls(r);
					return {title: 'No data', nodes: [h('section', {class: 'card empty', testid: 'no-data'}, h('h2', {text: 'No reports yet'}), h('p', {text: 'Nothing is stored for this token yet. Point a DMARC rua= address at dmarcd, or store files with dmarcd ingest.'}))]};
				}
				/* normalise the address: a known domain, a range */
				var dom = r.params.get('domain');
				var fix = {};
				var info = domainInfo(dom);
				if (!info) {
					if (dom && r.view !== 'report' && r.view !== 'tlsreport' && r.view !== 'failure') notice('No data for ' + dom + ' under this token; showing ' + domains[0].domain + '.');
					info = domains[0];
					fix.domain = info.domain;
				}
				if (r.view === 'advice') {
					/* days, no range */
					['range', 'from', 'to'].forEach(function (k) {
						if (r.params.get(k) !== null) fix[k] = null;
					});
					var n = adviceDays(r.params);
					if (r.params.get('days') !== String(n)) fix.days = n || DEFAULT_DAYS;
				} else {
					if (r.params.get('days') !== null) fix.days = null;
					['from', 'to'].forEach(function (k) {
						var v = r.params.get(k);
						if (v !== null && (!validDay(v) || r.params.get('range') === 'all')) fix[k] = null;
					});
					var range = r.params.get('range');
					if (range !== null && range !== 'all') fix.range = null;
					var hasRange = range === 'all' || validDay(r.params.get('from')) || validDay(r.params.get('to'));
					if (!hasRange) {
						var p = presetRange(DEFAULT_DAYS, info);
						fix.from = p.from;
						fix.to = p.to;
						fix.range = null;
					}
				}
				if (Object.keys(fix).length && hashFor(r.view, r.arg, withParams(fix)) !== location.hash) {
					go(r.view, r.arg, withParams(fix), true);
					return null;
				}
				fillDomainSelect(info.domain);
				updateControls(r);
				/* failure reports come without aggregate reports too */
				if (info.tlsOnly && ['tls', 'tlsreport', 'failures', 'failure'].indexOf(r.view) < 0) return tlsOnlyView(r, info.domain);
				return VIEWS[r.view](r, gen);
			})
			.then(
				function (v) {
					if (!v || gen !== generation) return;
					destroyChart();
					els.main.replaceChildren.apply(els.main, v.nodes.filter(Boolean));
					document.title = 'dmarcd · ' + v.title;
					if (v.after) v.after();
					setBusy(false);
					els.main.setAttribute('data-ready', location.hash);
				},
				function (e) {
					if (gen !== generation) return;
					if (e instanceof ApiError && e.status === 401) return;
					destroyChart();
					setBusy(false);
					els.main.replaceChildren(h('section', {class: 'card error', testid: 'view-error'}, h('h2', {text: 'Could not load this view'}), h('p', {text: e && e.message ? e.message : String(e)})));
					els.main.setAttribute('data-ready', location.hash);
					els.main.setAttribute('data-error', '1');
				}
			);
	}

	/* ---- start ----------------------------------------------------------------------- */

	function start() {
		els = {
			app: $('app'),
			login: $('login'),
			loginReason: $('login-reason'),
			main: $('main'),
			notice: $('notice'),
			domain: $('domain'),
			presets: $('presets'),
			custom: $('custom-range'),
			from: $('from'),
			to: $('to'),
			brand: $('brand'),
			navAlerts: $('nav-alerts'),
			alertCount: $('alert-count'),
		};
		if (typeof uPlot === 'undefined') {
			els.app.hidden = false;
			els.main.replaceChildren(h('p', {class: 'card error', text: 'The chart library (vendor/uPlot.iife.min.js) did not load: run scripts/deps.sh.'}));
			return;
		}
		els.domain.addEventListener('change', onDomainChange);
		els.presets.addEventListener('click', onPreset);
		els.custom.addEventListener('submit', onCustomRange);
		$('logout').addEventListener('click', function () {
			setToken(null);
			showLogin('Signed out.');
		});
		$('login-form').addEventListener('submit', function (ev) {
			ev.preventDefault();
			var input = $('login-token');
			var t = input.value.trim();
			input.value = '';
			if (!t) return;
			setToken(t);
			notice(null);
			render();
		});
		/* the main area: clearing the notice when the view changes */
		window.addEventListener('hashchange', function () {
			notice(null);
			render();
		});
		render();
	}

	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
	else start();
})();
