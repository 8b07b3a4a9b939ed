/* fuzz_ledger_leaf — the canonical leaf parser on hostile input, and the encoder behind it.
 *
 * Input: first byte even → the rest is a leaf (a stored leaf, a proof bundle's): whatever
 *                          parses must encode back to exactly the same bytes (one spelling).
 *        first byte odd  → the rest is an entry's strings separated by NUL bytes: whatever the
 *                          encoder takes must parse back to the same entry.
 * The parsed leaf is large, so it is allocated once: libFuzzer leaves no other place for it
 * than a file-scope variable.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_leaf.h"

static struct ledger_leaf *parsed;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((parsed = malloc(sizeof(*parsed))) == NULL)
		abort();
	return 0;
}

/* The leaf of e at index and ms into out (caller frees out->data); 0 or -1. */
static int
encode(const struct ledger_entry *e, uint64_t index, int64_t ms, struct buf *out)
{
	struct buf tail = {0};
	char time[LEDGER_TIME_LEN + 1];
	int rc;

	ledger_leaf_time(ms, time);
	rc = ledger_leaf_tail(e, &tail) == 0 ? ledger_leaf_join(out, index, time, &tail) : -1;
	buf_free(&tail);
	return rc;
}

static void
check_strings(const struct ledger_entry *e)
{
	const char *s[] = {e->request, e->partner,       e->contract, e->relationship, e->purpose,
	                   e->subject, e->basis,         e->reason,   e->digest,       e->cert,
	                   e->token,   e->justification, e->country};
	const char *end = parsed->text + sizeof(parsed->text);

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		assert(s[i] == NULL || (s[i] >= parsed->text && s[i] + strlen(s[i]) < end));
	assert(e->n_items <= LEDGER_MAX_ITEMS && (e->items != NULL || e->n_items == 0));
	assert((e->kind == LEDGER_ADMIN) == (e->admin != NULL));
	assert(e->admin == NULL || e->admin->action != NULL);
	assert(e->country == NULL ||
	       (strlen(e->country) == 2 && strcmp(e->country, "JP") != 0 && e->admin == NULL));
}

static void
leaf(const char *text, size_t len)
{
	struct buf again = {0};

	if (ledger_leaf_parse(text, len, parsed) != 0)
		return;
	check_strings(&parsed->e);
	assert(parsed->raw == text && parsed->raw_len == len && len <= LEDGER_MAX_LEAF);
	assert(encode(&parsed->e, parsed->index, parsed->time_ms, &again) == 0);
	assert(again.len == len && memcmp(again.data, text, len) == 0);
	buf_free(&again);
}

/* The next NUL-separated field of [*p, end), or NULL when none is left; "\x01" alone is null. */
static const char *
field(const char **p, const char *end)
{
	const char *s = *p;

	if (s >= end)
		return NULL;
	*p = s + strlen(s) + 1;
	return strcmp(s, "\x01") == 0 ? NULL : s;
}

static void
entry(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *items[4];
	struct ledger_admin admin = {0};
	struct ledger_entry e = {.kind =
	                             (enum ledger_kind)(len > 0 ? (unsigned char)text[0] % 3 : 0)};
	struct buf leaf = {0};

	/* text ends in a NUL (the harness's copy), so every field is a C string */
	p++;
	e.request = field(&p, end);
	e.partner = field(&p, end);
	e.subject = field(&p, end);
	e.reason = field(&p, end);
	e.justification = field(&p, end);
	e.country = field(&p, end);
	for (size_t i = 0; i < 4 && (items[i] = field(&p, end)) != NULL; i++)
		e.n_items = i + 1;
	e.items = e.n_items > 0 ? items : NULL;
	if (e.kind == LEDGER_ADMIN) {
		admin.action = field(&p, end);
		admin.staff = field(&p, end);
		admin.version = field(&p, end);
		e.admin = &admin;
	}
	if (encode(&e, (uint64_t)len, (int64_t)len * 1000, &leaf) != 0)
		return;
	assert(ledger_leaf_parse(leaf.data, leaf.len, parsed) == 0);
	assert(parsed->index == (uint64_t)len && parsed->time_ms == (int64_t)len * 1000);
	assert(parsed->e.kind == e.kind && parsed->e.n_items == e.n_items);
	assert((parsed->e.request == NULL) == (e.request == NULL) &&
	       (e.request == NULL || strcmp(parsed->e.request, e.request) == 0));
	assert((parsed->e.justification == NULL) == (e.justification == NULL) &&
	       (e.justification == NULL || strcmp(parsed->e.justification, e.justification) == 0));
	assert((parsed->e.country == NULL) == (e.country == NULL) &&
	       (e.country == NULL || strcmp(parsed->e.country, e.country) == 0));
	for (size_t i = 0; i < e.n_items; i++)
		assert(strcmp(parsed->e.items[i], e.items[i]) == 0);
	assert(e.admin == NULL ||
	       ((parsed->e.admin->version == NULL) == (admin.version == NULL) &&
	        (admin.version == NULL || strcmp(parsed->e.admin->version, admin.version) == 0)));
	check_strings(&parsed->e);
	buf_free(&leaf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	if (size == 0)
		return 0;
	/* A private copy of exactly the input: the parser must not read past it (ASan watches
	 * the heap block). The entry mode gets a NUL after it, as C strings have. */
	if ((copy = malloc(data[0] & 1 ? size : size > 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1) {
		copy[size - 1] = '\0';
		entry(copy, size - 1);
	} else {
		leaf(copy, size - 1);
	}
	free(copy);
	return 0;
}
