/* csv — the one CSV writer (RFC 4180). */
#include <string.h>

#include "csv.h"

void
csv_start(struct buf *b)
{
	buf_add(b, "\xEF\xBB\xBF", 3);
}

void
csv_field(struct buf *b, const char *s, bool last)
{
	if (s == NULL)
		s = "";
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
	               s[0] == '\r';
	if (strpbrk(s, ",\"\r\n") != NULL || formula) {
		buf_add(b, "\"", 1);
		if (formula)
			buf_add(b, "'", 1);
		for (const char *p = s; *p != '\0';) {
			size_t run = strcspn(p, "\"");
			buf_add(b, p, run);
			p += run;
			if (*p == '"') {
				buf_add(b, "\"\"", 2);
				p++;
			}
		}
		buf_add(b, "\"", 1);
	} else {
		buf_str(b, s);
	}
	buf_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

void
csv_row(struct buf *b, const char *const *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		csv_field(b, fields[i], i + 1 == n);
}
