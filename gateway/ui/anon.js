// anon — the anonymised data sets page (匿名加工情報, APPI Art. 43): every data set the ledger
// records (GET /v1/anonymised), its figures, and the notice published for it, to read, copy
// and download. Data sets are made with `pdgate anonymize`; the page only reads. Built with
// textContent only.

import { t, showTime } from './i18n.js';
import { el, clear, download } from './render.js';

let deps = null; // {api, say, errText}

function noticeFile(set) {
	return `publication_${set.id}.txt`.replace(/[^A-Za-z0-9._-]/g, '-');
}

function itemsCell(items) {
	return el('td', {}, el('ul', { class: 'plain' }, items.map((i) => el('li', {}, el('code', { text: i })))));
}

// One data set: a row of figures, and under it its notice folded in <details>.
function setRows(set) {
	const dl = el('button', { type: 'button', class: 'ghost small anon-download', text: t('anon_download') });
	dl.addEventListener('click', () => download(noticeFile(set), new Blob([set.notice], { type: 'text/plain;charset=utf-8' })));
	const row = el('tr', { dataset: { dataset: set.id } },
		el('td', { class: 'nowrap' }, el('code', { text: set.id })),
		el('td', { text: set.title }),
		el('td', { class: 'nowrap', text: set.made }),
		el('td', { class: 'num', text: String(set.k) }),
		el('td', { class: 'num', text: String(set.rows) }),
		el('td', { class: 'num', text: String(set.suppressed) }),
		el('td', { class: 'num', text: String(set.left_out) }),
		el('td', { class: 'num', text: String(set.replaced) }),
		el('td', { text: set.recipient ? `${set.recipient}（${set.method || ''}）` : t('anon_own_use') }),
		itemsCell(set.items),
		el('td', { text: set.by || '—' }),
		el('td', { class: 'nowrap' }, el('span', { text: showTime(set.time) }), el('br'), el('small', { class: 'muted', text: `#${set.ledger_index}` })));
	const notice = el('tr', { class: 'anon-notice-row', dataset: { notice: set.id } },
		el('td', { colspan: '12' }, el('details', {},
			el('summary', { text: t('anon_notice') }),
			el('pre', { class: 'notice', lang: 'ja', text: set.notice }),
			el('div', { class: 'buttons' }, dl))));
	return [row, notice];
}

async function load() {
	const out = document.getElementById('anon-out');
	let doc;
	try {
		doc = await deps.api.get('/v1/anonymised');
	} catch (e) {
		deps.say(deps.errText(e), 'error');
		return;
	}
	const sets = Array.isArray(doc && doc.datasets) ? doc.datasets.slice().reverse() : [];
	const head = ['anon_col_id', 'anon_col_title', 'anon_col_made', 'anon_col_k', 'anon_col_rows', 'anon_col_suppressed',
		'anon_col_left_out', 'anon_col_replaced', 'anon_col_recipient', 'anon_col_items', 'anon_col_by', 'anon_col_recorded'];
	clear(out).append(
		el('p', { id: 'anon-count', class: 'muted', text: t('anon_count', null, { n: sets.length }) }),
		el('div', { class: 'table-wrap' }, el('table', { class: 'data', id: 'anon-table' },
			el('caption', { class: 'visually-hidden', text: t('anon_title') }),
			el('thead', {}, el('tr', {}, head.map((k) => el('th', { scope: 'col', text: t(k) })))),
			el('tbody', { id: 'anon-rows' }, sets.length
				? sets.flatMap(setRows)
				: el('tr', {}, el('td', { colspan: '12', text: t('anon_none') }))))));
	out.hidden = false;
}

function skeleton(panel) {
	const refresh = el('button', { type: 'button', id: 'anon-refresh', class: 'ghost', text: t('refresh') });
	refresh.addEventListener('click', load);
	clear(panel).append(
		el('div', { class: 'card-head' }, el('h2', { text: t('anon_title') }), refresh),
		el('p', { class: 'hint', text: t('anon_hint') }),
		el('section', { id: 'anon-out', 'aria-live': 'polite', hidden: true }));
}

// Called once by app.js with what the page shares.
export function initAnon(d) {
	deps = d;
	skeleton(document.getElementById('panel-anon'));
}

// After sign-in and a language switch: drawn again from the API.
export function refreshAnon() {
	if (!deps) return;
	skeleton(document.getElementById('panel-anon'));
	load();
}
