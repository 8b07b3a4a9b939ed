// witnesses — which witnesses cosigned the latest checkpoint, each cosignature/v1 verified here
// (verify.js, Web Crypto Ed25519) with the witnesses' verifier keys this browser pinned. As for
// the ledger's own key, the page trusts no key the server would name: the officer pastes the
// witnesses' keys (given out of band by the auditors and partners who run them), one a line;
// a cosignature by a key not pinned is shown as not verified and never counted. Built with
// textContent only.

import { t, showTime } from './i18n.js';
import { el, clear } from './render.js';
import * as V from './verify.js';

const WITNESSES_KEY = 'pdgate.witnesses';
const $ = (id) => document.getElementById(id);

let deps = null; // {say, errText, refresh}
let pinned = []; // parsed cosigner keys

function stored() {
	try {
		return localStorage.getItem(WITNESSES_KEY) || '';
	} catch {
		return '';
	}
}

function keyLines(text) {
	return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

// The pinned keys, parsed; a line that does not parse is named in the list and not used.
async function loadPinned() {
	pinned = [];
	const bad = [];
	for (const line of keyLines(stored())) {
		try {
			pinned.push(await V.parseCosignerVkey(line));
		} catch (e) {
			bad.push(`${line.slice(0, 40)} — ${deps.errText(e)}`);
		}
	}
	return bad;
}

const MARK = { valid: '✓', invalid: '✗', unknown: '?', missing: '–' };
const CLASS = { valid: 'good-text', invalid: 'bad-text', unknown: 'warn-text', missing: 'muted' };

// Shows the cosignatures of note (a checkpoint the log's key verified, vkey) in #cp-witnesses.
// Returns false if a pinned witness's cosignature does not verify (the note is then refused,
// as pdgate ledger verify refuses it), else true.
export async function showWitnesses(note, vkey) {
	const list = $('cp-witnesses');
	clear(list);
	const bad = await loadPinned();
	let lines = [];
	if (note !== null) {
		try {
			lines = await V.checkCosignatures(note, vkey, pinned);
		} catch (e) {
			list.append(el('li', { class: 'bad-text', text: deps.errText(e) }));
			return false;
		}
	}
	for (const b of bad) list.append(el('li', { class: 'bad-text', text: b }));
	if (lines.length === 0 && bad.length === 0) list.append(el('li', { class: 'muted', text: t('wit_none') }));
	for (const w of lines) {
		const at = w.time !== null ? showTime(new Date(w.time * 1000).toISOString()) : '';
		list.append(el('li', { class: CLASS[w.state], dataset: { witness: w.name, state: w.state } },
			`${MARK[w.state]} `, el('code', { text: `${w.name}+${w.idHex}` }), ` ${t(`wit_${w.state}`, null, { at })}`));
	}
	const valid = lines.filter((w) => w.state === 'valid').length;
	$('cp-witness-count').textContent = t('wit_count', null, { n: valid, of: pinned.length });
	return !lines.some((w) => w.state === 'invalid');
}

async function onPin(ev) {
	ev.preventDefault();
	const lines = keyLines($('witnesses2').value);
	for (const line of lines) {
		try {
			await V.parseCosignerVkey(line);
		} catch (e) {
			deps.say(`${t('witnesses_label')}: ${deps.errText(e)}`, 'error');
			return;
		}
	}
	try {
		localStorage.setItem(WITNESSES_KEY, lines.join('\n'));
	} catch {
		deps.say(t('msg_storage'), 'warn');
	}
	$('witness-form').hidden = true;
	await deps.refresh();
}

export function initWitnesses(d) {
	deps = d;
	$('witness-edit').addEventListener('click', () => {
		$('witness-form').hidden = false;
		$('witnesses2').value = stored();
		$('witnesses2').focus();
	});
	$('witness-form').addEventListener('submit', onPin);
	$('witness-cancel').addEventListener('click', () => {
		$('witness-form').hidden = true;
	});
}
