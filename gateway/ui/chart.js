// chart — releases per partner per day as a stacked bar chart in inline SVG, drawn here (no
// library). Colours come from the stylesheet (classes series-0..series-7), so the page needs no
// inline style under its Content-Security-Policy.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
	const e = document.createElementNS(NS, tag);
	for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
	if (text !== undefined) e.textContent = text;
	return e;
}

// A "nice" step for an axis from 0 to max with about `ticks` ticks.
function niceStep(max, ticks) {
	if (max <= ticks) return 1;
	const raw = max / ticks;
	const mag = 10 ** Math.floor(Math.log10(raw));
	for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
	return 10 * mag;
}

// Every day from `from` to `to` (YYYY-MM-DD strings), inclusive.
export function daysBetween(from, to) {
	const out = [];
	const d = new Date(`${from}T00:00:00Z`);
	const end = new Date(`${to}T00:00:00Z`);
	for (let n = 0; d <= end && n < 366; n++) {
		out.push(d.toISOString().slice(0, 10));
		d.setUTCDate(d.getUTCDate() + 1);
	}
	return out;
}

// Draws counts ({day: {partner: n}}) for days (array of YYYY-MM-DD) and partners (array of ids).
// title is the accessible name. Returns the <svg> element.
export function drawChart({ days, partners, counts, title, emptyText }) {
	const W = Math.max(640, 60 + days.length * 28);
	const H = 320;
	const M = { top: 16, right: 16, bottom: 56, left: 56 };
	const iw = W - M.left - M.right;
	const ih = H - M.top - M.bottom;
	let max = 0;
	for (const d of days) {
		const tot = partners.reduce((s, p) => s + ((counts[d] && counts[d][p]) || 0), 0);
		max = Math.max(max, tot);
	}
	const root = svg('svg', {
		viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'chart',
		'aria-label': title,
	});
	root.append(svg('title', {}, title));
	const step = niceStep(max || 1, 5);
	const top = Math.max(step, Math.ceil((max || 1) / step) * step);
	const y = (v) => M.top + ih - (v / top) * ih;
	const g = svg('g', { class: 'axis' });
	for (let v = 0; v <= top; v += step) {
		g.append(svg('line', { x1: M.left, x2: M.left + iw, y1: y(v), y2: y(v), class: v ? 'grid' : 'base' }));
		g.append(svg('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
	}
	root.append(g);
	const bw = iw / Math.max(days.length, 1);
	const bars = svg('g', { class: 'bars' });
	days.forEach((d, i) => {
		let acc = 0;
		const x = M.left + i * bw + bw * 0.15;
		partners.forEach((p, j) => {
			const n = (counts[d] && counts[d][p]) || 0;
			if (!n) return;
			const r = svg('rect', {
				x, width: Math.max(bw * 0.7, 1), y: y(acc + n), height: Math.max(y(acc) - y(acc + n), 0.5),
				class: `series-${j % 8}`,
			});
			r.append(svg('title', {}, `${d} ${p}: ${n}`));
			bars.append(r);
			acc += n;
		});
		const every = Math.ceil(days.length / 16);
		if (i % every === 0) {
			const tx = M.left + i * bw + bw / 2;
			bars.append(svg('text', {
				x: tx, y: M.top + ih + 14, 'text-anchor': 'end', class: 'tick',
				transform: `rotate(-40 ${tx} ${M.top + ih + 14})`,
			}, d.slice(5)));
		}
	});
	root.append(bars);
	if (max === 0 && emptyText) {
		root.append(svg('text', { x: M.left + iw / 2, y: M.top + ih / 2, 'text-anchor': 'middle', class: 'empty' }, emptyText));
	}
	return root;
}
