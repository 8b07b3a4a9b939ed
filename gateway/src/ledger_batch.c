/* ledger_batch — inside the ledger: the format of one group commit's row (leaves and hashes). */
#include <assert.h>
#include <string.h>

#include "ledger_batch.h"
#include "merkle.h"

uint64_t
ledger_batch_nodes(uint64_t a, uint64_t b)
{
	uint64_t n = 0;

	assert(a <= b);
	/* entry x completes the node of level L iff 2^L divides x + 1 */
	for (unsigned lv = 1; lv < MERKLE_MAX_LEVELS; lv++)
		n += (b >> lv) - (a >> lv);
	return n;
}

uint64_t
ledger_batch_hashes_len(uint64_t first, uint64_t n)
{
	return (n + ledger_batch_nodes(first, first + n)) * MERKLE_HASH_LEN;
}

uint64_t
ledger_batch_node_entry(uint64_t level, uint64_t index)
{
	return ((index + 1) << level) - 1;
}

int64_t
ledger_batch_node_at(uint64_t first, uint64_t n, uint64_t level, uint64_t index)
{
	if (level == 0 || level >= MERKLE_MAX_LEVELS || index > (UINT64_MAX >> level) - 1)
		return -1;
	uint64_t e = ledger_batch_node_entry(level, index);
	if (e < first || e - first >= n)
		return -1;
	/* the leaf hashes, the nodes of the entries before e, then e's own levels 1..level-1 */
	return (int64_t)((n + ledger_batch_nodes(first, e) + level - 1) * MERKLE_HASH_LEN);
}

int
ledger_batch_add(struct buf *b, const char *leaf, size_t len)
{
	size_t start = b->len;

	if (buf_reserve(b, b->len + len + len / 8 + 4) < 0)
		return -1;
	buf_add(b, b->len == 0 ? "[\"" : ",\"", 2);
	for (size_t i = 0, run = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)leaf[i] : 0;
		if (i < len && c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(b, leaf + run, i - run);
		if (i == len)
			break;
		if (c < 0x20) {
			buf_truncate(b, start);
			return -1;
		}
		buf_add(b, c == '"' ? "\\\"" : "\\\\", 2);
		run = i + 1;
	}
	buf_add(b, "\"", 1);
	if (b->bad) {
		buf_truncate(b, start);
		return -1;
	}
	return 0;
}

int
ledger_batch_end(struct buf *b)
{
	return buf_add(b, b->len == 0 ? "[]" : "]", b->len == 0 ? 2 : 1);
}

int
ledger_batch_split(const char *json, size_t len, uint64_t n, struct buf *out, size_t *off,
                   size_t *lens)
{
	size_t i = 1;
	uint64_t k = 0;

	buf_reset(out);
	if (len < 2 || json[0] != '[' || json[len - 1] != ']' || buf_reserve(out, len) < 0)
		return -1;
	if (len == 2)
		return n == 0 ? 0 : -1;
	for (;;) {
		if (k == n || i >= len - 1 || json[i] != '"')
			return -1;
		off[k] = out->len;
		for (i++;; i++) {
			if (i >= len - 1)
				return -1;
			size_t run = i;
			while (i < len - 1 && json[i] != '"' && json[i] != '\\' &&
			       (unsigned char)json[i] >= 0x20)
				i++;
			buf_add(out, json + run, i - run);
			if (i >= len - 1 || (unsigned char)json[i] < 0x20)
				return -1;
			if (json[i] == '"')
				break;
			/* a backslash: only \" and \\ are written */
			if (json[i + 1] != '"' && json[i + 1] != '\\')
				return -1;
			buf_add(out, json + i + 1, 1);
			i++;
		}
		lens[k] = out->len - off[k];
		k++;
		i++; /* past the closing quote */
		if (i == len - 1)
			break;
		if (json[i] != ',')
			return -1;
		i++;
	}
	return k == n && !out->bad ? 0 : -1;
}
