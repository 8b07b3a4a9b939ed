/* test_csv — the CSV writer: quoting, doubled quotes, line breaks, defused formulas, the BOM,
 * whole rows, and a failed append left for the caller to see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "csv.c"

static void
test_fields(void)
{
	static const struct {
		const char *in, *out;
	} t[] = {
	    {"plain", "plain,"},
	    {"a,b", "\"a,b\","},
	    {"say \"hi\"", "\"say \"\"hi\"\"\","},
	    {"\"", "\"\"\"\","},
	    {"two\r\nlines", "\"two\r\nlines\","},
	    {"line\nfeed", "\"line\nfeed\","},
	    {"=cmd()", "\"'=cmd()\","},
	    {"+1", "\"'+1\","},
	    {"-1", "\"'-1\","},
	    {"@x", "\"'@x\","},
	    {"\tx", "\"'\tx\","},
	    {"=a,\"b\"", "\"'=a,\"\"b\"\"\","},
	    {"a=b", "a=b,"},
	    {"山田,花子", "\"山田,花子\","},
	    {"", ","},
	    {NULL, ","},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf b = {0};
		csv_field(&b, t[i].in, false);
		CHECK(b.data && strcmp(b.data, t[i].out) == 0, "csv '%s' -> '%s'",
		      t[i].in ? t[i].in : "(null)", b.data ? b.data : "(null)");
		buf_free(&b);
	}
	struct buf b = {0};
	csv_field(&b, "last", true);
	CHECK(strcmp(b.data, "last\r\n") == 0, "last field ends the row with CRLF");
	buf_free(&b);
}

static void
test_rows(void)
{
	struct buf b = {0};
	const char *row[] = {"M0000001", NULL, "a;b", "x\"y"};

	csv_start(&b);
	csv_row(&b, row, 4);
	CHECK(b.data && strcmp(b.data, "\xEF\xBB\xBFM0000001,,a;b,\"x\"\"y\"\r\n") == 0, "row: %s",
	      b.data ? b.data : "(null)");
	buf_free(&b);

	/* a bounded buffer that overflows: bad is set and the text is never half a field */
	struct buf small = {.max = 8};
	csv_row(&small, row, 4);
	CHECK(small.bad && small.over, "overflow reported");
	CHECK(small.len <= 8, "bound kept: %zu", small.len);
	buf_free(&small);
}

int
main(void)
{
	test_fields();
	test_rows();
	return check_done();
}
