// verify — the ledger's proofs checked in the browser: C2SP verifier keys, signed notes and
// checkpoints (Ed25519 with Web Crypto), and RFC 9162 inclusion and consistency proofs (SHA-256).
// Pure functions over bytes and strings: no DOM, no network, no storage, so the same file runs in
// node for the tests.

const enc = new TextEncoder();
const ED25519 = 0x01; // signature type byte of c2sp.org/signed-note
const COSIG_V1 = 0x04; // signature type byte of cosignature/v1 (c2sp.org/tlog-cosignature)
const MAX_COSIG_TIME = (1n << 63n) - 1n;
const SIG_PREFIX = '\u2014 '; // "— " begins every signature line
const MAX_NOTE = 1024 * 1024;

// Failure reasons are codes; the console translates them (i18n.js, "why_*").
export class VerifyError extends Error {
	constructor(code, detail) {
		super(detail ? `${code}: ${detail}` : code);
		this.code = code;
	}
}

function fail(code, detail) {
	throw new VerifyError(code, detail);
}

export function b64decode(s) {
	if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
		fail('malformed', 'not base64');
	}
	let bin;
	try {
		bin = atob(s);
	} catch {
		fail('malformed', 'not base64');
	}
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
	return out;
}

export function b64encode(bytes) {
	let bin = '';
	for (const b of bytes) bin += String.fromCharCode(b);
	return btoa(bin);
}

export function hex(bytes) {
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function equalBytes(a, b) {
	if (a.length !== b.length) return false;
	let d = 0;
	for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
	return d === 0;
}

function concat(...parts) {
	const n = parts.reduce((s, p) => s + p.length, 0);
	const out = new Uint8Array(n);
	let o = 0;
	for (const p of parts) {
		out.set(p, o);
		o += p.length;
	}
	return out;
}

export async function sha256(bytes) {
	return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

// A key name as signed-note allows it: non-empty, no '+', no whitespace, no control character.
function validName(name) {
	return name.length > 0 && !/[+\s\p{Cc}]/u.test(name);
}

// The key id of an Ed25519 key: the first 4 bytes of SHA-256(name || "\n" || type || pub),
// type 0x01 for a log's key, 0x04 for a witness's (cosignature/v1).
export async function keyId(name, pub, type = ED25519) {
	const h = await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, type), pub));
	return h.slice(0, 4);
}

// Parses "<name>+<hex8 key id>+<base64(0x01 || pub32)>" and checks that the key id is the one
// the name and key give. Returns {name, id (4 bytes), idHex, pub (32 bytes), key (CryptoKey)}.
export async function parseVkey(line) {
	return parseKey(line, ED25519);
}

// The same for a witness's verifier key, of type 0x04 (c2sp.org/tlog-cosignature).
export async function parseCosignerVkey(line) {
	return parseKey(line, COSIG_V1);
}

async function parseKey(line, type) {
	if (typeof line !== 'string') fail('vkey_malformed');
	line = line.trim();
	// The name has no '+' and the key id is hex; the base64 key may hold '+' itself.
	const a = line.indexOf('+');
	const b = a < 0 ? -1 : line.indexOf('+', a + 1);
	if (a < 0 || b < 0) fail('vkey_malformed', 'want name+keyid+key');
	const name = line.slice(0, a);
	const idHex = line.slice(a + 1, b);
	const keyB64 = line.slice(b + 1);
	if (!validName(name)) fail('vkey_malformed', 'bad key name');
	if (!/^[0-9a-f]{8}$/.test(idHex)) fail('vkey_malformed', 'key id is not 8 hex digits');
	let raw;
	try {
		raw = b64decode(keyB64);
	} catch {
		fail('vkey_malformed', 'key is not base64');
	}
	if (raw.length !== 33 || raw[0] !== type) {
		fail('vkey_malformed', type === ED25519 ? 'not an Ed25519 key' : 'not a cosignature/v1 key (type 0x04)');
	}
	const pub = raw.slice(1);
	const id = await keyId(name, pub, type);
	if (hex(id) !== idHex) fail('vkey_keyid', `key id ${idHex}, the key gives ${hex(id)}`);
	let key;
	try {
		key = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
	} catch (e) {
		fail('no_ed25519', String(e && e.message ? e.message : e));
	}
	return { name, id, idHex, pub, key, line };
}

// Splits a signed note into its text (ending in "\n") and its signature lines, as Go's
// note.Open does: the text ends at the last blank line.
export function splitNote(msg) {
	if (typeof msg !== 'string' || msg.length === 0) fail('malformed', 'empty note');
	if (enc.encode(msg).length > MAX_NOTE) fail('malformed', 'note too large');
	if (/[\p{Cc}]/u.test(msg.replace(/\n/g, ''))) fail('malformed', 'control character');
	if (!msg.endsWith('\n')) fail('malformed', 'no final newline');
	const split = msg.lastIndexOf('\n\n');
	if (split < 0) fail('malformed', 'no signature block');
	const text = msg.slice(0, split + 1);
	const sigBlock = msg.slice(split + 2);
	const lines = sigBlock.split('\n');
	lines.pop(); // the final newline
	if (lines.length === 0) fail('malformed', 'no signature lines');
	const sigs = lines.map((l) => {
		if (!l.startsWith(SIG_PREFIX)) fail('malformed', 'signature line without "— "');
		const rest = l.slice(SIG_PREFIX.length);
		const sp = rest.indexOf(' ');
		if (sp <= 0) fail('malformed', 'signature line without a name');
		const name = rest.slice(0, sp);
		const blob = b64decode(rest.slice(sp + 1));
		if (blob.length < 5) fail('malformed', 'signature too short');
		return { name, id: blob.slice(0, 4), sig: blob.slice(4) };
	});
	return { text, sigs };
}

// Parses checkpoint text: origin, size in decimal, base64 of a 32-byte root, each ending in "\n",
// then extension lines, which are ignored.
export function parseCheckpoint(text) {
	const lines = text.split('\n');
	if (lines.length < 4) fail('malformed', 'checkpoint has fewer than three lines');
	const [origin, sizeStr, rootB64] = lines;
	if (origin.length === 0) fail('malformed', 'empty origin');
	if (!/^(0|[1-9][0-9]*)$/.test(sizeStr)) fail('malformed', 'size is not a decimal number');
	const size = Number(sizeStr);
	if (!Number.isSafeInteger(size)) fail('malformed', 'size too large');
	const root = b64decode(rootB64);
	if (root.length !== 32) fail('malformed', 'root is not 32 bytes');
	return { origin, size, root, rootB64 };
}

// Verifies a checkpoint note against the pinned verifier key (from parseVkey). Returns
// {origin, size, root, rootB64, text}; throws VerifyError: 'malformed', 'unsigned' (no signature
// by the pinned key), 'bad_signature', 'origin_mismatch'.
export async function verifyCheckpoint(note, vkey) {
	const { text, sigs } = splitNote(note);
	const mine = sigs.filter((s) => s.name === vkey.name && equalBytes(s.id, vkey.id));
	if (mine.length === 0) fail('unsigned', `no signature by ${vkey.name}+${vkey.idHex}`);
	const data = enc.encode(text);
	for (const s of mine) {
		if (s.sig.length !== 64) fail('bad_signature', 'signature is not 64 bytes');
		const ok = await crypto.subtle.verify({ name: 'Ed25519' }, vkey.key, s.sig, data);
		if (!ok) fail('bad_signature');
	}
	const cp = parseCheckpoint(text);
	if (cp.origin !== vkey.name) fail('origin_mismatch', `origin ${cp.origin}, key ${vkey.name}`);
	return { ...cp, text };
}

// The witnesses' cosignatures on a checkpoint note, each line that is not the log's own (vkey,
// by name and key id): {name, idHex, state, time}. state is 'valid' (a pinned witness's
// cosignature/v1 that verifies: Ed25519 over "cosignature/v1\ntime <t>\n" + the note's text,
// the line holding key id || 8-byte big-endian t || signature), 'invalid' (a pinned witness's
// line that does not), 'unknown' (a key not pinned: shown, never counted) or 'missing' (a
// pinned witness with no line); time in seconds for a pinned witness's line.
export async function checkCosignatures(note, vkey, witnesses) {
	const { text, sigs } = splitNote(note);
	const body = enc.encode(text);
	const out = [];
	const seen = new Set();
	for (const s of sigs) {
		if (vkey && s.name === vkey.name && equalBytes(s.id, vkey.id)) continue;
		const w = witnesses.find((k) => k.name === s.name && equalBytes(k.id, s.id));
		const line = { name: s.name, idHex: hex(s.id), state: 'unknown', time: null };
		out.push(line);
		if (!w) continue;
		seen.add(w);
		line.state = 'invalid';
		if (s.sig.length !== 72) continue;
		const t = new DataView(s.sig.buffer, s.sig.byteOffset, 8).getBigUint64(0);
		if (t > MAX_COSIG_TIME) continue;
		line.time = Number(t);
		const msg = concat(enc.encode(`cosignature/v1\ntime ${t}\n`), body);
		if (await crypto.subtle.verify({ name: 'Ed25519' }, w.key, s.sig.slice(8), msg)) line.state = 'valid';
	}
	for (const w of witnesses) {
		if (!seen.has(w)) out.push({ name: w.name, idHex: w.idHex, state: 'missing', time: null });
	}
	return out;
}

async function nodeHash(left, right) {
	return sha256(concat(Uint8Array.of(0x01), left, right));
}

// RFC 9162 2.1.1: the hash of a leaf (the exact bytes of one exported line, no newline).
export async function leafHash(leaf) {
	const bytes = typeof leaf === 'string' ? enc.encode(leaf) : leaf;
	return sha256(concat(Uint8Array.of(0x00), bytes));
}

const lsb = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

// RFC 9162 2.1.3.2: does proof (array of 32-byte hashes) put the leaf with hash `leaf` at index
// in the tree of `size` leaves whose root is `root`?
export async function verifyInclusion(index, size, leaf, proof, root) {
	if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size)) || index < 0 || index >= size) return false;
	let fn = index;
	let sn = size - 1;
	let r = leaf;
	for (const p of proof) {
		if (p.length !== 32 || sn === 0) return false;
		if (lsb(fn) || fn === sn) {
			r = await nodeHash(p, r);
			if (!lsb(fn)) {
				while (!lsb(fn) && fn !== 0) {
					fn = half(fn);
					sn = half(sn);
				}
			}
		} else {
			r = await nodeHash(r, p);
		}
		fn = half(fn);
		sn = half(sn);
	}
	return sn === 0 && equalBytes(r, root);
}

// RFC 9162 2.1.4.2: is the tree of size `first` with root `firstRoot` a prefix of the tree of
// size `second` with root `secondRoot`, by proof?
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
	if (!(Number.isSafeInteger(first) && Number.isSafeInteger(second)) || first < 0 || first > second) return false;
	if (proof.some((p) => p.length !== 32)) return false;
	if (first === second) return proof.length === 0 && equalBytes(firstRoot, secondRoot);
	if (first === 0) return proof.length === 0; // the empty tree is a prefix of every tree
	let odd = first;
	while (odd % 2 === 0) odd /= 2;
	// An exact power of two is a complete subtree of the new tree: its root starts the path.
	const path = odd === 1 ? [firstRoot, ...proof] : proof;
	if (path.length === 0) return false;
	let fn = first - 1;
	let sn = second - 1;
	while (lsb(fn)) {
		fn = half(fn);
		sn = half(sn);
	}
	let fr = path[0];
	let sr = path[0];
	for (const c of path.slice(1)) {
		if (sn === 0) return false;
		if (lsb(fn) || fn === sn) {
			fr = await nodeHash(c, fr);
			sr = await nodeHash(c, sr);
			while (!lsb(fn) && fn !== 0) {
				fn = half(fn);
				sn = half(sn);
			}
		} else {
			sr = await nodeHash(sr, c);
		}
		fn = half(fn);
		sn = half(sn);
	}
	return sn === 0 && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot);
}
