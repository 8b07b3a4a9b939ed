// leak — the console's leak response and deletion at a contract's end: the breach report's CSV
// and (officers) its notification list, recorded in the ledger before it is downloaded; the
// summary's deletion_due with the My Number flag and (officers) the form that records a
// contractor's certificate of deletion.

import { t, showTime } from './i18n.js';
import { el, download } from './render.js';

let ctx = null; // {api, isOfficer, say, errText, refreshSummary}

// A modal dialog made for one question; resolves with the form's values, or null if cancelled.
function ask(title, text, fields, okKey, okClass) {
	return new Promise((resolve) => {
		const inputs = fields.map((f) => el(f.type === 'textarea' ? 'textarea' : 'input', {
			id: `leak-${f.name}`, name: f.name, type: f.type === 'textarea' ? undefined : f.type || 'text',
			required: f.required ? '' : undefined, maxlength: f.max ? String(f.max) : undefined, value: f.value || undefined,
		}));
		const err = el('p', { class: 'form-error', role: 'alert', hidden: '' });
		const ok = el('button', { type: 'submit', class: okClass, text: t(okKey) });
		const cancel = el('button', { type: 'button', class: 'ghost', text: t('cancel') });
		const form = el('form', { method: 'dialog', novalidate: '' },
			el('h2', { id: 'leak-dialog-h', text: title }), el('p', { text }),
			...fields.map((f, i) => el('div', { class: 'field' }, el('label', { for: `leak-${f.name}`, text: t(f.label) }), inputs[i])),
			err, el('div', { class: 'buttons' }, cancel, ok));
		const dlg = el('dialog', { id: 'leak-dialog', 'aria-labelledby': 'leak-dialog-h' }, form);
		document.body.append(dlg);
		const done = (v) => {
			dlg.close();
			dlg.remove();
			resolve(v);
		};
		cancel.addEventListener('click', () => done(null));
		dlg.addEventListener('cancel', (ev) => {
			ev.preventDefault();
			done(null);
		});
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			const bad = inputs.find((i) => !i.checkValidity());
			if (bad) {
				err.textContent = t('leak_field_required');
				err.hidden = false;
				bad.focus();
				return;
			}
			done(Object.fromEntries(inputs.map((i) => [i.name, i.value.trim()])));
		});
		dlg.showModal();
		(inputs[0] || ok).focus();
	});
}

function fileName(kind, f) {
	const part = [kind, f.partner, (f.from || '').slice(0, 10), (f.to || '').slice(0, 10)].filter(Boolean).join('_');
	return `pdgate_${part}.csv`.replace(/[^A-Za-z0-9._-]/g, '-');
}

// The notification list: a confirmation saying it is recorded, then the POST, then the file.
async function onNotify(form, fields) {
	if (!form.reportValidity()) return;
	const f = fields(form);
	const v = await ask(t('notify_h', null, { id: f.partner }), t('notify_text', null, { id: f.partner }),
		[{ name: 'reason', label: 'reason_optional', type: 'textarea', max: 512 }], 'notify_ok', 'danger');
	if (v === null) return;
	try {
		const res = await ctx.api.post('/v1/reports/breach/notification-list', v.reason ? { reason: v.reason } : undefined,
			{ partner: f.partner, from: f.from, to: f.to }, 'response');
		const blob = await res.blob();
		download(fileName('notification', f), new Blob([blob], { type: 'text/csv;charset=utf-8' }));
		ctx.say(t('notify_done', null, { index: res.headers.get('X-Ledger-Index') }));
	} catch (e) {
		ctx.say(ctx.errText(e), 'error');
	}
}

// A certificate of deletion for contract id: the form, then the POST, then the summary again.
async function onDeletion(id) {
	const today = new Date(Date.now() + 9 * 3600e3).toISOString().slice(0, 10);
	const v = await ask(t('deletion_h', null, { id }), t('deletion_text', null, { id }), [
		{ name: 'attested_by', label: 'deletion_by', required: true, max: 200 },
		{ name: 'deleted_at', label: 'deletion_at', type: 'date', required: true, value: today },
		{ name: 'certificate', label: 'deletion_certificate', type: 'textarea', required: true, max: 1000 },
	], 'deletion_ok', 'primary');
	if (v === null) return;
	try {
		const r = await ctx.api.post(`/v1/contracts/${encodeURIComponent(id)}/deletion`, v);
		ctx.say(t('deletion_done', null, { id, index: r.ledger_index }));
		ctx.refreshSummary();
	} catch (e) {
		ctx.say(ctx.errText(e), 'error');
	}
}

// The summary's deletion_due as a table (the My Number flag first to catch the eye) with, for
// officers, a button per contract that records its certificate of deletion.
export function deletionDueView(list) {
	if (!Array.isArray(list) || list.length === 0) return el('p', { id: 'deletion-due', class: 'muted', text: t('none') });
	const officer = ctx && ctx.isOfficer();
	const rows = list.map((r) => el('tr', { 'data-contract': r.contract },
		el('td', {}, r.my_number ? el('strong', { class: 'bad-text my-number', text: t('my_number_flag') }) : '—'),
		el('td', {}, el('code', { text: r.contract })),
		el('td', { text: r.partner_name || r.partner }),
		el('td', { text: t(r.ended === 'terminated' ? 'ended_terminated' : 'ended_expired') }),
		el('td', { class: 'num', text: String(r.releases) }),
		el('td', { class: 'nowrap', text: showTime(r.last_release) }),
		officer ? el('td', {}, el('button', { type: 'button', class: 'primary small', 'data-deletion': r.contract, text: t('deletion_record') })) : null));
	const heads = ['col_my_number', 'col_contract', 'partner', 'col_ended', 'col_releases', 'col_last'];
	if (officer) heads.push('col_actions');
	return el('div', { id: 'deletion-due', class: 'table-wrap' }, el('table', { class: 'data report' },
		el('thead', {}, el('tr', {}, heads.map((h) => el('th', { scope: 'col', text: t(h) })))),
		el('tbody', {}, rows)));
}

// Wires the breach form's notification button and the deletion buttons of the summary.
export function initLeak(c) {
	ctx = c;
	const notify = document.getElementById('rb-notify');
	if (notify) notify.addEventListener('click', () => onNotify(notify.closest('form'), c.fields));
	document.getElementById('report-body').addEventListener('click', (ev) => {
		const b = ev.target.closest('button[data-deletion]');
		if (b) onDeletion(b.dataset.deletion);
	});
}
