/* test_anon — anonymised data sets on tables: the spec's refusals (one row per rule, the JSON
 * path and the reason expected), columns and their expansion, the transforms, k-anonymity by
 * suppression checked against a count made here, rare attribute values replaced, sets of values,
 * absent values, and the shuffle (a permutation, not the input order). It includes anon.c to
 * reach its cell sets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon.c"
#include "fixture.h"
#include "release.h"

#define NOW ((time_t)1795000000) /* 2026-11-18, Japan */

static const struct catalog *cat;

/* ------------------------------------------------------------------------------------------ */
/* The spec. */

#define GOOD_QUASI                                                                                 \
	"\"quasi\":{\"birth_date\":\"age_band:10\",\"gender\":null,\"address.prefecture\":null,"   \
	"\"membership.grade\":null}"
#define HEAD "\"id\":\"AN-2026-0001\",\"title\":\"会員属性統計用データ\",\"k\":5,"

static struct anon_spec *
parse(const char *text, char **errors)
{
	return anon_spec_parse(cat, "spec.json", text, strlen(text), errors);
}

static void
spec_good(void)
{
	char *errors = NULL;
	struct anon_spec *s =
	    parse("{" HEAD "\"recipient\":null," GOOD_QUASI
	          ",\"attributes\":[\"membership.joined:year\",\"courses[].code\"]}",
	          &errors);

	CHECK(s != NULL, "the SPEC's example: %s", errors ? errors : "");
	free(errors);
	if (s == NULL)
		return;
	CHECK(strcmp(s->id, "AN-2026-0001") == 0 && s->k == 5 && s->recipient == NULL &&
	          s->method == NULL,
	      "id, k, no recipient");
	CHECK(s->ncolumns == 6 && s->nquasi == 4, "columns %zu, quasi %zu", s->ncolumns, s->nquasi);
	static const char *const items[] = {"birth_date:age_band:10", "gender",
	                                    "address.prefecture",     "membership.grade",
	                                    "membership.joined:year", "courses[].code"};
	for (size_t i = 0; i < 6 && i < s->ncolumns; i++) {
		CHECK(strcmp(s->columns[i].item, items[i]) == 0, "column %zu: %s", i,
		      s->columns[i].item);
		CHECK(s->columns[i].quasi == (i < 4), "column %zu quasi", i);
	}
	CHECK(s->columns[0].transform == CONTRACT_TF_AGE_BAND && s->columns[0].arg == 10,
	      "age_band:10");
	CHECK(s->columns[4].transform == CONTRACT_TF_YEAR, "year");
	CHECK(s->columns[5].multi && !s->columns[4].multi, "courses[].code holds several values");
	/* the hash is of the bytes as read */
	CHECK(s->sha256[0] != 0 || s->sha256[1] != 0, "hash");
	anon_spec_free(s);

	/* an object path stands for every leaf below it; a recipient needs its method */
	s = parse("{" HEAD
	          "\"recipient\":\"統計研究所\",\"method\":\"暗号化した電子ファイルを手渡し\","
	          "\"quasi\":{\"membership\":null}}",
	          &errors);
	CHECK(s != NULL, "membership expanded: %s", errors ? errors : "");
	free(errors);
	if (s != NULL) {
		CHECK(s->ncolumns == 3 && s->nquasi == 3 &&
		          strcmp(s->columns[0].item, "membership.joined") == 0 &&
		          strcmp(s->columns[2].item, "membership.status") == 0,
		      "membership's three leaves: %zu", s->ncolumns);
		CHECK(s->recipient && strcmp(s->method, "暗号化した電子ファイルを手渡し") == 0,
		      "recipient and method");
		anon_spec_free(s);
	}
	s = parse("{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[\"courses\"]}", &errors);
	CHECK(s != NULL && s->ncolumns == 4 && s->columns[3].multi, "courses expanded: %s",
	      errors ? errors : "");
	free(errors);
	anon_spec_free(s);
}

static void
spec_refused(void)
{
	static const struct {
		const char *text;
		const char *path;   /* expected in the errors */
		const char *reason; /* expected in the errors */
	} rows[] = {
	    /* the classes that never appear */
	    {"{" HEAD "\"quasi\":{\"member_id\":null}}", "$.quasi.member_id", "class identifier"},
	    {"{" HEAD "\"quasi\":{\"name.family\":null}}", "$.quasi[\"name.family\"]",
	     "class name"},
	    {"{" HEAD "\"quasi\":{\"address.city\":null}}", "address.city", "class contact"},
	    {"{" HEAD "\"quasi\":{\"address.postal_code\":\"prefix:3\"}}", "postal_code",
	     "class contact"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[\"email\"]}", "$.attributes[0]",
	     "class contact"},
	    {"{" HEAD "\"quasi\":{\"phone\":\"mask:4\"}}", "phone", "class contact"},
	    {"{" HEAD "\"quasi\":{\"photo.url\":null}}", "photo.url", "class image"},
	    {"{" HEAD "\"quasi\":{\"my_number\":null}}", "my_number", "class my_number"},
	    {"{" HEAD "\"quasi\":{\"consents.marketing\":null}}", "consents.marketing",
	     "class internal"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[\"restrictions.stop_use\"]}",
	     "$.attributes[0]", "class internal"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[\"certifications[].number\"]}",
	     "$.attributes[0]", "class identifier"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[\"certifications\"]}",
	     "$.attributes[0]", "certifications[].number is of class identifier"},
	    {"{" HEAD "\"quasi\":{\"address\":null}}", "$.quasi.address", "class contact"},
	    {"{" HEAD "\"quasi\":{\"name\":null}}", "$.quasi.name", "class name"},
	    /* paths and transforms */
	    {"{" HEAD "\"quasi\":{\"shoe_size\":null}}", "$.quasi.shoe_size",
	     "not a path of the field catalog"},
	    {"{" HEAD "\"quasi\":{\"gender\":\"year\"}}", "$.quasi.gender", "only to a date"},
	    {"{" HEAD "\"quasi\":{\"birth_date\":\"prefix:3\"}}", "$.quasi.birth_date",
	     "only to a string"},
	    {"{" HEAD "\"quasi\":{\"membership.joined\":\"age_band:10\"}}", "membership.joined",
	     "only to the birth date"},
	    {"{" HEAD "\"quasi\":{\"birth_date\":\"age_band:1\"}}", "birth_date", "from 2 to 100"},
	    {"{" HEAD "\"quasi\":{\"gender\":\"pseudonym\"}}", "$.quasi.gender",
	     "links a row to a member"},
	    {"{" HEAD "\"quasi\":{\"gender\":\"rot13\"}}", "$.quasi.gender", "unknown transform"},
	    {"{" HEAD "\"quasi\":{\"gender\":\"\"}}", "$.quasi.gender", "an empty transform"},
	    {"{" HEAD "\"quasi\":{\"gender\":5}}", "$.quasi.gender", "must be null"},
	    {"{" HEAD "\"quasi\":{\"membership\":\"year\"}}", "$.quasi.membership",
	     "names an object"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[\"gender\"]}", "$.attributes[0]",
	     "a column already, at $.quasi.gender"},
	    {"{" HEAD "\"quasi\":{\"birth_date\":\"year\"},\"attributes\":[\"birth_date\"]}",
	     "$.attributes[0]", "a column already"},
	    {"{" HEAD "\"quasi\":{}}", "$.quasi", "1 to 16 paths"},
	    {"{" HEAD "\"quasi\":[\"gender\"]}", "$.quasi", "must be an object"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":\"courses\"}", "$.attributes",
	     "must be an array"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[7]}", "$.attributes[0]",
	     "\"path\" or \"path:transform\""},
	    /* k */
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"k\":1,\"quasi\":{\"gender\":null}}", "$.k",
	     "from 2 to 100000"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"k\":0,\"quasi\":{\"gender\":null}}", "$.k",
	     "k = 1 hides no one"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"k\":-5,\"quasi\":{\"gender\":null}}",
	     "$.k", "from 2"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"k\":\"5\",\"quasi\":{\"gender\":null}}",
	     "$.k", "an integer"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"k\":2.5,\"quasi\":{\"gender\":null}}",
	     "$.k", "an integer"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"k\":100001,\"quasi\":{\"gender\":null}}",
	     "$.k", "from 2 to 100000"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"t\",\"quasi\":{\"gender\":null}}", "$.k",
	     "missing"},
	    /* the rest of the object */
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"purpose\":\"statistics\"}", "$.purpose",
	     "unknown key"},
	    {"{\"id\":\"AN-26-1\",\"title\":\"t\",\"k\":5,\"quasi\":{\"gender\":null}}", "$.id",
	     "must match"},
	    {"{\"id\":\"../../etc\",\"title\":\"t\",\"k\":5,\"quasi\":{\"gender\":null}}", "$.id",
	     "must match"},
	    {"{\"title\":\"t\",\"k\":5,\"quasi\":{\"gender\":null}}", "$.id", "missing"},
	    {"{\"id\":\"AN-2026-0001\",\"k\":5,\"quasi\":{\"gender\":null}}", "$.title", "missing"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"　\",\"k\":5,\"quasi\":{\"gender\":null}}",
	     "$.title", "blank"},
	    {"{\"id\":\"AN-2026-0001\",\"title\":\"a\\nb\",\"k\":5,\"quasi\":{\"gender\":null}}",
	     "$.title", "control"},
	    {"{" HEAD "\"recipient\":\"統計研究所\",\"quasi\":{\"gender\":null}}", "$.method",
	     "missing"},
	    {"{" HEAD "\"method\":\"手渡し\",\"quasi\":{\"gender\":null}}", "$.method",
	     "only with a recipient"},
	    {"{" HEAD "\"recipient\":true,\"method\":\"m\",\"quasi\":{\"gender\":null}}",
	     "$.recipient", "must be a string"},
	    {"{" HEAD "\"quasi\":{\"gender\":null}", NULL, "line 1"},
	    {"{" HEAD "\"quasi\":{\"gender\":null,\"gender\":null}}", NULL, "duplicate"},
	    {"{" HEAD "\"k\":6,\"quasi\":{\"gender\":null}}", NULL, "duplicate"},
	    {"[1]", "$", "must be an object"},
	    {"{" HEAD "\"quasi\":{\"gender\":null},\"attributes\":[[[[[\"x\"]]]]]}", "$",
	     "nested deeper"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *errors = NULL;
		struct anon_spec *s = parse(rows[i].text, &errors);
		CHECK(s == NULL && errors != NULL, "row %zu accepted: %s", i, rows[i].text);
		if (errors != NULL) {
			CHECK(strncmp(errors, "spec.json: ", 11) == 0, "row %zu names the file: %s",
			      i, errors);
			CHECK(rows[i].path == NULL || strstr(errors, rows[i].path) != NULL,
			      "row %zu: path %s not in: %s", i, rows[i].path, errors);
			CHECK(strstr(errors, rows[i].reason) != NULL, "row %zu: '%s' not in: %s", i,
			      rows[i].reason, errors);
		}
		free(errors);
		anon_spec_free(s);
	}

	/* every error at once, one a line */
	char *errors = NULL;
	struct anon_spec *s =
	    parse("{\"id\":\"x\",\"title\":\"t\",\"k\":1,\"quasi\":{\"email\":null,\"gender\":"
	          "\"year\"},\"attributes\":[\"nope\"]}",
	          &errors);
	size_t lines = 0;
	for (const char *p = errors; p && *p; p++)
		lines += *p == '\n';
	CHECK(s == NULL && errors && lines + 1 == 5, "five errors: %s", errors ? errors : "");
	free(errors);

	/* the size bound, before anything is parsed */
	size_t n = ANON_SPEC_MAX_BYTES + 1;
	char *big = malloc(n);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	errors = NULL;
	s = anon_spec_parse(cat, "big.json", big, n, &errors);
	CHECK(s == NULL && errors && strstr(errors, "larger than"), "size: %s",
	      errors ? errors : "");
	free(errors);
	free(big);
	/* a prefecture is demographic: allowed, as the only part of an address */
	s = parse("{" HEAD "\"quasi\":{\"address.prefecture\":\"prefix:2\"}}", &errors);
	CHECK(s != NULL, "prefecture with prefix: %s", errors ? errors : "");
	free(errors);
	anon_spec_free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* The table. */

/* A record as release_origin checks it. */
static json_t *
record(const char *id, const char *birth, const char *gender, const char *pref, const char *grade,
       const char *joined, const char *courses)
{
	char text[2048], why[160];
	json_t *rec = NULL;

	snprintf(text, sizeof(text),
	         "{\"member_id\":\"%s\",\"name\":{\"family\":\"山田\",\"given\":\"花子\"},"
	         "%s%s%s\"gender\":\"%s\",\"address\":{\"prefecture\":\"%s\",\"city\":\"渋谷区\"},"
	         "\"email\":\"x@example.jp\",\"membership\":{\"joined\":\"%s\",\"grade\":\"%s\"},"
	         "\"courses\":[%s]}",
	         id, birth ? "\"birth_date\":\"" : "", birth ? birth : "", birth ? "\"," : "",
	         gender, pref, joined, grade, courses);
	enum apierr e =
	    release_origin(cat, text, strlen(text), 1 << 20, id, &rec, why, sizeof(why));
	CHECK(e == APIERR_NONE, "record %s: %s", id, why);
	return rec;
}

/* The CSV's rows (after the header) split into fields; a line per row, fields by ','. */
struct csvrows {
	char *text;
	char *rows[4096][8];
	size_t n, nf;
	char *header[8];
};

static void
split(const struct buf *b, struct csvrows *out)
{
	memset(out, 0, sizeof(*out));
	CHECK(b->len >= 3 && memcmp(b->data, "\xEF\xBB\xBF", 3) == 0, "byte-order mark");
	out->text = strdup(b->data + 3);
	char *save = NULL;
	bool header = true;
	for (char *line = strtok_r(out->text, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char **f = header ? out->header : out->rows[out->n];
		size_t k = 0;
		for (char *p = line;; p++) {
			f[k++] = p;
			p = strchr(p, ',');
			if (p == NULL || k == 8)
				break;
			*p = '\0';
		}
		if (header)
			out->nf = k;
		else if (out->n < 4095)
			out->n++;
		header = false;
	}
}

static struct anon_spec *
spec_of(const char *text)
{
	char *errors = NULL;
	struct anon_spec *s = parse(text, &errors);

	CHECK(s != NULL, "spec: %s", errors ? errors : "");
	free(errors);
	return s;
}

/* Groups of sizes 6, 3, 5 and 1 (k = 5): two kept, 4 rows suppressed; one course held by 2
 * of the kept rows becomes その他; an absent birth date is a value of its own. */
static void
table_small(void)
{
	struct anon_spec *s =
	    spec_of("{" HEAD "\"quasi\":{\"gender\":null,\"address.prefecture\":null},"
	            "\"attributes\":[\"birth_date:age_band:10\",\"courses[].code\"]}");
	if (s == NULL)
		return;
	struct anon_table *t = anon_table_new(s, NOW);
	char why[256], id[16];
	int n = 0;
	static const char
	    *const one = "{\"code\":\"MD101\"}",
	           *two = "{\"code\":\"MD101\"},{\"code\":\"LS130\"}",
	           *rare = "{\"code\":\"ZZ999\"},{\"code\":\"MD101\"},{\"code\":\"MD101\"}";
	for (int i = 0; i < 6; i++) { /* female 東京都 */
		snprintf(id, sizeof(id), "M%07d", ++n);
		json_t *r = record(id, i < 5 ? "1985-04-12" : NULL, "female", "東京都", "gold",
		                   "2019-04-01",
		                   i < 2   ? rare
		                   : i < 4 ? two
		                           : one);
		CHECK(anon_table_add(t, r, why, sizeof(why)) == 0, "add: %s", why);
		json_decref(r);
	}
	for (int i = 0; i < 3; i++) { /* male 東京都: suppressed */
		snprintf(id, sizeof(id), "M%07d", ++n);
		json_t *r = record(id, "1970-01-01", "male", "東京都", "gold", "2019-04-01", one);
		anon_table_add(t, r, why, sizeof(why));
		json_decref(r);
	}
	for (int i = 0; i < 5; i++) { /* female 大阪府 */
		snprintf(id, sizeof(id), "M%07d", ++n);
		json_t *r = record(id, "1990-06-30", "female", "大阪府", "gold", "2019-04-01", two);
		anon_table_add(t, r, why, sizeof(why));
		json_decref(r);
	}
	snprintf(id, sizeof(id), "M%07d", ++n); /* alone: suppressed */
	json_t *r = record(id, "1990-06-30", "unspecified", "沖縄県", "gold", "2019-04-01", one);
	anon_table_add(t, r, why, sizeof(why));
	json_decref(r);

	/* a birth date after the day of making cannot take an age band: refused, table kept */
	r = record("M9999999", "2027-01-01", "female", "東京都", "gold", "2019-04-01", one);
	CHECK(anon_table_add(t, r, why, sizeof(why)) != 0 && strstr(why, "birth_date"),
	      "unborn: %s", why);
	json_decref(r);

	struct anon_stats st;
	CHECK(anon_table_finish(t, &st) == 0, "finish");
	CHECK(st.rows_in == 15 && st.rows == 11 && st.suppressed == 4, "rows %llu/%llu/%llu",
	      (unsigned long long)st.rows_in, (unsigned long long)st.rows,
	      (unsigned long long)st.suppressed);
	CHECK(st.groups == 2 && st.groups_suppressed == 2, "groups %llu, suppressed %llu",
	      (unsigned long long)st.groups, (unsigned long long)st.groups_suppressed);
	/* ZZ999 is held by 2 kept rows, LS130 by 7, MD101 by 11; the age bands 40-49 by 5,
	 * 30-39 by 5, absent by 1: the absent one is no value, nothing to replace */
	CHECK(st.replaced == 2 && st.replaced_by[3] == 2 && st.replaced_by[2] == 0, "replaced %llu",
	      (unsigned long long)st.replaced);
	CHECK(st.distinct_by[3] == 2 && st.distinct_by[2] == 2 && st.distinct_by[0] == 1 &&
	          st.distinct_by[1] == 2,
	      "distinct values");

	struct buf csv = {0};
	struct csvrows *rows = malloc(sizeof(*rows));
	CHECK(anon_table_csv(t, &csv) == 0, "csv");
	split(&csv, rows);
	CHECK(rows->nf == 4 && strcmp(rows->header[0], "gender") == 0 &&
	          strcmp(rows->header[2], "birth_date:age_band:10") == 0 &&
	          strcmp(rows->header[3], "courses[].code") == 0,
	      "header");
	CHECK(rows->n == 11, "rows written: %zu", rows->n);
	size_t tokyo = 0, osaka = 0, other = 0, blank = 0;
	for (size_t i = 0; i < rows->n; i++) {
		char **f = rows->rows[i];
		CHECK(strcmp(f[0], "female") == 0, "only female rows are kept: %s", f[0]);
		tokyo += strcmp(f[1], "東京都") == 0;
		osaka += strcmp(f[1], "大阪府") == 0;
		other += strcmp(f[3], "MD101;その他") == 0;
		blank += f[2][0] == '\0';
		CHECK(strstr(f[3], "ZZ999") == NULL, "the rare course is gone: %s", f[3]);
		CHECK(strcmp(f[3], "MD101") == 0 || strcmp(f[3], "LS130;MD101") == 0 ||
		          strcmp(f[3], "MD101;その他") == 0,
		      "a set sorted, once each: %s", f[3]);
		CHECK(strcmp(f[2], "40-49") == 0 || strcmp(f[2], "30-39") == 0 || f[2][0] == '\0',
		      "age band %s", f[2]);
	}
	CHECK(tokyo == 6 && osaka == 5, "groups written whole: %zu %zu", tokyo, osaka);
	CHECK(other == 2 && blank == 1, "その他 %zu, absent %zu", other, blank);
	CHECK(strstr(csv.data, "山田") == NULL && strstr(csv.data, "M000") == NULL &&
	          strstr(csv.data, "渋谷区") == NULL && strstr(csv.data, "example.jp") == NULL,
	      "no name, id, city or email");
	free(rows->text);
	free(rows);
	buf_free(&csv);
	anon_table_free(t);
	anon_spec_free(s);
}

/* Random members over a few quasi values: every combination written is held by at least k
 * rows, the suppressed ones are exactly the rows of smaller groups (counted here), and every
 * attribute value written is held by at least k rows or is その他. */
static void
table_random(unsigned k, unsigned seed)
{
	static const char *const genders[] = {"female", "male", "unspecified"};
	static const char *const prefs[] = {"東京都", "大阪府", "北海道", "沖縄県", "鳥取県"};
	static const char *const grades[] = {"regular", "silver", "gold", "platinum"};
	char spec[512];
	snprintf(spec, sizeof(spec),
	         "{\"id\":\"AN-2026-0002\",\"title\":\"t\",\"k\":%u,\"quasi\":{\"gender\":null,"
	         "\"address.prefecture\":null,\"membership.grade\":null},"
	         "\"attributes\":[\"membership.joined:year\"]}",
	         k);
	struct anon_spec *s = spec_of(spec);
	if (s == NULL)
		return;
	struct anon_table *t = anon_table_new(s, NOW);
	unsigned counts[3][5][4] = {{{0}}}, years[40] = {0};
	unsigned x = seed, total = 3000;
	char why[256], id[16], joined[16];

	for (unsigned i = 0; i < total; i++) {
		x = x * 1103515245u + 12345u;
		unsigned g = (x >> 8) % 3, p = (x >> 12) % 5, gr = (x >> 16) % 4;
		unsigned y = (x >> 20) % 3 == 0 ? (x >> 24) % 30 : 10 + (x >> 24) % 3;
		counts[g][p][gr]++;
		snprintf(id, sizeof(id), "M%07u", i + 1);
		snprintf(joined, sizeof(joined), "%u-04-01", 1990 + y);
		json_t *r = record(id, "1980-01-01", genders[g], prefs[p], grades[gr], joined, "");
		CHECK(anon_table_add(t, r, why, sizeof(why)) == 0, "add: %s", why);
		json_decref(r);
	}
	struct anon_stats st;
	CHECK(anon_table_finish(t, &st) == 0, "finish");
	unsigned want_supp = 0;
	for (int g = 0; g < 3; g++)
		for (int p = 0; p < 5; p++)
			for (int gr = 0; gr < 4; gr++)
				if (counts[g][p][gr] < k)
					want_supp += counts[g][p][gr];
	CHECK(st.suppressed == want_supp && st.rows + st.suppressed == total,
	      "k %u: suppressed %llu, want %u", k, (unsigned long long)st.suppressed, want_supp);

	struct buf csv = {0};
	struct csvrows *rows = malloc(sizeof(*rows));
	CHECK(anon_table_csv(t, &csv) == 0, "csv");
	split(&csv, rows);
	CHECK(rows->n == st.rows, "rows written %zu", rows->n);
	unsigned seen[3][5][4] = {{{0}}};
	for (size_t i = 0; i < rows->n; i++) {
		int g = 0, p = 0, gr = 0;
		while (g < 3 && strcmp(genders[g], rows->rows[i][0]) != 0)
			g++;
		while (p < 5 && strcmp(prefs[p], rows->rows[i][1]) != 0)
			p++;
		while (gr < 4 && strcmp(grades[gr], rows->rows[i][2]) != 0)
			gr++;
		CHECK(g < 3 && p < 5 && gr < 4, "a row of known values");
		if (g < 3 && p < 5 && gr < 4)
			seen[g][p][gr]++;
		const char *yv = rows->rows[i][3];
		if (strcmp(yv, "その他") != 0) {
			unsigned yy = (unsigned)atoi(yv) - 1990;
			if (yy < 40)
				years[yy]++;
		}
	}
	for (int g = 0; g < 3; g++)
		for (int p = 0; p < 5; p++)
			for (int gr = 0; gr < 4; gr++)
				CHECK(seen[g][p][gr] == 0 || (seen[g][p][gr] >= k &&
				                              seen[g][p][gr] == counts[g][p][gr]),
				      "k %u: a combination written %u times", k, seen[g][p][gr]);
	for (int y = 0; y < 40; y++)
		CHECK(years[y] == 0 || years[y] >= k, "k %u: year %d written %u times", k, 1990 + y,
		      years[y]);
	free(rows->text);
	free(rows);
	buf_free(&csv);
	anon_table_free(t);
	anon_spec_free(s);
}

/* The shuffle: a permutation of the rows kept, not their order of arrival. */
static void
table_order(void)
{
	struct anon_spec *s = spec_of("{\"id\":\"AN-2026-0003\",\"title\":\"t\",\"k\":2,"
	                              "\"quasi\":{\"membership.joined\":null}}");
	if (s == NULL)
		return;
	for (int run = 0; run < 2; run++) {
		struct anon_table *t = anon_table_new(s, NOW);
		char why[256], id[16], joined[16];
		for (int i = 0; i < 400; i++) { /* 200 dates, each held twice, in date order */
			snprintf(id, sizeof(id), "M%07d", i + 1);
			snprintf(joined, sizeof(joined), "20%02d-%02d-%02d", 10 + i / 2 / 28 % 15,
			         1 + i / 2 / 28 / 15 % 12, 1 + i / 2 % 28);
			json_t *r =
			    record(id, "1980-01-01", "female", "東京都", "gold", joined, "");
			anon_table_add(t, r, why, sizeof(why));
			json_decref(r);
		}
		struct anon_stats st;
		CHECK(anon_table_finish(t, &st) == 0 && st.rows == 400, "all kept");
		/* the order is a permutation */
		bool *hit = calloc(400, sizeof(bool));
		size_t in_place = 0;
		for (size_t i = 0; i < t->nkept; i++) {
			CHECK(t->order[i] < 400 && !hit[t->order[i]], "a row twice");
			if (t->order[i] < 400)
				hit[t->order[i]] = true;
			in_place += t->order[i] == i;
		}
		/* a shuffle leaves about one row in its place; 40 would be a chance of 1e-47 */
		CHECK(in_place < 40, "%zu rows of 400 in their place", in_place);
		free(hit);
		anon_table_free(t);
	}
	anon_spec_free(s);
}

/* The draw: uniform below n, from the generator. */
static void
draws(void)
{
	struct draw d = {0};
	unsigned hist[7] = {0};
	for (int i = 0; i < 70000; i++) {
		uint64_t v = 99;
		CHECK(draw_below(&d, 7, &v) == 0 && v < 7, "draw");
		if (v < 7)
			hist[v]++;
	}
	for (int i = 0; i < 7; i++)
		CHECK(hist[i] > 9000 && hist[i] < 11000, "value %d drawn %u times of 70000", i,
		      hist[i]);
	uint64_t v = 5;
	CHECK(draw_below(&d, 1, &v) == 0 && v == 0, "below 1");
}

/* An item read back: the rule for a spec is the rule for an entry. */
static void
items(void)
{
	struct anon_column c;
	char why[512];

	CHECK(anon_item(cat, "birth_date:age_band:5", &c, why, sizeof(why)) == NULL &&
	          c.transform == CONTRACT_TF_AGE_BAND && c.arg == 5 && !c.multi,
	      "age band");
	CHECK(anon_item(cat, "courses[].completed:year", &c, why, sizeof(why)) == NULL && c.multi,
	      "a year of each course");
	CHECK(anon_item(cat, "email", &c, why, sizeof(why)) != NULL, "email");
	CHECK(anon_item(cat, "membership", &c, why, sizeof(why)) != NULL &&
	          strstr(why, "names an object"),
	      "an object is not an item: %s", why);
	CHECK(anon_item(cat, "gender:mask:0", &c, why, sizeof(why)) == NULL, "mask:0 fits");
	char longer[ANON_ITEM_MAX + 8];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK(anon_item(cat, longer, &c, why, sizeof(why)) != NULL && strstr(why, "longer"),
	      "too long");
}

int
main(void)
{
	struct catalog *c = fixture_catalog();
	if (c == NULL)
		return check_done();
	cat = c;
	spec_good();
	spec_refused();
	items();
	table_small();
	table_random(2, 1);
	table_random(5, 7);
	table_random(40, 11);
	table_order();
	draws();
	catalog_free(c);
	return check_done();
}
