/* test_disclosure — the disclosure page: its words, escaping, the style's hash, no provisions. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "check.h"
#include "codec.h"
#include "disclosure.c"

static const char REPORT[] =
    "{\"member_id\":\"M0000007\",\"subject\":\"ab\",\"count\":2,\"refusals\":0,\"complete\":true,"
    "\"recipients\":[{\"partner\":\"evil\",\"partner_name\":\"<script>alert('x')</script>&co\","
    "\"releases\":2,\"first\":\"2026-03-31T15:30:00.000Z\",\"last\":\"2026-04-02T01:00:00Z\","
    "\"items\":[\"email\",\"name:mask:1\"]}],"
    "\"releases\":[{\"time\":\"2026-03-31T15:30:00.000Z\",\"recipient\":\"evil\","
    "\"recipient_name\":\"<script>alert('x')</script>&co\",\"purpose\":\"marketing\","
    "\"purpose_label\":\"ご案内\\\"の送付\",\"items\":[\"email\"],\"basis\":\"entrustment\","
    "\"basis_label\":\"委託 (第27条第5項第1号)\",\"justification\":null,\"country\":\"JP\"},"
    "{\"time\":\"2026-04-02T01:00:00Z\",\"recipient\":\"evil\",\"recipient_name\":\"\","
    "\"purpose\":\"legal_obligation\",\"purpose_label\":\"\",\"items\":[\"name:mask:1\"],"
    "\"basis\":\"exception:legal_obligation\",\"basis_label\":\"法令に基づく\","
    "\"justification\":\"<img src=x>\",\"country\":\"<b>\"}]}";

static void
test_page(void)
{
	json_t *doc = json_loads(REPORT, 0, NULL);
	struct buf b = {0};

	CHECK(doc != NULL, "the report parses");
	CHECK(disclosure_html(doc, "一般社団法人<日本>協会", cal_days_from_civil(2026, 4, 10),
	                      &b) == 0,
	      "the page");
	const char *h = b.data ? b.data : "";
	CHECK(strstr(h, "<html lang=\"ja\">") != NULL, "Japanese");
	CHECK(strstr(h, "<script") == NULL && strstr(h, "<img") == NULL, "no markup from values");
	CHECK(strstr(h, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;co（evil）") != NULL,
	      "the partner's name escaped, with its id");
	CHECK(strstr(h, "ご案内&quot;の送付") != NULL, "quotes escaped");
	CHECK(strstr(h, "&lt;img src=x&gt;") != NULL, "a justification escaped");
	CHECK(strstr(h, "一般社団法人&lt;日本&gt;協会") != NULL, "the organisation escaped");
	CHECK(strstr(h, "<td>2026年4月1日</td>") != NULL, "15:30Z on 03-31 is 04-01 in Japan");
	CHECK(strstr(h, "<dd>2026年4月10日</dd>") != NULL, "the day it was made");
	CHECK(strstr(h, "<td>legal_obligation</td>") != NULL, "the purpose id without a label");
	CHECK(strstr(h, "<td class=\"n\">2</td>") != NULL, "the count of provisions");
	CHECK(strstr(h, "@media print") != NULL, "a print style");
	CHECK(strstr(h, "一部のみ") == NULL, "complete: no note");
	/* a recipient abroad is said so, its country escaped; one in Japan is not */
	CHECK(strstr(h, "<br>外国にある提供先（国・地域コード &lt;b&gt;）") != NULL, "abroad");
	CHECK(strstr(h, "国・地域コード JP") == NULL, "Japan is not abroad");
	buf_free(&b);

	json_object_set_new(doc, "complete", json_false());
	CHECK(disclosure_html(doc, "協会", 0, &b) == 0 && strstr(b.data, "一部のみ") != NULL,
	      "an incomplete report says so");
	buf_free(&b);
	json_object_set_new(doc, "count", json_integer(0));
	CHECK(disclosure_html(doc, "協会", 0, &b) == 0 &&
	          strstr(b.data, "提供した記録はありません") != NULL &&
	          strstr(b.data, "提供の記録") == NULL,
	      "no provisions");
	buf_free(&b);
	/* a bounded buffer that cannot take the page: -1 and nothing of it */
	b.max = 100;
	CHECK(disclosure_html(doc, "協会", 0, &b) == -1 && b.len == 0, "out of room: nothing");
	buf_free(&b);
	json_decref(doc);
}

/* The hash the CSP names is the style's: an edit of one without the other fails here. */
static void
test_hash(void)
{
	unsigned char md[32];
	unsigned int n = 0;
	char b64[64], want[80];

	EVP_Digest(STYLE, strlen(STYLE), md, &n, EVP_sha256(), NULL);
	b64[codec_b64_encode(md, n, b64)] = '\0';
	snprintf(want, sizeof(want), "'sha256-%s'", b64);
	CHECK(strcmp(disclosure_style_csp(), want) == 0, "the style's hash is %s", want);
}

int
main(void)
{
	test_page();
	test_hash();
	return check_done();
}
