/* Tests of the parsers of untrusted JSON against JSONTestSuite (Nicolas Seriot's test_parsing):
 * ujson_parse (origin records, page bodies), the work-order token's segment parser (through
 * token_verify) and release_origin. y_* must parse, n_* must be refused, i_* must not crash;
 * every y_* that our stricter limits refuse by design is listed below with the reason.
 * The suite is found at $PDGATE_TESTDATA/jsontestsuite or ../shared/testdata/jsontestsuite. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "catalog.h"
#include "check.h"
#include "release.h"
#include "token.h"
#include "ujson.h"

#define MAX_BYTES (1024 * 1024) /* the default max_record_bytes */
#define NOW ((int64_t)1775000000)

/*
 * y_* files refused on purpose, and why: by ujson, and by the token's segment parser, which
 * uses the same jansson flags (its nesting bound of 4 is deeper than any y_* file). A y_*
 * refused that is not listed fails, and so does one listed that parses.
 */
struct exception {
	const char *file;
	const char *reason;
};

static const struct exception by_design[] = {
    {"y_object_duplicated_key.json", "duplicate members: refused on untrusted input, "
                                     "so two readers can never see different values"},
    {"y_object_duplicated_key_and_value.json", "duplicate members, even with equal values"},
    {"y_object_escaped_null_in_key.json", "\\u0000: would cut a key short in C strings"},
    {"y_string_null_escape.json", "\\u0000: would cut a value short in C strings"},
    /* jansson without JSON_DECODE_ANY: every document we take is an object (or array) */
    {"y_string_space.json", "a top-level scalar"},
    {"y_structure_lonely_false.json", "a top-level scalar"},
    {"y_structure_lonely_int.json", "a top-level scalar"},
    {"y_structure_lonely_negative_real.json", "a top-level scalar"},
    {"y_structure_lonely_null.json", "a top-level scalar"},
    {"y_structure_lonely_string.json", "a top-level scalar"},
    {"y_structure_lonely_true.json", "a top-level scalar"},
    {"y_structure_string_empty.json", "a top-level scalar"},
    {NULL, NULL},
};

static const char *
listed(const struct exception *list, const char *file)
{
	for (; list->file != NULL; list++)
		if (strcmp(list->file, file) == 0)
			return list->reason;
	return NULL;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

static const char *
suite_dir(char *out, size_t outlen)
{
	const char *env = getenv("PDGATE_TESTDATA");
	struct stat st;

	if (env != NULL && *env != '\0')
		snprintf(out, outlen, "%s/jsontestsuite/test_parsing", env);
	else
		snprintf(out, outlen, "../shared/testdata/jsontestsuite/test_parsing");
	return stat(out, &st) == 0 && S_ISDIR(st.st_mode) ? out : NULL;
}

/* An ES256 key pair on disk for a verifier: the signature is never reached. */
static struct token_verifier *
make_verifier(char *dir)
{
	char path[512], err[256];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct token_verifier *v = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/token.pub", dir);
	if (k != NULL && (f = fopen(path, "w")) != NULL) {
		PEM_write_PUBKEY(f, k);
		fclose(f);
		v = token_verifier_new(path, "pdgate.local/test", TOKEN_WORK_ORDER, err,
		                       sizeof(err));
		CHECK(v != NULL, "verifier: %s", err);
		unlink(path);
	}
	EVP_PKEY_free(k);
	return v;
}

static char *
b64url(const char *in, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(4 * (n / 3) + 5), *o = out;
	const unsigned char *u = (const unsigned char *)in;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = a[u[i] >> 2];
		*o++ = a[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
		*o++ = a[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
		*o++ = a[u[i + 2] & 63];
	}
	if (n - i == 1) {
		*o++ = a[u[i] >> 2];
		*o++ = a[(u[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = a[u[i] >> 2];
		*o++ = a[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
		*o++ = a[(u[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

/*
 * The file as a token's header segment: 1 if the segment parser took it as JSON (it may then
 * refuse the header for what it says), 0 if it refused the JSON itself or its size.
 */
static int
token_parses(const struct token_verifier *v, const char *buf, size_t len)
{
	struct token_claims claims;
	char why[256];
	char *seg = b64url(buf, len);
	size_t sl = strlen(seg);
	char *tok = malloc(sl + 100);
	int ok;

	/* an empty file makes an empty segment: the form check refuses that before parsing */
	snprintf(tok, sl + 100, "%s.e30.%086d", seg, 0);
	if (token_verify(v, tok, strlen(tok), NOW, &claims, why, sizeof(why)) == TOKEN_OK)
		ok = 1;
	else
		ok = !(strncmp(why, "form:", 5) == 0 ||
		       strncmp(why, "header: not valid JSON", 22) == 0 ||
		       strncmp(why, "header: JSON nested too deep", 28) == 0 ||
		       strncmp(why, "header: not canonical base64url", 31) == 0);
	free(seg);
	free(tok);
	return ok;
}

int
main(void)
{
	char dir[1024], path[2048], why[RELEASE_WHY_MAX], tmp[] = "/tmp/pdgate-jts-XXXXXX";
	char *errors = NULL;
	struct dirent **names = NULL;
	struct catalog *cat;
	struct token_verifier *v;
	int n, files = 0, y = 0, nn = 0, i_ok = 0, i_no = 0, i_tok_ok = 0;

	if (suite_dir(dir, sizeof(dir)) == NULL) {
		CHECK(0, "JSONTestSuite not found: set PDGATE_TESTDATA to the folder holding "
		         "jsontestsuite/test_parsing, or put it at ../shared/testdata (from the "
		         "repository root)");
		return check_done();
	}
	cat = catalog_load("policies/purposes.json", "policies/fields.json", &errors);
	CHECK(cat != NULL, "catalog (run from the repository root): %s", errors ? errors : "");
	free(errors);
	CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
	v = make_verifier(tmp);
	rmdir(tmp);
	if (cat == NULL || v == NULL)
		return check_done();

	n = scandir(dir, &names, NULL, alphasort);
	CHECK(n > 300, "%s: %d files", dir, n);
	for (int k = 0; k < n; k++) {
		const char *f = names[k]->d_name;
		size_t len = 0;
		char *buf;
		json_t *j, *rec = NULL;

		if (strlen(f) < 6 || f[1] != '_' || strcmp(f + strlen(f) - 5, ".json") != 0) {
			free(names[k]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		buf = read_all(path, &len);
		CHECK(buf != NULL, "%s: %s", f, strerror(errno));
		if (buf == NULL) {
			free(names[k]);
			continue;
		}
		files++;
		j = ujson_parse(buf, len, MAX_BYTES, UJSON_MAX_DEPTH, why, sizeof(why));
		int tok = token_parses(v, buf, len);
		enum apierr re =
		    release_origin(cat, buf, len, MAX_BYTES, "M0000001", &rec, why, sizeof(why));
		CHECK((re == APIERR_NONE) == (rec != NULL), "%s: release_origin's result", f);
		json_decref(rec);

		switch (f[0]) {
		case 'y':
			y++;
			if (listed(by_design, f) != NULL)
				CHECK(j == NULL, "%s: listed as refused by ujson, yet parsed", f);
			else
				CHECK(j != NULL, "%s: valid JSON refused by ujson: %s", f, why);
			if (listed(by_design, f) != NULL)
				CHECK(!tok, "%s: listed as refused by the token parser, yet parsed",
				      f);
			else
				CHECK(tok, "%s: valid JSON refused by the token parser", f);
			break;
		case 'n':
			nn++;
			CHECK(j == NULL, "%s: invalid JSON accepted by ujson", f);
			CHECK(!tok, "%s: invalid JSON accepted by the token parser", f);
			CHECK(re == APIERR_ORIGIN_INVALID, "%s: release_origin: %s", f,
			      apierr_code(re));
			break;
		default: /* i_*: either way, recorded; reaching here means nothing crashed */
			if (j != NULL)
				i_ok++;
			else
				i_no++;
			i_tok_ok += tok;
			printf("%s: ujson %s, token %s, release_origin %s\n", f,
			       j != NULL ? "accepts" : "refuses", tok ? "accepts" : "refuses",
			       apierr_code(re));
			break;
		}
		json_decref(j);
		free(buf);
		free(names[k]);
	}
	free(names);
	printf("%d files: %d y_, %d n_, i_: ujson accepts %d refuses %d, token accepts %d\n", files,
	       y, nn, i_ok, i_no, i_tok_ok);
	CHECK(y > 90 && nn > 180, "the suite looks complete");
	token_verifier_free(v);
	catalog_free(cat);
	return check_done();
}
