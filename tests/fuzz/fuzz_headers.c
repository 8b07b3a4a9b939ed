/* fuzz_headers — the request checks the server applies to what a client sends, as the pure
 * functions it calls: header and query values (server_value_ok), unsigned query numbers
 * (server_parse_uint) and path matching against routes (route_match, on the partner
 * API's routes and a few more shapes).
 *
 * Input: first byte % 3 selects the check; the next bytes are its parameters, the rest the
 * value or path. Each result is held against what the server promises, stated independently:
 *   0: value — accepted exactly when within maxlen, non-empty unless allowed, and free of
 *      control characters (NUL included) other than tab.
 *   1: number — accepted exactly when all digits and, read without overflow, in [min, max].
 *   2: path — a match rebuilds the path from the pattern and the segments, each segment
 *      non-empty, slash-free and within SERVER_PARAM_MAX; -1 only for an over-long segment.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partner.h"
#include "server.h"
#include "server_request.c" /* server_value_ok and server_parse_uint are static */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const extra_patterns[] = {
    "/v1/ledger/proof/inclusion",
    "/v1/reports/subject/{}",
    "/v1/partners/{}/suspend",
    "/{}/{}/{}/{}",
    "/",
    "/{}",
};

static void
check_value(const uint8_t *data, size_t size)
{
	size_t maxlen = size > 0 ? data[0] : 0;
	bool allow_empty = size > 1 && (data[1] & 1);
	const uint8_t *v = data + (size > 2 ? 2 : size);
	size_t len = size > 2 ? size - 2 : 0;
	char *buf = malloc(len + 1);
	bool want = len <= maxlen && (len > 0 || allow_empty);

	memcpy(buf, v, len);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			want = false;
	if (server_value_ok(buf, len, maxlen, allow_empty) != want)
		abort();
	free(buf);
}

static void
check_uint(const uint8_t *data, size_t size)
{
	/* small and large bounds both: a max below 9 is where digit arithmetic can wrap */
	static const unsigned long bounds[] = {
	    0, 1, 5, 9, 10, 100, 1000, 10000, 4294967295ul, (unsigned long)-1};
	unsigned long min = size > 0 ? bounds[data[0] % 10] : 0;
	unsigned long max = size > 1 ? bounds[data[1] % 10] : 0;
	size_t len = size > 2 ? size - 2 : 0;
	char *buf = malloc(len + 1), *end;
	unsigned long out = 12345, ref;
	bool digits = len > 0;

	memcpy(buf, data + (size > 2 ? 2 : size), len);
	buf[len] = '\0';
	len = strlen(buf);
	digits = len > 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] < '0' || buf[i] > '9')
			digits = false;
	errno = 0;
	ref = strtoul(buf, &end, 10);
	bool want = digits && errno != ERANGE && ref >= min && ref <= max;
	int got = server_parse_uint(buf, min, max, &out);
	if ((got == 0) != want || (got == 0 && out != ref) || (got != 0 && out != 12345))
		abort();
	free(buf);
}

static void
check_pattern(const char *pattern, const char *path)
{
	char params[SERVER_MAX_PARAMS][SERVER_PARAM_MAX + 1];
	unsigned n = 99;
	int m = route_match(pattern, path, params, &n);
	int m2 = route_match(pattern, path, NULL, NULL);

	if (m != m2 || m < -1 || m > 1)
		abort();
	if (m == 0)
		return;
	/* rebuild the path: literal parts of the pattern, "{}" replaced by the segments */
	size_t cap = strlen(path) + 1, k = 0, pi = 0;
	char *rebuilt = malloc(cap + 1);
	bool long_seen = false;
	const char *q = path;
	for (const char *p = pattern; *p != '\0';) {
		if (p[0] == '{' && p[1] == '}' && (p[2] == '/' || p[2] == '\0')) {
			size_t seg = strcspn(q, "/");
			if (seg == 0 || pi >= n)
				abort();
			if (seg > SERVER_PARAM_MAX) {
				long_seen = true;
			} else if (m == 1) {
				if (strlen(params[pi]) != seg || strchr(params[pi], '/') != NULL ||
				    memcmp(params[pi], q, seg) != 0)
					abort();
			}
			memcpy(rebuilt + k, q, seg);
			k += seg;
			q += seg;
			pi++;
			p += 2;
		} else {
			if (*q != *p || k >= cap)
				abort();
			rebuilt[k++] = *p++;
			q++;
		}
	}
	rebuilt[k] = '\0';
	if (pi != n || strcmp(rebuilt, path) != 0 || (m == -1) != long_seen)
		abort();
	free(rebuilt);
}

static void
check_path(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);

	memcpy(path, data, size);
	path[size] = '\0';
	for (size_t i = 0; i < partner_nroutes; i++)
		check_pattern(partner_routes[i].pattern, path);
	for (size_t i = 0; i < sizeof(extra_patterns) / sizeof(extra_patterns[0]); i++)
		check_pattern(extra_patterns[i], path);
	free(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		check_value(data + 1, size - 1);
		break;
	case 1:
		check_uint(data + 1, size - 1);
		break;
	default:
		check_path(data + 1, size - 1);
		break;
	}
	return 0;
}
