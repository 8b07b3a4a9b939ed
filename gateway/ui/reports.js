// reports — the four compliance reports drawn for reading: the columns an officer needs, in
// order, with translated headings; hashes, tokens and request ids stay in the JSON (shown raw
// below each report and in its download). A report whose shape is not the one expected falls
// back to the generic view, so nothing the API says is hidden.

import { t, showTime, showCountry } from './i18n.js';
import { el, renderJson } from './render.js';
import { deletionDueView } from './leak.js';

const dash = '—';

function list(v) {
	return Array.isArray(v) ? v.join(', ') : (v ?? dash);
}

function shortHex(v) {
	return typeof v === 'string' && v.length > 16 ? el('code', { title: v, text: `${v.slice(0, 12)}…` }) : (v ?? dash);
}

function named(name, id) {
	if (name && id) return el('span', {}, name, el('br'), el('code', { class: 'small', text: id }));
	return name || id || dash;
}

// A table of rows with columns [{h: string key, v: row => text or Node, cls}].
function table(rows, cols, caption) {
	const tb = el('tbody');
	for (const r of rows) {
		tb.append(el('tr', {}, cols.map((c) => {
			const v = c.v(r);
			return el('td', { class: c.cls }, v instanceof Node ? v : String(v ?? dash));
		})));
	}
	return el('div', { class: 'table-wrap' }, el('table', { class: 'data report' },
		caption ? el('caption', { text: caption }) : null,
		el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col', text: t(c.h) })))),
		tb));
}

function facts(pairs) {
	const dl = el('dl', { class: 'kv facts' });
	for (const [k, v] of pairs) {
		if (v === undefined) continue;
		dl.append(el('dt', { text: t(k) }), el('dd', {}, v instanceof Node ? v : String(v ?? dash)));
	}
	return dl;
}

const yes = (b) => (b === true ? t('yes') : b === false ? t('no') : dash);

// Where a release went: a recipient abroad stands out (APPI Art. 28), Japan is plain.
function country(code) {
	if (typeof code !== 'string') return dash;
	if (code === 'JP') return showCountry(code);
	return el('span', { class: 'abroad', title: t('abroad_title'), dataset: { country: code }, text: showCountry(code) });
}

const releaseCols = [
	{ h: 'col_index', v: (r) => r.index, cls: 'num' },
	{ h: 'col_time', v: (r) => showTime(r.time), cls: 'nowrap' },
	{ h: 'partner', v: (r) => named(r.recipient_name, r.recipient) },
	{ h: 'col_country', v: (r) => country(r.country) },
	{ h: 'col_relationship', v: (r) => r.relationship_label || r.relationship },
	{ h: 'purpose', v: (r) => named(r.purpose_label, r.purpose) },
	{ h: 'col_items', v: (r) => el('span', { class: 'items', text: list(r.items) }) },
	{ h: 'col_basis', v: (r) => r.basis_label || r.basis },
	{ h: 'col_consent', v: (r) => yes(r.consent) },
	{ h: 'col_justification', v: (r) => r.justification ?? dash },
];

function provisions(d) {
	if (!Array.isArray(d.records)) return null;
	return el('div', {},
		el('p', { class: 'headline' }, t('prov_count', null, { n: d.records.length }),
			d.next !== null && d.next !== undefined ? ` — ${t('prov_more', null, { after: d.next })}` : ''),
		facts([['partner', d.partner ?? t('all_partners')], ['from', d.from ? showTime(d.from) : dash], ['to', d.to ? showTime(d.to) : dash]]),
		table(d.records, [...releaseCols.slice(0, 5), { h: 'col_subject', v: (r) => shortHex(r.subject) }, ...releaseCols.slice(5)]));
}

function subject(d) {
	if (!Array.isArray(d.releases)) return null;
	const out = el('div', {},
		el('p', { class: 'headline' }, t('subject_count', null, { n: d.count ?? d.releases.length })),
		facts([['member_id', d.member_id], ['col_subject', shortHex(d.subject)], ['col_refusals', d.refusals],
			['col_complete', yes(d.complete)]]));
	if (Array.isArray(d.recipients) && d.recipients.length) {
		out.append(el('h4', { text: t('recipients') }), table(d.recipients, [
			{ h: 'partner', v: (r) => named(r.partner_name, r.partner) },
			{ h: 'col_releases', v: (r) => r.releases, cls: 'num' },
			{ h: 'col_first', v: (r) => showTime(r.first), cls: 'nowrap' },
			{ h: 'col_last', v: (r) => showTime(r.last), cls: 'nowrap' },
			{ h: 'col_items', v: (r) => el('span', { class: 'items', text: list(r.items) }) },
		]));
	}
	out.append(el('h4', { text: t('releases') }), table(d.releases, releaseCols));
	return out;
}

function breach(d) {
	if (!Array.isArray(d.members)) return null;
	const reasons = Array.isArray(d.reasons) ? d.reasons : [];
	const why = reasons.map((r) => (r && typeof r === 'object' ? r.text || r.code : String(r))).join('; ');
	const out = el('div', {},
		el('p', { class: d.reportable ? 'headline bad' : 'headline good', role: 'status' },
			t(d.reportable ? 'breach_reportable' : 'breach_not_reportable', null, { n: d.count ?? d.members.length }),
			why ? ` — ${why}` : ''),
		facts([['partner', named(d.partner_name, d.partner)], ['from', d.from ? showTime(d.from) : dash],
			['to', d.to ? showTime(d.to) : dash], ['col_people', d.count], ['col_releases', d.releases],
			['col_classes', list(d.classes)]]));
	if (Array.isArray(d.items) && d.items.length) {
		out.append(el('h4', { text: t('items_released') }), table(d.items, [
			{ h: 'col_item', v: (r) => el('code', { text: r.item }) },
			{ h: 'col_class', v: (r) => r.class },
			{ h: 'col_people', v: (r) => r.members, cls: 'num' },
		]));
	}
	out.append(el('h4', { text: t('members_affected') }), table(d.members, [
		{ h: 'member_id', v: (r) => r.member_id ?? shortHex(r.subject) },
		{ h: 'col_releases', v: (r) => r.releases, cls: 'num' },
		{ h: 'col_first', v: (r) => showTime(r.first), cls: 'nowrap' },
		{ h: 'col_last', v: (r) => showTime(r.last), cls: 'nowrap' },
		{ h: 'col_items', v: (r) => el('span', { class: 'items', text: list(r.items) }) },
	]));
	return out;
}

// The kinds of certificates_expiring, in words.
function certKind(k) {
	const words = {
		partner: t('cert_kind_partner'), staff: t('cert_kind_staff'), server: t('cert_kind_server'), crl: t('cert_kind_crl'),
	};
	return words[k] || k || dash;
}

function refusals(o) {
	if (!o || typeof o !== 'object') return dash;
	const e = Object.entries(o);
	return e.length ? e.map(([k, n]) => `${k}: ${n}`).join(', ') : dash;
}

function summary(d) {
	if (!Array.isArray(d.rows)) return null;
	const tot = d.totals || {};
	const out = el('div', {},
		el('p', { class: (d.volume_anomalies || []).length ? 'headline bad' : 'headline' },
			t('summary_head', null, { r: tot.releases ?? dash, x: tot.refused ?? dash, e: tot.exception_uses ?? dash })),
		facts([['from', d.from ? showTime(d.from) : dash], ['to', d.to ? showTime(d.to) : dash]]),
		el('h4', { text: t('by_partner') }),
		table(d.rows, [
			{ h: 'partner', v: (r) => named(r.partner_name, r.partner) },
			{ h: 'col_contract', v: (r) => r.contract ?? dash },
			{ h: 'purpose', v: (r) => (r.purpose ? named(r.purpose_label, r.purpose) : dash) },
			{ h: 'col_releases', v: (r) => r.releases, cls: 'num' },
			{ h: 'col_refused', v: (r) => r.refused, cls: 'num' },
			{ h: 'col_refusals', v: (r) => refusals(r.refusals) },
			{ h: 'col_exceptions', v: (r) => r.exception_uses, cls: 'num' },
		]));
	const anomalies = d.volume_anomalies || [];
	out.append(el('h4', { text: t('anomalies') }), anomalies.length
		? table(anomalies, [
			{ h: 'partner', v: (r) => r.partner },
			{ h: 'col_day', v: (r) => r.day },
			{ h: 'col_releases', v: (r) => r.releases, cls: 'num' },
			{ h: 'col_mean', v: (r) => (typeof r.trailing_mean === 'number' ? r.trailing_mean.toFixed(1) : r.trailing_mean), cls: 'num' },
			{ h: 'col_ratio', v: (r) => (typeof r.ratio === 'number' ? `×${r.ratio.toFixed(1)}` : r.ratio), cls: 'num' },
		])
		: el('p', { class: 'muted', text: t('none') }));
	const ending = d.contracts_ending || [];
	out.append(el('h4', { text: t('contracts_ending') }), ending.length ? renderJson(ending) : el('p', { class: 'muted', text: t('none') }));
	const certs = Array.isArray(d.certificates_expiring) ? d.certificates_expiring : [];
	out.append(el('h4', { id: 'certs-expiring-h', text: t('certs_expiring') }), certs.length
		? el('div', { id: 'certs-expiring' }, table(certs, [
			{ h: 'col_cert_kind', v: (r) => certKind(r.kind) },
			{ h: 'col_name', v: (r) => (r.name ? el('code', { text: r.name }) : dash) },
			{ h: 'col_ends', v: (r) => (r.ends ? showTime(r.ends) : dash), cls: 'nowrap' },
			{ h: 'col_days_left', v: (r) => r.days_left ?? dash, cls: 'num' },
			{ h: 'col_fingerprint', v: (r) => shortHex(r.sha256) },
			{ h: 'col_problem', v: (r) => r.problem ?? dash },
		]))
		: el('p', { id: 'certs-expiring', class: 'muted', text: t('none') }));
	out.append(el('h4', { id: 'deletion-due-h', text: t('deletion_due') }), deletionDueView(d.deletion_due));
	const admin = d.admin || [];
	out.append(el('h4', { text: t('admin_actions') }), admin.length
		? table(admin, [
			{ h: 'col_index', v: (r) => r.index, cls: 'num' },
			{ h: 'col_time', v: (r) => showTime(r.time), cls: 'nowrap' },
			{ h: 'col_action', v: (r) => (r.admin && r.admin.action) || dash },
			{ h: 'partner', v: (r) => (r.admin && r.admin.target) || dash },
			{ h: 'col_staff', v: (r) => (r.admin && r.admin.staff) || dash },
			{ h: 'col_reason', v: (r) => (r.admin && r.admin.reason) || dash },
		])
		: el('p', { class: 'muted', text: t('none') }));
	return out;
}

const VIEWS = { provisions, subject, breach, summary };

// The view of report `kind` for the API's answer d.
export function renderReport(kind, d) {
	const view = d && typeof d === 'object' && VIEWS[kind] ? VIEWS[kind](d) : null;
	return view || renderJson(d);
}
