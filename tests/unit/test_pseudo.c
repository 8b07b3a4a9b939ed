/*
 * Tests of pseudo: pseudonyms per contract and ledger subject references. The known answers
 * were computed apart from pdgate, with Python's hmac and hashlib, from the derivation that
 * docs/contracts.md fixes:
 *   K_c = HMAC-SHA256(secret, "pdgate pseudonym v1" 0x00 contract_id), pseudonym = the first 32
 *   hex digits of HMAC-SHA256(K_c, value); K_s = HMAC-SHA256(secret, "pdgate subject v1" 0x00),
 *   subject = the 64 hex digits of HMAC-SHA256(K_s, member_id).
 * For example: K_c = hmac.new(secret, b"pdgate pseudonym v1\0" + cid, sha256).digest(), then
 * hmac.new(K_c, value, sha256).hexdigest()[:32].
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "pseudo.h"

static const unsigned char SECRET_TEXT[] = "0123456789abcdef"; /* 16 bytes, the least */
static unsigned char secret_bin[32];                           /* bytes 0x00..0x1f */

static const char C128[] = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
                           "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

static bool
lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

static struct pseudo *
make(bool binary)
{
	return binary ? pseudo_new(secret_bin, sizeof secret_bin)
	              : pseudo_new(SECRET_TEXT, sizeof SECRET_TEXT - 1);
}

static void
test_new(void)
{
	CHECK(pseudo_new(SECRET_TEXT, PSEUDO_MIN_SECRET - 1) == NULL, "a 15-byte secret");
	CHECK(pseudo_new(SECRET_TEXT, 0) == NULL, "an empty secret");
	CHECK(pseudo_new(NULL, 32) == NULL, "no secret");
	struct pseudo *p = pseudo_new(SECRET_TEXT, PSEUDO_MIN_SECRET);
	CHECK(p != NULL, "a 16-byte secret");
	pseudo_free(p);
	pseudo_free(NULL);
}

static void
test_pseudonyms(void)
{
	static const struct {
		bool binary;
		const char *contract;
		const char *value;
		size_t len;
		const char *want;
	} rows[] = {
	    {false, "CT-2026-0001", "M0000001", 8, "406c0fe411cb7fe450da16b7984535ba"},
	    {false, "CT-2026-0001", "", 0, "9bdea9782d66162cc3616c0a3ac1bc3f"},
	    {false, "CT-2026-0001", "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e", 12,
	     "2ec3405c9e9ca21df3e078af364f468c"},
	    {false, "CT-2026-0001", "a\0b", 3,
	     "609e3a76dfd8a9fb014f7b2ee5d1208c"}, /* len, not NUL */
	    {false, "CT-2026-0002", "M0000001", 8, "1818d9fd8be03721ee430ce52920e822"},
	    {false, "CT-2026-0002", "", 0, "6bdcd82382950f6b8ec3baee29ddaf75"},
	    {false, "", "M0000001", 8, "ff14c04b8bad5dde45ba9c054d36b527"},
	    {false, C128, "M0000001", 8, "2507113d1cb46e0c8e09c25eb8de8500"}, /* the longest id */
	    {true, "CT-2026-0001", "M0000001", 8, "eb151ab5ceb0c27243f9175fb8ed55db"},
	    {true, "CT-2026-0002", "M0000001", 8, "3813d6a71a453da098812ff14bff1d33"},
	    {true, "CT-2026-0002", "a\0b", 3, "7ac18aca6a4dd9234450acf736c072cd"},
	    {true, "", "", 0, "a57f8fa1fdd5f4f98a09d7df68f38c36"},
	};
	struct pseudo *p[2] = {make(false), make(true)};

	CHECK(p[0] != NULL && p[1] != NULL, "the secrets");
	if (p[0] == NULL || p[1] == NULL)
		goto done;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct pseudo_key k;
		char out[PSEUDO_HEX + 1], again[PSEUDO_HEX + 1];
		memset(out, 'x', sizeof out);
		int rc = pseudo_contract_key(p[rows[i].binary], rows[i].contract, &k);
		CHECK(rc == 0, "row %zu: contract key", i);
		if (rc != 0)
			continue;
		CHECK(pseudo_apply(&k, rows[i].value, rows[i].len, out) == 0, "row %zu: apply", i);
		CHECK(lower_hex(out, PSEUDO_HEX), "row %zu: '%.33s' is not 32 lowercase hex digits",
		      i, out);
		CHECK(strcmp(out, rows[i].want) == 0, "row %zu: %s, want %s", i, out, rows[i].want);
		/* stable: the key derived again gives the same pseudonym */
		pseudo_key_wipe(&k);
		pseudo_contract_key(p[rows[i].binary], rows[i].contract, &k);
		pseudo_apply(&k, rows[i].value, rows[i].len, again);
		CHECK(strcmp(out, again) == 0, "row %zu: %s, then %s", i, out, again);
		pseudo_key_wipe(&k);
		/* the pre-keyed context gives the same pseudonym, call after call */
		struct pseudo_mac *m = pseudo_mac_new(p[rows[i].binary], rows[i].contract);
		CHECK(m != NULL, "row %zu: pre-keyed context", i);
		for (int k2 = 0; m != NULL && k2 < 3; k2++) {
			memset(again, 'x', sizeof again);
			CHECK(pseudo_mac_apply(m, rows[i].value, rows[i].len, again) == 0 &&
			          strcmp(again, rows[i].want) == 0,
			      "row %zu, pre-keyed call %d: %s, want %s", i, k2, again,
			      rows[i].want);
		}
		pseudo_mac_free(m);
	}
done:
	pseudo_free(p[0]);
	pseudo_free(p[1]);
}

/* Different contracts, different pseudonyms: no two contracts of a set share one for a member,
 * and the pseudonym is no other contract's, nor the member's subject reference. */
static void
test_unlinkable(void)
{
	static const char *const contracts[] = {"CT-2026-0001",  "CT-2026-0002", "CT-2026-0003",
	                                        "CT-2026-00010", "ct-2026-0001", ""};
	enum { N = sizeof contracts / sizeof contracts[0] };
	static const char *const members[] = {"M0000001", "M0000002", "M1"};
	char got[N][PSEUDO_HEX + 1];
	struct pseudo *p = make(false);

	for (size_t m = 0; m < sizeof members / sizeof members[0]; m++) {
		char subject[PSEUDO_SUBJECT_HEX + 1];
		pseudo_subject(p, members[m], subject);
		for (size_t c = 0; c < N; c++) {
			struct pseudo_key k;
			pseudo_contract_key(p, contracts[c], &k);
			pseudo_apply(&k, members[m], strlen(members[m]), got[c]);
			pseudo_key_wipe(&k);
			CHECK(strncmp(got[c], subject, PSEUDO_HEX) != 0,
			      "%s under %s is its subject reference", members[m], contracts[c]);
			for (size_t o = 0; o < c; o++)
				CHECK(strcmp(got[c], got[o]) != 0, "%s: %s and %s share %s",
				      members[m], contracts[o], contracts[c], got[c]);
		}
	}
	pseudo_free(p);
}

static void
test_subject(void)
{
	static const struct {
		bool binary;
		const char *member, *want;
	} rows[] = {
	    {false, "M0000001", "5d27e789b6e4571d829e761c8f9456fe25c191d2a89b9cac6775edc06771ab27"},
	    {false, "M0000002", "f3d50e3a5de1a2b53814efad4a46c8e8c6c3b4034d1a69dbeea7d297c1f90747"},
	    {false, "", "8940d374f1f7db5b90ac2f684dc53f0f7498bafed4c581a61259334fcb5a7901"},
	    {true, "M0000001", "ae2ba61f7c6551e56a43ef92dce57bc535f1f843f94f275ccfd575e0b29671a8"},
	    {true, "M0000002", "313e2917040acb4685583488a73b055a5fa7fa658a64c323829186ed9f39fd98"},
	};
	struct pseudo *p[2] = {make(false), make(true)};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[PSEUDO_SUBJECT_HEX + 1];
		memset(out, 'x', sizeof out);
		CHECK(pseudo_subject(p[rows[i].binary], rows[i].member, out) == 0, "row %zu", i);
		CHECK(lower_hex(out, PSEUDO_SUBJECT_HEX), "row %zu: '%.65s'", i, out);
		CHECK(strcmp(out, rows[i].want) == 0, "row %zu: %s, want %s", i, out, rows[i].want);
	}
	pseudo_free(p[0]);
	pseudo_free(p[1]);
}

/* One pre-keyed context shared by threads, as the handlers share a contract's. */
struct racer {
	const struct pseudo_mac *m;
	const struct pseudo *p;
	int wrong;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	char out[PSEUDO_HEX + 1], subject[PSEUDO_SUBJECT_HEX + 1];

	for (int i = 0; i < 2000; i++) {
		if (pseudo_mac_apply(r->m, "M0000001", 8, out) != 0 ||
		    strcmp(out, "406c0fe411cb7fe450da16b7984535ba") != 0)
			r->wrong++;
		if (pseudo_subject(r->p, "M0000002", subject) != 0 ||
		    strcmp(subject, "f3d50e3a5de1a2b53814efad4a46c8e8c6c3b4034d1a69dbeea7d297c1f907"
		                    "47") != 0)
			r->wrong++;
	}
	return NULL;
}

static void
test_threads(void)
{
	struct pseudo *p = make(false);
	struct pseudo_mac *m = pseudo_mac_new(p, "CT-2026-0001");
	struct racer r[4];
	pthread_t t[4];

	CHECK(m != NULL, "pre-keyed context");
	if (m == NULL)
		goto done;
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){m, p, 0};
		CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0, "thread %d", i);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(r[i].wrong == 0, "thread %d: %d wrong answers", i, r[i].wrong);
	}
done:
	pseudo_mac_free(m);
	pseudo_free(p);
}

static void
test_limits(void)
{
	struct pseudo *p = make(false);
	struct pseudo_key k;
	char c129[130];

	memset(c129, 'C', 129);
	c129[129] = '\0';
	CHECK(pseudo_contract_key(p, c129, &k) == -1, "a contract id of 129 bytes is refused");
	CHECK(pseudo_mac_new(p, c129) == NULL, "no pre-keyed context for it either");
	pseudo_mac_free(NULL);
	memset(&k, 0xa5, sizeof k);
	pseudo_key_wipe(&k);
	bool zero = true;
	for (size_t i = 0; i < sizeof k.k; i++)
		zero &= k.k[i] == 0;
	CHECK(zero, "pseudo_key_wipe leaves the key zeroed");
	pseudo_free(p);
}

/* Writes len bytes of text to a new file of the given mode; returns its path (static). */
static const char *
key_file(const char *dir, const char *name, const void *text, size_t len, mode_t mode)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, text, len) == (ssize_t)len && fchmod(fd, mode) == 0, "write %s",
	      path);
	if (fd >= 0)
		close(fd);
	return path;
}

/* pseudo_load: the key file read within its bound, its mode checked, and the same pseudonyms
 * as the secret given directly. */
static void
test_load(void)
{
	char dir[] = "/tmp/test_pseudo.XXXXXX";
	char err[512], a[PSEUDO_HEX + 1], b[PSEUDO_HEX + 1];
	struct pseudo_key k;

	CHECK(mkdtemp(dir) != NULL, "a temporary folder");
	struct pseudo *want = make(false);
	struct pseudo *got =
	    pseudo_load(key_file(dir, "ok.key", SECRET_TEXT, 16, 0600), err, sizeof err);
	CHECK(got != NULL, "a 16-byte key file of mode 0600: %s", got ? "" : err);
	if (got != NULL) {
		CHECK(pseudo_contract_key(got, "CT-2026-0001", &k) == 0 &&
		          pseudo_apply(&k, "M0000001", 8, a) == 0,
		      "a pseudonym from the loaded secret");
		CHECK(pseudo_contract_key(want, "CT-2026-0001", &k) == 0 &&
		          pseudo_apply(&k, "M0000001", 8, b) == 0 && strcmp(a, b) == 0,
		      "the same as from the secret given: %s, %s", a, b);
	}
	pseudo_free(got);
	pseudo_free(want);
	err[0] = '\0';
	CHECK(pseudo_load(key_file(dir, "short.key", SECRET_TEXT, 15, 0600), err, sizeof err) ==
	              NULL &&
	          strstr(err, "not a pseudonym secret (shorter than 16 bytes)") != NULL,
	      "a 15-byte key file: '%s'", err);
	err[0] = '\0';
	CHECK(pseudo_load(key_file(dir, "open.key", SECRET_TEXT, 16, 0644), err, sizeof err) ==
	              NULL &&
	          err[0] != '\0',
	      "a key file others may read: '%s'", err);
	static char big[PSEUDO_MAX_SECRET + 1];
	memset(big, 'k', sizeof big);
	err[0] = '\0';
	CHECK(pseudo_load(key_file(dir, "big.key", big, sizeof big, 0600), err, sizeof err) ==
	              NULL &&
	          err[0] != '\0',
	      "a key file over %d bytes: '%s'", PSEUDO_MAX_SECRET, err);
	err[0] = '\0';
	CHECK(pseudo_load("/nonexistent/pseudonym.key", err, sizeof err) == NULL && err[0] != '\0',
	      "no file: '%s'", err);
	const char *names[] = {"ok.key", "short.key", "open.key", "big.key"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[600];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof secret_bin; i++)
		secret_bin[i] = (unsigned char)i;
	test_new();
	test_pseudonyms();
	test_unlinkable();
	test_subject();
	test_threads();
	test_limits();
	test_load();
	return check_done();
}
