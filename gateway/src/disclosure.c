/* disclosure — a member's disclosure document (開示書面, APPI Art. 33): the subject report as a
 * printable page in Japanese to send the member. Pure: no I/O, no globals but a constant. */
#include "disclosure.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cal.h"
#include "ident.h"

/*
 * The page's style, screen and paper. Its hash is DISCLOSURE_STYLE_CSP; test_disclosure recomputes
 * it, so an edit here that forgets the hash fails the tests instead of leaving the page unstyled.
 */
static const char STYLE[] =
    "body{font-family:\"Noto Sans JP\",\"Hiragino Kaku Gothic ProN\",\"Yu Gothic\",sans-serif;"
    "color:#111;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.6}"
    "header{border-bottom:2px solid #111;margin-bottom:1.5em}"
    ".org{font-size:1.1em;font-weight:bold;margin:0}"
    "h1{font-size:1.4em;margin:.4em 0}h2{font-size:1.1em;margin-top:1.6em}"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
    "dl.meta dt{font-weight:bold}dl.meta dd{margin:0}"
    "table{border-collapse:collapse;width:100%;font-size:.92em}"
    "th,td{border:1px solid #888;padding:.3em .5em;text-align:left;vertical-align:top}"
    "th{background:#eee}td.n{text-align:right}"
    "ul.items{margin:0;padding-left:1.2em}"
    "footer{margin-top:2em;border-top:1px solid #888;font-size:.9em}"
    "@media print{body{margin:0;max-width:none;font-size:10.5pt}"
    "@page{size:A4;margin:18mm 15mm}"
    "tr,li{break-inside:avoid}thead{display:table-header-group}"
    "th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

const char *
disclosure_style_csp(void)
{
	return DISCLOSURE_STYLE_CSP;
}

/* s with & < > " ' as character references; NULL writes nothing. */
static void
esc(struct buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			buf_str(b, "&amp;");
			break;
		case '<':
			buf_str(b, "&lt;");
			break;
		case '>':
			buf_str(b, "&gt;");
			break;
		case '"':
			buf_str(b, "&quot;");
			break;
		case '\'':
			buf_str(b, "&#39;");
			break;
		default:
			buf_add(b, s, 1);
		}
	}
}

static const char *
str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A day number as 2026年4月1日. */
static void
day_text(struct buf *b, int64_t day)
{
	int y, m, d;

	cal_civil_from_days(day, &y, &m, &d);
	buf_printf(b, "%d年%d月%d日", y, m, d);
}

/* An RFC 3339 instant of the ledger as its Japan day; as is if it does not parse. */
static void
time_day(struct buf *b, const char *t)
{
	time_t when;

	if (t != NULL && cal_parse_rfc3339(t, &when) == 0)
		day_text(b, cal_jst_day((int64_t)when * 1000));
	else
		esc(b, t);
}

/* A cell: name and id, "さくらメール（sakura-mail）", the id alone when the name is empty. */
static void
named(struct buf *b, const char *name, const char *id)
{
	if (name != NULL && name[0] != '\0') {
		esc(b, name);
		buf_str(b, "（");
		esc(b, id);
		buf_str(b, "）");
	} else {
		esc(b, id);
	}
}

static void
items(struct buf *b, const json_t *list)
{
	size_t i;
	json_t *v;

	buf_str(b, "<ul class=\"items\">");
	json_array_foreach(list, i, v)
	{
		buf_str(b, "<li>");
		esc(b, json_string_value(v));
		buf_str(b, "</li>");
	}
	buf_str(b, "</ul>");
}

static void
recipients(struct buf *b, const json_t *list)
{
	size_t i;
	json_t *r;

	buf_str(b,
	        "<h2>提供先ごとの概要</h2><table><thead><tr><th>提供先</th><th>提供回数</th>"
	        "<th>最初の提供</th><th>最後の提供</th><th>提供した項目</th></tr></thead><tbody>");
	json_array_foreach(list, i, r)
	{
		buf_str(b, "<tr><td>");
		named(b, str(r, "partner_name"), str(r, "partner"));
		buf_printf(b, "</td><td class=\"n\">%" JSON_INTEGER_FORMAT "</td><td>",
		           json_integer_value(json_object_get(r, "releases")));
		time_day(b, str(r, "first"));
		buf_str(b, "</td><td>");
		time_day(b, str(r, "last"));
		buf_str(b, "</td><td>");
		items(b, json_object_get(r, "items"));
		buf_str(b, "</td></tr>");
	}
	buf_str(b, "</tbody></table>");
}

static void
releases(struct buf *b, const json_t *list)
{
	size_t i;
	json_t *r;

	buf_str(b, "<h2>提供の記録</h2><table><thead><tr><th>提供日</th><th>提供先</th>"
	           "<th>利用目的</th><th>提供した項目</th><th>提供の根拠</th></tr></thead><tbody>");
	json_array_foreach(list, i, r)
	{
		const char *purpose = str(r, "purpose_label");
		buf_str(b, "<tr><td>");
		time_day(b, str(r, "time"));
		buf_str(b, "</td><td>");
		named(b, str(r, "recipient_name"), str(r, "recipient"));
		if (str(r, "country") != NULL &&
		    strcmp(str(r, "country"), IDENT_COUNTRY_HOME) != 0) {
			buf_str(b, "<br>外国にある提供先（国・地域コード ");
			esc(b, str(r, "country"));
			buf_str(b, "）");
		}
		buf_str(b, "</td><td>");
		esc(b, purpose != NULL && purpose[0] != '\0' ? purpose : str(r, "purpose"));
		buf_str(b, "</td><td>");
		items(b, json_object_get(r, "items"));
		buf_str(b, "</td><td>");
		esc(b, str(r, "basis_label"));
		if (str(r, "justification") != NULL) {
			buf_str(b, "<br>");
			esc(b, str(r, "justification"));
		}
		buf_str(b, "</td></tr>");
	}
	buf_str(b, "</tbody></table>");
}

int
disclosure_html(const json_t *report, const char *organisation, int64_t today, struct buf *out)
{
	size_t mark = out->len;
	json_int_t count = json_integer_value(json_object_get(report, "count"));

	buf_str(out, "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">"
	             "<meta name=\"viewport\" content=\"width=device-width\">"
	             "<title>個人データの提供記録の開示</title><style>");
	buf_str(out, STYLE);
	buf_str(out, "</style></head><body><header><p class=\"org\">");
	esc(out, organisation);
	buf_str(out, "</p><h1>個人データの提供記録の開示について</h1><dl class=\"meta\">"
	             "<dt>会員番号</dt><dd>");
	esc(out, str(report, "member_id"));
	buf_str(out, "</dd><dt>作成日</dt><dd>");
	day_text(out, today);
	buf_printf(out,
	           "</dd><dt>提供の件数</dt><dd>%" JSON_INTEGER_FORMAT " 件</dd></dl></header>",
	           count);
	buf_str(out, "<p>個人情報の保護に関する法律第33条に基づくご請求により、");
	esc(out, organisation);
	buf_str(out, "があなたの個人データを第三者等に提供した記録を、次のとおり開示いたします。"
	             "提供のつど記録した取引記録（台帳）から作成しています。</p>");
	if (count == 0) {
		buf_str(out, "<p>記録の範囲で、あなたの個人データを提供した記録はありません。</p>");
	} else {
		recipients(out, json_object_get(report, "recipients"));
		releases(out, json_object_get(report, "releases"));
	}
	if (!json_is_true(json_object_get(report, "complete")))
		buf_str(out, "<p>記録が多いため、この書面には一部のみを記載しています。"
		             "残りは別途お知らせいたします。</p>");
	buf_str(out, "<footer><p>この書面の内容についてのお問い合わせは、");
	esc(out, organisation);
	buf_str(out, "の個人情報相談窓口までご連絡ください。</p></footer></body></html>\n");
	if (out->bad) { /* a piece missing: nothing of the page */
		buf_truncate(out, mark);
		return -1;
	}
	return 0;
}
