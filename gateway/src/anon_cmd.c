/* anon_cmd — `pdgate anonymize`: an anonymised data set made from the origin, recorded in the
 * ledger (through the gateway that serves it, or by itself when none does), then written. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "anon.h"
#include "anon_cmd.h"
#include "anon_entry.h"
#include "buf.h"
#include "cal.h"
#include "cli.h"
#include "catalog.h"
#include "codec.h"
#include "config.h"
#include "file.h"
#include "ident.h"
#include "ledger.h"
#include "ledger_pool.h"
#include "log.h"
#include "now.h"
#include "origin.h"
#include "policy.h"
#include "pseudo.h"
#include "release.h"
#include "stagedir.h"
#include "subjects.h"
#include "token.h"
#include "version.h"

#define PAGE 1000        /* members asked of the origin at a time */
#define TOKEN_TTL_S 120  /* the officer token the command signs for itself */
#define ANSWER_MAX 65536 /* bytes of the gateway's answer */
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 30000
#define CONNECT_WAIT_MS 5000 /* a gateway that holds the lock may still be opening its listener */

static const char usage_text[] =
    "usage: pdgate anonymize -c FILE --spec DATASET.json --out DIR [--staff NAME]\n"
    "                        [--cert STAFF.pem --key STAFF.key]\n"
    "\n"
    "Makes an anonymised data set (匿名加工情報, APPI Art. 43) of the origin's members as\n"
    "DATASET.json says, records it in the ledger (the admin entry anonymised_dataset), and only\n"
    "then writes DIR: data.csv, report.json and publication.txt, the notice to publish.\n"
    "DIR must not exist, or be an empty folder; it is built beside itself and renamed into\n"
    "place once the entry is committed. Members whose use is stopped (利用停止: the record,\n"
    "or a request in the register) are left out; a spec that asks for a forbidden class, an\n"
    "unknown path, a transform that does not fit or k < 2 is refused, nothing written.\n"
    "\n"
    "The ledger has one writer: while a gateway serves this installation (it holds the\n"
    "ledger's lock), the entry is recorded through its compliance listener, with an officer\n"
    "token this command signs for itself ([tokens] key, 2 minutes) and the listener's own\n"
    "certificate ([compliance] cert) as the only trust; when none does, the command opens\n"
    "the ledger itself and holds the lock meanwhile. With [ledger] url (a ledger in\n"
    "PostgreSQL that several nodes share), the entry goes through the compliance listener\n"
    "of -c when its node serves, else the command appends it to the shared ledger itself,\n"
    "one more writer the database puts in sequence with the nodes.\n"
    "\n"
    "  -c FILE       the configuration (pdgate.conf)\n"
    "  --spec FILE   the data set's spec, JSON (docs/compliance.md)\n"
    "  --out DIR     where the data set goes\n"
    "  --staff NAME  who makes it, as the entry names them (default: the login name)\n"
    "  --cert FILE, --key FILE  the staff certificate of NAME, where [compliance]\n"
    "                require_client_cert is true (default pki/staff/NAME.pem and .key)\n"
    "Prints a JSON summary on stdout. Exit 0: recorded and written; 1: refused or failed,\n"
    "nothing written; 2: usage.\n";

/* Everything one run holds. */
struct run {
	const char *conf, *spec_path, *out, *staff, *cert, *key;
	char staff_buf[IDENT_NAME_MAX + 1];
	struct config *cfg;
	struct catalog *cat;
	struct anon_spec *spec;
	struct pseudo *pseudo;
	struct subjects *subjects;
	struct origin *origin;
	struct anon_table *table;
	struct anon_stats st;
	uint64_t members, left_out;
	time_t now;
	char tmp[4096]; /* the folder being built; "" when none */
	char fail[1024];
	char made[CAL_DAY_LEN];
	char sha[65];
	bool via_gateway;
	uint64_t index;
};

static int say(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first failure's message; -1. */
static int
say(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->fail[0] != '\0')
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->fail, sizeof(r->fail), fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading the members. */

static int
load_pseudo(struct run *r)
{
	char err[512];

	r->pseudo = pseudo_load(r->cfg->keys.pseudonym, err, sizeof(err));
	return r->pseudo ? 0 : say(r, "[keys] pseudonym: %s", err);
}

/* Whether the member's use is stopped: by the record, or by a request pdgate holds (the
 * stricter of the two, as for every release). */
static bool
stopped(struct run *r, const char *member_id, const json_t *record)
{
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const json_t *x = json_object_get(record, "restrictions");

	if (json_is_true(json_object_get(x, "stop_use")))
		return true;
	/* no reference, no proof that nothing stops it: left out */
	if (pseudo_subject(r->pseudo, member_id, subject) != 0)
		return true;
	return (subjects_restrictions(r->subjects, subject) & POLICY_RESTRICT_STOP_USE) != 0;
}

/* origin_each_fn: one member's record checked, then left out or added. */
static int
each_member(void *ctx, const char *member_id, const char *bytes, size_t len)
{
	struct run *r = ctx;
	char why[256];
	json_t *rec = NULL;
	int rc;

	if (release_origin(r->cat, bytes, len, r->cfg->origin.max_record_bytes, member_id, &rec,
	                   why, sizeof(why)) != APIERR_NONE)
		return say(r, "the origin's record of %s is refused: %s", member_id, why);
	r->members++;
	if (stopped(r, member_id, rec)) {
		r->left_out++;
		rc = 0;
	} else if ((rc = anon_table_add(r->table, rec, why, sizeof(why))) != 0) {
		say(r, "the record of %s: %s", member_id, why);
	}
	json_decref(rec);
	return rc;
}

/* Every member of the origin, page by page. 0 or -1. */
static int
read_members(struct run *r)
{
	char err[512];
	struct origin_params op = origin_params_of(r->cfg);
	char *after = NULL;

	if ((r->origin = origin_new(&op, err, sizeof(err))) == NULL)
		return say(r, "[origin] url: %s", err);
	for (;;) {
		char *next = NULL;
		enum apierr e = origin_page(r->origin, after, PAGE, each_member, r, &next);
		free(after);
		after = next;
		if (r->fail[0] != '\0') {
			free(after);
			return -1;
		}
		if (e != APIERR_NONE) {
			free(after);
			return say(r, "the origin failed: %s", apierr_code(e));
		}
		if (after == NULL)
			return 0;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The files. */

static json_t *
report_json(struct run *r, const struct anon_entry *e, const char *data_sha)
{
	json_t *cols = json_array();
	const struct anon_spec *s = r->spec;

	for (size_t c = 0; cols != NULL && c < s->ncolumns; c++)
		json_array_append_new(cols,
		                      json_pack("{s:s,s:s,s:s,s:I,s:I}", "item", s->columns[c].item,
		                                "path", s->columns[c].leaf->path, "role",
		                                s->columns[c].quasi ? "quasi" : "attribute",
		                                "values", (json_int_t)r->st.distinct_by[c],
		                                "replaced", (json_int_t)r->st.replaced_by[c]));
	json_t *doc = anon_entry_json(e);
	if (doc == NULL || cols == NULL ||
	    json_object_update_new(
	        doc, json_pack("{s:o,s:I,s:I,s:s,s:s,s:s}", "columns", cols, "groups",
	                       (json_int_t)r->st.groups, "groups_suppressed",
	                       (json_int_t)r->st.groups_suppressed, "data_sha256", data_sha,
	                       "other", ANON_OTHER, "separator", ANON_SEPARATOR)) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* data.csv, report.json and publication.txt into the folder being built. 0 or -1. */
static int
write_files(struct run *r, const struct anon_entry *e)
{
	struct buf csv = {0}, notice = {0};
	unsigned char md[SHA256_DIGEST_LENGTH];
	char data_sha[2 * SHA256_DIGEST_LENGTH + 1];
	char *report = NULL;
	int rc = -1;
	const char *org = r->cfg->compliance.organisation ? r->cfg->compliance.organisation
	                                                  : r->cfg->gateway.name;

	if (anon_table_csv(r->table, &csv) != 0 ||
	    anon_entry_notice(e, r->cat, org, &notice) != 0) {
		say(r, "out of memory");
		goto done;
	}
	SHA256((const unsigned char *)csv.data, csv.len, md);
	codec_hex_encode(md, sizeof(md), data_sha);
	json_t *doc = report_json(r, e, data_sha);
	report = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	if (report == NULL) {
		say(r, "out of memory");
		goto done;
	}
	size_t rlen = strlen(report);
	report[rlen] = '\n'; /* json_dumps ends without one: the NUL gives way to it */
	if (stagedir_write(r->tmp, "data.csv", csv.data, csv.len, 0600) != 0 ||
	    stagedir_write(r->tmp, "report.json", report, rlen + 1, 0600) != 0 ||
	    stagedir_write(r->tmp, "publication.txt", notice.data, notice.len, 0644) != 0) {
		say(r, "%s: %s", r->tmp, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	free(report);
	buf_free(&csv);
	buf_free(&notice);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Recording through the gateway. */

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (n != 0 && size > ANSWER_MAX / n)
		return 0;
	return buf_add(b, p, size * n) == 0 ? size * n : 0;
}

/*
 * The listener's certificate as curl's pin, "sha256//BASE64" of its public key. The command
 * trusts the certificate [compliance] cert names and nothing else: it is the trust anchor
 * (curl and OpenSSL accept a leaf there) and its key is pinned, so the host name adds nothing
 * and is not checked (a production certificate may not name 127.0.0.1).
 */
static int
listener_pin(struct run *r, char *out, size_t n)
{
	FILE *f = fopen(r->cfg->compliance.cert, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int len = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
	char b64[64];

	if (f != NULL)
		fclose(f);
	X509_free(x);
	if (len <= 0)
		return say(r, "[compliance] cert %s: not a PEM certificate",
		           r->cfg->compliance.cert);
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	codec_b64_encode(md, sizeof(md), b64);
	snprintf(out, n, "sha256//%s", b64);
	return 0;
}

/* The listener's URL: its address, or this machine's for a wildcard one. */
static void
listener_url(const struct config *cfg, char *out, size_t n)
{
	const char *h = cfg->compliance.listen.host;
	bool v6 = strchr(h, ':') != NULL;

	if (strcmp(h, "0.0.0.0") == 0)
		h = "127.0.0.1";
	else if (strcmp(h, "::") == 0)
		h = "::1";
	snprintf(out, n, "https://%s%s%s:%u/v1/anonymised", v6 ? "[" : "", h, v6 ? "]" : "",
	         cfg->compliance.listen.port);
}

/* The staff certificate, where the listener requires one: given, or pki/staff/NAME. */
static int
staff_cert(struct run *r, char *cert, char *key, size_t n)
{
	cert[0] = key[0] = '\0';
	if (r->cert != NULL || r->key != NULL) {
		if (r->cert == NULL || r->key == NULL)
			return say(r, "--cert and --key go together");
		snprintf(cert, n, "%s", r->cert);
		snprintf(key, n, "%s", r->key);
		return 0;
	}
	if (!r->cfg->compliance.require_client_cert)
		return 0;
	snprintf(cert, n, "%s/pki/staff/%s.pem", r->cfg->dir, r->staff);
	snprintf(key, n, "%s/pki/staff/%s.key", r->cfg->dir, r->staff);
	if (access(cert, R_OK) != 0 || access(key, R_OK) != 0)
		return say(r,
		           "[compliance] require_client_cert: a staff certificate is needed; give "
		           "--cert and --key (none at %s)",
		           cert);
	return 0;
}

/* The gateway's answer to a refused call, in one line. */
static void
refused(struct run *r, const char *url, long status, const struct buf *answer)
{
	json_error_t je;
	json_t *doc = answer->data ? json_loadb(answer->data, answer->len, 0, &je) : NULL;
	const char *code = json_string_value(json_object_get(doc, "error"));
	const char *msg = json_string_value(json_object_get(doc, "message"));

	say(r, "%s answered %ld %s: %s; nothing was recorded", url, status, code ? code : "?",
	    msg ? msg : "(no JSON error)");
	json_decref(doc);
}

static int
record_via_gateway(struct run *r, const struct anon_entry *e)
{
	char url[300], pin[96], jti[TOKEN_JTI_MAX + 1], err[512], cert[4096], key[4096];
	struct buf answer = {0}, auth = {0};
	struct curl_slist *h = NULL;
	char *token = NULL, *body = NULL;
	json_t *doc = NULL;
	long status = 0;
	int rc = -1;
	CURL *curl = NULL;

	listener_url(r->cfg, url, sizeof(url));
	if (listener_pin(r, pin, sizeof(pin)) != 0 || staff_cert(r, cert, key, sizeof(cert)) != 0)
		return -1;
	token = token_issue_staff(r->cfg->tokens.key, r->cfg->tokens.issuer, r->staff,
	                          TOKEN_ROLE_OFFICER, (int64_t)time(NULL), TOKEN_TTL_S, jti, err,
	                          sizeof(err));
	if (token == NULL) {
		say(r, "[tokens] key: %s", err);
		goto done;
	}
	auth.secret = true;
	buf_printf(&auth, "Authorization: Bearer %s", token);
	doc = anon_entry_json(e);
	body = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (body == NULL || auth.bad || (curl = curl_easy_init()) == NULL ||
	    (h = curl_slist_append(h, auth.data)) == NULL ||
	    (h = curl_slist_append(h, "Content-Type: application/json")) == NULL) {
		say(r, "out of memory");
		goto done;
	}
	answer.max = ANSWER_MAX;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)CALL_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(curl, CURLOPT_CAINFO, r->cfg->compliance.cert);
	curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(curl, CURLOPT_PINNEDPUBLICKEY, pin);
	if (cert[0] != '\0') {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, key);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	/* Refused connections are retried for a while: nothing was sent, and a gateway takes the
	 * ledger's lock before its listeners listen. */
	CURLcode cc;
	int64_t until = now_mono_ms() + CONNECT_WAIT_MS;
	while ((cc = curl_easy_perform(curl)) == CURLE_COULDNT_CONNECT && now_mono_ms() < until)
		usleep(200 * 1000);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		if (status == 0)
			say(r,
			    "a gateway holds this installation's ledger, but its compliance "
			    "listener "
			    "%s cannot be reached (%s): nothing was recorded",
			    url, curl_easy_strerror(cc));
		else
			say(r,
			    "the answer of %s was lost (%s): the data set may be recorded; search "
			    "the "
			    "ledger for %s before making it again",
			    url, curl_easy_strerror(cc), e->id);
		goto done;
	}
	if (status != 201) {
		refused(r, url, status, &answer);
		goto done;
	}
	json_error_t je;
	json_t *ans = json_loadb(answer.data ? answer.data : "", answer.len, 0, &je);
	json_t *ix = json_object_get(ans, "ledger_index");
	if (!json_is_integer(ix) || json_integer_value(ix) < 0) {
		say(r, "%s answered 201 without a ledger_index: the data set may be recorded", url);
		json_decref(ans);
		goto done;
	}
	r->index = (uint64_t)json_integer_value(ix);
	json_decref(ans);
	rc = 0;
done:
	if (curl != NULL)
		curl_easy_cleanup(curl);
	curl_slist_free_all(h);
	if (token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	buf_free(&auth);
	buf_free(&answer);
	free(body);
	json_decref(doc);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Recording in the ledger itself. */

static int
record_in_ledger(struct run *r, const struct anon_entry *e)
{
	struct ledger_params lp = {
	    .path = config_ledger_where(r->cfg),
	    .origin = r->cfg->ledger.origin,
	    .key = r->cfg->ledger.key,
	    .checkpoint_interval_ms = r->cfg->ledger.checkpoint_interval_ms,
	    .readers = 1,
	    .version = version_number(),
	};
	struct ledger_detail d[ANON_ENTRY_DETAIL_MAX];
	struct anon_entry_text txt;
	unsigned char rid[12];
	char request[2 * sizeof(rid) + 1], err[1024];
	uint64_t found;
	int rc = -1, f;

	/* the ledger's own messages go where the gateway's go */
	if ((lp.log = log_open(r->cfg->gateway.log)) == NULL)
		return say(r, "[gateway] log %s: %s", r->cfg->gateway.log, strerror(errno));
	log_set_format(lp.log, r->cfg->gateway.log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON
	                                                                     : LOG_FORMAT_TEXT);
	struct ledger_store *held = NULL;
	struct ledger *l = ledger_open(&lp, err, sizeof(err));
	if (l == NULL) {
		log_free(lp.log);
		return say(r, "%s", err);
	}
	/* on PostgreSQL, the nodes and other commands record data sets too: the database's lock,
	 * from the check that the id is free until its entry is committed */
	if (anon_entry_lock(lp.path, &held, err, sizeof(err)) != 0) {
		say(r, "%s; nothing was recorded", err);
		goto done;
	}
	if ((f = anon_entry_find(l, e->id, &found)) != 0) {
		if (f > 0)
			say(r,
			    "%s is recorded already (ledger index %" PRIu64 "): choose another id",
			    e->id, found);
		else
			say(r, "reading the ledger: %s", ledger_strerror(f));
		goto done;
	}
	if (RAND_bytes(rid, sizeof(rid)) != 1) {
		say(r, "the random generator failed");
		goto done;
	}
	codec_hex_encode(rid, sizeof(rid), request);
	size_t n = anon_entry_detail(e, &txt, d);
	struct ledger_admin a = {
	    .action = ANON_ENTRY_ACTION, .staff = r->staff, .detail = d, .n_detail = n};
	struct ledger_entry le = {.kind = LEDGER_ADMIN, .request = request, .admin = &a};
	int ar = ledger_append(l, &le, 1, &r->index);
	if (ar != LEDGER_OK) {
		say(r, "the entry cannot be recorded: %s; nothing was recorded",
		    ledger_strerror(ar));
		goto done;
	}
	rc = 0;
done:
	if (anon_entry_unlock(held, err, sizeof(err)) != 0 && rc == 0)
		fprintf(stderr,
		        "pdgate anonymize: %s is recorded, but %s: search the ledger for its id\n",
		        e->id, err);
	if (ledger_close(l) != 0 && rc == 0)
		fprintf(stderr,
		        "pdgate anonymize: the ledger's final checkpoint was not signed; the next "
		        "start signs it\n");
	log_free(lp.log);
	return rc;
}

/* Whether something listens on the compliance listener's address of the configuration: 1,
 * 0 if the connection is refused (or the address does not resolve), -1 with r->fail if the
 * answer is neither within CONNECT_TIMEOUT_MS. */
static int
listener_up(struct run *r)
{
	const struct config *cfg = r->cfg;
	const char *h = cfg->compliance.listen.host;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[8];
	int up = 0;

	if (strcmp(h, "0.0.0.0") == 0)
		h = "127.0.0.1";
	else if (strcmp(h, "::") == 0)
		h = "::1";
	snprintf(port, sizeof(port), "%u", cfg->compliance.listen.port);
	if (getaddrinfo(h, port, &hints, &ai) != 0)
		return 0;
	for (struct addrinfo *a = ai; a != NULL && up == 0; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		                a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			up = 1;
		} else if (errno == EINPROGRESS) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int err = 0;
			socklen_t len = sizeof(err);
			if (poll(&pfd, 1, CONNECT_TIMEOUT_MS) <= 0)
				up = say(
				    r,
				    "the compliance listener %s:%s does not answer within %d ms: "
				    "nothing was recorded",
				    h, port, CONNECT_TIMEOUT_MS);
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				up = 1;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	return up;
}

/*
 * A ledger in PostgreSQL has many writers, sequenced by the database (docs/cluster.md): while
 * the node of this configuration serves, its compliance listener records the entry (so that
 * the node's own check for a data set's id holds it too); when nothing listens there, the
 * command opens the shared ledger as one more writer. Either way the entry is committed
 * before the data set's folder is put in place.
 */
static int
record_shared(struct run *r, const struct anon_entry *e)
{
	int up = listener_up(r);

	if (up < 0)
		return -1;
	if (up) {
		r->via_gateway = true;
		return record_via_gateway(r, e);
	}
	return record_in_ledger(r, e);
}

/*
 * One writer: a gateway serving this installation holds flock(2) on the ledger file for as
 * long as it runs (gateway.c). Taking it here tells which: held by another, the entry goes
 * through that gateway; taken, the command is the writer, and a gateway that starts meanwhile
 * is refused until the lock goes with this process.
 */
static int
record(struct run *r, const struct anon_entry *e)
{
	int fd, rc;

	if (r->cfg->ledger.url != NULL)
		return record_shared(r, e);
	fd = open(r->cfg->ledger.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return say(r, "[ledger] path %s: %s", r->cfg->ledger.path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e2 = errno;
		close(fd);
		if (e2 != EWOULDBLOCK)
			return say(r, "[ledger] path %s: %s", r->cfg->ledger.path, strerror(e2));
		r->via_gateway = true;
		return record_via_gateway(r, e);
	}
	rc = record_in_ledger(r, e);
	close(fd); /* and with it the lock */
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The command. */

/* A data set with this id in the ledger already: refused before any work. 0 or -1. */
static int
id_free(struct run *r)
{
	struct ledger_params lp = {
	    .path = config_ledger_where(r->cfg), .readers = 1, .read_only = true};
	char err[1024];
	uint64_t found;
	struct ledger *l;
	struct stat st;
	int f;

	if (r->cfg->ledger.url != NULL) {
		/* a database out of reach, or not pdgate's, is refused here, before any work; an
		 * empty one holds nothing yet (the writer makes the tables) */
		if (ledger_pool_check(r->cfg->ledger.url, r->cfg->ledger.origin, err, sizeof(err)) <
		    0)
			return say(r, "[ledger] url: %s", err);
		char *o = ledger_pool_origin(r->cfg->ledger.url, NULL, err, sizeof(err));
		if (o == NULL)
			return 0; /* empty (ledger_pool_check): nothing recorded */
		free(o);
	} else if (stat(r->cfg->ledger.path, &st) != 0 || st.st_size == 0) {
		return 0; /* no ledger yet (or only the lock's empty file): nothing recorded */
	}
	if ((l = ledger_open(&lp, err, sizeof(err))) == NULL)
		return say(r, "%s", err);
	f = anon_entry_find(l, r->spec->id, &found);
	ledger_close(l);
	if (f > 0)
		return say(r,
		           "%s is recorded already (ledger index %" PRIu64 "): choose another id",
		           r->spec->id, found);
	return f < 0 ? say(r, "reading the ledger: %s", ledger_strerror(f)) : 0;
}

static int
load(struct run *r)
{
	char *errors = NULL, err[1024];
	size_t len;

	if ((r->cfg = config_load(r->conf, &errors)) == NULL ||
	    (r->cat = catalog_load(r->cfg->policy.purposes, r->cfg->policy.fields, &errors)) ==
	        NULL) {
		fprintf(stderr, "%s", errors ? errors : "pdgate anonymize: out of memory\n");
		free(errors);
		return -1;
	}
	char *text = file_read(r->spec_path, ANON_SPEC_MAX_BYTES, 0, &len, err, sizeof(err));
	if (text == NULL) {
		fprintf(stderr, "pdgate anonymize: --spec %s\n", err);
		return -1;
	}
	r->spec = anon_spec_parse(r->cat, r->spec_path, text, len, &errors);
	free(text);
	if (r->spec == NULL) {
		fprintf(stderr, "%s\n", errors ? errors : "out of memory");
		free(errors);
		return -1;
	}
	return 0;
}

/* The staff member: --staff, or the login name when it is one. 0 or -1. */
static int
staff_name(struct run *r)
{
	if (r->staff == NULL) {
		struct passwd *pw = getpwuid(geteuid());
		if (pw == NULL || !ident_name_ok(pw->pw_name, strlen(pw->pw_name)))
			return say(r, "--staff NAME is needed: the login name is not a staff name "
			              "(" IDENT_NAME_PATTERN ")");
		snprintf(r->staff_buf, sizeof(r->staff_buf), "%s", pw->pw_name);
		r->staff = r->staff_buf;
	}
	if (!ident_name_ok(r->staff, strlen(r->staff)))
		return say(r, "--staff: '%s' is not a staff name (" IDENT_NAME_PATTERN ")",
		           r->staff);
	return 0;
}

/* The folder beside --out; its refusals before any work. 0 or -1. */
static int
stage(struct run *r)
{
	if (stagedir_create_replacing(r->out, r->tmp, sizeof(r->tmp)) == 0)
		return 0;
	int e = errno;
	r->tmp[0] = '\0';
	if (e == ENOTEMPTY)
		return say(r, "--out %s: a folder with files in it; give a new or empty one",
		           r->out);
	if (e == EEXIST)
		return say(r, "--out %s: exists and is not a folder", r->out);
	return say(r, "--out %s: %s", r->out, strerror(e));
}

/* The entry of the data set made. */
static void
entry_of(struct run *r, struct anon_entry *e)
{
	const struct anon_spec *s = r->spec;

	cal_format_day(cal_jst_day((int64_t)r->now * 1000), r->made);
	codec_hex_encode(s->sha256, sizeof(s->sha256), r->sha);
	*e = (struct anon_entry){
	    .id = s->id,
	    .title = s->title,
	    .made = r->made,
	    .recipient = s->recipient,
	    .method = s->method,
	    .spec_sha256 = r->sha,
	    .nitems = s->ncolumns,
	    .k = s->k,
	    .members = r->members,
	    .left_out = r->left_out,
	    .rows = r->st.rows,
	    .suppressed = r->st.suppressed,
	    .replaced = r->st.replaced,
	};
	for (size_t c = 0; c < s->ncolumns; c++)
		e->items[c] = s->columns[c].item;
}

static int
run(struct run *r)
{
	struct anon_entry e;
	char err[512], why[512];
	int64_t t0 = now_mono_ms();

	r->now = time(NULL);
	if (load(r) != 0)
		return -1;
	if (staff_name(r) != 0 || id_free(r) != 0 || stage(r) != 0 || load_pseudo(r) != 0)
		return -1;
	if ((r->subjects = subjects_open(r->cfg->gateway.state, err, sizeof(err))) == NULL)
		return say(r, "[gateway] state: %s", err);
	if ((r->table = anon_table_new(r->spec, r->now)) == NULL)
		return say(r, "out of memory");
	if (read_members(r) != 0)
		return -1;
	if (anon_table_finish(r->table, &r->st) != 0)
		return say(r, "out of memory, or the random generator failed");
	if (r->st.rows < r->spec->k)
		return say(r,
		           "every combination of the quasi-identifiers is held by fewer than %u of "
		           "the %" PRIu64 " members: no row is left to publish",
		           r->spec->k, r->members - r->left_out);
	entry_of(r, &e);
	if (anon_entry_check(&e, r->cat, why, sizeof(why)) != 0)
		return say(r, "the data set's entry: %s", why);
	if (write_files(r, &e) != 0 || record(r, &e) != 0)
		return -1;
	/* Recorded: from here on the data set exists, whatever happens to its files. */
	if (stagedir_commit_replacing(r->tmp, r->out) != 0) {
		fprintf(stderr,
		        "pdgate anonymize: %s is recorded (ledger index %" PRIu64
		        "), but %s cannot "
		        "be put in place (%s): its files are in %s\n",
		        e.id, r->index, r->out, strerror(errno), r->tmp);
		r->tmp[0] = '\0';
		return -1;
	}
	r->tmp[0] = '\0';
	json_t *out = anon_entry_json(&e);
	if (out != NULL) {
		json_object_update_new(out,
		                       json_pack("{s:s,s:I,s:s,s:I}", "dir", r->out, "ledger_index",
		                                 (json_int_t)r->index, "recorded_by",
		                                 r->via_gateway ? "gateway" : "command",
		                                 "elapsed_ms", (json_int_t)(now_mono_ms() - t0)));
		char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		json_decref(out);
	}
	return 0;
}

static void
usage(FILE *f)
{
	fputs(usage_text, f);
}

int
anon_main(int argc, char **argv)
{
	struct run *r = calloc(1, sizeof(*r));
	int first, rc = 1;

	if (r == NULL) {
		fprintf(stderr, "pdgate anonymize: out of memory\n");
		return 1;
	}
	const struct cli_option opts[] = {
	    {"config", 'c', false, &r->conf, NULL}, {"spec", 0, false, &r->spec_path, NULL},
	    {"out", 0, false, &r->out, NULL},       {"staff", 0, false, &r->staff, NULL},
	    {"cert", 0, false, &r->cert, NULL},     {"key", 0, false, &r->key, NULL},
	};
	if (!cli_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), usage, &first, &rc)) {
		free(r);
		return rc;
	}
	rc = 1;
	if (r->conf == NULL || r->spec_path == NULL || r->out == NULL || first != argc) {
		usage(stderr);
		free(r);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (run(r) == 0)
		rc = 0;
	else if (r->fail[0] != '\0')
		fprintf(stderr, "pdgate anonymize: %s\n", r->fail);
	if (r->tmp[0] != '\0')
		stagedir_remove(r->tmp);
	anon_table_free(r->table);
	origin_free(r->origin);
	subjects_close(r->subjects);
	pseudo_free(r->pseudo);
	anon_spec_free(r->spec);
	catalog_free(r->cat);
	config_free(r->cfg);
	curl_global_cleanup();
	free(r);
	return rc;
}
