/* fuzz_receipt_index — the entry index of GET /v1/ledger/receipts/{index}, on hostile input.
 *
 * Input: the path segment as the server decoded it (made NUL-terminated here). An accepted
 * index must be exactly the canonical decimal spelling of a number of 0..INT64_MAX: printed
 * back, it gives the input byte for byte; anything else is refused.
 */
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partner_ledger.c" /* parse_index is static */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), back[24];
	uint64_t n = UINT64_MAX;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (parse_index(s, &n) == 0) {
		assert(n <= (uint64_t)INT64_MAX);
		snprintf(back, sizeof(back), "%" PRIu64, n);
		assert(strcmp(back, s) == 0);
	} else {
		assert(n == UINT64_MAX); /* a refusal leaves the out-parameter alone */
	}
	free(s);
	return 0;
}
