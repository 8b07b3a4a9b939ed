/* ledger_batch — inside the ledger: the format of one group commit's row (leaves and hashes). */
#include <assert.h>
#include <stdint.h>
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
	/* at worst every byte escaped, the separator and the two quotes */
	if (len > (SIZE_MAX - b->len - 4) / 2 || buf_reserve(b, b->len + 2 * len + 4) < 0)
		return -1;
	char *o = b->data + b->len;
	*o++ = b->len == 0 ? '[' : ',';
	*o++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)leaf[i];
		if (c < 0x20) {
			b->data[b->len] = '\0'; /* as it was */
			return -1;
		}
		if (c == '"' || c == '\\')
			*o++ = '\\';
		*o++ = (char)c;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
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
	const char *p, *end;
	char *o;
	uint64_t k = 0;

	buf_reset(out);
	if (len < 2 || json[0] != '[' || json[len - 1] != ']' || buf_reserve(out, len) < 0)
		return -1;
	if (len == 2)
		return n == 0 ? 0 : -1;
	/* The unescaped leaves are shorter than the array: they are written in place into the
	 * room just reserved, one byte at a time (a verification reads every leaf this way). */
	p = json + 1;
	end = json + len - 1; /* the closing ']' */
	o = out->data;
	for (;;) {
		if (k == n || p >= end || *p != '"')
			goto fail;
		p++;
		off[k] = (size_t)(o - out->data);
		for (;;) {
			if (p >= end)
				goto fail;
			unsigned char c = (unsigned char)*p;
			if (c >= 0x20 && c != '"' && c != '\\') {
				*o++ = (char)c;
				p++;
				continue;
			}
			if (c == '"')
				break;
			/* a backslash: only \" and \\ are written; a control byte never */
			if (c < 0x20 || p + 1 >= end || (p[1] != '"' && p[1] != '\\'))
				goto fail;
			*o++ = p[1];
			p += 2;
		}
		lens[k] = (size_t)(o - out->data) - off[k];
		k++;
		p++; /* past the closing quote */
		if (p == end)
			break;
		if (*p != ',')
			goto fail;
		p++;
	}
	if (k != n)
		goto fail;
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
fail:
	out->data[0] = '\0'; /* empty, as buf_reset left it */
	return -1;
}
