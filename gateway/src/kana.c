/* kana — a katakana reading romanized, passport-style Hepburn: the synthetic members'
 * e-mail addresses. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kana.h"
#include "utf8.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define KANA_FIRST 0x30A1 /* ァ */
#define KANA_LAST 0x30F6  /* ヶ */
#define KANA_SOKUON 0x30C3
#define KANA_N 0x30F3
#define KANA_LONG 0x30FC

/* clang-format off: one row per kana column */
static const char *const kana_roman[] = {
    "a",  "a",  "i",   "i",  "u",  "u",   "e",  "e",  "o",  "o",        /* ァ..オ */
    "ka", "ga", "ki",  "gi", "ku", "gu",  "ke", "ge", "ko", "go",       /* カ..ゴ */
    "sa", "za", "shi", "ji", "su", "zu",  "se", "ze", "so", "zo",       /* サ..ゾ */
    "ta", "da", "chi", "ji", "",   "tsu", "zu", "te", "de", "to", "do", /* タ..ド */
    "na", "ni", "nu",  "ne", "no",                                      /* ナ..ノ */
    "ha", "ba", "pa",  "hi", "bi", "pi",  "fu", "bu", "pu",             /* ハ..プ */
    "he", "be", "pe",  "ho", "bo", "po",                                /* ヘ..ポ */
    "ma", "mi", "mu",  "me", "mo",                                      /* マ..モ */
    "ya", "ya", "yu",  "yu", "yo", "yo",                                /* ャヤュユョヨ */
    "ra", "ri", "ru",  "re", "ro",                                      /* ラ..ロ */
    "wa", "wa", "i",   "e",  "o",  "n",   "vu", "ka", "ke",             /* ヮ..ヶ */
};
/* clang-format on */
_Static_assert(NELEM(kana_roman) == KANA_LAST - KANA_FIRST + 1, "one entry per katakana");

/* The code point at *p, *p moved past it; 0 at the end, U+FFFD (no kana) where the bytes are
 * not UTF-8. */
static unsigned
next_cp(const char **p)
{
	uint32_t cp;
	size_t n = utf8_decode(*p, strlen(*p), &cp);

	if (**p == '\0')
		return 0;
	if (n == 0) {
		*p += 1;
		return 0xFFFD;
	}
	*p += n;
	return cp;
}

static int
is_small_y(unsigned c)
{
	return c == 0x30E3 || c == 0x30E5 || c == 0x30E7;
}

static int
is_vowel_kana(unsigned c)
{
	return c == 0x30A2 || c == 0x30A4 || c == 0x30A6 || c == 0x30A8 || c == 0x30AA;
}

int
kana_romanize(const char *kana, char *out, size_t outlen)
{
	size_t len = 0;
	int double_next = 0;
	const char *p = kana;
	unsigned c = next_cp(&p);

	assert(outlen > 0);
	out[0] = '\0';
	while (c != 0) {
		const char *q = p;
		unsigned next = next_cp(&q);
		char syl[8];

		if (c == KANA_LONG) {
			c = next;
			p = q;
			continue;
		}
		if (c < KANA_FIRST || c > KANA_LAST)
			return -1;
		if (c == KANA_SOKUON) {
			double_next = 1;
			c = next;
			p = q;
			continue;
		}
		if ((c == 0x30A6 || c == 0x30AA) && len > 0 && !is_vowel_kana(next)) {
			char last = out[len - 1];
			if (last == 'o' || (c == 0x30A6 && last == 'u')) {
				c = next;
				p = q;
				continue;
			}
		}
		if (is_small_y(c) && len > 0 && out[len - 1] == 'i') {
			/* キャ → kya, シャ → sha, チャ → cha, ジャ → ja */
			const char *v = kana_roman[c - KANA_FIRST] + 1;
			len--;
			int palatal = (len >= 2 && (memcmp(out + len - 2, "sh", 2) == 0 ||
			                            memcmp(out + len - 2, "ch", 2) == 0)) ||
			              (len >= 1 && out[len - 1] == 'j');
			snprintf(syl, sizeof(syl), "%s%s", palatal ? "" : "y", v);
		} else if (c == KANA_N) {
			snprintf(syl, sizeof(syl), "%s",
			         (next == 0x30D0 || next == 0x30D3 || next == 0x30D6 ||
			          next == 0x30D9 || next == 0x30DC || next == 0x30D1 ||
			          next == 0x30D4 || next == 0x30D7 || next == 0x30DA ||
			          next == 0x30DD || (next >= 0x30DE && next <= 0x30E2))
			             ? "m"
			             : "n");
		} else {
			const char *r = kana_roman[c - KANA_FIRST];
			if (double_next && r[0] != '\0' && strchr("aiueo", r[0]) == NULL)
				snprintf(syl, sizeof(syl), "%c%s", r[0] == 'c' ? 't' : r[0], r);
			else
				snprintf(syl, sizeof(syl), "%s", r);
			double_next = 0;
		}
		size_t sl = strlen(syl);
		if (len + sl + 1 > outlen)
			return -1;
		memcpy(out + len, syl, sl + 1);
		len += sl;
		c = next;
		p = q;
	}
	return len > 0 ? 0 : -1;
}
