/* test_log — request and message lines: format, sanitizing, one whole line per call. */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h> /* not <limits.h>: -Igateway/src finds the limits module first */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "log.h"

static char dir[PATH_MAX];
static char logpath[PATH_MAX + 16];

/* The whole file; caller frees. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 22);
	if (f) {
		size_t n = fread(buf, 1, (1 << 22) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static unsigned
count(const char *s, char ch)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == ch;
	return n;
}

static const struct timespec when = {1775035812, 345678901}; /* 2026-04-01T09:30:12.345Z */

struct rcase {
	const char *name;
	struct log_request_fields f;
	const char *want; /* the whole line after the time */
};

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define C16 "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"

static const struct rcase rcases[] = {
    {"plain",
     {&when, "r-0001", "sakura-mail", "marketing", "GET", "/v1/whoami", 200, 845, NULL, NULL},
     " req r-0001 sakura-mail marketing GET /v1/whoami 200 845 - -\n"},
    {"refusal with code",
     {&when, "r-0002", "tokei-lab", "marketing", "GET", "/v1/members/M1", 403, 12,
      "purpose_not_permitted", NULL},
     " req r-0002 tokei-lab marketing GET /v1/members/M1 403 12 purpose_not_permitted -\n"},
    {"no partner, no purpose",
     {&when, "r-3", NULL, "", "GET", "/", 401, 0, "x", NULL},
     " req r-3 - - GET / 401 0 x -\n"},
    {"everything missing",
     {&when, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
     " req - - - - - 0 0 - -\n"},
    {"query string dropped",
     {&when, "r", "p", "q", "GET", "/v1/members?email=taro@example.jp", 200, 1, NULL, NULL},
     " req r p q GET /v1/members 200 1 - -\n"},
    {"route is only a query",
     {&when, "r", "p", "q", "GET", "?x=1", 404, 1, NULL, NULL},
     " req r p q GET - 404 1 - -\n"},
    {"blank and newline cannot add fields or lines",
     {&when, "r", "p", "marketing 200 1 -\n2026-01-01T00:00:00.000Z req forged", "GET", "/a b\r\n",
      400, 1, NULL, NULL},
     " req r p marketing%20200%201%20-%0A2026-01-01T00:00:00.000Z%20req%20forged GET "
     "/a%20b%0D%0A 400 1 - -\n"},
    {"percent and high bytes encoded",
     {&when, "r", "p", "q", "G\tET", "/%41/\xe4\xbc\x9a\x7f", 400, 1, NULL, NULL},
     " req r p q G%09ET /%2541/%E4%BC%9A%7F 400 1 - -\n"},
    {"long value cut",
     {&when, A64 A64 "x", "p", "q", "GET", "/", 200, 18446744073709551615ULL, NULL, NULL},
     " req " A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... p q GET / 200 "
     "18446744073709551615 - -\n"},
    {"value exactly at the limit kept whole",
     {&when, A64 A64, "p", "q", "GET", "/", 200, 1, NULL, NULL},
     " req " A64 A64 " p q GET / 200 1 - -\n"},
    {"encoded value cut on a whole escape",
     {&when, "r", C16 C16 C16, "q", "GET", "/", 200, 1, NULL, NULL},
     " req r "
     "%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01"
     "%01%01%01%01%01%01%01%01%01%01%01... q GET / 200 1 - -\n"},
    {"refusal detail encoded",
     {&when, "r", "p", "q", "GET", "/", 401, 1, "token_invalid", "claims: expired\n"},
     " req r p q GET / 401 1 token_invalid claims:%20expired%0A\n"},
};
#define NRCASES (sizeof(rcases) / sizeof(rcases[0]))

static void
test_request_lines(void)
{
	struct log *l = log_open(logpath);
	CHECK(l != NULL, "log_open: %s", strerror(errno));
	if (!l)
		return;
	for (size_t i = 0; i < NRCASES; i++)
		CHECK(log_request(l, &rcases[i].f) == 0, "%s: write failed", rcases[i].name);
	log_free(l);

	char *text = slurp(logpath), *line = text;
	CHECK(count(text, '\n') == NRCASES, "%u lines for %zu calls", count(text, '\n'), NRCASES);
	for (size_t i = 0; i < NRCASES && *line; i++) {
		char *nl = strchr(line, '\n');
		size_t len = (size_t)(nl - line) + 1;
		CHECK(strncmp(line, "2026-04-01T09:30:12.345Z", 24) == 0, "%s: time %.24s",
		      rcases[i].name, line);
		CHECK(strlen(rcases[i].want) == len - 24 &&
		          strncmp(line + 24, rcases[i].want, len - 24) == 0,
		      "%s:\n got  '%.*s'\n want '%s'", rcases[i].name, (int)(len - 24), line + 24,
		      rcases[i].want);
		/* eleven fields, one space apart, whatever the client sent */
		unsigned spaces = 0;
		for (size_t k = 0; k < len; k++)
			spaces += line[k] == ' ';
		CHECK(spaces == 10, "%s: %u spaces", rcases[i].name, spaces);
		line = nl + 1;
	}
	free(text);
	unlink(logpath);
}

static void
test_limits(void)
{
	/* every value at its longest still fits one atomic write */
	static char huge[20000];
	memset(huge, '\n', sizeof(huge) - 1);
	struct log_request_fields f = {NULL, huge, huge, huge, huge, huge, 599, 1, huge, huge};
	struct log *l = log_open(logpath);
	CHECK(log_request(l, &f) == 0, "huge line not written");
	CHECK(log_msg(l, "error", "%s", huge) == 0, "huge message not written");
	log_free(l);
	char *text = slurp(logpath);
	CHECK(count(text, '\n') == 2, "%u lines", count(text, '\n'));
	char *nl = strchr(text, '\n');
	CHECK(nl && nl - text < PIPE_BUF, "request line %td bytes", nl ? nl - text : -1);
	CHECK(nl && strlen(nl + 1) < PIPE_BUF, "message line %zu bytes", nl ? strlen(nl + 1) : 0);
	CHECK(nl && strstr(nl + 1, "\\n\\n...\n"), "message not cut with ...");
	/* "now" is used when no time is given: this century, well-formed */
	CHECK(strncmp(text, "20", 2) == 0 && text[10] == 'T' && text[23] == 'Z', "time '%.24s'",
	      text);
	free(text);
	unlink(logpath);
}

struct mcase {
	const char *level, *msg, *want;
};

static void
test_messages(void)
{
	static const struct mcase mcases[] = {
	    {"info", "pdgate demo: serving partners on 127.0.0.1:8443",
	     " info pdgate demo: serving partners on 127.0.0.1:8443\n"},
	    {"error", "reload failed:\nconf:3: unknown key\tx\x1b[31m",
	     " error reload failed:\\nconf:3: unknown key\\tx\\x1b[31m\n"},
	    {"warn", "", " warn \n"},
	    {"no such level\n", "x", " no%20such%20level%0A x\n"},
	    {"info", "会員 stays UTF-8", " info 会員 stays UTF-8\n"},
	};
	struct log *l = log_open(logpath);
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++)
		CHECK(log_msg(l, mcases[i].level, "%s", mcases[i].msg) == 0, "write %zu", i);
	log_free(l);
	char *text = slurp(logpath), *line = text;
	CHECK(count(text, '\n') == sizeof(mcases) / sizeof(mcases[0]), "%u lines",
	      count(text, '\n'));
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]) && *line; i++) {
		char *nl = strchr(line, '\n');
		CHECK(line[4] == '-' && line[10] == 'T' && line[23] == 'Z', "time '%.24s'", line);
		CHECK(strncmp(line + 24, mcases[i].want, strlen(mcases[i].want)) == 0 &&
		          (size_t)(nl + 1 - line - 24) == strlen(mcases[i].want),
		      "message %zu:\n got  '%.*s'\n want '%s'", i, (int)(nl + 1 - line - 24),
		      line + 24, mcases[i].want);
		line = nl + 1;
	}
	free(text);
	unlink(logpath);
}

/* Opens the log in JSON. */
static struct log *
open_json(void)
{
	struct log *l = log_open(logpath);
	if (l != NULL)
		log_set_format(l, LOG_FORMAT_JSON);
	return l;
}

/* Each line of the file parsed (an array of objects), or NULL if one line is not a JSON
 * object. A line holds no byte below 0x20: nothing can split or forge one. */
static json_t *
parse_lines(const char *text)
{
	json_t *all = json_array();
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		json_error_t e;
		if (nl == NULL)
			goto bad;
		for (const char *k = line; k < nl; k++)
			if ((unsigned char)*k < 0x20)
				goto bad;
		CHECK(nl - line < PIPE_BUF, "line of %td bytes", nl - line);
		json_t *o = json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES, &e);
		if (!json_is_object(o)) {
			fprintf(stderr, "not JSON (%s): %.*s\n", e.text, (int)(nl - line), line);
			json_decref(o);
			goto bad;
		}
		json_array_append_new(all, o);
		line = nl + 1;
	}
	return all;
bad:
	json_decref(all);
	return NULL;
}

/* The JSON line has the text line's fields: the same strings, null for "-", numbers. */
static void
test_json_requests(void)
{
	static const char *const names[] = {"kind",   "request_id", "partner", "purpose",
	                                    "method", "route",      "status",  "duration_us",
	                                    "error",  "detail"};
	struct log *l = open_json();
	for (size_t i = 0; i < NRCASES; i++)
		CHECK(log_request(l, &rcases[i].f) == 0, "%s: write failed", rcases[i].name);
	log_free(l);
	char *text = slurp(logpath);
	json_t *lines = parse_lines(text);
	CHECK(lines != NULL && json_array_size(lines) == NRCASES, "%zu JSON lines for %zu calls",
	      json_array_size(lines), NRCASES);
	for (size_t i = 0; lines != NULL && i < json_array_size(lines); i++) {
		json_t *o = json_array_get(lines, i);
		const char *name = rcases[i].name;
		CHECK(json_object_size(o) == 11, "%s: %zu members", name, json_object_size(o));
		CHECK(json_is_string(json_object_get(o, "time")) &&
		          strcmp(json_string_value(json_object_get(o, "time")),
		                 "2026-04-01T09:30:12.345Z") == 0,
		      "%s: time", name);
		/* the text line's fields, one by one */
		char want[2048];
		snprintf(want, sizeof(want), "%s", rcases[i].want + 1);
		want[strcspn(want, "\n")] = '\0';
		char *save = NULL, *field = strtok_r(want, " ", &save);
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			json_t *v = json_object_get(o, names[k]);
			CHECK(field != NULL, "%s: text line short of %s", name, names[k]);
			if (field == NULL)
				break;
			if (strcmp(names[k], "status") == 0 ||
			    strcmp(names[k], "duration_us") == 0) {
				char num[32];
				snprintf(num, sizeof(num), "%llu",
				         (unsigned long long)json_integer_value(v));
				CHECK(json_is_integer(v) && strcmp(num, field) == 0,
				      "%s: %s %s, want %s", name, names[k], num, field);
			} else if (strcmp(field, "-") == 0) {
				CHECK(json_is_null(v), "%s: %s not null", name, names[k]);
			} else {
				CHECK(json_is_string(v) && strcmp(json_string_value(v), field) == 0,
				      "%s: %s '%s', want '%s'", name, names[k],
				      json_is_string(v) ? json_string_value(v) : "(not a string)",
				      field);
			}
			field = strtok_r(NULL, " ", &save);
		}
	}
	json_decref(lines);
	free(text);
	unlink(logpath);
}

/* Every value at its longest, full of what JSON escapes longest: still one atomic write. */
static void
test_json_limits(void)
{
	static char quotes[20000], controls[20000];
	memset(quotes, '"', sizeof(quotes) - 1);
	memset(controls, '\x01', sizeof(controls) - 1);
	struct log_request_fields f = {NULL,   quotes, quotes, quotes, quotes,
	                               quotes, 599,    1,      quotes, quotes};
	struct log *l = open_json();
	CHECK(log_request(l, &f) == 0, "request of quotes not written");
	CHECK(log_msg(l, "error", "%s", quotes) == 0, "message of quotes not written");
	CHECK(log_msg(l, "error", "%s", controls) == 0, "message of controls not written");
	log_free(l);
	char *text = slurp(logpath);
	json_t *lines = parse_lines(text);
	CHECK(lines != NULL && json_array_size(lines) == 3, "%zu lines", json_array_size(lines));
	const char *route = json_string_value(json_object_get(json_array_get(lines, 0), "route"));
	CHECK(route != NULL && strlen(route) == LOG_ROUTE_MAX &&
	          strcmp(route + LOG_ROUTE_MAX - 3, "...") == 0,
	      "route cut at %zu", route ? strlen(route) : 0);
	for (size_t i = 1; i < 3; i++) {
		const char *m =
		    json_string_value(json_object_get(json_array_get(lines, i), "message"));
		size_t n = m != NULL ? strlen(m) : 0;
		CHECK(n > 300 && strcmp(m + n - 3, "...") == 0, "message %zu cut at %zu", i, n);
	}
	json_decref(lines);
	free(text);
	unlink(logpath);
}

static void
test_json_messages(void)
{
	static const struct mcase mcases[] = {
	    {"info", "pdgate demo: serving partners on 127.0.0.1:8443",
	     "pdgate demo: serving partners on 127.0.0.1:8443"},
	    {"error", "reload failed:\nconf:3: \"unknown\" key\tx\x1b[31m\\",
	     "reload failed:\nconf:3: \"unknown\" key\tx\x1b[31m\\"},
	    {"warn", "", ""},
	    {"info", "会員 stays UTF-8", "会員 stays UTF-8"},
	    {"info", "not UTF-8: \xff\xc3(\xe4\xbc", "not UTF-8: \\xff\\xc3(\\xe4\\xbc"},
	};
	struct log *l = open_json();
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++)
		CHECK(log_msg(l, mcases[i].level, "%s", mcases[i].msg) == 0, "write %zu", i);
	log_msg(l, "no such level\n", "x");
	log_free(l);
	char *text = slurp(logpath);
	json_t *lines = parse_lines(text);
	CHECK(lines != NULL && json_array_size(lines) == sizeof(mcases) / sizeof(mcases[0]) + 1,
	      "%zu lines", json_array_size(lines));
	for (size_t i = 0; lines != NULL && i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		json_t *o = json_array_get(lines, i);
		const char *t = json_string_value(json_object_get(o, "time"));
		const char *m = json_string_value(json_object_get(o, "message"));
		CHECK(json_object_size(o) == 3, "message %zu: %zu members", i, json_object_size(o));
		CHECK(t != NULL && strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z', "time %s",
		      t ? t : "-");
		CHECK(strcmp(json_string_value(json_object_get(o, "kind")), mcases[i].level) == 0,
		      "message %zu: kind", i);
		CHECK(m != NULL && strcmp(m, mcases[i].want) == 0, "message %zu: '%s', want '%s'",
		      i, m ? m : "(none)", mcases[i].want);
	}
	json_t *last = json_array_get(lines, sizeof(mcases) / sizeof(mcases[0]));
	CHECK(strcmp(json_string_value(json_object_get(last, "kind")), "no%20such%20level%0A") == 0,
	      "a level is encoded as in the text line");
	json_decref(lines);
	free(text);
	unlink(logpath);
}

#define THREADS 8
#define PER_THREAD 400

static void *
writer(void *arg)
{
	struct log *l = arg;
	char id[32], route[600];
	memset(route, 'r', sizeof(route) - 1);
	route[0] = '/';
	route[sizeof(route) - 1] = '\0';
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(id, sizeof(id), "t%p-%d", (void *)&id, i);
		struct log_request_fields f = {NULL,  id,  "p", "q",  "GET",
		                               route, 200, 1,   NULL, NULL};
		log_request(l, &f);
	}
	return NULL;
}

/* Many threads, no lock: every line arrives whole. */
static void
test_threads(void)
{
	pthread_t t[THREADS];
	struct log *l = log_open(logpath);

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, writer, l);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	log_free(l);
	char *text = slurp(logpath), *line = text;
	unsigned lines = 0, bad = 0;
	char want[700] = " p q GET /";
	memset(want + 10, 'r', 598);
	strcpy(want + 608, " 200 1 - -\n");
	while (*line) {
		char *nl = strchr(line, '\n');
		if (!nl)
			break;
		unsigned spaces = 0;
		for (char *k = line; k < nl; k++)
			spaces += *k == ' ';
		size_t tail = strlen(want);
		if (spaces != 10 || line[23] != 'Z' || (size_t)(nl + 1 - line) < tail ||
		    strncmp(nl + 1 - tail, want, tail) != 0)
			bad++;
		lines++;
		line = nl + 1;
	}
	CHECK(lines == THREADS * PER_THREAD, "%u lines, want %d", lines, THREADS * PER_THREAD);
	CHECK(bad == 0, "%u torn lines", bad);
	free(text);
	unlink(logpath);
}

static void
test_reopen(void)
{
	char rotated[PATH_MAX + 32];
	snprintf(rotated, sizeof(rotated), "%s.1", logpath);

	struct log *l = log_open(logpath);
	log_msg(l, "info", "before");
	CHECK(rename(logpath, rotated) == 0, "rename");
	log_msg(l, "info", "still the old file");
	CHECK(log_reopen(l) == 0, "reopen: %s", strerror(errno));
	log_msg(l, "info", "after");
	log_free(l);

	char *old = slurp(rotated), *cur = slurp(logpath);
	CHECK(strstr(old, "before") && strstr(old, "still the old file") && !strstr(old, "after"),
	      "rotated file: %s", old);
	CHECK(strstr(cur, "after") && count(cur, '\n') == 1, "new file: %s", cur);
	free(old);
	free(cur);
	struct stat st;
	CHECK(stat(logpath, &st) == 0 && (st.st_mode & 07777) == 0640, "mode %o",
	      (unsigned)st.st_mode);
	unlink(rotated);
	unlink(logpath);

	/* a folder that vanished: the old file stays in use */
	char sub[PATH_MAX + 16], subfile[PATH_MAX + 32];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(subfile, sizeof(subfile), "%s/sub/pdgate.log", dir);
	mkdir(sub, 0755);
	l = log_open(subfile);
	CHECK(l != NULL, "open in sub");
	unlink(subfile);
	rmdir(sub);
	CHECK(log_reopen(l) == -1 && errno == ENOENT, "reopen into a missing folder");
	CHECK(log_msg(l, "info", "x") == 0, "old file no longer written");
	log_free(l);
}

static void
test_open_and_failures(void)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/nothere/pdgate.log", dir);
	errno = 0;
	CHECK(log_open(path) == NULL && errno == ENOENT, "missing folder: errno %d", errno);
	log_free(NULL);

	/* a full disk is reported, not hidden */
	struct log *l = log_open("/dev/full");
	CHECK(l != NULL, "open /dev/full");
	struct log_request_fields f = {&when, "r", "p", "q", "GET", "/", 200, 1, NULL, NULL};
	CHECK(log_request(l, &f) == -1, "write to a full disk reported success");
	CHECK(log_msg(l, "info", "x") == -1, "message to a full disk reported success");
	CHECK(log_reopen(l) == 0, "reopen /dev/full");
	log_free(l);

	/* NULL means stderr; log_free leaves stderr open */
	int saved = dup(STDERR_FILENO);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDERR_FILENO);
	close(fd);
	l = log_open(NULL);
	CHECK(l != NULL, "stderr log");
	CHECK(log_reopen(l) == 0, "reopen on stderr");
	log_request(l, &f);
	log_free(l);
	CHECK(write(STDERR_FILENO, "", 0) == 0, "stderr closed by log_free");
	dup2(saved, STDERR_FILENO);
	close(saved);
	char *text = slurp(logpath);
	CHECK(strcmp(text, "2026-04-01T09:30:12.345Z req r p q GET / 200 1 - -\n") == 0,
	      "stderr got '%s'", text);
	free(text);
	unlink(logpath);
}

int
main(void)
{
	char tmpl[] = "/tmp/pdgate-test-log.XXXXXX";
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(logpath, sizeof(logpath), "%s/pdgate.log", dir);

	test_request_lines();
	test_limits();
	test_messages();
	test_json_requests();
	test_json_limits();
	test_json_messages();
	test_threads();
	test_reopen();
	test_open_and_failures();

	rmdir(dir);
	return check_done();
}
