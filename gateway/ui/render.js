// render — small DOM helpers: elements built with textContent only (no HTML from data ever
// reaches innerHTML), a generic view of JSON reports, and downloads through object URLs.

export function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k === 'class') e.className = v;
		else if (k === 'text') e.textContent = v;
		else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
		else if (k === 'dataset') Object.assign(e.dataset, v);
		else e.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat()) {
		if (c === undefined || c === null || c === false) continue;
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return e;
}

export function clear(node) {
	while (node.firstChild) node.firstChild.remove();
	return node;
}

function scalar(v) {
	if (v === null || v === undefined) return '—';
	if (typeof v === 'boolean') return v ? '✓ true' : '✗ false';
	return String(v);
}

function isPlainObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// A table for an array of objects (columns: the union of their keys, in first-seen order).
function tableOf(rows, label, depth) {
	const cols = [];
	for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
	const table = el('table', { class: 'data' });
	if (label) table.append(el('caption', { text: label }));
	table.append(el('thead', {}, el('tr', {}, cols.map((c) => el('th', { scope: 'col', text: c })))));
	const tb = el('tbody');
	for (const r of rows) tb.append(el('tr', {}, cols.map((c) => el('td', {}, renderJson(r[c], null, depth + 1)))));
	table.append(tb);
	return el('div', { class: 'table-wrap' }, table);
}

// A readable view of any JSON value: objects as definition lists, arrays of objects as tables,
// arrays of scalars as comma lists. Deep values fold into <details>.
export function renderJson(v, label, depth = 0) {
	if (Array.isArray(v)) {
		if (v.length === 0) return el('span', { class: 'muted', text: '[]' });
		if (v.every(isPlainObject)) {
			if (depth > 2) return el('details', {}, el('summary', { text: `${v.length} ×` }), el('pre', { text: JSON.stringify(v, null, 2) }));
			return tableOf(v, label, depth);
		}
		if (v.every((x) => !isPlainObject(x) && !Array.isArray(x))) return el('span', { text: v.map(scalar).join(', ') });
		return el('pre', { text: JSON.stringify(v, null, 2) });
	}
	if (isPlainObject(v)) {
		if (depth > 3) return el('pre', { text: JSON.stringify(v) });
		const dl = el('dl', { class: 'kv' });
		for (const [k, x] of Object.entries(v)) dl.append(el('dt', { text: k }), el('dd', {}, renderJson(x, null, depth + 1)));
		return label ? el('section', {}, el('h4', { text: label }), dl) : dl;
	}
	return el('span', { text: scalar(v) });
}

// Offers data (a Blob or a string) as a file download named name.
export function download(name, data, type = 'application/json') {
	const blob = data instanceof Blob ? data : new Blob([data], { type: `${type};charset=utf-8` });
	const url = URL.createObjectURL(blob);
	const a = el('a', { href: url, download: name, class: 'hidden' });
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 30000);
}
