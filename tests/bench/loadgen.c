/* loadgen — the benchmark's HTTP/1.1-over-mTLS load generator: epoll, latency histogram, JSON. */
/*
 * One or a few threads, each with its own epoll set and many non-blocking OpenSSL client
 * connections: the generator shares the machine's two cores with the server it measures, so it
 * spends as little CPU per request as it can (no thread per connection, no locks on the hot
 * path, one histogram per thread merged at the end).
 *
 * Modes:
 *   keep-alive (default)  every connection sends requests back to back, one at a time;
 *   --close               a new TCP connection and a full TLS handshake per request (no session
 *                         cache, no tickets: resumption is impossible), "Connection: close";
 *   --hold N              opens N connections, makes one request on each, prints a JSON line
 *                         and keeps them open and idle until stdin reaches EOF.
 *
 * Output (stdout, one JSON object): requests, errors, non_2xx, rps, p50_ms, p99_ms and more.
 * Only answers completed inside the measured window [warmup, warmup + duration) count.
 *
 * Build: cc -O2 -o build/bench/loadgen tests/bench/loadgen.c -lssl -lcrypto -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_HEADERS 16
#define REQ_MAX 16384
#define RESP_INIT 16384
#define RESP_MAX (64u << 20)
/* Connections opening at once in --hold mode: a burst of 1,000 SYNs overflows small backlogs
 * and the retransmissions would measure the kernel, not the servers. */
#define HOLD_OPENING 64

/* ---- Latency histogram: log buckets, 64 per power of two (relative error < 1.6 %). ---- */

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define NBUCKETS ((40 - SUB_BITS + 1) * SUB + SUB) /* values up to 2^40 us */

struct hist {
	uint64_t n[NBUCKETS];
	uint64_t count, sum_us, max_us;
};

static unsigned
bucket_of(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	if (e > 40)
		return NBUCKETS - 1;
	return (e - SUB_BITS + 1) * SUB + (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1));
}

/* The middle of a bucket's range, in microseconds. */
static double
bucket_mid(unsigned b)
{
	if (b < SUB)
		return b;
	unsigned e = b / SUB + SUB_BITS - 1;
	uint64_t m = b % SUB, width = 1ull << (e - SUB_BITS);
	return (double)((SUB + m) << (e - SUB_BITS)) + (double)(width - 1) / 2.0;
}

static void
hist_add(struct hist *h, uint64_t us)
{
	h->n[bucket_of(us)]++;
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
}

static void
hist_merge(struct hist *into, const struct hist *h)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		into->n[i] += h->n[i];
	into->count += h->count;
	into->sum_us += h->sum_us;
	if (h->max_us > into->max_us)
		into->max_us = h->max_us;
}

/* The value at quantile q (0..1) in milliseconds. */
static double
hist_quantile_ms(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += h->n[i];
		if (seen >= rank)
			return bucket_mid(i) / 1000.0;
	}
	return (double)h->max_us / 1000.0;
}

/* ---- Options and shared state ---- */

struct opts {
	const char *host, *port, *ca, *cert, *key, *path;
	const char *id_format;
	unsigned id_lo, id_hi;
	const char *headers[MAX_HEADERS];
	unsigned nheaders;
	unsigned threads, conns;
	double duration, warmup;
	bool close_each;
	unsigned hold;
	int tls_version; /* 0: 1.2 or 1.3 as negotiated */
	bool show;
};

struct shared {
	struct opts o;
	SSL_CTX *ctx;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool host_is_ip;
	uint64_t t0, t_measure, t_end; /* CLOCK_MONOTONIC ns */
	_Atomic unsigned held, hold_failed;
	_Atomic bool shown;
	volatile sig_atomic_t stop;
};

enum state { ST_FREE, ST_WAIT, ST_CONNECTING, ST_HANDSHAKE, ST_WRITE, ST_READ, ST_IDLE };

struct conn {
	enum state state;
	int fd;
	SSL *ssl;
	uint32_t events;  /* epoll interest now registered, 0 if not registered */
	uint64_t t_start; /* ns: request written (keep-alive) or connect started (--close) */
	uint64_t retry_at;
	unsigned failures; /* consecutive */
	char *req;
	size_t req_len, req_off;
	char *buf;
	size_t len, cap;
	bool held;
};

struct worker {
	struct shared *sh;
	unsigned index;
	int ep;
	struct conn *conns;
	unsigned nconns;
	uint64_t rng;
	struct hist hist;
	uint64_t requests, errors, non2xx, handshakes, bytes;
	uint64_t status[6]; /* 1xx..5xx */
	pthread_t tid;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "loadgen: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* ---- Requests and responses ---- */

/* Writes the next request into c->req: the path template with "{id}" replaced by a random id. */
static void
build_request(struct worker *w, struct conn *c)
{
	const struct opts *o = &w->sh->o;
	char id[64] = "", path[4096];
	const char *mark = strstr(o->path, "{id}");

	if (mark != NULL) {
		unsigned span = o->id_hi - o->id_lo + 1;
		unsigned n = o->id_lo + (unsigned)(xorshift(&w->rng) % span);
		snprintf(id, sizeof id, o->id_format, n);
		snprintf(path, sizeof path, "%.*s%s%s", (int)(mark - o->path), o->path, id,
		         mark + 4);
	} else {
		snprintf(path, sizeof path, "%s", o->path);
	}
	int n =
	    snprintf(c->req, REQ_MAX, "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: loadgen\r\n",
	             path, o->host, o->port);
	for (unsigned i = 0; i < o->nheaders && n > 0 && n < REQ_MAX; i++)
		n += snprintf(c->req + n, REQ_MAX - (size_t)n, "%s\r\n", o->headers[i]);
	if (n > 0 && n < REQ_MAX && o->close_each)
		n += snprintf(c->req + n, REQ_MAX - (size_t)n, "Connection: close\r\n");
	if (n > 0 && n < REQ_MAX)
		n += snprintf(c->req + n, REQ_MAX - (size_t)n, "\r\n");
	if (n <= 0 || n >= REQ_MAX)
		die("%s", "request too large");
	c->req_len = (size_t)n;
	c->req_off = 0;
}

/* Case-insensitive search of a header's value in the head [p, end). */
static const char *
header_value(const char *head, const char *end, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', (size_t)(end - head));

	while (p != NULL && p + 1 < end) {
		p++;
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol < end ? eol : NULL;
	}
	return NULL;
}

/*
 * Whether buf holds one complete response. Returns 1 (with *status, *close set), 0 if more bytes
 * are needed, -1 if it is not HTTP.
 */
static int
response_complete(const char *buf, size_t len, unsigned *status, bool *close)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *v;
	size_t vlen, head, body;

	if (end == NULL)
		return len > 65536 ? -1 : 0;
	head = (size_t)(end - buf) + 4;
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = (unsigned)atoi(buf + 9);
	*close = memcmp(buf, "HTTP/1.0", 8) == 0;
	if ((v = header_value(buf, end, "Connection", &vlen)) != NULL)
		*close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
	if ((v = header_value(buf, end, "Transfer-Encoding", &vlen)) != NULL && vlen == 7 &&
	    strncasecmp(v, "chunked", 7) == 0) {
		size_t p = head;
		for (;;) {
			const char *eol = memmem(buf + p, len - p, "\r\n", 2);
			if (eol == NULL)
				return 0;
			unsigned long sz = strtoul(buf + p, NULL, 16);
			p = (size_t)(eol - buf) + 2;
			if (sz == 0) /* no trailers expected: the final CRLF */
				return len >= p + 2 ? 1 : 0;
			if (len < p + sz + 2)
				return 0;
			p += sz + 2;
		}
	}
	if ((v = header_value(buf, end, "Content-Length", &vlen)) != NULL)
		body = (size_t)strtoull(v, NULL, 10);
	else if (*status == 204 || *status == 304)
		body = 0;
	else
		return -1; /* read-until-close bodies are not used by either server */
	return len >= head + body ? 1 : 0;
}

/* ---- Connections ---- */

static void
set_interest(struct worker *w, struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (c->events == ev)
		return;
	if (epoll_ctl(w->ep, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void
conn_close(struct worker *w, struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		if (c->events != 0)
			epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->events = 0;
	c->len = 0;
}

static bool
measuring(const struct shared *sh, uint64_t t)
{
	return t >= sh->t_measure && t < sh->t_end;
}

/* Starts a TCP connection; the TLS handshake follows when it is writable. */
static void
conn_open(struct worker *w, struct conn *c)
{
	struct shared *sh = w->sh;
	int one = 1;

	c->fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->t_start = now_ns();
	c->len = 0;
	if (connect(c->fd, (struct sockaddr *)&sh->addr, sh->addrlen) != 0 && errno != EINPROGRESS)
		goto fail;
	c->state = ST_CONNECTING;
	set_interest(w, c, EPOLLOUT);
	return;
fail:
	if (measuring(sh, now_ns()))
		w->errors++;
	conn_close(w, c);
	c->failures++;
	c->state = ST_WAIT;
	c->retry_at = now_ns() + (c->failures > 2 ? 20000000ull : 0);
}

/* A failure on an open connection: count it, close, try again (after a pause if it repeats). */
static void
conn_fail(struct worker *w, struct conn *c, const char *what)
{
	struct shared *sh = w->sh;
	uint64_t t = now_ns();

	if (measuring(sh, t) || sh->o.hold != 0)
		w->errors++;
	if (sh->o.show && !atomic_exchange(&sh->shown, true)) {
		fprintf(stderr, "loadgen: first failure: %s\n", what);
		if (c->ssl != NULL && SSL_get_verify_result(c->ssl) != X509_V_OK)
			fprintf(stderr, "loadgen: server certificate: %s\n",
			        X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
		ERR_print_errors_fp(stderr);
	}
	ERR_clear_error();
	conn_close(w, c);
	c->failures++;
	if (sh->o.hold != 0) {
		atomic_fetch_add(&sh->hold_failed, 1);
		c->state = ST_FREE;
		return;
	}
	c->state = ST_WAIT;
	c->retry_at = t + (c->failures > 2 ? 20000000ull : 0);
}

static void
on_response(struct worker *w, struct conn *c, unsigned status, bool server_closes)
{
	struct shared *sh = w->sh;
	uint64_t t = now_ns();

	c->failures = 0;
	if (sh->o.show && !atomic_exchange(&sh->shown, true))
		fprintf(stderr, "%.*s\n", (int)(c->len < 4096 ? c->len : 4096), c->buf);
	if (measuring(sh, t)) {
		w->requests++;
		w->bytes += c->len;
		if (status < 200 || status > 299)
			w->non2xx++;
		if (status >= 100 && status < 600)
			w->status[status / 100]++;
		hist_add(&w->hist, (t - c->t_start) / 1000);
	}
	c->len = 0;
	if (sh->o.hold != 0) {
		if (server_closes || status < 200 || status > 299) {
			conn_fail(w, c, "held connection refused or closed");
			return;
		}
		c->held = true;
		c->state = ST_IDLE;
		atomic_fetch_add(&sh->held, 1);
		set_interest(w, c, EPOLLIN);
		return;
	}
	if (sh->o.close_each || server_closes) {
		if (!sh->o.close_each)
			SSL_shutdown(c->ssl);
		conn_close(w, c);
		conn_open(w, c);
		return;
	}
	build_request(w, c);
	c->t_start = t;
	c->state = ST_WRITE;
}

/* Runs a connection's state machine until it has to wait for the socket. */
static void
conn_drive(struct worker *w, struct conn *c)
{
	struct shared *sh = w->sh;

	for (;;) {
		int r, e;
		switch (c->state) {
		case ST_CONNECTING: {
			int err = 0;
			socklen_t l = sizeof err;
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 || err != 0) {
				conn_fail(w, c, "connect failed");
				return;
			}
			c->ssl = SSL_new(sh->ctx);
			if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
				conn_fail(w, c, "SSL_new");
				return;
			}
			if (!sh->host_is_ip)
				SSL_set_tlsext_host_name(c->ssl, sh->o.host);
			SSL_set1_host(c->ssl, sh->o.host);
			c->state = ST_HANDSHAKE;
			break;
		}
		case ST_HANDSHAKE:
			r = SSL_connect(c->ssl);
			if (r == 1) {
				if (measuring(sh, now_ns()))
					w->handshakes++;
				build_request(w, c);
				if (!sh->o.close_each)
					c->t_start = now_ns();
				c->state = ST_WRITE;
				break;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				set_interest(w, c, EPOLLIN);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				set_interest(w, c, EPOLLOUT);
				return;
			}
			conn_fail(w, c, "TLS handshake");
			return;
		case ST_WRITE:
			r = SSL_write(c->ssl, c->req + c->req_off, (int)(c->req_len - c->req_off));
			if (r > 0) {
				c->req_off += (size_t)r;
				if (c->req_off < c->req_len)
					break;
				/* The answer cannot be there yet: wait for it rather than spend a
				 * read() that would only say EAGAIN. */
				c->state = ST_READ;
				set_interest(w, c, EPOLLIN);
				return;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				set_interest(w, c, EPOLLIN);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				set_interest(w, c, EPOLLOUT);
				return;
			}
			conn_fail(w, c, "write");
			return;
		case ST_READ:
		case ST_IDLE:
			if (c->cap - c->len < 4096) {
				size_t cap = c->cap * 2;
				char *nb = cap <= RESP_MAX ? realloc(c->buf, cap) : NULL;
				if (nb == NULL) {
					conn_fail(w, c, "response too large");
					return;
				}
				c->buf = nb;
				c->cap = cap;
			}
			r = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
			if (r > 0) {
				if (c->state == ST_IDLE) {
					conn_fail(w, c, "bytes on an idle connection");
					return;
				}
				c->len += (size_t)r;
				unsigned status = 0;
				bool closes = false;
				int done = response_complete(c->buf, c->len, &status, &closes);
				if (done < 0) {
					conn_fail(w, c, "not an HTTP response");
					return;
				}
				if (done > 0) {
					on_response(w, c, status, closes);
					if (c->state != ST_WRITE)
						return;
				}
				break;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				set_interest(w, c, EPOLLIN);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				set_interest(w, c, EPOLLOUT);
				return;
			}
			if (c->state == ST_IDLE) {
				/* the server closed a held connection (idle timeout) */
				atomic_fetch_sub(&sh->held, 1);
				c->held = false;
				conn_fail(w, c, "held connection closed by the server");
				return;
			}
			conn_fail(w, c, c->len == 0 ? "closed before an answer" : "read");
			return;
		default:
			return;
		}
	}
}

/* ---- Workers ---- */

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct epoll_event evs[256];
	unsigned opening = 0, next_hold = 0;

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		die("%s", "epoll_create1");
	if (sh->o.hold != 0 && w->index == 0) {
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(w->ep, EPOLL_CTL_ADD, 0, &e);
	}
	for (unsigned i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		c->fd = -1;
		c->cap = RESP_INIT;
		c->buf = malloc(c->cap);
		c->req = malloc(REQ_MAX);
		if (c->buf == NULL || c->req == NULL)
			die("%s", "out of memory");
		c->state = ST_WAIT;
		c->retry_at = 0;
	}
	bool hold_reported = false;
	for (;;) {
		uint64_t t = now_ns();
		if (sh->stop)
			break;
		if (sh->o.hold == 0 && t >= sh->t_end)
			break;
		if (sh->o.hold != 0 && t >= sh->t_end && !hold_reported)
			break;
		/* Start or restart connections that are due (in --hold mode, a few at a time). */
		opening = 0;
		for (unsigned i = 0; i < w->nconns; i++) {
			enum state s = w->conns[i].state;
			if (s == ST_CONNECTING || s == ST_HANDSHAKE || s == ST_WRITE ||
			    s == ST_READ)
				opening++;
		}
		for (; next_hold < w->nconns; next_hold++) {
			struct conn *c = &w->conns[next_hold];
			if (c->state != ST_WAIT || c->retry_at > t)
				break;
			if (sh->o.hold != 0 && opening >= HOLD_OPENING)
				break;
			conn_open(w, c);
			opening++;
			if (c->state == ST_CONNECTING)
				conn_drive(w, c);
		}
		if (sh->o.hold == 0) {
			/* Retries after failures, once the first pass opened everything. */
			for (unsigned i = 0; i < next_hold; i++) {
				struct conn *c = &w->conns[i];
				if (c->state == ST_WAIT && c->retry_at <= t)
					conn_open(w, c);
			}
		}
		if (sh->o.hold != 0 && w->index == 0 && !hold_reported &&
		    atomic_load(&sh->held) + atomic_load(&sh->hold_failed) >= sh->o.hold) {
			printf("{\"held\":%u,\"failed\":%u}\n", atomic_load(&sh->held),
			       atomic_load(&sh->hold_failed));
			fflush(stdout);
			hold_reported = true;
		}
		int n = epoll_wait(w->ep, evs, sizeof evs / sizeof evs[0], 20);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) { /* stdin: EOF ends --hold */
				char b[256];
				ssize_t k = read(0, b, sizeof b);
				if (k <= 0)
					sh->stop = 1;
				continue;
			}
			if (c->fd >= 0)
				conn_drive(w, c);
		}
	}
	if (sh->o.hold != 0 && w->index == 0 && !hold_reported) {
		printf("{\"held\":%u,\"failed\":%u}\n", atomic_load(&sh->held),
		       sh->o.hold - atomic_load(&sh->held));
		fflush(stdout);
	}
	for (unsigned i = 0; i < w->nconns; i++) {
		conn_close(w, &w->conns[i]);
		free(w->conns[i].buf);
		free(w->conns[i].req);
	}
	close(w->ep);
	return NULL;
}

/* ---- Main ---- */

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: loadgen -p PORT --ca CA.pem --cert CERT.pem --key KEY.pem [options]\n"
	    "  -h HOST          server address (127.0.0.1)\n"
	    "  -t N             threads (1)\n"
	    "  -c N             connections per thread (16)\n"
	    "  -d SECONDS       measured duration (10)\n"
	    "  -w SECONDS       warm-up before measuring (1)\n"
	    "  --path TEMPLATE  request target, \"{id}\" replaced by a random id (/)\n"
	    "  --ids LO-HI      id range (1-100000)\n"
	    "  --id-format FMT  printf format of an id (M%%07u)\n"
	    "  -H 'Name: value' a request header (repeatable)\n"
	    "  --close          a new connection and full handshake per request\n"
	    "  --hold N         open N idle connections, print {\"held\":…}, wait for stdin EOF\n"
	    "  --tls12 --tls13  pin the TLS version\n"
	    "  --show           print the first response (or failure) to stderr\n");
}

static void
ignore_sigpipe(void)
{
	struct sigaction sa = {.sa_handler = SIG_IGN};
	sigaction(SIGPIPE, &sa, NULL);
}

static void
raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static struct shared sh;
	struct opts *o = &sh.o;
	static const struct option lo[] = {{"ca", required_argument, NULL, 'A'},
	                                   {"cert", required_argument, NULL, 'C'},
	                                   {"key", required_argument, NULL, 'K'},
	                                   {"path", required_argument, NULL, 'P'},
	                                   {"ids", required_argument, NULL, 'I'},
	                                   {"id-format", required_argument, NULL, 'F'},
	                                   {"close", no_argument, NULL, 'x'},
	                                   {"hold", required_argument, NULL, 'o'},
	                                   {"tls12", no_argument, NULL, '2'},
	                                   {"tls13", no_argument, NULL, '3'},
	                                   {"show", no_argument, NULL, 's'},
	                                   {"help", no_argument, NULL, '?'},
	                                   {NULL, 0, NULL, 0}};
	int opt;

	o->host = "127.0.0.1";
	o->path = "/";
	o->id_format = "M%07u";
	o->id_lo = 1;
	o->id_hi = 100000;
	o->threads = 1;
	o->conns = 16;
	o->duration = 10;
	o->warmup = 1;
	while ((opt = getopt_long(argc, argv, "h:p:t:c:d:w:H:", lo, NULL)) != -1) {
		switch (opt) {
		case 'h':
			o->host = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 't':
			o->threads = (unsigned)atoi(optarg);
			break;
		case 'c':
			o->conns = (unsigned)atoi(optarg);
			break;
		case 'd':
			o->duration = atof(optarg);
			break;
		case 'w':
			o->warmup = atof(optarg);
			break;
		case 'H':
			if (o->nheaders == MAX_HEADERS)
				die("%s", "too many headers");
			o->headers[o->nheaders++] = optarg;
			break;
		case 'A':
			o->ca = optarg;
			break;
		case 'C':
			o->cert = optarg;
			break;
		case 'K':
			o->key = optarg;
			break;
		case 'P':
			o->path = optarg;
			break;
		case 'I':
			if (sscanf(optarg, "%u-%u", &o->id_lo, &o->id_hi) != 2 ||
			    o->id_lo > o->id_hi)
				die("bad --ids %s", optarg);
			break;
		case 'F':
			o->id_format = optarg;
			break;
		case 'x':
			o->close_each = true;
			break;
		case 'o':
			o->hold = (unsigned)atoi(optarg);
			break;
		case '2':
			o->tls_version = TLS1_2_VERSION;
			break;
		case '3':
			o->tls_version = TLS1_3_VERSION;
			break;
		case 's':
			o->show = true;
			break;
		default:
			usage(opt == '?' && optopt == 0 ? stdout : stderr);
			return 2;
		}
	}
	if (o->port == NULL || o->ca == NULL || o->cert == NULL || o->key == NULL ||
	    o->threads == 0 || o->threads > 64 || (o->conns == 0 && o->hold == 0)) {
		usage(stderr);
		return 2;
	}
	ignore_sigpipe();
	raise_nofile();

	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(o->host, o->port, &hints, &ai) != 0)
		die("cannot resolve %s", o->host);
	memcpy(&sh.addr, ai->ai_addr, ai->ai_addrlen);
	sh.addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	unsigned char ipbuf[16];
	sh.host_is_ip =
	    inet_pton(AF_INET, o->host, ipbuf) == 1 || inet_pton(AF_INET6, o->host, ipbuf) == 1;

	sh.ctx = SSL_CTX_new(TLS_client_method());
	if (sh.ctx == NULL)
		die("%s", "SSL_CTX_new");
	SSL_CTX_set_min_proto_version(sh.ctx, o->tls_version ? o->tls_version : TLS1_2_VERSION);
	if (o->tls_version)
		SSL_CTX_set_max_proto_version(sh.ctx, o->tls_version);
	/* Every handshake is a full one: no client session cache, no tickets asked for. */
	SSL_CTX_set_session_cache_mode(sh.ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(sh.ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(sh.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_verify(sh.ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(sh.ctx, o->ca, NULL) != 1)
		die("cannot load CA %s", o->ca);
	if (SSL_CTX_use_certificate_chain_file(sh.ctx, o->cert) != 1)
		die("cannot load certificate %s", o->cert);
	if (SSL_CTX_use_PrivateKey_file(sh.ctx, o->key, SSL_FILETYPE_PEM) != 1)
		die("cannot load key %s", o->key);

	unsigned total = o->hold != 0 ? o->hold : o->threads * o->conns;
	if (o->hold != 0)
		o->threads = 1;
	struct worker *ws = calloc(o->threads, sizeof *ws);
	if (ws == NULL)
		die("%s", "out of memory");

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	sh.t0 = now_ns();
	sh.t_measure = sh.t0 + (uint64_t)(o->warmup * 1e9);
	sh.t_end = o->hold != 0 ? sh.t0 + (uint64_t)(o->duration * 1e9)
	                        : sh.t_measure + (uint64_t)(o->duration * 1e9);
	if (o->hold != 0) { /* every answer counts; the duration bounds the wait */
		sh.t_measure = sh.t0;
	}
	for (unsigned i = 0; i < o->threads; i++) {
		ws[i].sh = &sh;
		ws[i].index = i;
		ws[i].nconns = o->hold != 0 ? total : o->conns;
		ws[i].conns = calloc(ws[i].nconns, sizeof *ws[i].conns);
		ws[i].rng =
		    0x9e3779b97f4a7c15ull ^ ((uint64_t)(i + 1) * 0x2545F4914F6CDD1Dull) ^ sh.t0;
		if (ws[i].conns == NULL)
			die("%s", "out of memory");
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			die("%s", "pthread_create");
	}
	struct hist *all = calloc(1, sizeof *all);
	uint64_t requests = 0, errors = 0, non2xx = 0, handshakes = 0, bytes = 0, status[6] = {0};
	for (unsigned i = 0; i < o->threads; i++) {
		pthread_join(ws[i].tid, NULL);
		hist_merge(all, &ws[i].hist);
		requests += ws[i].requests;
		errors += ws[i].errors;
		non2xx += ws[i].non2xx;
		handshakes += ws[i].handshakes;
		bytes += ws[i].bytes;
		for (int k = 0; k < 6; k++)
			status[k] += ws[i].status[k];
		free(ws[i].conns);
	}
	getrusage(RUSAGE_SELF, &ru1);
	double cpu_user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
	double cpu_sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double secs = o->hold != 0 ? (double)(now_ns() - sh.t0) / 1e9 : o->duration;
	if (o->hold == 0)
		printf("{\"requests\":%llu,\"errors\":%llu,\"non_2xx\":%llu,\"rps\":%.1f,"
		       "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
		       "\"mean_ms\":%.3f,\"max_ms\":%.3f,\"handshakes\":%llu,\"bytes\":%llu,"
		       "\"status\":{\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
		       "\"connections\":%u,\"threads\":%u,\"duration_s\":%.3f,"
		       "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
		       (unsigned long long)requests, (unsigned long long)errors,
		       (unsigned long long)non2xx, (double)requests / secs,
		       hist_quantile_ms(all, 0.50), hist_quantile_ms(all, 0.90),
		       hist_quantile_ms(all, 0.99), hist_quantile_ms(all, 0.999),
		       all->count ? (double)all->sum_us / (double)all->count / 1000.0 : 0.0,
		       (double)all->max_us / 1000.0, (unsigned long long)handshakes,
		       (unsigned long long)bytes, (unsigned long long)status[2],
		       (unsigned long long)status[3], (unsigned long long)status[4],
		       (unsigned long long)status[5], total, o->threads, secs, cpu_user, cpu_sys);
	free(all);
	free(ws);
	SSL_CTX_free(sh.ctx);
	return 0;
}
