/* fuzz_ident — the identifier grammars (ident.h) on any bytes, held against the patterns the
 * error messages quote, compiled as POSIX extended regular expressions: whatever ident accepts,
 * the message's pattern describes, and the other way round.
 *
 * Input: the bytes are the id, as a certificate's URI SAN, a URL segment or a token claim may
 * carry it: NULs included (no grammar holds one), any length. Each grammar must agree with its
 * pattern, accept nothing longer than its maximum, give the same verdict on a NUL-terminated
 * copy (how most callers ask), and nest as the grammars do: every name and every purpose id is
 * also a member id.
 */
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static regex_t name_re, member_re, purpose_re;

static void
compile(regex_t *re, const char *pattern)
{
	if (regcomp(re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		abort();
}

/* The pattern's verdict on s[0..len): a NUL inside is outside every grammar. */
static bool
matches(const regex_t *re, const char *s, size_t len, const char *cstr)
{
	return memchr(s, '\0', len) == NULL && regexec(re, cstr, 0, NULL, 0) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		compile(&name_re, IDENT_NAME_PATTERN);
		compile(&member_re, IDENT_MEMBER_PATTERN);
		compile(&purpose_re, IDENT_PURPOSE_PATTERN);
		ready = true;
	}
	if (size > 4096)
		return 0;
	const char *s = (const char *)data;
	char *copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';

	bool name = ident_name_ok(s, size);
	bool member = ident_member_ok(s, size);
	bool purpose = ident_purpose_ok(s, size);

	if (name != matches(&name_re, s, size, copy) ||
	    member != matches(&member_re, s, size, copy) ||
	    purpose != matches(&purpose_re, s, size, copy))
		abort();
	if ((name && size > IDENT_NAME_MAX) || (member && size > IDENT_MEMBER_MAX) ||
	    (purpose && size > IDENT_PURPOSE_MAX))
		abort();
	size_t n = strlen(copy);
	if (n == size && (ident_name_ok(copy, n) != name || ident_member_ok(copy, n) != member ||
	                  ident_purpose_ok(copy, n) != purpose))
		abort();
	if ((name || purpose) && !member)
		abort();
	free(copy);
	return 0;
}
