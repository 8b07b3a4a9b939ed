// members — the member page: look a member up by id, their requests (開示・訂正・削除・利用停止・
// 第三者提供停止) and the restrictions pdgate holds; an officer records and closes requests; the
// disclosure document opens in a window of its own to print. Built with textContent only.

import { t, showTime } from './i18n.js';
import { el, clear } from './render.js';

const TYPES = ['disclosure', 'correction', 'deletion', 'stop_use', 'stop_third_party'];
const OUTCOMES = ['completed', 'refused', 'withdrawn'];

let deps = null; // {api, isOfficer, say, errText, today}
let shown = null; // the member id on the page

function field(id, labelKey, input) {
	return el('div', { class: 'field' }, el('label', { for: id, text: t(labelKey) }), input);
}

function select(id, values, prefix) {
	return el('select', { id }, values.map((v) => el('option', { value: v, text: t(`${prefix}${v}`) })));
}

// The panel's fixed parts, built once.
function skeleton(panel) {
	clear(panel);
	const member = el('input', { id: 'mem-id', required: true, pattern: '[A-Za-z0-9_\\-]{1,64}', autocomplete: 'off' });
	const look = el('form', { id: 'mem-form', class: 'inline', novalidate: true },
		field('mem-id', 'mem_member_id', member),
		el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary', text: t('mem_lookup') })));
	look.addEventListener('submit', (ev) => {
		ev.preventDefault();
		if (!look.reportValidity()) return;
		load(member.value.trim());
	});
	panel.append(
		el('div', { class: 'card-head' }, el('h2', { text: t('mem_title') })),
		el('p', { class: 'hint', text: t('mem_hint') }),
		look,
		el('section', { id: 'mem-out', 'aria-live': 'polite', hidden: true }),
	);
}

function restrictionsText(r) {
	const on = [];
	if (r.stop_use) on.push(t('mem_r_stop_use'));
	if (r.stop_third_party) on.push(t('mem_r_stop_third_party'));
	return on.length ? on.join('・') : t('mem_r_none');
}

function requestRow(member, q) {
	const closeCell = el('td', { class: 'officer-only', hidden: !deps.isOfficer() });
	if (q.status === 'open' && deps.isOfficer()) {
		const outcome = select(`mem-outcome-${q.id}`, OUTCOMES, 'mem_o_');
		outcome.setAttribute('aria-label', t('mem_outcome'));
		const reason = el('input', { id: `mem-reason-${q.id}`, maxlength: '512', 'aria-label': t('mem_reason') });
		const go = el('button', { type: 'button', class: 'ghost mem-close', text: t('mem_close') });
		go.addEventListener('click', () => closeRequest(member, q.id, outcome.value, reason.value.trim()));
		closeCell.append(outcome, reason, go);
	}
	return el('tr', { dataset: { request: q.id, status: q.status } },
		el('td', {}, el('code', { text: q.id })),
		el('td', { text: t(`mem_t_${q.type}`, q.type) }),
		el('td', { text: q.received }),
		el('td', { text: q.status === 'open' ? t('mem_open') : t(`mem_o_${q.outcome}`, q.outcome) }),
		el('td', { class: 'n', text: String(q.age_days) }),
		el('td', { text: [q.channel, q.note, q.reason].filter(Boolean).join(' / ') || '—' }),
		el('td', { text: showTime(q.closed_at || q.opened_at) }),
		closeCell);
}

function newRequestForm(member) {
	const type = select('mem-type', TYPES, 'mem_t_');
	const received = el('input', { id: 'mem-received', type: 'date', required: true, value: deps.today() });
	const channel = el('input', { id: 'mem-channel', maxlength: '64' });
	const note = el('input', { id: 'mem-note', maxlength: '1000' });
	const form = el('form', { id: 'mem-new', class: 'officer-only', novalidate: true },
		el('h3', { text: t('mem_new') }),
		field('mem-type', 'mem_type', type), field('mem-received', 'mem_received', received),
		field('mem-channel', 'mem_channel', channel), field('mem-note', 'mem_note', note),
		el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary', text: t('mem_record') })));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		if (!form.reportValidity()) return;
		const body = { type: type.value, received: received.value };
		if (channel.value.trim()) body.channel = channel.value.trim();
		if (note.value.trim()) body.note = note.value.trim();
		try {
			const r = await deps.api.post(`/v1/subjects/${encodeURIComponent(member)}/requests`, body);
			deps.say(t('mem_recorded', null, { id: r.id }), 'info');
			await load(member);
		} catch (e) {
			deps.say(deps.errText(e), 'error');
		}
	});
	return form;
}

async function closeRequest(member, id, outcome, reason) {
	const body = { outcome };
	if (reason) body.reason = reason;
	try {
		await deps.api.post(`/v1/subjects/${encodeURIComponent(member)}/requests/${encodeURIComponent(id)}/close`, body);
		deps.say(t('mem_closed', null, { id }), 'info');
		await load(member);
	} catch (e) {
		deps.say(deps.errText(e), 'error');
	}
}

// The disclosure document in a window of the console's origin, to print. The document is
// fetched with the token (a plain link could not carry it); its one style is allowed by the
// console's policy by hash, it holds no script.
async function printDisclosure(member) {
	const w = window.open('', '_blank');
	if (!w) {
		deps.say(t('mem_popup_blocked'), 'error');
		return;
	}
	try {
		const html = await deps.api.get(`/v1/reports/subject/${encodeURIComponent(member)}`, { format: 'html' }, 'text');
		w.document.open();
		w.document.write(html);
		w.document.close();
		w.focus();
		w.print();
	} catch (e) {
		w.close();
		deps.say(deps.errText(e), 'error');
	}
}

async function load(member) {
	const out = document.getElementById('mem-out');
	let doc;
	try {
		doc = await deps.api.get(`/v1/subjects/${encodeURIComponent(member)}`);
	} catch (e) {
		deps.say(deps.errText(e), 'error');
		return;
	}
	shown = member;
	const print = el('button', { type: 'button', id: 'mem-print', class: 'ghost', text: t('mem_print') });
	print.addEventListener('click', () => printDisclosure(member));
	const head = ['mem_col_id', 'mem_type', 'mem_received', 'mem_state', 'mem_age', 'mem_col_text', 'mem_col_time'];
	clear(out).append(
		el('h3', { text: t('mem_of', null, { id: doc.member_id }) }),
		el('p', { id: 'mem-restrictions', dataset: { stopUse: doc.restrictions.stop_use, stopThirdParty: doc.restrictions.stop_third_party } },
			`${t('mem_restrictions')}: ${restrictionsText(doc.restrictions)}`),
		el('div', { class: 'buttons' }, print),
		el('div', { class: 'table-wrap' }, el('table', { class: 'data', id: 'mem-table' },
			el('thead', {}, el('tr', {}, head.map((k) => el('th', { scope: 'col', text: t(k) })),
				el('th', { scope: 'col', class: 'officer-only', hidden: !deps.isOfficer(), text: t('mem_close') }))),
			el('tbody', { id: 'mem-rows' }, doc.requests.length
				? doc.requests.map((q) => requestRow(doc.member_id, q))
				: el('tr', {}, el('td', { colspan: '8', text: t('mem_none') }))))),
	);
	if (deps.isOfficer()) out.append(newRequestForm(doc.member_id));
	out.hidden = false;
}

// Called once by app.js with what the page shares.
export function initMembers(d) {
	deps = d;
	skeleton(document.getElementById('panel-members'));
}

// After sign-in (the role may have changed) and a language switch: redrawn.
export function refreshMembers() {
	if (!deps) return;
	const keep = shown;
	shown = null;
	skeleton(document.getElementById('panel-members'));
	if (keep) {
		document.getElementById('mem-id').value = keep;
		load(keep);
	}
}
