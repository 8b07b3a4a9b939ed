// app — the compliance console: sign-in with a staff token, the ledger's state verified in the
// browser against a verifier key the officer pinned, the ledger search, the chart, the reports,
// and the kill switches for officers.
//
// Trust: the page trusts nothing it is told about the ledger. The checkpoint's Ed25519 signature is
// checked here against the verifier key pinned in this browser (localStorage), never against a
// key fetched from the same server at the same moment; the checkpoint seen last is kept, and each
// new one must be proven consistent with it (RFC 9162), so a rewritten history shows. The token
// lives in sessionStorage only (gone with the tab, cleared on sign-out); its payload is decoded
// for display, and roles are enforced by the server, not by hiding buttons.

import { t, getLang, setLang, applyI18n, showTime, showCountry } from './i18n.js';
import * as V from './verify.js';
import { makeApi, ApiError } from './api.js';
import { drawChart, daysBetween } from './chart.js';
import { el, clear, renderJson, download } from './render.js';
import { renderReport } from './reports.js';
import { initLeak } from './leak.js';
import { initMembers, refreshMembers } from './members.js';
import { initAnon, refreshAnon } from './anon.js';
import { initWitnesses, showWitnesses } from './witnesses.js';

const TOKEN_KEY = 'pdgate.token';
const VKEY_KEY = 'pdgate.vkey';
const SEEN_PREFIX = 'pdgate.seen.';

const $ = (id) => document.getElementById(id);

const state = {
	claims: null,
	vkey: null, // parsed pinned key
	checkpoint: null, // the last checkpoint that verified: {origin, size, root, rootB64, text}
	search: { params: null, cursors: [null], page: 0, next: null },
	report: null, // {kind, params, data}
	partners: null,
};

// ---------------------------------------------------------------------------------------------
// Storage. sessionStorage for the token (tab-scoped), localStorage for the pinned key and for the
// checkpoints seen; both can be absent or throw (privacy modes), which only costs memory.

function store(kind) {
	try {
		return kind === 'session' ? window.sessionStorage : window.localStorage;
	} catch {
		return null;
	}
}

function sget(kind, key) {
	const s = store(kind);
	try {
		return s ? s.getItem(key) : null;
	} catch {
		return null;
	}
}

function sset(kind, key, value) {
	const s = store(kind);
	try {
		if (!s) return;
		if (value === null) s.removeItem(key);
		else s.setItem(key, value);
	} catch {
		// storage full or refused: the console still works for this page's life
	}
}

const api = makeApi(
	() => sget('session', TOKEN_KEY),
	() => signOut('msg_token_refused'),
);

// ---------------------------------------------------------------------------------------------
// Messages.

function say(text, kind = 'info') {
	const box = $('messages');
	for (const old of box.querySelectorAll('.msg')) if (old.firstChild && old.firstChild.textContent === text) old.remove();
	const m = el('p', { class: `msg ${kind}` }, text, el('button', {
		type: 'button', class: 'link close', 'aria-label': t('dismiss'), text: '×',
		onclick: (e) => e.target.closest('p').remove(),
	}));
	box.append(m);
	while (box.children.length > 4) box.firstChild.remove();
	if (kind !== 'error') setTimeout(() => m.remove(), 8000);
}

function errText(e) {
	if (e instanceof ApiError) {
		const known = t(`err_${e.code}`, null);
		const base = known || e.message || e.code;
		return `${base} (${e.status ? `HTTP ${e.status}, ` : ''}${e.code}${e.requestId ? `, ${e.requestId}` : ''})`;
	}
	if (e instanceof V.VerifyError) return `${t(`why_${e.code}`)}${e.message !== e.code ? ` — ${e.message}` : ''}`;
	return String(e && e.message ? e.message : e);
}

// ---------------------------------------------------------------------------------------------
// Dates. The association works in JST: dates shown and date inputs are JST days; the API gets
// RFC 3339 instants (a "to" day is inclusive: up to the start of the next JST day).

// The JST calendar day (YYYY-MM-DD) of an instant.
function jstDay(iso) {
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return null;
	return new Date(d.getTime() + 9 * 3600e3).toISOString().slice(0, 10);
}

function todayJst() {
	return jstDay(new Date().toISOString());
}

function addDays(day, n) {
	const d = new Date(`${day}T00:00:00Z`);
	d.setUTCDate(d.getUTCDate() + n);
	return d.toISOString().slice(0, 10);
}

// A date input's value as the API instant: the start of that JST day, or of the day after (to).
function apiTime(day, end) {
	if (!day) return undefined;
	const start = end ? addDays(day, 1) : day;
	return `${start}T00:00:00+09:00`;
}

// ---------------------------------------------------------------------------------------------
// Token.

function b64urlJson(seg) {
	const b = seg.replace(/-/g, '+').replace(/_/g, '/');
	const pad = b + '='.repeat((4 - (b.length % 4)) % 4);
	const bytes = V.b64decode(pad);
	return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
}

// The token's payload, for display only: the server checks the signature and the role.
function decodeToken(tok) {
	const parts = tok.split('.');
	if (parts.length !== 3) return null;
	try {
		const p = b64urlJson(parts[1]);
		return p && typeof p === 'object' ? p : null;
	} catch {
		return null;
	}
}

const isOfficer = () => state.claims && state.claims.role === 'officer';

// ---------------------------------------------------------------------------------------------
// Sign-in and sign-out.

function showSignin(reasonKey) {
	$('console').hidden = true;
	$('who').hidden = true;
	$('sign-out').hidden = true;
	$('signin').hidden = false;
	$('vkey').value = sget('local', VKEY_KEY) || '';
	delete $('vkey').dataset.touched;
	$('vkey-source').hidden = true;
	$('signin-error').hidden = !reasonKey;
	if (reasonKey) $('signin-error').textContent = t(reasonKey);
	$('token').focus();
}

function signOut(reasonKey) {
	sset('session', TOKEN_KEY, null);
	state.claims = null;
	state.checkpoint = null;
	state.partners = null;
	clear($('ledger-rows'));
	clear($('partners-rows'));
	$('report-out').hidden = true;
	$('token').value = '';
	showSignin(reasonKey || null);
}

// When a token is pasted and no key is pinned, offer the key the server says it uses, labelled
// as such: the officer compares it with keys/ledger.vkey before signing in pins it.
// Never while the officer is in the field or has typed in it: the offer must not mix with
// what they paste.
async function offerServerVkey(tok, input, note) {
	const busy = () => input.value.trim() !== '' || input.dataset.touched === '1' || document.activeElement === input;
	if (busy()) return;
	const peek = makeApi(() => tok, null);
	try {
		const line = (await peek.get('/v1/ledger/vkey', null, 'text')).trim();
		if (!line || busy()) return;
		input.value = line;
		note.textContent = t('vkey_from_server');
		note.hidden = false;
	} catch {
		// no such endpoint, or the token is refused: the officer pastes the key
	}
}

async function onSignin(ev) {
	ev.preventDefault();
	const tok = $('token').value.trim().replace(/^Bearer\s+/i, '');
	const err = $('signin-error');
	err.hidden = true;
	const claims = decodeToken(tok);
	if (!claims) {
		err.textContent = t('msg_token_malformed');
		err.hidden = false;
		$('token').focus();
		return;
	}
	const line = $('vkey').value.trim();
	if (line) {
		try {
			await V.parseVkey(line);
		} catch (e) {
			err.textContent = `${t('vkey_label')}: ${errText(e)}`;
			err.hidden = false;
			$('vkey').focus();
			return;
		}
	}
	// Ask the server once before keeping the token: a refused token never reaches storage.
	const probe = makeApi(() => tok, null);
	try {
		await probe.get('/v1/ledger/checkpoint', null, 'text');
	} catch (e) {
		err.textContent = errText(e);
		err.hidden = false;
		return;
	}
	sset('session', TOKEN_KEY, tok);
	if (line) sset('local', VKEY_KEY, line);
	$('token').value = '';
	await enterConsole();
}

async function enterConsole() {
	const tok = sget('session', TOKEN_KEY);
	state.claims = tok ? decodeToken(tok) : null;
	if (!state.claims) {
		showSignin();
		return;
	}
	$('signin').hidden = true;
	$('console').hidden = false;
	$('sign-out').hidden = false;
	showWho();
	applyRole();
	await loadPinnedKey();
	refreshMembers();
	refreshAnon();
	const tasks = [refreshLedger(), loadPartners(), runSearch(collectSearch(), true)];
	await Promise.allSettled(tasks);
}

function showWho() {
	const c = state.claims;
	$('who').hidden = false;
	$('who-sub').textContent = String(c.sub || '?');
	const role = c.role === 'officer' || c.role === 'auditor' ? c.role : String(c.role || '?');
	$('who-role').textContent = t(`role_${role}`, role);
	$('who-role').className = `role role-${role === 'officer' ? 'officer' : 'auditor'}`;
	$('who-exp').textContent = typeof c.exp === 'number' ? `${t('expires')} ${showTime(new Date(c.exp * 1000).toISOString())}` : '';
}

// Officer-only controls are not rendered for others at all (the server refuses them anyway).
function applyRole() {
	for (const n of document.querySelectorAll('.officer-only')) n.hidden = !isOfficer();
}

// ---------------------------------------------------------------------------------------------
// The ledger's state.

async function loadPinnedKey() {
	const line = sget('local', VKEY_KEY);
	state.vkey = null;
	$('pinned-key').textContent = line ? line.split('+').slice(0, 2).join('+') : t('none_pinned');
	if (!line) return;
	try {
		state.vkey = await V.parseVkey(line);
	} catch (e) {
		$('pinned-key').textContent = `${line.slice(0, 40)} — ${errText(e)}`;
	}
}

function setBadge(kind, key) {
	const b = $('verify-badge');
	b.className = `badge ${kind}`;
	b.dataset.state = kind;
	b.dataset.i18n = key;
	b.textContent = t(key);
}

function seenKey() {
	return state.vkey ? `${SEEN_PREFIX}${state.vkey.name}+${state.vkey.idHex}` : null;
}

// Checks the new verified checkpoint against the one this browser saw last: same size → same
// root; larger → a consistency proof from the API, verified here; smaller → a rollback.
// Returns {ok, key, args}: the message to show.
async function checkConsistency(cp) {
	const key = seenKey();
	let seen = null;
	try {
		seen = JSON.parse(sget('local', key) || 'null');
	} catch {
		seen = null;
	}
	const remember = () => sset('local', key, JSON.stringify({ size: cp.size, root: cp.rootB64, at: new Date().toISOString() }));
	if (!seen || typeof seen.size !== 'number' || typeof seen.root !== 'string') {
		remember();
		return { ok: true, key: 'cons_first' };
	}
	const oldRoot = V.b64decode(seen.root);
	if (seen.size > cp.size) return { ok: false, key: 'cons_rollback', args: { old: seen.size } };
	if (seen.size === cp.size) {
		if (!V.equalBytes(oldRoot, cp.root)) return { ok: false, key: 'cons_fork', args: { old: seen.size } };
		return { ok: true, key: 'cons_same', args: { old: seen.size, at: showTime(seen.at) } };
	}
	let proof;
	try {
		const r = await api.get('/v1/ledger/proof/consistency', { old: seen.size, new: cp.size });
		if (!r || !Array.isArray(r.proof) || r.old !== seen.size || r.new !== cp.size) {
			return { ok: false, key: 'cons_bad_answer', args: { old: seen.size } };
		}
		proof = r.proof.map(V.b64decode);
	} catch (e) {
		return { ok: null, key: 'cons_unavailable', args: { err: errText(e) } };
	}
	if (!(await V.verifyConsistency(seen.size, cp.size, oldRoot, cp.root, proof))) {
		return { ok: false, key: 'cons_fork', args: { old: seen.size } };
	}
	remember();
	return { ok: true, key: 'cons_ok', args: { old: seen.size, at: showTime(seen.at) } };
}

async function refreshLedger() {
	setBadge('pending', 'checking');
	$('verify-why').textContent = '—';
	$('consistency').textContent = '—';
	clear($('cp-witnesses'));
	$('cp-witness-count').textContent = '—';
	let note;
	try {
		note = await api.get('/v1/ledger/checkpoint', null, 'text');
	} catch (e) {
		setBadge('bad', 'not_verified');
		$('verify-why').textContent = errText(e);
		return;
	}
	$('cp-text').textContent = note;
	// Shown as read even when they do not verify: the badge says which.
	try {
		const { text } = V.splitNote(note);
		const cp = V.parseCheckpoint(text);
		$('cp-size').textContent = cp.size.toLocaleString();
		$('cp-root').textContent = cp.rootB64;
		$('cp-origin').textContent = cp.origin;
	} catch {
		$('cp-size').textContent = '—';
		$('cp-root').textContent = '—';
		$('cp-origin').textContent = '—';
	}
	state.checkpoint = null;
	if (!state.vkey) {
		setBadge('bad', 'not_verified');
		$('verify-why').textContent = t('why_no_key');
		return;
	}
	let cp;
	try {
		cp = await V.verifyCheckpoint(note, state.vkey);
	} catch (e) {
		setBadge('bad', 'not_verified');
		$('verify-why').textContent = errText(e);
		return;
	}
	if (!(await showWitnesses(note, state.vkey))) {
		setBadge('bad', 'not_verified');
		$('verify-why').textContent = t('why_bad_cosignature');
		return;
	}
	const cons = await checkConsistency(cp);
	$('consistency').textContent = t(cons.key, null, cons.args);
	$('consistency').className = cons.ok === false ? 'bad-text' : cons.ok ? 'good-text' : 'warn-text';
	if (cons.ok === false) {
		setBadge('bad', 'not_verified');
		$('verify-why').textContent = t('why_inconsistent');
		return;
	}
	state.checkpoint = cp;
	setBadge('good', 'verified');
	$('verify-why').textContent = t('why_ok', null, { key: `${state.vkey.name}+${state.vkey.idHex}` });
}

function openVkeyEditor() {
	$('vkey-form').hidden = false;
	$('vkey2').value = sget('local', VKEY_KEY) || '';
	$('vkey2-source').hidden = true;
	$('vkey2').focus();
}

async function onPinVkey(ev) {
	ev.preventDefault();
	const line = $('vkey2').value.trim();
	try {
		await V.parseVkey(line);
	} catch (e) {
		say(`${t('vkey_label')}: ${errText(e)}`, 'error');
		return;
	}
	if (line !== sget('local', VKEY_KEY)) {
		sset('local', VKEY_KEY, line);
		say(t('msg_pinned'), 'info');
	}
	$('vkey-form').hidden = true;
	await loadPinnedKey();
	await refreshLedger();
}

// ---------------------------------------------------------------------------------------------
// Ledger search.

function collectSearch() {
	const f = $('search-form');
	const v = (n) => f.elements[n].value.trim();
	return {
		partner: v('partner'), member: v('member'), purpose: v('purpose'), kind: v('kind'),
		from: apiTime(v('from'), false), to: apiTime(v('to'), true), limit: v('limit') || '50',
	};
}

// The API's page: an array, or an object holding the entries and the cursor of the next page.
function pageOf(r) {
	if (Array.isArray(r)) return { entries: r, next: null };
	const entries = (r && (r.entries || r.results || r.items)) || [];
	const next = r ? (r.next ?? r.after ?? null) : null;
	return { entries: Array.isArray(entries) ? entries : [], next };
}

async function runSearch(params, fresh) {
	const s = state.search;
	if (fresh) {
		s.params = params;
		s.cursors = [null];
		s.page = 0;
	}
	const after = s.cursors[s.page];
	$('search-info').textContent = t('loading');
	let page;
	try {
		page = pageOf(await api.get('/v1/ledger/search', { ...s.params, after: after ?? undefined }));
	} catch (e) {
		$('search-info').textContent = errText(e);
		return;
	}
	s.next = page.next;
	s.cursors[s.page + 1] = page.next;
	renderRows(page.entries);
	$('search-info').textContent = page.entries.length
		? t('search_count', null, { n: page.entries.length, first: page.entries[0].index, last: page.entries[page.entries.length - 1].index })
		: t('search_none');
	$('page-no').textContent = t('page_n', null, { n: s.page + 1 });
	$('page-prev').disabled = s.page === 0;
	$('page-first').disabled = s.page === 0;
	$('page-next').disabled = page.next === null || page.next === undefined || page.entries.length === 0;
}

function detailOf(e) {
	if (e.kind === 'admin' && e.admin && typeof e.admin === 'object') {
		const a = e.admin;
		return [a.action, a.target, a.staff ? `@${a.staff}` : null, a.reason ? `「${a.reason}」` : null].filter(Boolean).join(' ');
	}
	return [e.reason, e.justification ? `「${e.justification}」` : null].filter(Boolean).join(' ');
}

function renderRows(entries) {
	const tb = clear($('ledger-rows'));
	for (const e of entries) {
		const items = Array.isArray(e.items) ? e.items : [];
		const proofCell = el('td');
		if (Number.isSafeInteger(e.index)) {
			proofCell.append(el('button', {
				type: 'button', class: 'link proof', text: t('check'),
				'aria-label': t('check_entry', null, { n: e.index }),
				onclick: (ev) => checkInclusion(e, ev.currentTarget.parentElement),
			}));
		}
		tb.append(el('tr', { class: `kind-${e.kind}`, dataset: { index: String(e.index) } },
			el('td', { class: 'num', text: e.index }),
			el('td', { class: 'nowrap', text: showTime(e.time) }),
			el('td', {}, el('span', { class: `pill pill-${e.kind}`, text: t(`kind_${e.kind}`, e.kind) })),
			el('td', { text: e.partner ?? '—' }),
			el('td', { text: e.purpose ?? '—' }),
			el('td', { text: e.basis ?? '—' }),
			el('td', {}, e.subject ? el('code', { title: e.subject, text: `${String(e.subject).slice(0, 12)}…` }) : '—'),
			el('td', {}, items.length ? el('details', {}, el('summary', { text: t('n_items', null, { n: items.length }) }), el('span', { class: 'items', text: items.join(', ') })) : '—'),
			el('td', { text: detailOf(e) || '—' }),
			proofCell));
	}
}

// Fetches the entry's leaf byte for byte and its inclusion proof in the verified checkpoint, and
// checks both here: the row then shows that this entry is in the signed tree, unchanged.
async function checkInclusion(entry, cell) {
	const mark = (ok, text) => {
		clear(cell).append(el('span', { class: ok ? 'good-text' : 'bad-text', text }));
	};
	const cp = state.checkpoint;
	if (!cp) return mark(false, t('incl_no_checkpoint'));
	if (entry.index >= cp.size) return mark(false, t('incl_not_yet'));
	try {
		const bytes = await api.get('/v1/ledger/entries', { start: entry.index, end: entry.index + 1 }, 'bytes');
		let n = bytes.length;
		if (n && bytes[n - 1] === 0x0a) n--;
		const leaf = bytes.slice(0, n);
		if (leaf.includes(0x0a)) return mark(false, t('incl_bad'));
		const decoded = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(leaf));
		// The row shown must be the leaf proven.
		for (const k of ['index', 'time', 'kind', 'partner', 'purpose', 'subject']) {
			if (k in entry && JSON.stringify(decoded[k]) !== JSON.stringify(entry[k])) return mark(false, t('incl_mismatch', null, { k }));
		}
		const pr = await api.get('/v1/ledger/proof/inclusion', { index: entry.index, size: cp.size });
		const lh = await V.leafHash(leaf);
		if (pr.leaf_hash && !V.equalBytes(V.b64decode(pr.leaf_hash), lh)) return mark(false, t('incl_bad'));
		const ok = await V.verifyInclusion(entry.index, cp.size, lh, (pr.proof || []).map(V.b64decode), cp.root);
		return mark(ok, ok ? t('incl_ok', null, { size: cp.size }) : t('incl_bad'));
	} catch (e) {
		return mark(false, errText(e));
	}
}

// ---------------------------------------------------------------------------------------------
// Chart: releases per partner per JST day, counted from the ledger search (kind=release), page by
// page. The summary report gives totals per partner, not per day, so the search is the source.

const CHART_MAX = 50000;

async function drawReleases(ev) {
	if (ev) ev.preventDefault();
	const from = $('c-from').value;
	const to = $('c-to').value;
	if (!from || !to || from > to) {
		$('chart-info').textContent = t('chart_bad_range');
		return;
	}
	$('chart-info').textContent = t('loading');
	const counts = {};
	const partners = new Set();
	let after;
	let seen = 0;
	let truncated = false;
	try {
		for (;;) {
			const page = pageOf(await api.get('/v1/ledger/search', {
				kind: 'release', from: apiTime(from, false), to: apiTime(to, true), limit: 1000, after,
			}));
			for (const e of page.entries) {
				if (e.kind !== 'release') continue;
				const d = jstDay(e.time);
				const p = e.partner || '?';
				partners.add(p);
				counts[d] = counts[d] || {};
				counts[d][p] = (counts[d][p] || 0) + 1;
			}
			seen += page.entries.length;
			if (page.next === null || page.next === undefined || page.entries.length === 0) break;
			if (seen >= CHART_MAX) {
				truncated = true;
				break;
			}
			after = page.next;
		}
	} catch (e) {
		$('chart-info').textContent = errText(e);
		return;
	}
	const days = daysBetween(from, to);
	const plist = [...partners].sort();
	const box = clear($('chart'));
	box.append(drawChart({ days, partners: plist, counts, title: t('chart_title'), emptyText: t('chart_empty') }));
	const legend = clear($('chart-legend'));
	plist.forEach((p, j) => {
		const total = days.reduce((s, d) => s + ((counts[d] && counts[d][p]) || 0), 0);
		legend.append(el('li', {}, el('span', { class: `swatch series-${j % 8}`, 'aria-hidden': 'true' }), `${p} (${total})`));
	});
	const rows = days.filter((d) => counts[d]).map((d) => ({ [t('col_day')]: d, ...Object.fromEntries(plist.map((p) => [p, (counts[d] && counts[d][p]) || 0])) }));
	clear($('chart-table')).append(rows.length ? renderJson(rows) : el('p', { class: 'muted', text: t('chart_empty') }));
	$('chart-info').textContent = t(truncated ? 'chart_info_cut' : 'chart_info', null, { n: seen, p: plist.length });
}

// ---------------------------------------------------------------------------------------------
// Reports.

const PROVISIONS_MAX = 100000; // the API's largest page of provision records

const REPORTS = {
	provisions: (f) => ({ path: '/v1/reports/provisions', params: { partner: f.partner, from: f.from, to: f.to } }),
	subject: (f) => ({ path: `/v1/reports/subject/${encodeURIComponent(f.member)}`, params: {} }),
	breach: (f) => ({ path: '/v1/reports/breach', params: { partner: f.partner, from: f.from, to: f.to } }),
	summary: (f) => ({ path: '/v1/supervision/summary', params: { from: f.from, to: f.to } }),
};

function reportFields(form) {
	const v = (n) => (form.elements[n] ? form.elements[n].value.trim() : '');
	return { partner: v('partner'), member: v('member'), from: apiTime(v('from'), false), to: apiTime(v('to'), true) };
}

function reportFileName(kind, f, ext) {
	const part = [kind, f.partner || f.member || null, (f.from || '').slice(0, 10), (f.to || '').slice(0, 10)].filter(Boolean).join('_');
	return `pdgate_${part}.${ext}`.replace(/[^A-Za-z0-9._-]/g, '-');
}

async function onReport(ev) {
	ev.preventDefault();
	const form = ev.currentTarget;
	if (!form.reportValidity()) return;
	const kind = form.dataset.report;
	const f = reportFields(form);
	const { path, params } = REPORTS[kind](f);
	const out = $('report-out');
	out.hidden = false;
	$('report-out-h').textContent = `${t(`rep_${kind}`)}`;
	const body = clear($('report-body'));
	body.append(el('p', { class: 'muted', text: t('loading') }));
	$('report-raw').textContent = '';
	try {
		const data = await api.get(path, kind === 'provisions' ? { ...params, format: 'json' } : params);
		state.report = { kind, f, data };
		clear(body).append(renderReport(kind, data));
		$('report-raw').textContent = JSON.stringify(data, null, 2);
	} catch (e) {
		state.report = null;
		clear(body).append(el('p', { class: 'bad-text', role: 'alert', text: errText(e) }));
	}
}

async function onReportDownload(ev) {
	const btn = ev.target.closest('button[data-download]');
	if (!btn) return;
	const form = btn.closest('form');
	if (!form.reportValidity()) return;
	const kind = form.dataset.report;
	const fmt = btn.dataset.download;
	const f = reportFields(form);
	const { path, params } = REPORTS[kind](f);
	// Provision records come in pages (X-Next-After): a download asks for the largest page the
	// API gives and says so when even that was not all.
	const extra = kind === 'provisions' ? { format: fmt, limit: PROVISIONS_MAX } : kind === 'breach' ? { format: fmt } : {};
	try {
		const res = await api.get(path, { ...params, ...extra }, 'response');
		const blob = await res.blob();
		const type = fmt === 'csv' ? 'text/csv;charset=utf-8' : 'application/json;charset=utf-8';
		download(reportFileName(kind, f, fmt), new Blob([blob], { type }));
		const more = res.headers.get('X-Next-After');
		if (more) say(t('msg_download_cut', null, { after: more }), 'warn');
		else say(t('msg_downloaded'));
	} catch (e) {
		say(errText(e), 'error');
	}
}

// ---------------------------------------------------------------------------------------------
// Partners, contracts and the kill switches.

function listOf(r, ...names) {
	if (Array.isArray(r)) return r;
	for (const n of names) if (r && Array.isArray(r[n])) return r[n];
	return [];
}

function partnerState(p) {
	if (typeof p.state === 'string') return p.state;
	if (typeof p.status === 'string') return p.status;
	return p.suspended ? 'suspended' : 'active';
}

async function loadPartners() {
	let pr;
	let cr = null;
	try {
		pr = await api.get('/v1/partners');
	} catch (e) {
		clear($('partners-rows')).append(el('tr', {}, el('td', { colspan: 5, class: 'bad-text', text: errText(e) })));
		return;
	}
	try {
		cr = await api.get('/v1/contracts');
	} catch {
		cr = null; // the partners list is still worth showing
	}
	const partners = listOf(pr, 'partners');
	const contracts = listOf(cr, 'contracts');
	state.partners = partners;
	const gw = (pr && !Array.isArray(pr) && (pr.gateway || null)) || null;
	showGateway(gw);
	const ids = clear($('partner-ids'));
	const purposes = new Set();
	const tb = clear($('partners-rows'));
	for (const p of partners) {
		const id = p.id || p.partner;
		ids.append(el('option', { value: id }));
		const mine = contracts.filter((c) => c.partner === id);
		const list = mine.length ? mine : listOf(p, 'contracts');
		for (const c of list) for (const k of Object.keys((c && c.purposes) || {})) purposes.add(k);
		for (const c of list) for (const k of (Array.isArray(c.purposes) ? c.purposes : [])) purposes.add(k);
		const st = partnerState(p);
		const name = p.name || p.partner_name || (list[0] && list[0].partner_name) || '';
		const stateCell = el('td', {}, el('span', { class: `pill state-${st}`, text: t(`state_${st}`, st) }));
		if (st === 'suspended') {
			const since = typeof p.since_ms === 'number' ? showTime(new Date(p.since_ms).toISOString()) : null;
			const who = [p.by ? `@${p.by}` : null, since].filter(Boolean).join(' ');
			if (p.reason) stateCell.append(el('div', { class: 'muted small', text: `「${p.reason}」` }));
			if (who) stateCell.append(el('div', { class: 'muted small', text: who }));
		}
		const row = el('tr', { dataset: { partner: id, state: st } },
			el('th', { scope: 'row' }, el('code', { text: id })),
			el('td', { text: name }),
			stateCell,
			el('td', {}, list.length ? el('ul', { class: 'plain' }, list.map((c) => el('li', {},
				el('code', { text: typeof c === 'string' ? c : c.id }),
				typeof c === 'object' && c.relationship ? ` ${t(`rel_${c.relationship}`, c.relationship)}` : '',
				typeof c === 'object' && typeof c.country === 'string' && c.country !== 'JP'
					? el('span', { class: 'abroad', dataset: { country: c.country }, title: c.foreign_safeguards ? `${t('safeguards')}: ${c.foreign_safeguards}` : t('abroad_title'), text: ` · ${showCountry(c.country)}` })
					: '',
				typeof c === 'object' && c.status ? ` · ${t(`cstatus_${c.status}`, c.status)}` : '',
				typeof c === 'object' && c.valid_until ? ` · ${t('until')} ${String(c.valid_until).slice(0, 10)}` : ''))) : '—'));
		if (isOfficer()) {
			const suspended = st === 'suspended';
			row.append(el('td', {}, suspended
				? el('button', { type: 'button', class: 'primary small', 'data-action': 'resume', text: t('resume'), 'aria-label': t('resume_x', null, { id }), onclick: () => confirmAction('resume', id) })
				: el('button', { type: 'button', class: 'danger small', 'data-action': 'suspend', text: t('suspend'), 'aria-label': t('suspend_x', null, { id }), onclick: () => confirmAction('suspend', id) })));
		}
		tb.append(row);
	}
	if (partners.length === 0) tb.append(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: t('none') })));
	const pl = clear($('purpose-ids'));
	for (const k of [...purposes].sort()) pl.append(el('option', { value: k }));
}

function showGateway(gw) {
	const p = clear($('gateway-state'));
	if (!gw) return;
	const suspended = gw.suspended === true || gw.state === 'suspended' || gw.status === 'suspended';
	$('gw-suspend').hidden = suspended;
	$('gw-resume').hidden = !suspended;
	p.className = `gateway-state ${suspended ? 'bad' : 'good'}`;
	p.dataset.state = suspended ? 'suspended' : 'active';
	p.append(el('strong', { text: t(suspended ? 'gw_is_suspended' : 'gw_is_running') }));
	if (suspended && gw.reason) p.append(` 「${gw.reason}」`);
	if (suspended && gw.by) p.append(` @${gw.by}`);
	if (suspended && typeof gw.since_ms === 'number') p.append(` ${showTime(new Date(gw.since_ms).toISOString())}`);
}

// The confirmation dialog: what will happen, a reason that goes into the ledger, then the call.
function confirmAction(action, id) {
	const dlg = $('confirm');
	const gw = id === null;
	const key = gw ? `gw_${action}` : action;
	$('confirm-h').textContent = gw ? t(`confirm_gw_${action}_h`) : t(`confirm_${action}_h`, null, { id });
	$('confirm-text').textContent = gw ? t(`confirm_gw_${action}_text`) : t(`confirm_${action}_text`, null, { id });
	$('confirm-ok').textContent = t(key, null, { id });
	$('confirm-ok').className = action === 'suspend' ? 'danger' : 'primary';
	$('confirm-reason').value = '';
	$('confirm-error').hidden = true;
	dlg.dataset.action = action;
	dlg.dataset.target = gw ? '' : id;
	if (!dlg.open) dlg.showModal();
	$('confirm-reason').focus();
}

async function onConfirm(ev) {
	ev.preventDefault();
	const dlg = $('confirm');
	const reason = $('confirm-reason').value.trim();
	if (!reason) {
		$('confirm-error').textContent = t('reason_required');
		$('confirm-error').hidden = false;
		$('confirm-reason').focus();
		return;
	}
	const { action, target } = dlg.dataset;
	const path = target ? `/v1/partners/${encodeURIComponent(target)}/${action}` : `/v1/gateway/${action}`;
	$('confirm-ok').disabled = true;
	try {
		await api.post(path, { reason });
		dlg.close('ok');
		say(t(target ? `done_${action}` : `done_gw_${action}`, null, { id: target }), action === 'suspend' ? 'warn' : 'info');
		await Promise.allSettled([loadPartners(), refreshLedger()]);
	} catch (e) {
		$('confirm-error').textContent = errText(e);
		$('confirm-error').hidden = false;
	} finally {
		$('confirm-ok').disabled = false;
	}
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs pattern: arrows move between tabs, Enter/Space/click selects).

function selectTab(tab, focus) {
	for (const b of document.querySelectorAll('[role=tab]')) {
		const on = b === tab;
		b.setAttribute('aria-selected', on ? 'true' : 'false');
		b.tabIndex = on ? 0 : -1;
		$(b.getAttribute('aria-controls')).hidden = !on;
	}
	if (focus) tab.focus();
	if (tab.id === 'tab-chart' && !$('chart').firstChild) drawReleases();
}

function onTabKey(ev) {
	const tabs = [...document.querySelectorAll('[role=tab]')];
	const i = tabs.indexOf(document.activeElement);
	if (i < 0) return;
	let j = null;
	if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
	else if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
	else if (ev.key === 'Home') j = 0;
	else if (ev.key === 'End') j = tabs.length - 1;
	if (j === null) return;
	ev.preventDefault();
	selectTab(tabs[j], true);
}

// ---------------------------------------------------------------------------------------------
// Language.

function switchLang() {
	setLang(getLang() === 'ja' ? 'en' : 'ja');
	applyI18n(document);
	// Rebuild what was drawn from data with translated words in it.
	if (state.claims) {
		showWho();
		if (state.search.params) runSearch(state.search.params, false);
		loadPartners();
		refreshLedger();
		if ($('chart').firstChild) drawReleases();
		refreshMembers();
		refreshAnon();
		if (state.report) {
			$('report-out-h').textContent = t(`rep_${state.report.kind}`);
			clear($('report-body')).append(renderReport(state.report.kind, state.report.data));
		}
	}
}

// ---------------------------------------------------------------------------------------------

function wire() {
	$('lang-toggle').addEventListener('click', switchLang);
	$('signin-form').addEventListener('submit', onSignin);
	$('token').addEventListener('input', () => {
		const tok = $('token').value.trim().replace(/^Bearer\s+/i, '');
		if (decodeToken(tok)) offerServerVkey(tok, $('vkey'), $('vkey-source'));
	});
	for (const id of ['vkey', 'vkey2']) {
		for (const ev of ['input', 'focus']) {
			$(id).addEventListener(ev, () => {
				$(id).dataset.touched = '1';
				$(`${id}-source`).hidden = true;
			});
		}
	}
	$('sign-out').addEventListener('click', () => signOut('msg_signed_out'));
	$('ledger-refresh').addEventListener('click', refreshLedger);
	$('vkey-edit').addEventListener('click', openVkeyEditor);
	$('vkey-form').addEventListener('submit', onPinVkey);
	$('vkey-cancel').addEventListener('click', () => {
		$('vkey-form').hidden = true;
	});
	$('vkey-from-server').addEventListener('click', async () => {
		$('vkey2').value = '';
		delete $('vkey2').dataset.touched;
		await offerServerVkey(sget('session', TOKEN_KEY), $('vkey2'), $('vkey2-source'));
		if (!$('vkey2').value) say(t('msg_no_server_vkey'), 'warn');
	});
	$('search-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		if (!ev.currentTarget.reportValidity()) return;
		runSearch(collectSearch(), true);
	});
	$('search-form').addEventListener('reset', () => setTimeout(() => runSearch(collectSearch(), true), 0));
	$('page-next').addEventListener('click', () => {
		state.search.page++;
		runSearch(null, false);
	});
	$('page-prev').addEventListener('click', () => {
		state.search.page = Math.max(0, state.search.page - 1);
		runSearch(null, false);
	});
	$('page-first').addEventListener('click', () => {
		state.search.page = 0;
		runSearch(null, false);
	});
	$('chart-form').addEventListener('submit', drawReleases);
	for (const f of document.querySelectorAll('.report-form')) {
		f.addEventListener('submit', onReport);
		f.addEventListener('click', onReportDownload);
	}
	$('partners-refresh').addEventListener('click', loadPartners);
	initLeak({ api, isOfficer, say, errText, fields: reportFields, refreshSummary: () => $('r-summary').requestSubmit() });
	$('gw-suspend').addEventListener('click', () => confirmAction('suspend', null));
	$('gw-resume').addEventListener('click', () => confirmAction('resume', null));
	$('confirm-form').addEventListener('submit', onConfirm);
	$('confirm-cancel').addEventListener('click', () => $('confirm').close('cancel'));
	// Escape always cancels, whatever the browser's close-watcher rules for repeated dialogs.
	$('confirm').addEventListener('keydown', (ev) => {
		if (ev.key === 'Escape') {
			ev.preventDefault();
			$('confirm').close('cancel');
		}
	});
	$('tablist').addEventListener('click', (ev) => {
		const b = ev.target.closest('[role=tab]');
		if (b) selectTab(b, false);
	});
	$('tablist').addEventListener('keydown', onTabKey);
	initMembers({ api, isOfficer, say, errText, today: todayJst });
	initAnon({ api, say, errText });
	initWitnesses({ say, errText, refresh: refreshLedger });
	const today = todayJst();
	$('c-to').value = today;
	$('c-from').value = addDays(today, -13);
}

async function main() {
	applyI18n(document);
	wire();
	if (!(window.crypto && crypto.subtle)) say(t('msg_no_webcrypto'), 'error');
	if (sget('session', TOKEN_KEY)) await enterConsole();
	else showSignin();
}

main();
