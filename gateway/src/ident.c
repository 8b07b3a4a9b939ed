/* ident — the grammars of pdgate's identifiers. */
#include <string.h>

#include "ident.h"

/* The character classes the grammars are made of, by the byte: no locale can widen them. */
enum {
	LOWER = 1 << 0,      /* a-z */
	UPPER = 1 << 1,      /* A-Z */
	DIGIT = 1 << 2,      /* 0-9 */
	HYPHEN = 1 << 3,     /* - */
	UNDERSCORE = 1 << 4, /* _ */
};

static unsigned
class_of(unsigned char c)
{
	return c >= 'a' && c <= 'z'   ? LOWER
	       : c >= 'A' && c <= 'Z' ? UPPER
	       : c >= '0' && c <= '9' ? DIGIT
	       : c == '-'             ? HYPHEN
	       : c == '_'             ? UNDERSCORE
	                              : 0;
}

/* ^[first][rest]{0,max-1}$, the shape of every grammar here. */
static bool
matches(const char *s, size_t len, size_t max, unsigned first, unsigned rest)
{
	if (s == NULL || len == 0 || len > max || !(class_of((unsigned char)s[0]) & first))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(class_of((unsigned char)s[i]) & rest))
			return false;
	return true;
}

bool
ident_name_ok(const char *s, size_t len)
{
	return matches(s, len, IDENT_NAME_MAX, LOWER | DIGIT, LOWER | DIGIT | HYPHEN);
}

bool
ident_member_ok(const char *s, size_t len)
{
	unsigned any = LOWER | UPPER | DIGIT | HYPHEN | UNDERSCORE;

	return matches(s, len, IDENT_MEMBER_MAX, any, any);
}

bool
ident_purpose_ok(const char *s, size_t len)
{
	return matches(s, len, IDENT_PURPOSE_MAX, LOWER, LOWER | DIGIT | UNDERSCORE);
}

/* The assigned ISO 3166-1 alpha-2 codes, sorted, two letters each (Debian's iso-codes 4.15). */
static const char countries[] = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBI"
                                "BJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCICKCLCMCN"
                                "COCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFK"
                                "FMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHM"
                                "HNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKN"
                                "KPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMK"
                                "MLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONP"
                                "NRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURW"
                                "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTF"
                                "TGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVI"
                                "VNVUWFWSYEYTZAZMZW";

bool
ident_country_ok(const char *s, size_t len)
{
	size_t lo = 0, hi = (sizeof(countries) - 1) / 2;

	if (len != 2 || !matches(s, len, 2, UPPER, UPPER))
		return false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = memcmp(countries + 2 * mid, s, 2);
		if (d == 0)
			return true;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool
ident_dataset_ok(const char *s, size_t len)
{
	if (s == NULL || len < 12 || len > IDENT_DATASET_MAX || s[0] != 'A' || s[1] != 'N' ||
	    s[2] != '-' || s[7] != '-')
		return false;
	for (size_t i = 3; i < len; i++)
		if (i != 7 && !(class_of((unsigned char)s[i]) & DIGIT))
			return false;
	return true;
}
