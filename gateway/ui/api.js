// api — the compliance API as the console calls it: same origin, the staff token as a bearer on
// every call, JSON errors ({"error","message","request_id"}) turned into ApiError.

export class ApiError extends Error {
	constructor(status, code, message, requestId) {
		super(message || code || `HTTP ${status}`);
		this.status = status;
		this.code = code || `http_${status}`;
		this.requestId = requestId || null;
	}
}

function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {})) {
		if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
	}
	const s = q.toString();
	return s ? `?${s}` : '';
}

async function errorOf(res) {
	let code = null;
	let message = null;
	let rid = res.headers.get('X-Request-Id');
	try {
		const body = await res.json();
		if (body && typeof body === 'object') {
			code = typeof body.error === 'string' ? body.error : null;
			message = typeof body.message === 'string' ? body.message : null;
			rid = typeof body.request_id === 'string' ? body.request_id : rid;
		}
	} catch {
		// not JSON: the status says enough
	}
	return new ApiError(res.status, code, message, rid);
}

// A client. token() returns the current bearer token (or null); onUnauthorized(err) is called
// when the API refuses the token (401), before the error is thrown.
export function makeApi(token, onUnauthorized) {
	async function call(method, path, { params, body, as = 'json' } = {}) {
		const headers = { Accept: as === 'json' ? 'application/json' : '*/*' };
		const tok = token();
		if (tok) headers.Authorization = `Bearer ${tok}`;
		const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
		if (body !== undefined) {
			headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		let res;
		try {
			res = await fetch(path + query(params), init);
		} catch (e) {
			throw new ApiError(0, 'network', String(e && e.message ? e.message : e));
		}
		if (!res.ok) {
			const err = await errorOf(res);
			if (res.status === 401 && onUnauthorized) onUnauthorized(err);
			throw err;
		}
		switch (as) {
		case 'text':
			return res.text();
		case 'bytes':
			return new Uint8Array(await res.arrayBuffer());
		case 'blob':
			return res.blob();
		case 'response':
			return res;
		default: {
			const text = await res.text();
			if (text === '') return null;
			try {
				return JSON.parse(text);
			} catch {
				throw new ApiError(res.status, 'bad_json', 'the answer is not JSON');
			}
		}
		}
	}
	return {
		get: (path, params, as) => call('GET', path, { params, as }),
		post: (path, body, params, as) => call('POST', path, { body, params, as }),
	};
}
