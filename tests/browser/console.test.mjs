// The compliance console in headless Chromium against a real pdgate installation.
//
// Makes an installation with `pdgate init` on free ports, starts `pdgate serve`, makes partner
// traffic with the demo partner certificates and bound work orders, then drives Debian's Chromium
// through playwright-core: sign-in, the checkpoint verified in the page (and not verified with a
// wrong key, a tampered signature or a rolled-back checkpoint), search and paging, inclusion
// proofs, the reports and their downloads, suspension and resumption of a partner and of the
// gateway (checked with partner requests), roles, language, keyboard, and that the page talks to
// nothing but the gateway. The console's verify.js is also run here in node against the daemon's
// own proofs. Prints `ok - name` / `not ok - name: why` per case and `N passed, N failed` last;
// exits 1 on any failure.
//
// Environment: PDGATE (the binary, default <repo>/bin/pdgate), CHROMIUM (default
// /usr/bin/chromium), PDTEST_KEEP=1 keeps the temporary folder, PDTEST_ONLY=word,… runs only the
// cases whose name contains one of the words (setup always runs).

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const PDGATE = process.env.PDGATE || path.join(REPO, 'bin', 'pdgate');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const UI = path.join(REPO, 'gateway', 'ui');
const SHOTS = path.join(REPO, 'var', 'browser');
const SLOW = PDGATE.includes('san') ? 3 : 1;
const ONLY = (process.env.PDTEST_ONLY || '').split(',').map((s) => s.trim()).filter(Boolean);

const V = await import(pathToFileURL(path.join(UI, 'verify.js')).href);
const { STRINGS } = await import(pathToFileURL(path.join(UI, 'i18n.js')).href);

// ---------------------------------------------------------------------------------------------
// Checks and the runner.

class Failure extends Error {}

function check(cond, msg) {
	if (!cond) throw new Failure(msg);
}

function eq(got, want, what) {
	const g = JSON.stringify(got);
	const w = JSON.stringify(want);
	if (g !== w) throw new Failure(`${what}: got ${g}, want ${w}`);
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });
let passed = 0;
let failed = 0;

async function runCases() {
	for (const c of cases) {
		if (ONLY.length && !ONLY.some((w) => c.name.includes(w))) continue;
		try {
			await c.fn();
			passed++;
			console.log(`ok - ${c.name}`);
		} catch (e) {
			failed++;
			const lines = String(e instanceof Failure ? e.message : (e && e.stack) || e).split('\n');
			console.log(`not ok - ${c.name}: ${lines[0]}`);
			for (const l of lines.slice(1, 12)) console.log(`#   ${l}`);
		}
	}
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, timeoutMs, what) {
	const end = Date.now() + timeoutMs * SLOW;
	let last;
	for (;;) {
		last = await pred();
		if (last) return last;
		if (Date.now() > end) throw new Failure(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
		await sleep(100);
	}
}

// ---------------------------------------------------------------------------------------------
// The installation and the daemon.

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.unref();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

// INI text with section.key set to value (the key must exist, as pdgate init writes it).
function confSet(text, section, key, value) {
	let cur = null;
	let found = false;
	const out = text.split('\n').map((line) => {
		const m = line.match(/^\s*\[([^\]]+)\]\s*$/);
		if (m) cur = m[1].trim();
		else if (cur === section && new RegExp(`^\\s*${key}\\s*=`).test(line)) {
			found = true;
			return `${key} = ${value}`;
		}
		return line;
	});
	check(found, `pdgate.conf has no ${section}.${key}`);
	return out.join('\n');
}

function pdgate(args, opts = {}) {
	try {
		return execFileSync(PDGATE, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 * SLOW, ...opts });
	} catch (e) {
		throw new Failure(`pdgate ${args.join(' ')} failed (exit ${e.status}): ${String(e.stderr || e.message).trim().slice(-600)}`);
	}
}

const env = { tmp: null, dir: null, conf: null, port: 0, cport: 0, proc: null, log: null, vkey: null };

async function setup() {
	env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pdconsole-'));
	env.dir = path.join(env.tmp, 'demo');
	pdgate(['init', env.dir, '--members', '60']);
	env.conf = path.join(env.dir, 'pdgate.conf');
	// A partner certificate that ends in 10 days: the summary's certificates_expiring lists it.
	env.expiringFp = pdgate(['cert', 'issue', '-c', env.conf, '--partner', 'kaede-expiring', '--days', '10']).trim();
	env.port = await freePort();
	env.cport = await freePort();
	let text = fs.readFileSync(env.conf, 'utf8');
	text = confSet(text, 'partner', 'listen', `127.0.0.1:${env.port}`);
	text = confSet(text, 'compliance', 'listen', `127.0.0.1:${env.cport}`);
	text = confSet(text, 'ledger', 'checkpoint_interval_ms', '200');
	// the status listener on a free port too: another installation may be serving on init's
	text = confSet(text, 'status', 'listen', `127.0.0.1:${await freePort()}`);
	fs.writeFileSync(env.conf, text);
	env.vkey = fs.readFileSync(path.join(env.dir, 'keys', 'ledger.vkey'), 'utf8').trim();
	env.ca = fs.readFileSync(path.join(env.dir, 'pki', 'server-ca.pem'));
	env.base = `https://127.0.0.1:${env.cport}`;
	await startDaemon();
	env.officer = pdgate(['token', 'issue', '-c', env.conf, '--staff', 'sato', '--role', 'officer', '--ttl', '1h']).trim();
	env.auditor = pdgate(['token', 'issue', '-c', env.conf, '--staff', 'suzuki', '--role', 'auditor', '--ttl', '1h']).trim();
}

async function startDaemon() {
	env.log = path.join(env.dir, 'daemon.log');
	const fd = fs.openSync(env.log, 'a');
	env.proc = spawn(PDGATE, ['serve', '-c', env.conf], { cwd: env.dir, stdio: ['ignore', fd, fd] });
	fs.closeSync(fd);
	env.exited = null;
	env.proc.on('exit', (code, sig) => {
		env.exited = { code, sig };
	});
	const ready = (port) => new Promise((resolve) => {
		const s = tls.connect({ host: '127.0.0.1', port, ca: env.ca, servername: 'localhost' }, () => {
			s.end();
			resolve(true);
		});
		s.on('error', () => resolve(false));
		s.setTimeout(2000, () => {
			s.destroy();
			resolve(false);
		});
	});
	await waitFor(async () => {
		if (env.exited) throw new Failure(`pdgate serve exited (${JSON.stringify(env.exited)}): ${logTail()}`);
		return (await ready(env.port)) && (await ready(env.cport));
	}, 20000, 'both listeners');
}

function logTail(n = 15) {
	try {
		return fs.readFileSync(env.log, 'utf8').trim().split('\n').slice(-n).join('\n');
	} catch {
		return '';
	}
}

async function stopDaemon() {
	if (!env.proc || env.exited) return env.exited;
	env.proc.kill('SIGTERM');
	await waitFor(() => env.exited, 15000, 'the daemon to stop on SIGTERM');
	return env.exited;
}

// One HTTPS request. opts: port, cert (partner id: its demo certificate), token, headers, body.
function request(method, urlPath, { port = env.cport, partner, token, headers = {}, body } = {}) {
	return new Promise((resolve, reject) => {
		const h = { ...headers };
		if (token) h.Authorization = `Bearer ${token}`;
		let data;
		if (body !== undefined) {
			data = Buffer.from(JSON.stringify(body));
			h['Content-Type'] = 'application/json';
			h['Content-Length'] = data.length;
		}
		const o = { host: '127.0.0.1', port, method, path: urlPath, headers: h, ca: env.ca, agent: false, servername: 'localhost' };
		if (partner) {
			o.cert = fs.readFileSync(path.join(env.dir, 'pki', 'partners', `${partner}.pem`));
			o.key = fs.readFileSync(path.join(env.dir, 'pki', 'partners', `${partner}.key`));
		}
		const req = https.request(o, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const buf = Buffer.concat(chunks);
				resolve({
					status: res.statusCode, headers: res.headers, buf, text: buf.toString('utf8'),
					json() {
						return JSON.parse(buf.toString('utf8'));
					},
				});
			});
		});
		req.on('error', reject);
		req.setTimeout(15000, () => req.destroy(new Error('timeout')));
		if (data) req.write(data);
		req.end();
	});
}

const staffGet = (p, token = env.auditor) => request('GET', p, { token });

async function staffJson(p, token) {
	const r = await staffGet(p, token);
	check(r.status === 200, `GET ${p}: status ${r.status}, body ${r.text.slice(0, 200)}`);
	return r.json();
}

const workOrders = {};

function workOrder(partner, contract, purpose) {
	const k = `${partner}/${purpose}`;
	if (!workOrders[k]) {
		workOrders[k] = pdgate(['token', 'issue', '-c', env.conf, '--contract', contract, '--purpose', purpose,
			'--ttl', '1h', '--cert', path.join(env.dir, 'pki', 'partners', `${partner}.pem`)]).trim();
	}
	return workOrders[k];
}

// A partner's data request with its own certificate and a bound work order.
function partnerGet(partner, contract, purpose, p) {
	return request('GET', p, {
		port: env.port, partner, token: workOrder(partner, contract, purpose), headers: { 'X-Purpose': purpose },
	});
}

const member = (n) => `M${String(n).padStart(7, '0')}`;

// The search API's page: entries and the next cursor, whatever the names.
function pageOf(r) {
	if (Array.isArray(r)) return { entries: r, next: null };
	return { entries: r.entries || r.results || r.items || [], next: r.next ?? r.after ?? null };
}

async function checkpointNow() {
	const r = await staffGet('/v1/ledger/checkpoint');
	check(r.status === 200, `checkpoint: status ${r.status}`);
	return r.text;
}

async function checkpointSize() {
	const { text } = V.splitNote(await checkpointNow());
	return V.parseCheckpoint(text).size;
}

// Waits until the signed checkpoint covers every entry written so far (the newest entry's
// index + 1, from the search). Returns the checkpoint's size.
async function settled() {
	const newest = pageOf(await staffJson('/v1/ledger/search?limit=1')).entries[0];
	const want = newest ? newest.index + 1 : 0;
	return waitFor(async () => {
		const s = await checkpointSize();
		return s >= want ? s : 0;
	}, 10000, `a checkpoint of at least ${want} entries`);
}

// Partner traffic: single members and pages, for three partners.
async function traffic() {
	for (let i = 1; i <= 12; i++) {
		const r = await partnerGet('shiken-proctor', 'CT-2026-0002', 'service_delivery', `/v1/members/${member(i)}`);
		check([200, 403].includes(r.status), `shiken-proctor ${member(i)}: ${r.status} ${r.text.slice(0, 200)}`);
	}
	for (let i = 0; i < 2; i++) {
		const r = await partnerGet('sakura-mail', 'CT-2026-0001', 'contact', `/v1/members?limit=20${i ? `&after=${member(20)}` : ''}`);
		check(r.status === 200, `sakura-mail page: ${r.status} ${r.text.slice(0, 200)}`);
	}
	for (let i = 1; i <= 5; i++) {
		const r = await partnerGet('maison-partners', 'CT-2026-0003', 'service_delivery', `/v1/members/${member(i)}`);
		check([200, 403].includes(r.status), `maison-partners ${member(i)}: ${r.status}`);
	}
}

// ---------------------------------------------------------------------------------------------
// The browser.

let pw;
let browser;
const consoleProblems = [];
const foreignRequests = [];

async function newPage() {
	// No certificate errors are ignored: the browser trusts the installation's server key
	// (--ignore-certificate-errors-spki-list at launch), as an officer's machine trusts its CA.
	const ctx = await browser.newContext({
		acceptDownloads: true, viewport: { width: 1280, height: 900 }, locale: 'ja-JP',
	});
	const page = await ctx.newPage();
	page.setDefaultTimeout(10000 * SLOW);
	page.on('console', (m) => {
		const text = m.text();
		// A refused request shows as a console error by design (401/403 tests); CSP violations
		// and script errors are what this watches for.
		if (/Content.Security.Policy|Refused to|Uncaught|SyntaxError|TypeError/i.test(text)) consoleProblems.push(text);
	});
	page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`));
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith(`${env.base}/`) && !u.startsWith('blob:') && !u.startsWith('data:')) foreignRequests.push(u);
	});
	return page;
}

async function signIn(page, token, vkey = env.vkey) {
	await page.goto(`${env.base}/`);
	await page.waitForSelector('#signin:not([hidden])');
	await page.fill('#token', token);
	// The form may offer the server's key: the officer's pinned line replaces it.
	await page.fill('#vkey', vkey);
	await page.click('#signin-form button[type=submit]');
	await page.waitForSelector('#console:not([hidden]), #signin-error:not([hidden])');
	if (await page.isVisible('#signin-error')) throw new Failure(`sign-in refused: ${await text(page, '#signin-error')}`);
	await page.waitForSelector('#verify-badge[data-state=good], #verify-badge[data-state=bad]');
}

const badge = (page) => page.getAttribute('#verify-badge', 'data-state');
const text = (page, sel) => page.textContent(sel).then((s) => (s || '').trim());

async function partnerRow(page, id) {
	return page.locator(`#partners-rows tr[data-partner="${id}"]`);
}

async function confirmDialog(page, reason) {
	await page.waitForSelector('#confirm[open]');
	await page.fill('#confirm-reason', reason);
	await page.click('#confirm-ok');
	await page.waitForSelector('#confirm', { state: 'hidden' });
}

async function shot(page, name) {
	fs.mkdirSync(SHOTS, { recursive: true });
	const p = path.join(SHOTS, `${name}.png`);
	await page.screenshot({ path: p, fullPage: true });
	return p;
}

// ---------------------------------------------------------------------------------------------
// Cases.

let officerPage;
let firstCheckpoint;

test('the page and its files are served under a strict Content-Security-Policy', async () => {
	const r = await request('GET', '/');
	eq(r.status, 200, 'GET / status');
	check(/text\/html/.test(r.headers['content-type'] || ''), `GET / content type ${r.headers['content-type']}`);
	const csp = r.headers['content-security-policy'] || '';
	check(/default-src 'self'/.test(csp), `CSP of / is ${JSON.stringify(csp)}`);
	check(!/unsafe-inline|unsafe-eval/.test(csp), `CSP allows unsafe: ${csp}`);
	const html = fs.readFileSync(path.join(UI, 'index.html'), 'utf8');
	eq(r.text, html, 'GET / body vs gateway/ui/index.html');
	check(!/<script(?![^>]*\bsrc=)/i.test(html), 'index.html has an inline script');
	check(!/\sstyle=/i.test(html), 'index.html has an inline style attribute');
	for (const f of fs.readdirSync(UI)) {
		const rr = await request('GET', `/ui/${f}`);
		eq(rr.status, 200, `GET /ui/${f}`);
		eq(rr.buf.equals(fs.readFileSync(path.join(UI, f))), true, `/ui/${f} byte for byte`);
		const ct = rr.headers['content-type'] || '';
		if (f.endsWith('.js')) check(/^(text|application)\/javascript/.test(ct), `/ui/${f} content type ${ct}: modules need a JavaScript MIME type`);
		if (f.endsWith('.css')) check(/^text\/css/.test(ct), `/ui/${f} content type ${ct}`);
	}
	for (const bad of ['/ui/..%2Fpdgate.conf', '/ui/nope.js', '/ui/.%2E/keys/ledger.key']) {
		const rr = await request('GET', bad);
		check(rr.status >= 400 && rr.status < 500, `GET ${bad}: status ${rr.status}`);
		check(!rr.text.includes('PRIVATE KEY') && !rr.text.includes('[ledger]'), `GET ${bad} leaked a file`);
	}
});

test('every string the page uses exists in Japanese and English', async () => {
	const ja = Object.keys(STRINGS.ja).sort();
	const en = Object.keys(STRINGS.en).sort();
	eq(ja.filter((k) => !en.includes(k)), [], 'keys only in Japanese');
	eq(en.filter((k) => !ja.includes(k)), [], 'keys only in English');
	const html = fs.readFileSync(path.join(UI, 'index.html'), 'utf8');
	const used = new Set([...html.matchAll(/data-i18n="([^"]+)"/g)].map((m) => m[1]));
	for (const m of html.matchAll(/data-i18n-attr="([^"]+)"/g)) for (const p of m[1].split(';')) used.add(p.split(':')[1]);
	for (const f of fs.readdirSync(UI).filter((n) => n.endsWith('.js'))) {
		const src = fs.readFileSync(path.join(UI, f), 'utf8');
		for (const m of src.matchAll(/\bt\('([a-z0-9_]+)'/g)) used.add(m[1]);
		for (const m of src.matchAll(/\bh: '([a-z0-9_]+)'/g)) used.add(m[1]);
	}
	eq([...used].filter((k) => !(k in STRINGS.ja)), [], 'keys used but missing');
});

test('setup: partner traffic recorded and checkpointed', async () => {
	await traffic();
	const size = await settled();
	firstCheckpoint = await checkpointNow();
	check(size >= 30, `ledger size ${size}, want at least 30 entries`);
});

test('verify.js in node: the daemon checkpoint and its RFC 9162 proofs, and tampering refused', async () => {
	const vk = await V.parseVkey(env.vkey);
	const note = firstCheckpoint;
	const cp = await V.verifyCheckpoint(note, vk);
	const leaves = (await staffGet(`/v1/ledger/entries?start=0&end=${cp.size}`)).buf;
	const lines = leaves.toString('utf8').split('\n');
	eq(lines.pop(), '', 'entries end in a newline');
	eq(lines.length, cp.size, 'entries returned');
	for (let i = 0; i < cp.size; i++) {
		const pr = await staffJson(`/v1/ledger/proof/inclusion?index=${i}&size=${cp.size}`);
		const lh = await V.leafHash(lines[i]);
		eq(pr.leaf_hash, V.b64encode(lh), `leaf hash of ${i}`);
		check(await V.verifyInclusion(i, cp.size, lh, pr.proof.map(V.b64decode), cp.root), `inclusion of ${i} in ${cp.size}`);
		if (pr.proof.length) {
			const bad = pr.proof.map(V.b64decode);
			bad[0][0] ^= 1;
			check(!(await V.verifyInclusion(i, cp.size, lh, bad, cp.root)), `a damaged inclusion proof of ${i} verified`);
		}
	}
	// Roots of every prefix, from the leaves, to check consistency proofs between any two sizes.
	const hashes = await Promise.all(lines.map((l) => V.leafHash(l)));
	const mth = async (hs) => {
		if (hs.length === 1) return hs[0];
		let k = 1;
		while (k * 2 < hs.length) k *= 2;
		const l = await mth(hs.slice(0, k));
		const r = await mth(hs.slice(k));
		const b = new Uint8Array(65);
		b[0] = 1;
		b.set(l, 1);
		b.set(r, 33);
		return V.sha256(b);
	};
	check(V.equalBytes(await mth(hashes), cp.root), 'root of the entries equals the signed root');
	for (const a of [1, 2, 3, 4, 7, 8, 13, 16, cp.size - 1, cp.size]) {
		if (a < 1 || a > cp.size) continue;
		const pr = await staffJson(`/v1/ledger/proof/consistency?old=${a}&new=${cp.size}`);
		eq([pr.old, pr.new], [a, cp.size], 'consistency answer sizes');
		const proof = pr.proof.map(V.b64decode);
		const ra = await mth(hashes.slice(0, a));
		check(await V.verifyConsistency(a, cp.size, ra, cp.root, proof), `consistency ${a} -> ${cp.size}`);
		if (a < cp.size) {
			const wrong = Uint8Array.from(ra);
			wrong[5] ^= 0x80;
			check(!(await V.verifyConsistency(a, cp.size, wrong, cp.root, proof)), `consistency ${a} with a wrong old root verified`);
			check(!(await V.verifyConsistency(a, cp.size, ra, cp.root, proof.slice(0, -1))), `a shortened consistency proof ${a} verified`);
		}
	}
	// The note: one changed byte of text or signature, another key, a bad key id.
	const sigAt = note.lastIndexOf(' ') + 10; // past the key id: inside the signature
	const tampered = note.slice(0, sigAt) + (note[sigAt] === 'A' ? 'B' : 'A') + note.slice(sigAt + 1);
	for (const [what, n, code] of [
		['signature byte', tampered, 'bad_signature'],
		['size', note.replace(`\n${cp.size}\n`, `\n${cp.size + 1}\n`), 'bad_signature'],
		['no signature', note.slice(0, note.lastIndexOf('\n\n') + 2), 'malformed'],
	]) {
		let got = null;
		try {
			await V.verifyCheckpoint(n, vk);
		} catch (e) {
			got = e.code;
		}
		eq(got, code, `a checkpoint with a changed ${what}`);
	}
	const other = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
	const otherVkey = `${vk.name}+${V.hex(await V.keyId(vk.name, other))}+${V.b64encode(Uint8Array.of(1, ...other))}`;
	let got = null;
	try {
		await V.verifyCheckpoint(note, await V.parseVkey(otherVkey));
	} catch (e) {
		got = e.code;
	}
	eq(got, 'unsigned', 'the checkpoint against another key');
	// A base64 key with '+' in it (the separator of the vkey's first two parts) still parses.
	for (let i = 0; ; i++) {
		const k = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
		const b64 = V.b64encode(Uint8Array.of(1, ...k));
		if (!b64.includes('+')) continue;
		const line = `${vk.name}+${V.hex(await V.keyId(vk.name, k))}+${b64}`;
		eq(V.b64encode((await V.parseVkey(line)).pub), V.b64encode(k), 'a key with + in its base64');
		break;
	}
	got = null;
	try {
		await V.parseVkey(env.vkey.replace(/\+([0-9a-f]{8})\+/, (m, id) => `+${id.slice(0, 7)}${id[7] === '0' ? '1' : '0'}+`));
	} catch (e) {
		got = e.code;
	}
	eq(got, 'vkey_keyid', 'a verifier key with a wrong key id');
});

test('officer signs in: who, role, and the ledger verified in the page', async () => {
	officerPage = await newPage();
	const page = officerPage;
	await signIn(page, env.officer);
	eq(await badge(page), 'good', `badge (why: ${await text(page, '#verify-why')})`);
	eq(await text(page, '#verify-badge'), STRINGS.ja.verified, 'badge text');
	const size = await checkpointSize();
	const shown = Number((await text(page, '#cp-size')).replace(/[^0-9]/g, ''));
	check(shown >= size - 5 && shown <= size + 5, `size shown ${shown}, API ${size}`);
	eq(await text(page, '#who-sub'), 'sato', 'who');
	check((await text(page, '#who-role')).includes('officer'), 'role shown');
	eq(await text(page, '#cp-origin'), env.vkey.split('+')[0], 'origin');
	const store = await page.evaluate(() => ({
		session: sessionStorage.getItem('pdgate.token'),
		local: Object.keys(localStorage).map((k) => localStorage.getItem(k)),
		vkey: localStorage.getItem('pdgate.vkey'),
	}));
	eq(store.session, env.officer, 'token in sessionStorage');
	check(!store.local.some((v) => v && v.includes(env.officer.split('.')[2])), 'the token is in localStorage');
	eq(store.vkey, env.vkey, 'pinned key in localStorage');
	await shot(page, 'console-ledger');
});

test('search by partner, newest first, paged with after', async () => {
	const page = officerPage;
	await page.fill('#s-partner', 'sakura-mail');
	await page.selectOption('#s-limit', '25');
	await page.click('#search-go');
	await page.waitForFunction(() => document.querySelectorAll('#ledger-rows tr').length === 25);
	const rows = async () => page.$$eval('#ledger-rows tr', (trs) => trs.map((tr) => ({
		index: Number(tr.dataset.index), partner: tr.children[3].textContent,
	})));
	const first = await rows();
	check(first.every((r) => r.partner === 'sakura-mail'), `rows of other partners: ${JSON.stringify(first.filter((r) => r.partner !== 'sakura-mail'))}`);
	const idx = first.map((r) => r.index);
	eq(idx, [...idx].sort((a, b) => b - a), 'newest first');
	const api = pageOf(await staffJson('/v1/ledger/search?partner=sakura-mail&limit=25'));
	eq(idx, api.entries.map((e) => e.index), 'rows vs the API page');
	check(!(await page.isDisabled('#page-next')), 'next page enabled');
	await page.click('#page-next');
	await page.waitForFunction((top) => {
		const tr = document.querySelector('#ledger-rows tr');
		return tr && Number(tr.dataset.index) < top;
	}, idx[idx.length - 1] + 1);
	const second = await rows();
	check(second.length > 0 && second.every((r) => r.partner === 'sakura-mail'), 'second page rows');
	check(Math.max(...second.map((r) => r.index)) < Math.min(...idx), 'second page is older than the first');
	await page.click('#page-first');
	await page.waitForFunction((top) => Number(document.querySelector('#ledger-rows tr').dataset.index) === top, idx[0]);
	// Other filters: kind and purpose.
	await page.fill('#s-partner', '');
	await page.selectOption('#s-kind', 'admin');
	await page.click('#search-go');
	await page.waitForFunction(() => [...document.querySelectorAll('#ledger-rows tr')].every((tr) => tr.className === 'kind-admin') && document.querySelectorAll('#ledger-rows tr').length > 0);
	await page.selectOption('#s-kind', '');
	await page.fill('#s-member', member(3));
	await page.click('#search-go');
	await page.waitForFunction(() => !/…|\.\.\./.test(document.getElementById('search-info').textContent));
	const sub = await page.$$eval('#ledger-rows tr td:nth-child(7) code', (cs) => [...new Set(cs.map((c) => c.title))]);
	check(sub.length === 1, `a member search shows one subject reference, got ${JSON.stringify(sub)}`);
	await page.fill('#s-member', '');
	// Dates are JST days: today holds every entry, tomorrow none.
	const today = new Date(Date.now() + 9 * 3600e3).toISOString().slice(0, 10);
	const tomorrow = new Date(Date.now() + 33 * 3600e3).toISOString().slice(0, 10);
	await page.fill('#s-partner', 'sakura-mail');
	await page.fill('#s-from', today);
	await page.fill('#s-to', today);
	await page.click('#search-go');
	await page.waitForFunction((top) => {
		const tr = document.querySelector('#ledger-rows tr');
		return tr && Number(tr.dataset.index) === top;
	}, idx[0]);
	await page.fill('#s-from', tomorrow);
	await page.fill('#s-to', tomorrow);
	await page.click('#search-go');
	await page.waitForFunction((none) => document.getElementById('search-info').textContent === none, STRINGS.ja.search_none);
	eq(await page.$$eval('#ledger-rows tr', (r) => r.length), 0, 'rows for tomorrow');
	await page.click('#search-form button[type=reset]');
	await page.waitForFunction(() => document.querySelectorAll('#ledger-rows tr').length > 0);
});

test('inclusion proof of a row checked in the page', async () => {
	const page = officerPage;
	await page.fill('#s-partner', 'shiken-proctor');
	await page.click('#search-go');
	await page.waitForFunction(() => {
		const tr = document.querySelector('#ledger-rows tr');
		return tr && tr.children[3].textContent === 'shiken-proctor';
	});
	const row = page.locator('#ledger-rows tr').first();
	await row.locator('button.proof').click();
	await page.waitForFunction(() => document.querySelector('#ledger-rows tr td:last-child span'));
	const got = await row.locator('td').last().textContent();
	check(got.startsWith('✓'), `inclusion: ${got}`);
});

test('subject report for a member id, with download', async () => {
	const page = officerPage;
	await page.click('#tab-reports');
	const want = await staffJson(`/v1/reports/subject/${member(3)}`);
	await page.fill('#rs-member', member(3));
	await page.click('#r-subject button[type=submit]');
	await page.waitForFunction(() => document.getElementById('report-raw').textContent.length > 0);
	const raw = JSON.parse(await page.textContent('#report-raw'));
	eq(raw, want, 'report shown vs the API');
	const shown = await text(page, '#report-body');
	check(shown.includes('shiken-proctor'), 'the report names the partner that received the member');
	const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#r-subject button[data-download=json]')]);
	check(/\.json$/.test(dl.suggestedFilename()), `file name ${dl.suggestedFilename()}`);
	eq(JSON.parse(fs.readFileSync(await dl.path(), 'utf8')), want, 'downloaded subject report');
	await shot(page, 'console-report');
});

test('member page: an officer records a stop_use request (in force at once), prints the disclosure, closes it', async () => {
	const page = officerPage;
	const m = member(7);
	await page.click('#tab-members');
	await page.fill('#mem-id', m);
	await page.click('#mem-form button[type=submit]');
	await page.waitForSelector('#mem-restrictions');
	eq(await page.getAttribute('#mem-restrictions', 'data-stop-use'), 'false', 'no restriction at first');
	await page.selectOption('#mem-type', 'stop_use');
	await page.fill('#mem-channel', '電話');
	await page.fill('#mem-note', '<b>本人</b>から電話');
	await page.click('#mem-new button[type=submit]');
	await page.waitForSelector('#mem-restrictions[data-stop-use=true]');
	const row = page.locator('#mem-rows tr[data-status=open]').first();
	const id = await row.getAttribute('data-request');
	check(/^RQ-\d{4}-\d{6}$/.test(id || ''), `request id ${id}`);
	check((await row.textContent()).includes('<b>本人</b>から電話'), 'the note shown as text, not markup');
	const api = await staffJson(`/v1/subjects/${m}`);
	eq(api.restrictions, { stop_use: true, stop_third_party: false }, 'the API agrees');
	const r = await partnerGet('shiken-proctor', 'CT-2026-0002', 'service_delivery', `/v1/members/${m}`);
	eq([r.status, JSON.parse(r.text).error], [403, 'member_restricted'], 'a partner is refused at once');
	// the disclosure document in a window of its own, its style allowed by the console's policy
	const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#mem-print')]);
	const problems = [];
	popup.on('console', (msg) => { if (/Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(msg.text()); });
	await popup.waitForFunction(() => document.querySelector('h1') && document.querySelector('h1').textContent.includes('開示'));
	const body = await popup.textContent('body');
	check(body.includes(m) && body.includes('提供先'), 'the disclosure names the member and the recipients');
	eq(await popup.evaluate(() => getComputedStyle(document.querySelector('header')).borderBottomStyle), 'solid',
		'the document\'s style applies under the console\'s policy');
	eq(await popup.evaluate(() => document.querySelectorAll('script').length), 0, 'no script in the document');
	eq(problems, [], 'no CSP violation in the document window');
	await popup.close();
	// close it as withdrawn: the restriction is lifted
	await page.selectOption(`#mem-outcome-${id}`, 'withdrawn');
	await row.locator('button.mem-close').click();
	await page.waitForSelector(`#mem-rows tr[data-request="${id}"][data-status=closed]`);
	eq(await page.getAttribute('#mem-restrictions', 'data-stop-use'), 'false', 'withdrawn lifts it');
	await shot(page, 'console-members');
	await page.click('#tab-reports'); // as the cases after this one expect
});

test('member page: an auditor sees the requests but no controls, and the API refuses the act', async () => {
	const page = await newPage();
	await signIn(page, env.auditor);
	await page.click('#tab-members');
	await page.fill('#mem-id', member(7));
	await page.click('#mem-form button[type=submit]');
	await page.waitForSelector('#mem-rows tr[data-request]');
	eq(await page.$$eval('#mem-new', (f) => f.length), 0, 'no form to record a request');
	eq(await page.$$eval('#mem-rows button.mem-close', (b) => b.length), 0, 'no close buttons');
	check(await page.isVisible('#mem-print'), 'printing is for auditors too');
	const r = await request('POST', `/v1/subjects/${member(7)}/requests`, { token: env.auditor, body: { type: 'stop_use', received: '2026-04-01' } });
	eq(r.status, 403, 'an auditor POST');
	await page.context().close();
});

test('anonymised data sets: pdgate anonymize through the running gateway, listed with its notice for an auditor; data shown as text; the notice downloaded; English labels', async () => {
	const spec = path.join(env.tmp, 'anon-spec.json');
	const dir = path.join(env.tmp, 'anon-set');
	fs.writeFileSync(spec, JSON.stringify({
		id: 'AN-2026-0901', title: '<b>会員</b>属性統計用データ', recipient: '一般財団法人 生活文化研究所',
		method: '暗号化した電子ファイルを記録媒体で手渡し', k: 2,
		quasi: { gender: null, 'membership.grade': null }, attributes: ['courses[].code'],
	}));
	const made = JSON.parse(pdgate(['anonymize', '-c', env.conf, '--spec', spec, '--out', dir, '--staff', 'sato']).trim().split('\n').pop());
	eq(made.recorded_by, 'gateway', 'recorded through the running gateway');
	const published = fs.readFileSync(path.join(dir, 'publication.txt'), 'utf8');
	const page = await newPage();
	await signIn(page, env.auditor);
	await page.click('#tab-anon');
	const row = page.locator('#anon-rows tr[data-dataset="AN-2026-0901"]');
	await row.waitFor();
	const cells = await row.textContent();
	check(cells.includes('<b>会員</b>属性統計用データ'), 'the title shown as text, not markup');
	check(cells.includes('一般財団法人 生活文化研究所') && cells.includes(`#${made.ledger_index}`), 'recipient and ledger index');
	check(cells.includes('courses[].code') && cells.includes('sato'), 'items and who made it');
	eq(await page.locator('#anon-rows b').count(), 0, 'no element made from data');
	eq(await row.locator('td.num').allTextContents(), ['2', String(made.rows), String(made.suppressed), String(made.left_out), String(made.replaced)], 'figures');
	await page.click('tr[data-notice="AN-2026-0901"] summary');
	const notice = await page.textContent('tr[data-notice="AN-2026-0901"] pre.notice');
	eq(notice, published, 'the notice listed is publication.txt');
	check(notice.includes('第43条第4項') && notice.includes('暗号化した電子ファイル'), 'Art. 43(4) and the method');
	const [dl] = await Promise.all([page.waitForEvent('download'), page.click('tr[data-notice="AN-2026-0901"] .anon-download')]);
	eq(dl.suggestedFilename(), 'publication_AN-2026-0901.txt', 'file name');
	eq(fs.readFileSync(await dl.path(), 'utf8'), published, 'the notice downloaded');
	await page.click('#lang-toggle');
	await page.waitForFunction(() => document.querySelector('#panel-anon h2') && document.querySelector('#panel-anon h2').textContent.startsWith('Anonymised'));
	await page.locator('#anon-rows tr[data-dataset="AN-2026-0901"]').waitFor();
	check((await page.textContent('#anon-table thead')).includes('Rows suppressed'), 'English column names');
	await shot(page, 'console-anon');
	await page.click('#lang-toggle');
	await page.context().close();
});

test('provisions CSV and JSON downloads, breach and summary views', async () => {
	const page = officerPage;
	await page.fill('#rp-partner', 'sakura-mail');
	const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#r-provisions button[data-download=csv]')]);
	check(/sakura-mail.*\.csv$/.test(dl.suggestedFilename()), `file name ${dl.suggestedFilename()}`);
	const csv = fs.readFileSync(await dl.path());
	const want = (await staffGet('/v1/reports/provisions?partner=sakura-mail&format=csv')).buf;
	check(csv.equals(want), 'downloaded CSV differs from the API answer');
	check(csv[0] === 0xef && csv[1] === 0xbb && csv[2] === 0xbf, 'the CSV starts with a UTF-8 BOM');
	const [dj] = await Promise.all([page.waitForEvent('download'), page.click('#r-provisions button[data-download=json]')]);
	eq(JSON.parse(fs.readFileSync(await dj.path(), 'utf8')), await staffJson('/v1/reports/provisions?partner=sakura-mail&format=json'), 'downloaded provisions JSON');
	await page.fill('#rb-partner', 'sakura-mail');
	await page.click('#r-breach button[type=submit]');
	await page.waitForFunction(() => document.getElementById('report-raw').textContent.includes('sakura-mail'));
	const breach = JSON.parse(await page.textContent('#report-raw'));
	eq(breach, await staffJson('/v1/reports/breach?partner=sakura-mail'), 'breach report vs API');
	check(await page.isVisible('#report-body .headline'), 'breach headline shown');
	await page.click('#r-summary button[type=submit]');
	await page.waitForFunction(() => /rows|partner/.test(document.getElementById('report-raw').textContent) && document.getElementById('report-out-h').textContent.length > 0);
});

test('a recipient abroad: only members consenting to provision abroad; its country on the provisions and partners pages', async () => {
	const page = officerPage;
	const r = await partnerGet('imd-registry', 'CT-2026-0007', 'service_delivery', '/v1/members?limit=100');
	eq(r.status, 200, `imd-registry page: ${r.text.slice(0, 200)}`);
	const got = r.json();
	check(got.members.length > 0 && got.withheld > 0 && got.members.length + got.withheld === 60,
		`released ${got.members.length}, withheld ${got.withheld} of 60`);
	await page.click('#tab-reports');
	await page.fill('#rp-partner', 'imd-registry');
	await page.click('#r-provisions button[type=submit]');
	await page.waitForFunction(() => document.getElementById('report-raw').textContent.includes('imd-registry'));
	const raw = JSON.parse(await page.textContent('#report-raw'));
	eq(raw, await staffJson('/v1/reports/provisions?partner=imd-registry'), 'provisions shown vs the API');
	eq(raw.records.length, got.members.length, 'one provision record per member released');
	check(raw.records.every((x) => x.country === 'SG' && x.basis_label.includes('第28条')), `records abroad: ${JSON.stringify(raw.records[0])}`);
	const heads = await page.$$eval('#report-body table.report thead th', (ths) => ths.map((th) => th.textContent.trim()));
	check(heads.includes(STRINGS.ja.col_country), `a country column: ${JSON.stringify(heads)}`);
	const cells = await page.$$eval('#report-body .abroad[data-country=SG]', (xs) => xs.map((x) => x.textContent));
	eq(cells.length, got.members.length, 'a country cell for each release abroad');
	check(cells.every((x) => x.includes('シンガポール') && x.includes('SG')), `the country in Japanese: ${cells[0]}`);
	await shot(page, 'console-abroad');
	await page.click('#tab-partners');
	const row = await partnerRow(page, 'imd-registry');
	await row.waitFor();
	const mark = row.locator('.abroad[data-country=SG]');
	eq(await mark.count(), 1, 'the partners page marks the contract abroad');
	check((await mark.getAttribute('title')).includes('シンガポール'), 'its title gives the recipient\'s measures');
	eq(await (await partnerRow(page, 'sakura-mail')).locator('.abroad').count(), 0, 'a partner in Japan is not marked');
});

test('summary: certificates ending soon drawn from certificates_expiring', async () => {
	const page = officerPage;
	await page.click('#tab-reports');
	await page.click('#r-summary button[type=submit]');
	await page.waitForSelector('#certs-expiring table');
	const want = (await staffJson('/v1/supervision/summary')).certificates_expiring;
	const mine = want.find((c) => c.kind === 'partner' && c.name === 'kaede-expiring');
	check(mine && mine.sha256 === env.expiringFp && [9, 10].includes(mine.days_left),
		`the API lists the 10-day certificate: ${JSON.stringify(want)}`);
	check(!want.some((c) => c.name === 'sakura-mail'), 'a 397-day certificate is not listed');
	const rows = await page.$$eval('#certs-expiring tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
	eq(rows.length, want.length, 'one row per item of certificates_expiring');
	const row = rows.find((r) => r[1] === 'kaede-expiring');
	check(row, `a row for kaede-expiring: ${JSON.stringify(rows)}`);
	eq(row[0], STRINGS.ja.cert_kind_partner, 'its kind, in Japanese');
	eq(row[3], String(mine.days_left), 'its days left');
	check(mine.sha256.startsWith(row[4].replace('…', '')), `its fingerprint, shortened: ${row[4]}`);
	check(/\d{4}\/\d{2}\/\d{2}/.test(row[2]), `its end in Japan time: ${row[2]}`);
	eq(await text(page, '#certs-expiring-h'), STRINGS.ja.certs_expiring, 'the heading');
	await shot(page, 'console-summary-certificates');
});

test('breach: CSV download, and the officer\'s notification list after a confirmation, ledgered', async () => {
	const page = officerPage;
	await page.click('#tab-reports');
	await page.fill('#rb-partner', 'sakura-mail');
	const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#rb-csv')]);
	check(/breach.*sakura-mail.*\.csv$/.test(dl.suggestedFilename()), `file name ${dl.suggestedFilename()}`);
	const csv = fs.readFileSync(await dl.path());
	check(csv.equals((await staffGet('/v1/reports/breach?partner=sakura-mail&format=csv')).buf), 'breach CSV == the API answer');
	check(csv.toString('utf8').startsWith('\ufeffmember_id,subject,items,'), 'breach CSV columns');
	// cancelled: nothing recorded
	const size0 = (await staffJson('/v1/ledger/search?kind=admin&limit=1')).entries?.[0]?.index;
	await page.click('#rb-notify');
	await page.waitForSelector('#leak-dialog[open]');
	check((await text(page, '#leak-dialog h2')).includes('sakura-mail'), 'the dialog names the partner');
	check((await text(page, '#leak-dialog p')).includes('台帳に記録'), 'the dialog says it is recorded');
	await page.click('#leak-dialog button.ghost');
	await page.waitForSelector('#leak-dialog', { state: 'detached' });
	eq((await staffJson('/v1/ledger/search?kind=admin&limit=1')).entries?.[0]?.index, size0, 'cancel recorded nothing');
	await page.click('#rb-notify');
	await page.waitForSelector('#leak-dialog[open]');
	await page.fill('#leak-reason', '漏えい事案 LK-console');
	const [nl] = await Promise.all([page.waitForEvent('download'), page.click('#leak-dialog button[type=submit]')]);
	check(/notification.*sakura-mail.*\.csv$/.test(nl.suggestedFilename()), `file name ${nl.suggestedFilename()}`);
	const list = fs.readFileSync(await nl.path(), 'utf8');
	check(list.startsWith('\ufeffmember_id,subject,items,releases,first,last,partner,partner_name,origin,name.family,'),
		`notification list columns: ${list.slice(0, 120)}`);
	const breach = await staffJson('/v1/reports/breach?partner=sakura-mail');
	eq(list.trimEnd().split('\r\n').length - 1, breach.count, 'one row per affected member');
	const last = (await staffJson('/v1/ledger/search?kind=admin&limit=1')).entries[0];
	const leaf = typeof last === 'string' ? JSON.parse(last) : last;
	eq([leaf.admin.action, leaf.admin.target, leaf.admin.reason, leaf.admin.detail.count],
		['notification_list', 'sakura-mail', '漏えい事案 LK-console', String(breach.count)], 'the admin entry');
});

test('summary: deletion_due with the My Number flag; the officer records a deletion and it is gone', async () => {
	const page = officerPage;
	const r = await partnerGet('midori-payroll', 'CT-2026-0006', 'my_number_affairs', '/v1/members?limit=3');
	check(r.status === 200, `payroll page: ${r.status} ${r.text.slice(0, 200)}`);
	const file = path.join(env.dir, 'contracts', 'CT-2026-0006.json');
	const ct = JSON.parse(fs.readFileSync(file, 'utf8'));
	fs.writeFileSync(file, JSON.stringify({ ...ct, status: 'terminated' }, null, 2));
	env.proc.kill('SIGHUP');
	await waitFor(async () => (await staffJson('/v1/supervision/summary')).deletion_due.some((d) => d.contract === 'CT-2026-0006'),
		5000, 'the terminated payroll contract in deletion_due');
	await page.click('#tab-reports');
	await page.click('#r-summary button[type=submit]');
	const row = page.locator('#deletion-due tr[data-contract="CT-2026-0006"]');
	await row.waitFor();
	eq(await row.locator('.my-number').textContent(), STRINGS.ja.my_number_flag, 'the My Number flag');
	await row.locator('button[data-deletion]').click();
	await page.waitForSelector('#leak-dialog[open]');
	await page.click('#leak-dialog button[type=submit]'); // empty: refused in the dialog
	check(await page.isVisible('#leak-dialog .form-error'), 'the required fields are asked for');
	await page.fill('#leak-attested_by', 'みどり給与計算 情報管理責任者');
	await page.fill('#leak-certificate', '削除証明書 DC-console');
	await page.click('#leak-dialog button[type=submit]');
	await page.waitForSelector('#leak-dialog', { state: 'detached' });
	await waitFor(async () => !(await page.$('#deletion-due tr[data-contract="CT-2026-0006"]')), 5000,
		'the contract to leave deletion_due');
	check(!(await staffJson('/v1/supervision/summary')).deletion_due.some((d) => d.contract === 'CT-2026-0006'), 'the API agrees');
	await shot(page, 'console-deletion-due');
});

test('releases per partner per day drawn as SVG', async () => {
	const page = officerPage;
	await page.click('#tab-chart');
	await page.waitForFunction(() => document.querySelectorAll('#chart svg rect').length > 0);
	const legend = await page.$$eval('#chart-legend li', (lis) => lis.map((l) => l.textContent));
	for (const p of ['sakura-mail', 'shiken-proctor']) check(legend.some((l) => l.startsWith(p)), `legend lacks ${p}: ${legend}`);
	const total = legend.reduce((s, l) => s + Number((l.match(/\((\d+)\)$/) || [0, 0])[1]), 0);
	let releases = 0;
	let after = null;
	for (;;) {
		const pg = pageOf(await staffJson(`/v1/ledger/search?kind=release&limit=1000${after !== null ? `&after=${after}` : ''}`));
		releases += pg.entries.length;
		if (pg.next === null || pg.next === undefined || pg.entries.length === 0) break;
		after = pg.next;
	}
	eq(total, releases, 'releases in the chart legend vs the ledger');
	check(await page.getAttribute('#chart svg', 'role') === 'img' && (await page.getAttribute('#chart svg', 'aria-label')), 'the chart has an accessible name');
	await shot(page, 'console-chart');
});

test('officer suspends a partner (dialog with reason): 403, admin entry; resumes: 200', async () => {
	const page = officerPage;
	await page.click('#tab-partners');
	const row = await partnerRow(page, 'sakura-mail');
	await row.waitFor();
	eq(await row.getAttribute('data-state'), 'active', 'state before');
	const path1 = `/v1/members/${member(25)}`;
	eq((await partnerGet('sakura-mail', 'CT-2026-0001', 'contact', path1)).status, 200, 'partner request before');
	await row.locator('button[data-action=suspend]').click();
	await page.waitForSelector('#confirm[open]');
	check((await text(page, '#confirm-h')).includes('sakura-mail'), 'the dialog names the partner');
	await page.click('#confirm-ok'); // no reason: refused in the dialog
	check(await page.isVisible('#confirm-error'), 'a missing reason is refused');
	check(await page.$('#confirm[open]'), 'the dialog stays open without a reason');
	await page.keyboard.press('Escape');
	await page.waitForSelector('#confirm', { state: 'hidden' });
	eq((await partnerGet('sakura-mail', 'CT-2026-0001', 'contact', path1)).status, 200, 'after cancel, still served');
	await row.locator('button[data-action=suspend]').click();
	await shot(page, 'console-confirm');
	await confirmDialog(page, '委託先からの漏えい報告（テスト）');
	await page.waitForSelector('#partners-rows tr[data-partner="sakura-mail"][data-state=suspended]');
	const r = await partnerGet('sakura-mail', 'CT-2026-0001', 'contact', path1);
	eq(r.status, 403, 'partner request while suspended');
	eq(r.json().error, 'partner_suspended', 'error code');
	eq((await partnerGet('shiken-proctor', 'CT-2026-0002', 'service_delivery', `/v1/members/${member(2)}`)).status, 200, 'another partner is still served');
	const adm = pageOf(await staffJson('/v1/ledger/search?kind=admin&limit=5')).entries;
	const hit = adm.find((e) => JSON.stringify(e).includes('委託先からの漏えい報告（テスト）'));
	check(hit, `no admin entry with the reason among ${JSON.stringify(adm).slice(0, 400)}`);
	check(JSON.stringify(hit).includes('sato'), 'the admin entry names the officer');
	await row.locator('button[data-action=resume]').click();
	await confirmDialog(page, '調査完了');
	await page.waitForSelector('#partners-rows tr[data-partner="sakura-mail"][data-state=active]');
	eq((await partnerGet('sakura-mail', 'CT-2026-0001', 'contact', path1)).status, 200, 'partner request after resume');
});

test('officer suspends and resumes the whole gateway: 503 for partners, then served', async () => {
	const page = officerPage;
	check(await page.isVisible('#danger'), 'the danger zone is shown to an officer');
	await page.click('#gw-suspend');
	await confirmDialog(page, '緊急停止の訓練');
	await page.waitForSelector('#gateway-state[data-state=suspended]');
	const r = await partnerGet('shiken-proctor', 'CT-2026-0002', 'service_delivery', `/v1/members/${member(2)}`);
	eq(r.status, 503, 'partner request while the gateway is suspended');
	eq(r.json().error, 'gateway_suspended', 'error code');
	await shot(page, 'console-gateway-suspended');
	await page.click('#gw-resume');
	await confirmDialog(page, '訓練終了');
	await page.waitForSelector('#gateway-state[data-state=active]');
	eq((await partnerGet('shiken-proctor', 'CT-2026-0002', 'service_delivery', `/v1/members/${member(2)}`)).status, 200, 'after resume');
});

test('a later checkpoint is proven consistent with the one seen before', async () => {
	const page = officerPage;
	await page.click('#ledger-refresh');
	await page.waitForSelector('#verify-badge[data-state=good]');
	const before = await checkpointSize();
	eq((await partnerGet('shiken-proctor', 'CT-2026-0002', 'service_delivery', `/v1/members/${member(4)}`)).status, 200, 'a new release');
	check((await settled()) > before, 'the ledger grew');
	await page.click('#ledger-refresh');
	await page.waitForSelector('#verify-badge[data-state=good]');
	const cls = await page.getAttribute('#consistency', 'class');
	const msg = await text(page, '#consistency');
	eq(cls, 'good-text', `consistency (${msg})`);
	check(msg.startsWith('✓'), `consistency message: ${msg}`);
});

test('a rolled-back checkpoint (older, validly signed) is NOT verified', async () => {
	const page = officerPage;
	await page.route('**/v1/ledger/checkpoint', (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: firstCheckpoint }));
	await page.click('#ledger-refresh');
	await page.waitForSelector('#verify-badge[data-state=bad]');
	check((await text(page, '#consistency')).includes('✗'), 'the rollback is named');
	await page.unroute('**/v1/ledger/checkpoint');
	await page.click('#ledger-refresh');
	await page.waitForSelector('#verify-badge[data-state=good]');
});

test('a tampered checkpoint signature is NOT verified', async () => {
	const page = await newPage();
	const note = await checkpointNow();
	const at = note.lastIndexOf(' ') + 10;
	const bad = note.slice(0, at) + (note[at] === 'A' ? 'B' : 'A') + note.slice(at + 1);
	await page.route('**/v1/ledger/checkpoint', (route) => route.fulfill({ status: 200, contentType: 'text/plain; charset=utf-8', body: bad }));
	await signIn(page, env.auditor);
	eq(await badge(page), 'bad', 'badge');
	eq(await text(page, '#verify-badge'), STRINGS.ja.not_verified, 'badge text');
	check((await text(page, '#verify-why')).startsWith(STRINGS.ja.why_bad_signature), `why: ${await text(page, '#verify-why')}`);
	await shot(page, 'console-not-verified');
	await page.context().close();
});

// A witness key made here, and its cosignature/v1 line on a note (c2sp.org/tlog-cosignature),
// with node's own crypto: apart from the page's Web Crypto.
function witnessKey(name) {
	const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
	const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
	const raw = Buffer.concat([Buffer.of(4), pub]);
	const kid = crypto.createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), raw])).digest().subarray(0, 4);
	return { name, privateKey, kid, vkey: `${name}+${kid.toString('hex')}+${raw.toString('base64')}` };
}

function cosign(note, w, ts) {
	const text = note.slice(0, note.lastIndexOf('\n\n') + 1);
	const sig = crypto.sign(null, Buffer.concat([Buffer.from(`cosignature/v1\ntime ${ts}\n`), Buffer.from(text)]), w.privateKey);
	const t = Buffer.alloc(8);
	t.writeBigUInt64BE(BigInt(ts));
	return `${note}\u2014 ${w.name} ${Buffer.concat([w.kid, t, sig]).toString('base64')}\n`;
}

// The line of witness w in note with one byte of its decoded signature changed.
function tamperCosignature(note, w, at) {
	return note.split('\n').map((l) => {
		if (!l.startsWith(`\u2014 ${w.name} `)) return l;
		const b = Buffer.from(l.split(' ')[2], 'base64');
		b[at] ^= 1;
		return `\u2014 ${w.name} ${b.toString('base64')}`;
	}).join('\n');
}

test('verify.js in node: cosignature/v1 lines of pinned witnesses checked, tampered ones refused, unknown ones not counted', async () => {
	const note = await checkpointNow();
	const vk = await V.parseVkey(env.vkey);
	const [w1, w2, w3] = ['audit.example/w1', 'partner.example/w2', 'other.example/w3'].map(witnessKey);
	const now = Math.floor(Date.now() / 1000);
	const cosigned = cosign(cosign(note, w1, now), w3, now + 1);
	const keys = [await V.parseCosignerVkey(w1.vkey), await V.parseCosignerVkey(w2.vkey)];
	const got = await V.checkCosignatures(cosigned, vk, keys);
	eq(got.map((w) => [w.name, w.state]), [[w1.name, 'valid'], [w3.name, 'unknown'], [w2.name, 'missing']], 'states');
	eq(got[0].time, now, 'the timestamp');
	await V.verifyCheckpoint(cosigned, vk); // the log's signature still verifies
	for (const [at, what] of [[40, 'the signature'], [11, 'the timestamp'], [4, 'the timestamp\'s high byte']]) {
		const bad = await V.checkCosignatures(tamperCosignature(cosigned, w1, at), vk, keys);
		eq(bad[0].state, 'invalid', `a cosignature changed in ${what}`);
	}
	// the same line over another checkpoint body (its size changed) does not verify
	const lines = cosigned.split('\n');
	lines[1] = String(Number(lines[1]) + 1);
	eq((await V.checkCosignatures(lines.join('\n'), vk, keys))[0].state, 'invalid', 'over another body');
	// a log key is not a witness key, nor the reverse; a wrong key id is refused
	for (const [line, f] of [[env.vkey, V.parseCosignerVkey], [w1.vkey, V.parseVkey],
		[w1.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+'), V.parseCosignerVkey]]) {
		let code = null;
		try {
			await f(line);
		} catch (e) {
			code = e.code;
		}
		check(code === 'vkey_malformed' || code === 'vkey_keyid', `${line.slice(0, 30)}… accepted (${code})`);
	}
});

test('the page shows which witnesses cosigned the checkpoint, verified in the browser; a tampered cosignature is NOT verified', async () => {
	const page = await newPage();
	const note = await checkpointNow();
	const [w1, w2, w3] = ['audit.example/w1', 'partner.example/w2', 'other.example/w3'].map(witnessKey);
	const now = Math.floor(Date.now() / 1000);
	let serve = cosign(cosign(note, w1, now), w3, now);
	await page.route('**/v1/ledger/checkpoint', (route) => route.fulfill({ status: 200, contentType: 'text/plain; charset=utf-8', body: serve }));
	await signIn(page, env.auditor);
	eq(await badge(page), 'good', 'the log\'s signature verifies with no witness pinned');
	eq(await page.getAttribute('#cp-witnesses li[data-witness="audit.example/w1"]', 'data-state'), 'unknown', 'w1 before pinning');
	await page.click('#witness-edit');
	await page.fill('#witnesses2', `${w1.vkey}\n${w2.vkey}\n`);
	await page.click('#witness-form button[type=submit]');
	await page.waitForSelector('#cp-witnesses li[data-witness="audit.example/w1"][data-state=valid]');
	eq(await badge(page), 'good', 'badge with a valid cosignature');
	const states = await page.$$eval('#cp-witnesses li', (ls) => ls.map((l) => [l.dataset.witness, l.dataset.state]));
	eq(states, [[w1.name, 'valid'], [w3.name, 'unknown'], [w2.name, 'missing']], 'the list');
	eq(await text(page, '#cp-witness-count'), STRINGS.ja.wit_count.replace('{n}', '1').replace('{of}', '2'), 'the count');
	eq(await page.evaluate(() => localStorage.getItem('pdgate.witnesses')), `${w1.vkey}\n${w2.vkey}`, 'pinned in localStorage');
	await shot(page, 'console-witnesses');
	// both pinned witnesses cosign: 2 of 2
	serve = cosign(cosign(note, w1, now), w2, now + 2);
	await page.click('#ledger-refresh');
	await page.waitForSelector('#cp-witnesses li[data-witness="partner.example/w2"][data-state=valid]');
	eq(await text(page, '#cp-witness-count'), STRINGS.ja.wit_count.replace('{n}', '2').replace('{of}', '2'), '2 of 2');
	// a tampered cosignature by a pinned witness: the checkpoint is not verified
	serve = tamperCosignature(serve, w2, 50);
	await page.click('#ledger-refresh');
	await page.waitForSelector('#verify-badge[data-state=bad]');
	eq(await text(page, '#verify-why'), STRINGS.ja.why_bad_cosignature, 'why');
	eq(await page.getAttribute('#cp-witnesses li[data-witness="partner.example/w2"]', 'data-state'), 'invalid', 'w2 tampered');
	// a line that is not a witness key is refused when pinning
	await page.click('#witness-edit');
	await page.fill('#witnesses2', env.vkey);
	await page.click('#witness-form button[type=submit]');
	check(await page.isVisible('#witness-form'), 'a log key pinned as a witness key');
	await page.unroute('**/v1/ledger/checkpoint');
	await page.context().close();
});

test('a wrong verifier key is NOT verified; pinning the right one verifies', async () => {
	const page = await newPage();
	const pub = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
	const name = env.vkey.split('+')[0];
	const wrong = `${name}+${V.hex(await V.keyId(name, pub))}+${V.b64encode(Uint8Array.of(1, ...pub))}`;
	await signIn(page, env.auditor, wrong);
	eq(await badge(page), 'bad', 'badge with another key');
	check((await text(page, '#verify-why')).startsWith(STRINGS.ja.why_unsigned), `why: ${await text(page, '#verify-why')}`);
	await page.click('#vkey-edit');
	await page.fill('#vkey2', env.vkey);
	await page.click('#vkey-form button[type=submit]');
	await page.waitForSelector('#verify-badge[data-state=good]');
	// A key line whose key id does not match its key is refused at sign-in.
	const page2 = await newPage();
	await page2.goto(`${env.base}/`);
	await page2.fill('#token', env.auditor);
	await page2.fill('#vkey', wrong.replace(/\+([0-9a-f]{8})\+/, '+00000000+'));
	await page2.click('#signin-form button[type=submit]');
	await page2.waitForSelector('#signin-error:not([hidden])');
	check(await page2.isHidden('#console'), 'signed in with a broken key line');
	await page.context().close();
	await page2.context().close();
});

test('with no key pinned, the key the server offers is filled in and labelled as unpinned', async () => {
	const page = await newPage();
	await page.goto(`${env.base}/`);
	await page.waitForSelector('#signin:not([hidden])');
	eq(await page.inputValue('#vkey'), '', 'nothing pinned in a fresh browser');
	await page.fill('#token', env.auditor);
	await page.waitForSelector('#vkey-source:not([hidden])');
	eq(await page.inputValue('#vkey'), env.vkey, 'the offered key');
	eq(await text(page, '#vkey-source'), STRINGS.ja.vkey_from_server, 'the label');
	await page.click('#signin-form button[type=submit]');
	await page.waitForSelector('#verify-badge[data-state=good]');
	eq(await page.evaluate(() => localStorage.getItem('pdgate.vkey')), env.vkey, 'pinned on sign-in');
	await page.context().close();
});

test('an auditor sees no suspend or resume controls, and the API refuses them', async () => {
	const page = await newPage();
	await signIn(page, env.auditor);
	check((await text(page, '#who-role')).includes('auditor'), 'role shown');
	await page.click('#tab-partners');
	await page.waitForSelector('#partners-rows tr[data-partner]');
	eq(await page.$$eval('#partners-rows button', (b) => b.length), 0, 'buttons in the partners table');
	check(await page.isHidden('#danger'), 'the gateway danger zone is hidden');
	check(await page.isHidden('th.officer-only'), 'the actions column is hidden');
	check(await page.isHidden('#rb-notify'), 'the notification list button is hidden');
	const r = await request('POST', '/v1/partners/sakura-mail/suspend', { token: env.auditor, body: { reason: 'x' } });
	eq(r.status, 403, 'an auditor POST suspend');
	await shot(page, 'console-auditor');
	await page.context().close();
});

test('language toggle switches every label; Japanese is the default', async () => {
	const page = await newPage();
	await page.goto(`${env.base}/`);
	await page.waitForSelector('#signin:not([hidden])');
	eq(await page.getAttribute('html', 'lang'), 'ja', 'default language');
	eq(await text(page, '#signin-h'), STRINGS.ja.signin_title, 'sign-in title in Japanese');
	await page.click('#lang-toggle');
	eq(await page.getAttribute('html', 'lang'), 'en', 'language after toggle');
	eq(await text(page, '#signin-h'), STRINGS.en.signin_title, 'sign-in title in English');
	await page.fill('#token', env.officer);
	await page.fill('#vkey', env.vkey);
	await page.click('#signin-form button[type=submit]');
	await page.waitForSelector('#verify-badge[data-state=good]');
	eq(await text(page, '#verify-badge'), STRINGS.en.verified, 'badge in English');
	eq(await text(page, '#tab-ledger'), STRINGS.en.tab_ledger, 'tab in English');
	const texts = await page.$$eval('[data-i18n]', (ns) => ns.map((n) => [n.dataset.i18n, n.textContent]));
	for (const [k, v] of texts) if (k !== 'verified' && STRINGS.en[k] !== undefined) eq(v, STRINGS.en[k], `label ${k}`);
	await shot(page, 'console-english');
	await page.reload();
	await page.waitForSelector('#verify-badge[data-state=good]');
	eq(await page.getAttribute('html', 'lang'), 'en', 'the choice is remembered');
	await page.click('#lang-toggle');
	eq(await text(page, '#tab-ledger'), STRINGS.ja.tab_ledger, 'back to Japanese');
	await page.context().close();
});

test('keyboard: tabs with arrow keys, dialog with Escape, focus visible', async () => {
	const page = officerPage;
	await page.focus('#tab-ledger');
	await page.click('#tab-ledger');
	await page.keyboard.press('ArrowRight');
	eq(await page.evaluate(() => document.activeElement.id), 'tab-chart', 'focus after ArrowRight');
	eq(await page.getAttribute('#tab-chart', 'aria-selected'), 'true', 'selected after ArrowRight');
	check(await page.isVisible('#panel-chart') && (await page.isHidden('#panel-ledger')), 'panels follow the tab');
	await page.keyboard.press('End');
	eq(await page.evaluate(() => document.activeElement.id), 'tab-anon', 'End (the last tab)');
	await page.keyboard.press('Home');
	eq(await page.evaluate(() => document.activeElement.id), 'tab-ledger', 'Home');
	// Every form control has a label.
	const unlabelled = await page.$$eval('input:not([type=hidden]), select, textarea', (els) => els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.id));
	eq(unlabelled, [], 'controls without a label');
});

test('sign out clears the token; a reload stays signed out', async () => {
	const page = officerPage;
	await page.click('#sign-out');
	await page.waitForSelector('#signin:not([hidden])');
	eq(await page.evaluate(() => sessionStorage.getItem('pdgate.token')), null, 'token after sign-out');
	await page.reload();
	await page.waitForSelector('#signin:not([hidden])');
	check(await page.isHidden('#console'), 'console hidden after reload');
	eq(await page.inputValue('#vkey'), env.vkey, 'the pinned key stays');
	await page.context().close();
});

test('a token revoked during the session signs the page out', async () => {
	const tok = pdgate(['token', 'issue', '-c', env.conf, '--staff', 'takahashi', '--role', 'auditor', '--ttl', '1h']).trim();
	const jti = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString('utf8')).jti;
	const page = await newPage();
	await signIn(page, tok);
	pdgate(['token', 'revoke', '-c', env.conf, jti]);
	await waitFor(async () => (await staffGet('/v1/ledger/checkpoint', tok)).status === 401, 10000, 'the API to refuse the revoked token');
	await page.click('#ledger-refresh');
	await page.waitForSelector('#signin:not([hidden])');
	eq(await text(page, '#signin-error'), STRINGS.ja.msg_token_refused, 'the reason shown');
	eq(await page.evaluate(() => sessionStorage.getItem('pdgate.token')), null, 'the revoked token is dropped');
	await page.context().close();
});

test('a refused token is not kept and does not sign in', async () => {
	const page = await newPage();
	await page.goto(`${env.base}/`);
	await page.fill('#token', env.officer.slice(0, -4) + (env.officer.endsWith('AAAA') ? 'BBBB' : 'AAAA'));
	await page.fill('#vkey', env.vkey);
	await page.click('#signin-form button[type=submit]');
	await page.waitForSelector('#signin-error:not([hidden])');
	eq(await page.evaluate(() => sessionStorage.getItem('pdgate.token')), null, 'a refused token is not kept');
	await page.context().close();
});

test('the page used nothing but the gateway, with no CSP violation or script error', async () => {
	eq(foreignRequests, [], 'requests to elsewhere');
	eq(consoleProblems, [], 'console problems');
});

test('the daemon stops cleanly', async () => {
	const ex = await stopDaemon();
	eq(ex, { code: 0, sig: null }, `exit of pdgate serve (log: ${logTail(5)})`);
});

// ---------------------------------------------------------------------------------------------

async function main() {
	let setupError = null;
	try {
		if (!fs.existsSync(PDGATE)) throw new Failure(`no pdgate binary at ${PDGATE}: run make`);
		if (!fs.existsSync(CHROMIUM)) throw new Failure(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
		try {
			pw = await import('playwright-core');
		} catch {
			throw new Failure('playwright-core is not installed: npm ci in tests/browser');
		}
		await setup();
		const serverKey = new crypto.X509Certificate(fs.readFileSync(path.join(env.dir, 'pki', 'server.pem')))
			.publicKey.export({ type: 'spki', format: 'der' });
		const spki = crypto.createHash('sha256').update(serverKey).digest('base64');
		// launch() gives every run a fresh, temporary user-data dir of its own.
		browser = await pw.chromium.launch({
			executablePath: CHROMIUM,
			headless: true,
			args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
				'--disable-component-update', '--disable-sync', '--no-first-run',
				`--ignore-certificate-errors-spki-list=${spki}`],
		});
	} catch (e) {
		setupError = e;
	}
	if (setupError) {
		failed++;
		console.log(`not ok - setup: ${String(setupError.message || setupError).split('\n').join('\n#   ')}`);
	} else {
		await runCases();
	}
	if (browser) await browser.close().catch(() => {});
	if (env.proc && !env.exited) {
		env.proc.kill('SIGTERM');
		await waitFor(() => env.exited, 15000, 'the daemon to stop').catch(() => env.proc.kill('SIGKILL'));
	}
	if (env.tmp) {
		if (failed === 0 && !process.env.PDTEST_KEEP) fs.rmSync(env.tmp, { recursive: true, force: true });
		else console.log(`# files kept in ${env.tmp}${env.log ? ` (daemon log ${env.log})` : ''}`);
	}
	if (fs.existsSync(SHOTS)) console.log(`# screenshots in ${SHOTS}`);
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

main();
