/* test_ledger_batch — a batch row's format: leaves into a JSON array and back byte for byte,
 * every malformed array refused, and where each tree node of a batch is. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "ledger_batch.h"
#include "merkle.h"

static void
test_round_trip(void)
{
	const char *leaves[] = {
	    "{\"v\":1,\"index\":0}",
	    "{\"a\":\"back\\\\slash \\\"quoted\\\" \\u001F\"}",
	    "\xe6\x97\xa5\xe6\x9c\xac \x7f \xe2\x80\xa8 /",
	    "",
	    "\\",
	};
	size_t n = sizeof(leaves) / sizeof(leaves[0]), off[8], lens[8];
	struct buf b = {0}, out = {0};

	for (size_t i = 0; i < n; i++)
		CHECK(ledger_batch_add(&b, leaves[i], strlen(leaves[i])) == 0, "add %zu", i);
	CHECK(ledger_batch_end(&b) == 0, "end");
	CHECK(ledger_batch_split(b.data, b.len, n, &out, off, lens) == 0, "split: %s", b.data);
	for (size_t i = 0; i < n; i++)
		CHECK(lens[i] == strlen(leaves[i]) &&
		          memcmp(out.data + off[i], leaves[i], lens[i]) == 0,
		      "leaf %zu byte for byte", i);
	CHECK(ledger_batch_split(b.data, b.len, n - 1, &out, off, lens) < 0, "fewer than stored");
	CHECK(ledger_batch_split(b.data, b.len, n + 1, &out, off, lens) < 0, "more than stored");
	buf_free(&b);
	buf_free(&out);
}

static void
test_refused(void)
{
	const char *bad[] = {
	    "",
	    "[",
	    "[]x",
	    "[\"a\"",
	    "[\"a\",]",
	    "[\"a\" ]",
	    "[ \"a\"]",
	    "[\"a\"\"b\"]",
	    "[\"\\u0041\"]",
	    "[\"\\n\"]",
	    "[\"a\tb\"]",
	    "[\"a\\\"]",
	    "[\"a\"],",
	    "{\"a\":1}",
	    "[1]",
	    "[null]",
	    "[\"a\",\"b\"",
	    "[\"\\/\"]",
	};
	size_t off[4], lens[4];
	struct buf out = {0}, b = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(ledger_batch_split(bad[i], strlen(bad[i]), 1, &out, off, lens) < 0 &&
		          ledger_batch_split(bad[i], strlen(bad[i]), 2, &out, off, lens) < 0,
		      "refused: %s", bad[i]);
	CHECK(ledger_batch_split("[]", 2, 0, &out, off, lens) == 0, "an empty array of none");
	CHECK(ledger_batch_add(&b, "a\nb", 3) < 0 && b.len == 0, "a raw control byte refused");
	CHECK(ledger_batch_add(&b, "ok", 2) == 0 && ledger_batch_add(&b, "x\x01", 2) < 0 &&
	          strcmp(b.data, "[\"ok\"") == 0,
	      "a refused leaf leaves the array as it was: %s", b.data);
	buf_free(&b);
	buf_free(&out);
}

/* The nodes each batch stores are the frontier's, in its order, where node_at says. */
static void
test_nodes(void)
{
	const uint64_t cuts[] = {0,  1,  2,   3,   7,   8,   9,    16,  17,
	                         63, 64, 100, 255, 256, 257, 1000, 1025};
	struct merkle_frontier f = {0};
	int bad = 0;

	for (size_t c = 0; c + 1 < sizeof(cuts) / sizeof(cuts[0]); c++) {
		uint64_t first = cuts[c], n = cuts[c + 1] - first;
		struct merkle_node done[MERKLE_MAX_LEVELS];
		uint64_t stored = 0;
		for (uint64_t e = first; e < first + n; e++) {
			uint8_t h[MERKLE_HASH_LEN] = {0};
			size_t nd;
			memcpy(h, &e, sizeof(e));
			merkle_frontier_append(&f, h, done, &nd);
			for (size_t k = 1; k < nd; k++) {
				int64_t at =
				    ledger_batch_node_at(first, n, done[k].level, done[k].index);
				if (at != (int64_t)((n + stored) * MERKLE_HASH_LEN) ||
				    ledger_batch_node_entry(done[k].level, done[k].index) != e)
					bad++;
				stored++;
			}
		}
		CHECK(stored == ledger_batch_nodes(first, first + n),
		      "batch %" PRIu64 "+%" PRIu64 ": %" PRIu64 " nodes", first, n, stored);
		CHECK(ledger_batch_hashes_len(first, n) == (n + stored) * MERKLE_HASH_LEN,
		      "length");
		/* the nodes the entries just before and just after complete are not in it */
		for (uint64_t lv = 1; lv < 12; lv++) {
			uint64_t after = first + n + 1, before = first;
			if (after % (1ull << lv) == 0)
				CHECK(ledger_batch_node_at(first, n, lv, (after >> lv) - 1) < 0,
				      "a later batch's node (%" PRIu64 ")", lv);
			if (before > 0 && before % (1ull << lv) == 0)
				CHECK(ledger_batch_node_at(first, n, lv, (before >> lv) - 1) < 0,
				      "an earlier batch's node (%" PRIu64 ")", lv);
		}
	}
	CHECK(bad == 0, "%d nodes not where node_at says", bad);
	CHECK(ledger_batch_node_at(0, 4, 0, 1) < 0, "level 0 is a leaf hash, not a node");
	CHECK(ledger_batch_node_at(0, 4, 64, 0) < 0 &&
	          ledger_batch_node_at(0, 4, 1, UINT64_MAX) < 0,
	      "out of range");
}

int
main(void)
{
	test_round_trip();
	test_refused();
	test_nodes();
	return check_done();
}
