/* witness_client — the ledger's checkpoints submitted to C2SP witnesses, their cosignatures
 * checked and kept, and no checkpoint signed past what a quorum of them contradicts. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "codec.h"
#include "ledger_cosig.h"
#include "ledger_read.h"
#include "merkle.h"
#include "metrics.h"
#include "now.h"
#include "witness_client.h"

/* One request's bounds: a witness is one round trip away; its answer comes at once. */
#define CONNECT_MS 3000
#define TOTAL_MS 10000
/* 409 answers followed in one submission before it counts as a failure. */
#define MAX_RESUBMIT 3
/* After a failure the checkpoint is sent again after 1 s, doubling up to RETRY_MAX_MS. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
/* A cosignature's time may be this far ahead of ours (clock skew) or behind (a slow answer). */
#define TS_AHEAD_S 300
#define TS_BEHIND_S 3600
/* A signature line is at most this long (a long key name and a 72-byte signature). */
#define SIG_LINE_MAX 512

enum outcome { OUT_OK, OUT_FAIL, OUT_CONFLICT };

/* One witness and its thread. Fields below "under wc->lock" are shared. */
struct wit {
	struct witness_client *wc;
	const char *label; /* [witness] NAME (borrowed from the configuration) */
	char *url;         /* <prefix>/add-checkpoint */
	struct note_verifier *v;
	CURL *curl; /* the thread's, kept for keep-alive */
	struct buf answer;
	pthread_t thread;
	bool started;

	/* under wc->lock */
	char *pending; /* the checkpoint to submit (newest), NUL-terminated; NULL: none */
	size_t pending_len;
	uint64_t pending_size;
	int64_t retry_at;  /* monotonic ms before which a failed one is not sent again; a new
	                      checkpoint goes at once */
	uint64_t known;    /* the witness's size as last learned (0: none yet) */
	uint64_t cosigned; /* the largest size it cosigned for this process */
	bool answered;     /* it answered since start (well-formed, whatever the status) */
	bool settled;      /* a submission ended since start, whatever its outcome */
	bool conflict;     /* it contradicts the ledger: see why */
	long last_status;  /* the last answer's HTTP status, 0: no answer */
	char error[200];   /* the last failure, "" after a success */
	uint64_t n_cosigned, n_failed, n_conflict, n_ignored;
};

struct witness_client {
	const struct config *cfg;
	struct log *log;
	struct ledger *l;
	struct ledger_store *store; /* the cosignatures' writer, under store_lock */
	pthread_mutex_t store_lock;
	pthread_t watch; /* a shared ledger: the checkpoints other nodes sign (watch_main) */
	bool watching;
	struct wit w[CONFIG_MAX_WITNESSES];
	size_t n;
	unsigned quorum;

	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop;
	bool starting;          /* the start check runs: checkpoints are held */
	bool refused;           /* a quorum in conflict: the ledger is refused */
	char why[400];          /* with refused */
	uint64_t latest;        /* the latest checkpoint signed or found at start */
	uint64_t witnessed;     /* the largest checkpoint with quorum cosignatures */
	int64_t unwitnessed_ms; /* wall ms since the latest checkpoints wait for their quorum, 0 */
};

/* ---- parsing the answers (untrusted) ---- */

int
witness_client_size(const char *s, size_t len, uint64_t *size)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || len > 21 || s[len - 1] != '\n' || (s[0] == '0' && len != 2))
		return -1;
	for (i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*size = v;
	return 0;
}

int
witness_client_answer(const struct note_verifier *v, const char *body, size_t blen, const char *ans,
                      size_t alen, size_t *off, size_t *len, uint64_t *ts)
{
	static const char dash[] = "\xe2\x80\x94 "; /* U+2014 and a space */
	size_t pos = 0, lines = 0;
	int found = 0;

	if (alen == 0 || alen > WITNESS_CLIENT_MAX_ANSWER)
		return -1;
	while (pos < alen) {
		const char *nl = memchr(ans + pos, '\n', alen - pos);
		if (nl == NULL)
			return -1;
		size_t n = (size_t)(nl - (ans + pos)) + 1;
		if (n > SIG_LINE_MAX || n < sizeof(dash) ||
		    memcmp(ans + pos, dash, sizeof(dash) - 1) != 0 || ++lines > NOTE_MAX_SIGS)
			return -1;
		if (!found) {
			uint64_t t = 0;
			int r = note_cosig_verify(v, body, blen, ans + pos, n, &t);
			if (r == NOTE_OK) {
				*off = pos;
				*len = n;
				*ts = t;
				found = 1;
			} else if (r != NOTE_EUNVERIFIED) {
				return -2;
			}
		}
		pos += n;
	}
	return found ? 0 : -3;
}

/* ---- one submission ---- */

static size_t
sink(char *data, size_t size, size_t n, void *arg)
{
	return buf_add(arg, data, size * n) == 0 ? size * n : 0;
}

static void failf(struct wit *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A failure of this submission: logged, counted, kept for /readyz and the summary. */
static void
failf(struct wit *w, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->wc->lock);
	w->n_failed++;
	snprintf(w->error, sizeof(w->error), "%s", msg);
	pthread_mutex_unlock(&w->wc->lock);
	log_msg(w->wc->log, "warn", "witness %s: %s", w->label, msg);
}

/* Refuses the ledger once quorum witnesses are in conflict. With wc->lock held. */
static void
judge(struct witness_client *wc)
{
	size_t k = 0, off = 0;
	char names[200] = "";

	for (size_t i = 0; i < wc->n; i++)
		if (wc->w[i].conflict) {
			k++;
			off += (size_t)snprintf(names + off,
			                        off < sizeof(names) ? sizeof(names) - off : 0,
			                        "%s%s", off ? ", " : "", wc->w[i].label);
			if (off >= sizeof(names))
				off = sizeof(names) - 1;
		}
	if (wc->refused || k < wc->quorum)
		return;
	wc->refused = true;
	snprintf(wc->why, sizeof(wc->why),
	         "%zu of the witnesses (%s; quorum %u) have cosigned a ledger larger than or "
	         "different from this one (its tail was cut or rewritten): nothing is signed or "
	         "released until the ledger is restored",
	         k, names, wc->quorum);
	if (wc->l != NULL)
		ledger_refuse(wc->l, wc->why);
	log_msg(wc->log, "error", "witness: %s", wc->why);
}

static enum outcome conflictf(struct wit *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum outcome
conflictf(struct wit *w, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->wc->lock);
	w->conflict = true;
	w->n_conflict++;
	snprintf(w->error, sizeof(w->error), "%s", msg);
	judge(w->wc);
	pthread_mutex_unlock(&w->wc->lock);
	log_msg(w->wc->log, "error", "witness %s: %s", w->label, msg);
	return OUT_CONFLICT;
}

/* The request body: old size, the proof from it, a blank line, the note. */
static int
request_body(struct wit *w, uint64_t old, uint64_t size, const char *note, size_t len,
             struct buf *b)
{
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	char line[CODEC_B64_LEN(MERKLE_HASH_LEN) + 2];
	size_t np = 0;

	buf_reset(b);
	if (old > 0 && old < size && ledger_consistency(w->wc->l, old, size, proof, &np) != 0)
		return -1;
	buf_printf(b, "old %" PRIu64 "\n", old);
	for (size_t i = 0; i < np; i++) {
		codec_b64_encode(proof[i], MERKLE_HASH_LEN, line);
		buf_printf(b, "%s\n", line);
	}
	buf_str(b, "\n");
	buf_add(b, note, len);
	return b->bad ? -1 : 0;
}

/* A 200 answer: the cosignature checked, then stored. */
static enum outcome
accept_answer(struct wit *w, uint64_t size, const char *note, size_t len)
{
	size_t blen = note_text_len(note, len), off = 0, ll = 0;
	uint64_t ts = 0;
	int64_t now = (int64_t)time(NULL);
	char err[256];
	int r =
	    witness_client_answer(w->v, note, blen, w->answer.data, w->answer.len, &off, &ll, &ts);

	if (r == -1)
		return failf(w, "answered 200 with something other than signature lines"), OUT_FAIL;
	if (r == -2)
		return failf(w, "answered a cosignature by its key that does not verify"), OUT_FAIL;
	if (r == -3)
		return failf(w, "answered no cosignature by its key %s", note_verifier_name(w->v)),
		       OUT_FAIL;
	if ((int64_t)ts > now + TS_AHEAD_S || (int64_t)ts < now - TS_BEHIND_S)
		return failf(w, "its cosignature is dated %" PRIu64 ", our clock says %lld", ts,
		             (long long)now),
		       OUT_FAIL;
	pthread_mutex_lock(&w->wc->store_lock);
	r = ledger_cosig_put(w->wc->store, size, note_verifier_name(w->v), ts, w->answer.data + off,
	                     ll, err, sizeof(err));
	pthread_mutex_unlock(&w->wc->store_lock);
	if (r < 0)
		return failf(w, "cannot store its cosignature of %" PRIu64 ": %s", size, err),
		       OUT_FAIL;
	uint64_t witnessed = 0;
	int q = ledger_cosig_newest(w->wc->l, w->wc->quorum, &witnessed);
	pthread_mutex_lock(&w->wc->lock);
	w->known = size;
	if (size > w->cosigned)
		w->cosigned = size;
	w->n_cosigned++;
	w->error[0] = '\0';
	if (q == 0 && witnessed > w->wc->witnessed)
		w->wc->witnessed = witnessed;
	if (w->wc->witnessed >= w->wc->latest)
		w->wc->unwitnessed_ms = 0;
	pthread_mutex_unlock(&w->wc->lock);
	return OUT_OK;
}

/* A 409 says the witness has cosigned theirs entries, more than the checkpoint of *size: on a
 * shared ledger another node may have signed (and submitted) a larger one, then that one goes
 * instead (*note, *len, *size replaced). 1 if replaced, 0 if the ledger has none that large. */
static int
newer(struct wit *w, uint64_t theirs, uint64_t *size, char **note, size_t *len)
{
	char *n = NULL;
	size_t nl = 0;
	uint64_t latest = 0;

	if (ledger_checkpoint(w->wc->l, 0, &n, &nl, &latest) != 0 || latest < theirs ||
	    latest <= *size) {
		free(n);
		return 0;
	}
	free(*note);
	*note = n;
	*len = nl;
	*size = latest;
	return 1;
}

/* Submits the checkpoint note of size entries, following 409 answers: a size below the
 * checkpoint's is resubmitted from with its proof, the checkpoint's own size with none (the
 * witness cosigned it already, maybe for another node: it cosigns it again, or, for another
 * root, says 409 again), a larger one with a larger checkpoint of the ledger if it has one. */
static enum outcome
submit(struct wit *w, uint64_t *sizep, char **notep, size_t *lenp)
{
	struct buf req = {0};
	enum outcome out = OUT_FAIL;

	for (int attempt = 0; attempt <= MAX_RESUBMIT; attempt++) {
		uint64_t size = *sizep;
		const char *note = *notep;
		size_t len = *lenp;
		pthread_mutex_lock(&w->wc->lock);
		uint64_t old = w->known;
		pthread_mutex_unlock(&w->wc->lock);
		if (old > size) {
			out = conflictf(w,
			                "has cosigned a tree of %" PRIu64
			                " entries; the ledger's checkpoint has %" PRIu64,
			                old, size);
			goto done;
		}
		if (request_body(w, old, size, note, len, &req) < 0) {
			failf(w, "cannot make the consistency proof from %" PRIu64 " to %" PRIu64,
			      old, size);
			goto done;
		}
		struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: text/plain");
		long status = 0;
		char *ctype = NULL;
		buf_reset(&w->answer);
		curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, req.data);
		curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)req.len);
		curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdr);
		CURLcode rc = curl_easy_perform(w->curl);
		curl_slist_free_all(hdr);
		curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
		if (w->answer.over) {
			failf(w, "answered more than %d bytes", WITNESS_CLIENT_MAX_ANSWER);
			goto done;
		}
		if (rc != CURLE_OK) {
			failf(w, "%s: %s", w->url, curl_easy_strerror(rc));
			goto done;
		}
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &ctype);
		pthread_mutex_lock(&w->wc->lock);
		w->last_status = status;
		w->answered = true;
		pthread_mutex_unlock(&w->wc->lock);
		if (status == 200) {
			out = accept_answer(w, size, note, len);
			goto done;
		}
		if (status == 422) {
			out = conflictf(w,
			                "finds the consistency proof from its size %" PRIu64
			                " to %" PRIu64
			                " wrong (422): its tree differs from the ledger's",
			                old, size);
			goto done;
		}
		uint64_t theirs;
		if (status != 409 || ctype == NULL ||
		    strncmp(ctype, "text/x.tlog.size", strlen("text/x.tlog.size")) != 0 ||
		    witness_client_size(w->answer.data, w->answer.len, &theirs) < 0) {
			failf(w, "answered %ld%s", status,
			      status == 404   ? " (it does not follow this ledger's origin)"
			      : status == 403 ? " (it does not trust the ledger's key)"
			      : status == 409 ? " without a size"
			                      : "");
			goto done;
		}
		if (theirs == size && old == size) {
			out = conflictf(
			    w, "has cosigned a checkpoint of %" PRIu64 " entries with another root",
			    size);
			goto done;
		}
		pthread_mutex_lock(&w->wc->lock);
		w->known = theirs;
		pthread_mutex_unlock(&w->wc->lock);
		if (theirs > size && newer(w, theirs, sizep, notep, lenp))
			continue; /* another node's larger checkpoint, from the witness's size */
		if (theirs == old)
			break; /* the same conflict twice: not a size to follow */
	}
	failf(w, "kept answering 409 with sizes that do not match");
done:
	buf_free(&req);
	return out;
}

/* ---- the threads ---- */

static void *
wit_main(void *arg)
{
	struct wit *w = arg;
	struct witness_client *wc = w->wc;
	int64_t backoff = RETRY_MIN_MS;

	pthread_mutex_lock(&wc->lock);
	while (!wc->stop) {
		int64_t now = now_mono_ms();
		if (w->pending == NULL || w->conflict || now < w->retry_at) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t wait =
			    w->pending != NULL && !w->conflict ? w->retry_at - now : 60000;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&wc->cv, &wc->lock, &ts);
			continue;
		}
		char *note = w->pending;
		size_t len = w->pending_len;
		uint64_t size = w->pending_size;
		w->pending = NULL;
		pthread_mutex_unlock(&wc->lock);
		enum outcome o = submit(w, &size, &note, &len);
		pthread_mutex_lock(&wc->lock);
		if (o == OUT_FAIL && w->pending == NULL) {
			w->pending = note; /* asked again, unless a newer one came meanwhile */
			w->pending_len = len;
			w->pending_size = size;
			note = NULL;
			w->retry_at = now_mono_ms() + backoff;
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
		} else if (o != OUT_FAIL) {
			backoff = RETRY_MIN_MS;
			w->retry_at = 0;
		}
		w->settled = true;
		free(note);
		pthread_cond_broadcast(&wc->cv); /* the start check waits for the answers */
	}
	pthread_mutex_unlock(&wc->lock);
	return NULL;
}

/* Queues note (size entries) for w, replacing what it held. With wc->lock held. */
static void
queue(struct wit *w, uint64_t size, const char *note, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return; /* the next checkpoint goes instead */
	memcpy(copy, note, len);
	copy[len] = '\0';
	free(w->pending);
	w->pending = copy;
	w->pending_len = len;
	w->pending_size = size;
	w->retry_at = 0;
}

int
witness_client_may_sign(void *arg, uint64_t size)
{
	struct witness_client *wc = arg;
	(void)size;
	pthread_mutex_lock(&wc->lock);
	int ok = !wc->starting && !wc->refused;
	pthread_mutex_unlock(&wc->lock);
	return ok;
}

void
witness_client_signed(void *arg, uint64_t size, const char *note, size_t len)
{
	struct witness_client *wc = arg;

	pthread_mutex_lock(&wc->lock);
	if (!wc->stop && size > wc->latest) {
		for (size_t i = 0; i < wc->n; i++)
			queue(&wc->w[i], size, note, len);
		if (wc->unwitnessed_ms == 0 && size > wc->witnessed)
			wc->unwitnessed_ms = now_wall_ms();
		wc->latest = size;
		pthread_cond_broadcast(&wc->cv);
	}
	pthread_mutex_unlock(&wc->lock);
}

/* Every checkpoint interval on a shared ledger: its latest checkpoint, whichever node signed
 * it, queued for every witness once it is larger than what this node knows; and the witnessed
 * size from the cosignatures every node stored. */
static void *
watch_main(void *arg)
{
	struct witness_client *wc = arg;
	unsigned every = wc->cfg->ledger.checkpoint_interval_ms;
	int64_t next = now_mono_ms();

	if (every == 0)
		every = 1000;
	pthread_mutex_lock(&wc->lock);
	while (!wc->stop) {
		int64_t now = now_mono_ms();
		if (now < next) {
			struct timespec ts;
			int64_t wait = next - now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&wc->cv, &wc->lock, &ts);
			continue;
		}
		next = now + every;
		pthread_mutex_unlock(&wc->lock);
		char *note = NULL;
		size_t len = 0;
		uint64_t size = 0, witnessed = 0;
		int rc = ledger_checkpoint(wc->l, 0, &note, &len, &size);
		int q = ledger_cosig_newest(wc->l, wc->quorum, &witnessed);
		pthread_mutex_lock(&wc->lock);
		if (rc == 0 && size > wc->latest && !wc->stop) {
			for (size_t i = 0; i < wc->n; i++)
				queue(&wc->w[i], size, note, len);
			if (wc->unwitnessed_ms == 0 && size > wc->witnessed)
				wc->unwitnessed_ms = now_wall_ms();
			wc->latest = size;
			pthread_cond_broadcast(&wc->cv);
		}
		if (q == 0 && witnessed > wc->witnessed && witnessed <= wc->latest)
			wc->witnessed = witnessed;
		if (wc->witnessed >= wc->latest)
			wc->unwitnessed_ms = 0;
		free(note);
	}
	pthread_mutex_unlock(&wc->lock);
	return NULL;
}

struct witness_client *
witness_client_new(const struct config *cfg, struct log *log, char *err, size_t errlen)
{
	struct witness_client *wc = calloc(1, sizeof(*wc));
	pthread_condattr_t ca;

	if (wc == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&wc->lock, NULL);
	pthread_mutex_init(&wc->store_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wc->cv, &ca);
	pthread_condattr_destroy(&ca);
	wc->cfg = cfg;
	wc->log = log;
	wc->quorum = cfg->witness.quorum;
	wc->starting = true;
	for (size_t i = 0; i < cfg->witness.n; i++) {
		const struct config_witness *c = &cfg->witness.list[i];
		struct wit *w = &wc->w[i];
		w->wc = wc;
		w->label = c->name;
		w->answer.max = WITNESS_CLIENT_MAX_ANSWER;
		wc->n++;
		if ((w->v = note_cosigner_verifier_new(c->vkey, strlen(c->vkey))) == NULL ||
		    asprintf(&w->url, "%s/add-checkpoint", c->url) < 0 ||
		    (w->curl = curl_easy_init()) == NULL) {
			snprintf(err, errlen, "witness %s: cannot set up its client", c->name);
			witness_client_free(wc);
			return NULL;
		}
		curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
		curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
		curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, (long)TOTAL_MS);
		curl_easy_setopt(w->curl, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(w->curl, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(w->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, &w->answer);
		curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "pdgate");
	}
	return wc;
}

int
witness_client_start(struct witness_client *wc, struct ledger *l, char *err, size_t errlen)
{
	char *note = NULL, msg[400];
	size_t len = 0;
	uint64_t size = 0, witnessed = 0;
	int rc;

	wc->l = l;
	/* the cosignatures live beside the batches: in ledger.db, or in the database the nodes
	 * share, where each node stores what it is given and serves what any node was given */
	if ((wc->store = ledger_cosig_store_open(
	         config_ledger_where(wc->cfg), wc->cfg->ledger.origin, msg, sizeof(msg))) == NULL) {
		snprintf(err, errlen, "witness: %s", msg);
		return -1;
	}
	rc = ledger_checkpoint(l, 0, &note, &len, &size);
	if (rc != 0 && rc != LEDGER_ENOENT) {
		snprintf(err, errlen, "witness: the latest checkpoint: %s", ledger_strerror(rc));
		return -1;
	}
	(void)ledger_cosig_newest(l, wc->quorum, &witnessed);
	pthread_mutex_lock(&wc->lock);
	wc->witnessed = witnessed <= size ? witnessed : 0;
	wc->latest = size;
	if (size > wc->witnessed)
		wc->unwitnessed_ms = now_wall_ms();
	for (size_t i = 0; i < wc->n; i++) {
		struct wit *w = &wc->w[i];
		uint64_t mine = 0;
		/* where this witness was, as far as the ledger remembers: a guess that saves a 409
		 * (a size past the checkpoint is not believed: the witness itself is asked) */
		if (ledger_cosig_newest_by(l, note_verifier_name(w->v), &mine) == 0 && mine <= size)
			w->known = mine;
		if (note != NULL)
			queue(w, size, note, len);
	}
	pthread_mutex_unlock(&wc->lock);
	free(note);
	for (size_t i = 0; i < wc->n; i++) {
		if (pthread_create(&wc->w[i].thread, NULL, wit_main, &wc->w[i]) != 0) {
			snprintf(err, errlen, "witness: cannot start a thread");
			return -1;
		}
		wc->w[i].started = true;
	}
	/* on a shared ledger the other nodes sign too: their checkpoints are submitted as well */
	if (wc->store->ops->shared) {
		if (pthread_create(&wc->watch, NULL, watch_main, wc) != 0) {
			snprintf(err, errlen, "witness: cannot start a thread");
			return -1;
		}
		wc->watching = true;
	}

	/* The start check: every witness's first answer, or the time bound. */
	int64_t until = now_mono_ms() + WITNESS_CLIENT_START_MS;
	pthread_mutex_lock(&wc->lock);
	for (;;) {
		size_t waiting = 0;
		for (size_t i = 0; i < wc->n; i++)
			waiting += !wc->w[i].settled && size > 0;
		int64_t now = now_mono_ms();
		if (waiting == 0 || now >= until || wc->refused)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&wc->cv, &wc->lock, &ts);
	}
	wc->starting = false;
	bool refused = wc->refused;
	for (size_t i = 0; i < wc->n && !refused && size > 0; i++)
		if (!wc->w[i].answered)
			log_msg(
			    wc->log, "warn",
			    "witness %s did not answer at start (%s): releases go on, it is asked "
			    "again",
			    wc->w[i].label, wc->w[i].error[0] ? wc->w[i].error : "no answer yet");
	pthread_mutex_unlock(&wc->lock);
	log_msg(wc->log, refused ? "error" : "info",
	        "witness: %zu witnesses, quorum %u, checkpoint %" PRIu64 "%s", wc->n, wc->quorum,
	        size, refused ? ": the ledger is refused" : "");
	return 0;
}

void
witness_client_stop(struct witness_client *wc)
{
	if (wc == NULL)
		return;
	pthread_mutex_lock(&wc->lock);
	wc->stop = true;
	pthread_cond_broadcast(&wc->cv);
	pthread_mutex_unlock(&wc->lock);
	for (size_t i = 0; i < wc->n; i++)
		if (wc->w[i].started) {
			pthread_join(wc->w[i].thread, NULL);
			wc->w[i].started = false;
		}
	if (wc->watching) {
		pthread_join(wc->watch, NULL);
		wc->watching = false;
	}
}

void
witness_client_free(struct witness_client *wc)
{
	if (wc == NULL)
		return;
	witness_client_stop(wc);
	for (size_t i = 0; i < wc->n; i++) {
		struct wit *w = &wc->w[i];
		if (w->curl != NULL)
			curl_easy_cleanup(w->curl);
		note_verifier_free(w->v);
		free(w->url);
		free(w->pending);
		buf_free(&w->answer);
	}
	ledger_store_free(wc->store);
	pthread_mutex_destroy(&wc->lock);
	pthread_mutex_destroy(&wc->store_lock);
	pthread_cond_destroy(&wc->cv);
	free(wc);
}

/* ---- what the status listener and the summary read ---- */

/* How long the latest checkpoint has waited for its quorum (ms, 0: it has it). Locked. */
static int64_t
lag_ms(const struct witness_client *wc)
{
	return wc->unwitnessed_ms != 0 ? now_wall_ms() - wc->unwitnessed_ms : 0;
}

bool
witness_client_check(struct witness_client *wc, char *why, size_t whylen)
{
	bool ok = true;

	pthread_mutex_lock(&wc->lock);
	int64_t lag = lag_ms(wc);
	if (wc->refused) {
		snprintf(why, whylen, "%s", wc->why);
		ok = false;
	} else if (lag > (int64_t)wc->cfg->witness.max_age_s * 1000) {
		size_t off =
		    (size_t)snprintf(why, whylen,
		                     "checkpoint %" PRIu64 " has waited %.0f s for %u "
		                     "cosignatures (witnessed: %" PRIu64 ")",
		                     wc->latest, (double)lag / 1000.0, wc->quorum, wc->witnessed);
		for (size_t i = 0; i < wc->n && off < whylen; i++)
			if (wc->w[i].error[0] != '\0')
				off += (size_t)snprintf(why + off, whylen - off, "; %s: %s",
				                        wc->w[i].label, wc->w[i].error);
		ok = false;
	}
	pthread_mutex_unlock(&wc->lock);
	return ok;
}

void
witness_client_metrics(struct witness_client *wc, struct buf *out)
{
	pthread_mutex_lock(&wc->lock);
	metrics_write_family(out, "pdgate_witness_quorum", "gauge",
	                     "Cosignatures a checkpoint needs to be witnessed.");
	metrics_write_sample(out, "pdgate_witness_quorum", NULL, NULL, wc->quorum);
	metrics_write_family(out, "pdgate_witness_witnessed_size", "gauge",
	                     "Entries of the largest checkpoint with a quorum of cosignatures.");
	metrics_write_sample(out, "pdgate_witness_witnessed_size", NULL, NULL,
	                     (double)wc->witnessed);
	metrics_write_family(out, "pdgate_witness_lag_seconds", "gauge",
	                     "How long the latest checkpoint has waited for its quorum (0: it has "
	                     "it).");
	metrics_write_sample(out, "pdgate_witness_lag_seconds", NULL, NULL,
	                     (double)lag_ms(wc) / 1000.0);
	metrics_write_family(out, "pdgate_witness_refused", "gauge",
	                     "1 while a quorum of witnesses contradicts the ledger: nothing is "
	                     "signed or released.");
	metrics_write_sample(out, "pdgate_witness_refused", NULL, NULL, wc->refused);
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {"pdgate_witness_cosigned_size", "gauge",
	     "Entries of the largest checkpoint this witness cosigned since start."},
	    {"pdgate_witness_last_status", "gauge",
	     "HTTP status of the witness's last answer (0: none yet)."},
	    {"pdgate_witness_conflict", "gauge",
	     "1 when the witness has cosigned a larger or different tree."},
	    {"pdgate_witness_cosignatures_total", "counter", "Cosignatures verified and kept."},
	    {"pdgate_witness_failures_total", "counter",
	     "Submissions that failed: no answer, a refusal (403, 404, 400, 5xx), a bad answer."},
	    {"pdgate_witness_conflicts_total", "counter",
	     "Answers that contradict the ledger (a larger size, another root, 422)."},
	};
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_write_family(out, fam[f].name, fam[f].type, fam[f].help);
		for (size_t i = 0; i < wc->n; i++) {
			const struct wit *w = &wc->w[i];
			double v[] = {(double)w->cosigned, (double)w->last_status,
			              (double)w->conflict, (double)w->n_cosigned,
			              (double)w->n_failed, (double)w->n_conflict};
			metrics_write_sample(out, fam[f].name, "witness", w->label, v[f]);
		}
	}
	pthread_mutex_unlock(&wc->lock);
}

json_t *
witness_client_json(struct witness_client *wc)
{
	json_t *list = json_array();

	pthread_mutex_lock(&wc->lock);
	for (size_t i = 0; i < wc->n && list != NULL; i++) {
		const struct wit *w = &wc->w[i];
		json_array_append_new(list, json_pack("{s:s,s:s,s:I,s:I,s:b,s:I,s:I,s:s?}", "name",
		                                      w->label, "key", note_verifier_name(w->v),
		                                      "cosigned_size", (json_int_t)w->cosigned,
		                                      "last_status", (json_int_t)w->last_status,
		                                      "conflict", w->conflict, "cosignatures",
		                                      (json_int_t)w->n_cosigned, "failures",
		                                      (json_int_t)w->n_failed, "error",
		                                      w->error[0] != '\0' ? w->error : NULL));
	}
	json_t *doc = list == NULL
	                  ? NULL
	                  : json_pack("{s:I,s:I,s:I,s:f,s:b,s:s?,s:o}", "quorum",
	                              (json_int_t)wc->quorum, "latest_size", (json_int_t)wc->latest,
	                              "witnessed_size", (json_int_t)wc->witnessed, "lag_seconds",
	                              (double)lag_ms(wc) / 1000.0, "refused", wc->refused, "reason",
	                              wc->refused ? wc->why : NULL, "witnesses", list);
	pthread_mutex_unlock(&wc->lock);
	return doc;
}
