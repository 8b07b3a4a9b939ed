/* test_kana — katakana readings romanized: each rule on a row, and what is refused. */
#include <string.h>

#include "check.h"
#include "kana.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_readings(void)
{
	static const struct {
		const char *kana, *roman;
	} rows[] = {
	    {"サトウ", "sato"},    /* ウ after an o-sound: long */
	    {"ユウコ", "yuko"},    /* ウ after a u-sound: long */
	    {"イノウエ", "inoue"}, /* ... but not before a vowel */
	    {"オオタ", "ota"},     /* オ after an o-sound */
	    {"オオノ", "ono"},
	    {"ルーシー", "rushi"}, /* ー dropped */
	    {"キョウコ", "kyoko"}, /* ョ fused, then long */
	    {"ショウタ", "shota"}, /* シャ-row: no y */
	    {"チアキ", "chiaki"},
	    {"ジュン", "jun"}, /* ジャ-row: no y */
	    {"リョウスケ", "ryosuke"},
	    {"ハットリ", "hattori"}, /* ッ doubles the consonant */
	    {"マッチ", "matchi"},    /* ... and t before ch */
	    {"ホンマ", "homma"},     /* ン before m */
	    {"ナンバ", "namba"},     /* ... b */
	    {"ケンペイ", "kempei"},  /* ... p */
	    {"ケンタ", "kenta"},     /* else n */
	    {"ヅ", "zu"},
	    {"ヴ", "vu"},
	    {"ワタナベ", "watanabe"},
	    {"ササキ", "sasaki"},
	};
	char out[64];

	for (size_t i = 0; i < NELEM(rows); i++) {
		int rc = kana_romanize(rows[i].kana, out, sizeof(out));
		CHECK(rc == 0 && strcmp(out, rows[i].roman) == 0, "%s: %d '%s', not '%s'",
		      rows[i].kana, rc, out, rows[i].roman);
	}
}

static void
test_refused(void)
{
	static const char *const rows[] = {
	    "",           /* nothing */
	    "sato",       /* ASCII */
	    "さとう",     /* hiragana */
	    "佐藤",       /* kanji */
	    "サトウ ",    /* a blank */
	    "サ\xff",     /* not UTF-8 */
	    "サ\xe3\x82", /* cut short */
	    "ー",         /* a long mark alone romanizes to nothing */
	};
	char out[64], small[7];

	for (size_t i = 0; i < NELEM(rows); i++)
		CHECK(kana_romanize(rows[i], out, sizeof(out)) == -1, "'%s' refused, not '%s'",
		      rows[i], out);
	/* sasaki and its NUL: 7 bytes */
	CHECK(kana_romanize("ササキ", small, 6) == -1, "6 bytes are short for sasaki");
	CHECK(kana_romanize("ササキ", small, 7) == 0 && strcmp(small, "sasaki") == 0,
	      "7 bytes hold sasaki: '%s'", small);
}

int
main(void)
{
	test_readings();
	test_refused();
	return check_done();
}
