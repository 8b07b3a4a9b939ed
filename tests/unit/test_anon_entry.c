/* test_anon_entry — the anonymised_dataset entry: its detail written by the ledger's own encoder
 * and read back, every refusal of anon_entry_check and of the JSON body (one row each), and the
 * notice. It includes anon_entry.c to walk parsed leaves without a ledger. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon_entry.c"
#include "fixture.h"

static const struct catalog *cat;
static struct ledger_leaf parsed;

#define SHA "aab97ebf77ead0548bf926d1c37c8c5548c6c39741fc50c675c39739e9624c00"

static struct anon_entry
good(void)
{
	struct anon_entry e = {
	    .id = "AN-2026-0001",
	    .title = "会員属性統計用データ",
	    .made = "2026-04-01",
	    .spec_sha256 = SHA,
	    .nitems = 3,
	    .items = {"birth_date:age_band:10", "address.prefecture", "courses[].code"},
	    .k = 5,
	    .members = 1000,
	    .left_out = 10,
	    .rows = 900,
	    .suppressed = 90,
	    .replaced = 3,
	};
	return e;
}

/* e's entry as the ledger encodes it, parsed back into parsed. 0 or -1. */
static int
round_trip(const struct anon_entry *e, uint64_t index)
{
	struct ledger_detail d[ANON_ENTRY_DETAIL_MAX];
	struct anon_entry_text txt;
	struct buf tail = {0}, leaf = {0};
	char t[LEDGER_TIME_LEN + 1];
	size_t n = anon_entry_detail(e, &txt, d);
	struct ledger_admin a = {
	    .action = ANON_ENTRY_ACTION, .staff = "sato", .detail = d, .n_detail = n};
	struct ledger_entry le = {.kind = LEDGER_ADMIN, .request = "r", .admin = &a};
	int rc = -1;

	for (size_t i = 1; i < n; i++)
		CHECK(strcmp(d[i - 1].key, d[i].key) < 0, "keys ascending: %s, %s", d[i - 1].key,
		      d[i].key);
	ledger_leaf_time(1775000000000LL, t);
	if (ledger_leaf_tail(&le, &tail) == 0 && ledger_leaf_join(&leaf, index, t, &tail) == 0 &&
	    ledger_leaf_parse(leaf.data, leaf.len, &parsed) == 0)
		rc = 0;
	buf_free(&tail);
	buf_free(&leaf);
	return rc;
}

static void
detail(void)
{
	struct anon_entry e = good(), back;
	struct anon_entry_text txt;
	char why[256];

	CHECK(anon_entry_check(&e, cat, why, sizeof(why)) == 0, "good: %s", why);
	CHECK(round_trip(&e, 7) == 0, "the leaf encodes and parses");
	CHECK(parsed.admin.n_detail == 11, "no recipient: 11 keys, %zu", parsed.admin.n_detail);
	CHECK(anon_entry_from_leaf(&parsed, &back, &txt) == 0, "read back");
	CHECK(strcmp(back.id, e.id) == 0 && strcmp(back.title, e.title) == 0 &&
	          strcmp(back.made, e.made) == 0 && strcmp(back.spec_sha256, SHA) == 0 &&
	          back.recipient == NULL && back.method == NULL,
	      "strings");
	CHECK(back.k == 5 && back.members == 1000 && back.left_out == 10 && back.rows == 900 &&
	          back.suppressed == 90 && back.replaced == 3,
	      "numbers");
	CHECK(back.nitems == 3 && strcmp(back.items[0], "birth_date:age_band:10") == 0 &&
	          strcmp(back.items[2], "courses[].code") == 0,
	      "items");
	CHECK(anon_entry_check(&back, cat, why, sizeof(why)) == 0, "read back, still good: %s",
	      why);

	e.recipient = "一般財団法人 統計研究所";
	e.method = "暗号化した電子ファイルを記録媒体で手渡し";
	CHECK(round_trip(&e, 8) == 0 && parsed.admin.n_detail == 13, "with a recipient: 13 keys");
	CHECK(anon_entry_from_leaf(&parsed, &back, &txt) == 0 &&
	          strcmp(back.recipient, e.recipient) == 0 && strcmp(back.method, e.method) == 0,
	      "recipient and method read back");

	/* each_leaf: the walk's step, finding an id */
	struct find f = {.id = "AN-2026-0001"};
	struct each x = {.fn = find_one, .arg = &f};
	CHECK(each_leaf(&x, &parsed) == 1 && f.found && f.index == 8, "found at 8");
	f = (struct find){.id = "AN-2026-0002"};
	CHECK(each_leaf(&x, &parsed) == 0 && !f.found, "another id");

	/* other admin entries are not data sets */
	struct ledger_admin a = {.action = "partner_suspend", .staff = "sato"};
	struct ledger_entry le = {.kind = LEDGER_ADMIN, .request = "r", .admin = &a};
	struct buf tail = {0}, leaf = {0};
	char t[LEDGER_TIME_LEN + 1];
	ledger_leaf_time(1775000000000LL, t);
	CHECK(ledger_leaf_tail(&le, &tail) == 0 && ledger_leaf_join(&leaf, 9, t, &tail) == 0 &&
	          ledger_leaf_parse(leaf.data, leaf.len, &parsed) == 0,
	      "suspension");
	CHECK(anon_entry_from_leaf(&parsed, &back, &txt) != 0, "a suspension is no data set");
	f = (struct find){.id = "AN-2026-0001"};
	CHECK(each_leaf(&x, &parsed) == 0 && !f.found, "and is skipped");
	buf_free(&tail);
	buf_free(&leaf);

	/* a detail that is not what the encoder writes is not read as one */
	const struct ledger_detail odd[] = {
	    {"id", "AN-2026-0001"}, {"items", "gender"}, {"k", "05"}};
	struct ledger_admin b = {.action = ANON_ENTRY_ACTION, .detail = odd, .n_detail = 3};
	le.admin = &b;
	CHECK(ledger_leaf_tail(&le, &tail) == 0 && ledger_leaf_join(&leaf, 10, t, &tail) == 0 &&
	          ledger_leaf_parse(leaf.data, leaf.len, &parsed) == 0,
	      "odd");
	CHECK(anon_entry_from_leaf(&parsed, &back, &txt) != 0, "k 05, fields missing: refused");
	buf_free(&tail);
	buf_free(&leaf);
}

static void
refusals(void)
{
	static const struct {
		const char *field, *value; /* a string member changed */
		int count;                 /* else: 0 k, 1 rows, 2 members, 3 suppressed */
		uint64_t n;
		const char *want;
	} rows[] = {
	    {"id", "AN-26-1", 0, 0, "id:"},
	    {"title", "", 0, 0, "title:"},
	    {"title", "a\tb", 0, 0, "title:"},
	    {"made", "2026-02-30", 0, 0, "made:"},
	    {"made", "20260401", 0, 0, "made:"},
	    {"spec_sha256", "ABCDEF", 0, 0, "spec_sha256:"},
	    {"spec_sha256", SHA "00", 0, 0, "spec_sha256:"},
	    {"item0", "name.family", 0, 0, "items[0]: name.family is of class name"},
	    {"item1", "birth_date:year", 0, 0, "items[1]: birth_date is items[0] already"},
	    {"item2", "member_id:pseudonym", 0, 0, "items[2]:"},
	    {"item2", "phone:mask:4", 0, 0, "class contact"},
	    {"method", "手渡し", 0, 0, "method: only with a recipient"},
	    {"recipient", "統計研究所", 0, 0, "method: missing"},
	    {NULL, NULL, 1, 1, "k:"},
	    {NULL, NULL, 1, 100001, "k:"},
	    {NULL, NULL, 2, 4, "rows: fewer than k"},
	    {NULL, NULL, 3, 999, "members:"},
	    {NULL, NULL, 4, 91, "members:"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct anon_entry e = good();
		char why[512] = "";
		const char *f = rows[i].field;
		if (f && strcmp(f, "id") == 0)
			e.id = rows[i].value;
		else if (f && strcmp(f, "title") == 0)
			e.title = rows[i].value;
		else if (f && strcmp(f, "made") == 0)
			e.made = rows[i].value;
		else if (f && strcmp(f, "spec_sha256") == 0)
			e.spec_sha256 = rows[i].value;
		else if (f && strncmp(f, "item", 4) == 0)
			e.items[f[4] - '0'] = rows[i].value;
		else if (f && strcmp(f, "method") == 0)
			e.method = rows[i].value;
		else if (f && strcmp(f, "recipient") == 0)
			e.recipient = rows[i].value;
		else if (rows[i].count == 1)
			e.k = rows[i].n;
		else if (rows[i].count == 2)
			e.rows = rows[i].n, e.suppressed = e.members - e.left_out - e.rows;
		else if (rows[i].count == 3)
			e.members = rows[i].n;
		else if (rows[i].count == 4)
			e.suppressed = rows[i].n;
		CHECK(anon_entry_check(&e, cat, why, sizeof(why)) != 0 && strstr(why, rows[i].want),
		      "row %zu: '%s' not in '%s'", i, rows[i].want, why);
	}
	struct anon_entry e = good();
	char why[256];
	e.nitems = 0;
	CHECK(anon_entry_check(&e, cat, why, sizeof(why)) != 0 && strstr(why, "items:"), "none");
}

static void
bodies(void)
{
	struct anon_entry e = good(), back;
	char why[256];
	json_t *doc = anon_entry_json(&e);

	CHECK(doc != NULL && json_is_null(json_object_get(doc, "recipient")), "json");
	CHECK(anon_entry_from_json(doc, &back, why, sizeof(why)) == 0 &&
	          anon_entry_check(&back, cat, why, sizeof(why)) == 0 && back.k == 5 &&
	          back.nitems == 3 && strcmp(back.items[1], "address.prefecture") == 0,
	      "round trip: %s", why);
	static const struct {
		const char *key, *json, *want;
	} rows[] = {
	    {"id", "5", "id: must be a string"},
	    {"recipient", "7", "recipient: must be a string or null"},
	    {"items", "[]", "items: must be an array"},
	    {"items", "[\"gender\",3]", "items[1]: must be a string"},
	    {"items", "\"gender\"", "items: must be an array"},
	    {"k", "\"5\"", "k: must be a whole number"},
	    {"rows", "-1", "rows: must be a whole number"},
	    {"members", "1.5", "members: must be a whole number"},
	    {"title", "null", "title: must be a string"},
	    {"made", NULL, "made: missing"},
	};
	for (size_t i = 0; doc && i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *d = json_deep_copy(doc);
		if (rows[i].json == NULL)
			json_object_del(d, rows[i].key);
		else
			json_object_set_new(d, rows[i].key,
			                    json_loads(rows[i].json, JSON_DECODE_ANY, NULL));
		why[0] = '\0';
		CHECK(anon_entry_from_json(d, &back, why, sizeof(why)) != 0 &&
		          strstr(why, rows[i].want),
		      "body row %zu: '%s' not in '%s'", i, rows[i].want, why);
		json_decref(d);
	}
	json_decref(doc);
}

static void
notice(void)
{
	struct anon_entry e = good();
	struct buf b = {0};

	CHECK(anon_entry_notice(&e, cat, "国際メゾンディレクトゥール協会", &b) == 0, "notice");
	CHECK(strstr(b.data, "第43条第3項") && !strstr(b.data, "第43条第4項"), "Art. 43(3) only");
	CHECK(strstr(b.data, "会員属性統計用データ（AN-2026-0001）"), "name and id");
	CHECK(strstr(b.data, "2026年4月1日"), "the day");
	CHECK(strstr(b.data, "・生年月日から求めた年齢（10歳刻み）\n"), "the age band");
	CHECK(strstr(b.data, "・住所（都道府県）\n") && strstr(b.data, "・受講講座（コード）\n"),
	      "labels from the catalog");
	CHECK(strstr(b.data, "識別するための行為を行いません"), "no re-identification");
	CHECK(strstr(b.data, "国際メゾンディレクトゥール協会 個人情報に関する対応窓口"),
	      "where to ask");
	buf_free(&b);

	e.recipient = "一般財団法人 統計研究所";
	e.method = "暗号化した電子ファイルを記録媒体で手渡し";
	e.items[0] = "membership.joined:year";
	CHECK(anon_entry_notice(&e, cat, "協会", &b) == 0, "notice with a recipient");
	CHECK(strstr(b.data, "第43条第4項") && strstr(b.data, "提供の方法\n　暗号化した"),
	      "Art. 43(4): the method");
	CHECK(strstr(b.data, "第三者に提供される匿名加工情報に含まれる個人に関する情報の項目\n"
	                     "　・入会日（年のみ）\n"),
	      "the items provided");
	CHECK(strstr(b.data, "匿名加工情報である旨を明示します"), "the recipient is told");
	buf_free(&b);
}

int
main(void)
{
	struct catalog *c = fixture_catalog();
	if (c == NULL)
		return check_done();
	cat = c;
	detail();
	refusals();
	bodies();
	notice();
	catalog_free(c);
	return check_done();
}
