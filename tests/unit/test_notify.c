/* test_notify — the breach lists on a report and an embedded origin: the breach CSV's rows and
 * quoting, the notification list's contact columns read from the origin, a member not resolved
 * and one the origin no longer has (missing, counted), and a broken record failing the list
 * whole. It includes notify.c to reach its columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fixture.h"
#include "notify.c"

static const char report_text[] =
    "{\"partner\":\"sakura-mail\",\"partner_name\":\"さくら, \\\"メール\\\"\",\"members\":["
    "{\"subject\":\"aa\",\"member_id\":\"M0000001\",\"items\":[\"name.family\",\"address\"],"
    "\"releases\":2,\"first\":\"2026-04-01T00:00:00.000Z\",\"last\":\"2026-04-02T00:00:00.000Z\"},"
    "{\"subject\":\"bb\",\"member_id\":null,\"items\":[\"email\"],\"releases\":1,"
    "\"first\":\"2026-04-03T00:00:00.000Z\",\"last\":\"2026-04-03T00:00:00.000Z\"},"
    "{\"subject\":\"cc\",\"member_id\":\"M0000009\",\"items\":[\"phone:mask:4\"],\"releases\":1,"
    "\"first\":\"2026-04-04T00:00:00.000Z\",\"last\":\"2026-04-04T00:00:00.000Z\"}]}";

static struct origin *
origin_with(const char *dir, const char *record)
{
	char path[256], url[300], err[256], *sql;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/members.db", dir);
	unlink(path);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open");
	sql = sqlite3_mprintf(
	    "CREATE TABLE members(member_id TEXT PRIMARY KEY, record TEXT NOT NULL);"
	    "INSERT INTO members VALUES('M0000001',%Q);",
	    record);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "fill");
	sqlite3_free(sql);
	sqlite3_close(db);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	struct origin_params p = {.url = url, .timeout_ms = 1000, .max_record_bytes = 65536};
	struct origin *o = origin_new(&p, err, sizeof(err));
	CHECK(o != NULL, "origin_new: %s", err);
	return o;
}

int
main(void)
{
	struct catalog *cat = fixture_catalog();
	json_t *report = json_loads(report_text, 0, NULL);
	char dir[] = "/tmp/pdgate-notify-XXXXXX", why[256];
	struct buf b = {0};

	CHECK(report != NULL, "report parses");
	if (cat == NULL || report == NULL || mkdtemp(dir) == NULL)
		return check_done();

	/* the breach CSV: header, one row per member, the partner name quoted */
	CHECK(notify_breach_csv(report, &b) == 0, "breach csv");
	static const char head[] =
	    "\xEF\xBB\xBFmember_id,subject,items,releases,first,last,partner,"
	    "partner_name\r\n";
	CHECK(strncmp(b.data, head, strlen(head)) == 0, "BOM and header");
	CHECK(strstr(b.data,
	             "\r\nM0000001,aa,name.family;address,2,2026-04-01T00:00:00.000Z,"
	             "2026-04-02T00:00:00.000Z,sakura-mail,\"さくら, \"\"メール\"\"\"\r\n") != NULL,
	      "first row: %s", b.data);
	CHECK(strstr(b.data, "\r\n,bb,email,1,") != NULL, "an unresolved member: no id");
	buf_free(&b);

	/* the contact columns: name and contact leaves and the rest of address, no arrays */
	size_t ncols = 0;
	for (size_t i = 0; i < catalog_nfields(cat); i++) {
		const struct catalog_field *f = catalog_field_at(cat, i);
		bool col = contact_column(f);
		ncols += col;
		if (strcmp(f->path, "address.prefecture") == 0 || strcmp(f->path, "email") == 0 ||
		    strcmp(f->path, "name.family_kana") == 0)
			CHECK(col, "%s is a contact column", f->path);
		if (strcmp(f->path, "my_number") == 0 || strcmp(f->path, "member_id") == 0 ||
		    strcmp(f->path, "birth_date") == 0 || f->segments[0].array)
			CHECK(!col, "%s is not a contact column", f->path);
	}
	CHECK(ncols == 11, "contact columns: %zu", ncols);

	/* the notification list: M0000001 found, bb not resolved, M0000009 not in the origin */
	struct origin *o = origin_with(
	    dir, "{\"member_id\":\"M0000001\",\"name\":{\"family\":\"山田\",\"given\":\"花子\"},"
	         "\"address\":{\"prefecture\":\"東京都\",\"building\":\"A,\\\"B\\\"\\nC\"},"
	         "\"email\":\"h@example.jp\",\"my_number\":\"123456789012\"}");
	struct notify_counts n;
	struct buf l = {.secret = true};
	CHECK(notify_list(report, cat, o, 65536, &l, &n, why, sizeof(why)) == APIERR_NONE,
	      "list: %s", why);
	CHECK(n.count == 3 && n.missing == 2, "counts %zu %zu", n.count, n.missing);
	CHECK(strstr(l.data, ",origin,name.family,name.given,name.family_kana,name.given_kana,"
	                     "address.postal_code,address.prefecture,address.city,address.street,"
	                     "address.building,phone,email\r\n") != NULL,
	      "header: %s", l.data);
	CHECK(strstr(l.data, ",found,山田,花子,,,,東京都,,,\"A,\"\"B\"\"\nC\",,h@example.jp\r\n") !=
	          NULL,
	      "found row: %s", l.data);
	CHECK(strstr(l.data,
	             ",bb,email,1,2026-04-03T00:00:00.000Z,2026-04-03T00:00:00.000Z,"
	             "sakura-mail,\"さくら, \"\"メール\"\"\",missing,,,,,,,,,,,\r\n") != NULL,
	      "unresolved row");
	CHECK(strstr(l.data, "M0000009,cc,phone:mask:4,") != NULL &&
	          strstr(l.data, "123456789012") == NULL,
	      "the 404 member's row; no My Number anywhere");
	buf_free(&l);
	origin_free(o);

	/* a record the origin holds but that does not check: the whole list fails, nothing kept */
	o = origin_with(dir, "{\"member_id\":\"M0000002\"}");
	struct buf f = {0};
	buf_str(&f, "kept");
	CHECK(notify_list(report, cat, o, 65536, &f, &n, why, sizeof(why)) == APIERR_ORIGIN_INVALID,
	      "a record of another member");
	CHECK(strcmp(f.data, "kept") == 0 && n.count == 0, "out as it was: %s", f.data);
	buf_free(&f);
	origin_free(o);

	json_decref(report);
	catalog_free(cat);
	return check_done();
}
