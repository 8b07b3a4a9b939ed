/* origin — the benchmark's plain-HTTP member system: SPEC 6 routes served from members.db in
 * memory. */
/*
 * Loads every record of a members.db (pdgate init's embedded origin) into memory, sorted by
 * member_id, and serves them over HTTP/1.1 with keep-alive, one epoll loop per thread
 * (SO_REUSEPORT spreads connections):
 *   GET /members/{id}                 200 the record as stored, 404 if unknown
 *   GET /members?limit=N[&after=ID]   200 {"members":[record…],"next":ID-or-null}
 * Answers are built from memory with no parsing, so that pdgate and nginx in front of it are
 * what the benchmark measures. Prints "origin: listening on PORT" once ready.
 *
 * Build: cc -O2 -o build/bench/origin tests/bench/origin.c -lsqlite3 -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sqlite3.h>

#define HEAD_MAX 16384
#define PAGE_MAX_LIMIT 10000

struct member {
	char *id;
	char *record;
	size_t len;
};

static struct member *members;
static size_t nmembers;
static int listen_port;

struct conn {
	int fd;
	char in[HEAD_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	bool close_after;
	bool want_out;
};

static void
fatal(const char *what)
{
	perror(what);
	exit(1);
}

static int
cmp_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct member *)elem)->id);
}

/* The first member with id > after (nmembers if none). */
static size_t
upper_bound(const char *after)
{
	size_t lo = 0, hi = nmembers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(members[mid].id, after) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
load(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t cap = 1024;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "origin: %s: %s\n", path, sqlite3_errmsg(db));
		exit(1);
	}
	if (sqlite3_prepare_v2(db, "SELECT member_id, record FROM members ORDER BY member_id", -1,
	                       &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "origin: %s: %s\n", path, sqlite3_errmsg(db));
		exit(1);
	}
	members = malloc(cap * sizeof *members);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (nmembers == cap) {
			cap *= 2;
			members = realloc(members, cap * sizeof *members);
		}
		if (members == NULL)
			fatal("realloc");
		struct member *m = &members[nmembers++];
		m->id = strdup((const char *)sqlite3_column_text(st, 0));
		m->len = (size_t)sqlite3_column_bytes(st, 1);
		m->record = malloc(m->len + 1);
		if (m->id == NULL || m->record == NULL)
			fatal("malloc");
		memcpy(m->record, sqlite3_column_text(st, 1), m->len + 1);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- Answers ---- */

static void
out_reserve(struct conn *c, size_t more)
{
	if (c->out_len + more <= c->out_cap)
		return;
	size_t cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + more)
		cap *= 2;
	c->out = realloc(c->out, cap);
	if (c->out == NULL)
		fatal("realloc");
	c->out_cap = cap;
}

static void
out_add(struct conn *c, const void *p, size_t n)
{
	out_reserve(c, n);
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* Appends the head for a body of len bytes; the body follows with out_add. */
static void
reply_head(struct conn *c, unsigned status, size_t len)
{
	char h[256];
	int n =
	    snprintf(h, sizeof h,
	             "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: "
	             "%zu\r\n%s\r\n",
	             status,
	             status == 200   ? "OK"
	             : status == 404 ? "Not Found"
	                             : "Bad Request",
	             len, c->close_after ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
	out_add(c, h, (size_t)n);
}

static void
reply_error(struct conn *c, unsigned status, const char *code)
{
	char b[128];
	int n = snprintf(b, sizeof b, "{\"error\":\"%s\"}", code);
	reply_head(c, status, (size_t)n);
	out_add(c, b, (size_t)n);
}

/* Value of query parameter name in q (up to end or '&'), copied into v. */
static bool
query_param(const char *q, const char *name, char *v, size_t vlen)
{
	size_t nl = strlen(name);
	while (q != NULL && *q != '\0') {
		if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
			size_t n = strcspn(q + nl + 1, "&");
			if (n >= vlen)
				return false;
			memcpy(v, q + nl + 1, n);
			v[n] = '\0';
			return true;
		}
		q = strchr(q, '&');
		if (q != NULL)
			q++;
	}
	return false;
}

static void
serve_page(struct conn *c, const char *query)
{
	char lim[16], after[128];
	long limit = 100;

	if (query_param(query, "limit", lim, sizeof lim)) {
		limit = strtol(lim, NULL, 10);
		if (limit < 1 || limit > PAGE_MAX_LIMIT) {
			reply_error(c, 400, "bad_limit");
			return;
		}
	}
	size_t from = query_param(query, "after", after, sizeof after) ? upper_bound(after) : 0;
	size_t to = from + (size_t)limit < nmembers ? from + (size_t)limit : nmembers;
	size_t body = strlen("{\"members\":[],\"next\":null}");
	for (size_t i = from; i < to; i++)
		body += members[i].len + (i > from);
	bool more = to < nmembers && to > from;
	if (more)
		body += strlen(members[to - 1].id) + 2 - 4; /* "ID" instead of null */
	reply_head(c, 200, body);
	out_reserve(c, body);
	out_add(c, "{\"members\":[", 12);
	for (size_t i = from; i < to; i++) {
		if (i > from)
			out_add(c, ",", 1);
		out_add(c, members[i].record, members[i].len);
	}
	out_add(c, "],\"next\":", 9);
	if (more) {
		out_add(c, "\"", 1);
		out_add(c, members[to - 1].id, strlen(members[to - 1].id));
		out_add(c, "\"", 1);
	} else {
		out_add(c, "null", 4);
	}
	out_add(c, "}", 1);
}

/* Handles one complete request head [0, head_len) of c->in. */
static void
handle(struct conn *c, size_t head_len)
{
	char *p = c->in, *end = c->in + head_len;
	char target[2048];

	c->in[head_len - 1] = '\0';
	if (strncmp(p, "GET ", 4) != 0) {
		c->close_after = true;
		reply_error(c, 400, "bad_request");
		return;
	}
	char *sp = memchr(p + 4, ' ', (size_t)(end - p - 4));
	if (sp == NULL || (size_t)(sp - p - 4) >= sizeof target) {
		c->close_after = true;
		reply_error(c, 400, "bad_request");
		return;
	}
	memcpy(target, p + 4, (size_t)(sp - p - 4));
	target[sp - p - 4] = '\0';
	c->close_after = strncmp(sp + 1, "HTTP/1.0", 8) == 0;
	for (char *h = strstr(p, "\r\n"); h != NULL; h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, "Connection:", 11) == 0) {
			const char *v = h + 13;
			while (*v == ' ')
				v++;
			c->close_after = strncasecmp(v, "close", 5) == 0;
		}

	if (strncmp(target, "/members/", 9) == 0 && target[9] != '\0') {
		struct member *m = bsearch(target + 9, members, nmembers, sizeof *members, cmp_id);
		if (m == NULL) {
			reply_error(c, 404, "not_found");
			return;
		}
		reply_head(c, 200, m->len);
		out_add(c, m->record, m->len);
	} else if (strcmp(target, "/members") == 0 || strncmp(target, "/members?", 9) == 0) {
		serve_page(c, target[8] == '?' ? target + 9 : NULL);
	} else {
		reply_error(c, 404, "not_found");
	}
}

/* ---- The loop ---- */

static void
conn_free(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c);
}

static void
set_events(int ep, struct conn *c, bool out)
{
	struct epoll_event e = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
	if (c->want_out != out) {
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
		c->want_out = out;
	}
}

/* Writes what is pending; returns -1 if the connection is to be closed. */
static int
flush_out(int ep, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t k = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (k < 0 && errno == EAGAIN) {
			set_events(ep, c, true);
			return 0;
		}
		if (k <= 0)
			return -1;
		c->out_off += (size_t)k;
	}
	c->out_len = c->out_off = 0;
	if (c->out_cap > (1u << 20)) { /* do not keep a page's buffer per idle connection */
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	set_events(ep, c, false);
	return c->close_after ? -1 : 0;
}

/* Reads and answers every complete request; returns -1 to close. */
static int
on_readable(int ep, struct conn *c)
{
	for (;;) {
		ssize_t k = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
		if (k == 0)
			return -1;
		if (k < 0)
			return errno == EAGAIN ? 0 : -1;
		c->in_len += (size_t)k;
		for (;;) {
			char *e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
			if (e == NULL) {
				if (c->in_len == sizeof c->in)
					return -1;
				break;
			}
			size_t head = (size_t)(e - c->in) + 4;
			handle(c, head);
			memmove(c->in, c->in + head, c->in_len - head);
			c->in_len -= head;
			if (c->close_after)
				break;
		}
		if (c->out_len > 0) {
			int r = flush_out(ep, c);
			if (r != 0 || c->want_out)
				return r;
		}
	}
}

static int
make_listener(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	if (fd < 0)
		fatal("socket");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0)
		fatal("bind/listen");
	return fd;
}

static void *
loop_main(void *arg)
{
	int lfd = (int)(intptr_t)arg, ep = epoll_create1(EPOLL_CLOEXEC), one = 1;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL}, evs[128];

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) != 0)
		fatal("epoll");
	for (;;) {
		int n = epoll_wait(ep, evs, 128, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
				                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					c = calloc(1, sizeof *c);
					if (c == NULL)
						fatal("calloc");
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
				}
				continue;
			}
			int r = c->want_out ? flush_out(ep, c) : 0;
			if (r == 0 && !c->want_out &&
			    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				r = on_readable(ep, c);
			if (r != 0)
				conn_free(ep, c);
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int threads = 1, opt;
	const char *db = NULL;
	struct rlimit rl;

	while ((opt = getopt(argc, argv, "d:p:t:")) != -1) {
		switch (opt) {
		case 'd':
			db = optarg;
			break;
		case 'p':
			listen_port = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: origin -d members.db [-p PORT] [-t THREADS]\n");
			return 2;
		}
	}
	if (db == NULL || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: origin -d members.db [-p PORT] [-t THREADS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	load(db);
	int first = make_listener(listen_port);
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	getsockname(first, (struct sockaddr *)&a, &al);
	listen_port = ntohs(a.sin_port);
	for (int i = 1; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, loop_main,
		                   (void *)(intptr_t)make_listener(listen_port)) != 0)
			fatal("pthread_create");
	}
	printf("origin: %zu members, listening on %d\n", nmembers, listen_port);
	fflush(stdout);
	loop_main((void *)(intptr_t)first);
	return 0;
}
