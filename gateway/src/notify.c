/* notify — a breach's member lists (CSV): the report's members, and the notification list. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "csv.h"
#include "notify.h"
#include "release.h"

static const char *const member_columns[] = {
    "member_id", "subject", "items", "releases", "first", "last", "partner", "partner_name",
};
#define NMEMBER (sizeof(member_columns) / sizeof(member_columns[0]))

/* Whether a catalog leaf is one of the contact columns (notify.h). */
static bool
contact_column(const struct catalog_field *f)
{
	for (size_t i = 0; i < f->nsegments; i++)
		if (f->segments[i].array)
			return false;
	return f->cls == CATALOG_CLASS_NAME || f->cls == CATALOG_CLASS_CONTACT ||
	       (f->nsegments > 1 && strcmp(f->segments[0].name, "address") == 0);
}

static const char *
str_member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The first cells of a member's row (into row[0..NMEMBER)); text holds what they point into:
 * the items joined and the count. 0, or -1 if memory ran out. */
static int
member_cells(const json_t *report, const json_t *m, const char *row[NMEMBER], struct buf *text,
             char releases[24])
{
	const json_t *items = json_object_get(m, "items");

	buf_reset(text);
	buf_str(text, "");
	for (size_t i = 0; i < json_array_size(items); i++) {
		if (i > 0)
			buf_str(text, ";");
		buf_str(text, json_string_value(json_array_get(items, i)));
	}
	if (text->bad)
		return -1;
	snprintf(releases, 24, "%" JSON_INTEGER_FORMAT,
	         json_integer_value(json_object_get(m, "releases")));
	row[0] = str_member(m, "member_id");
	row[1] = str_member(m, "subject");
	row[2] = text->data;
	row[3] = releases;
	row[4] = str_member(m, "first");
	row[5] = str_member(m, "last");
	row[6] = str_member(report, "partner");
	row[7] = str_member(report, "partner_name");
	return 0;
}

int
notify_breach_csv(const json_t *report, struct buf *out)
{
	const json_t *members = json_object_get(report, "members");
	struct buf text = {0};
	const char *row[NMEMBER];
	char releases[24];

	csv_start(out);
	csv_row(out, member_columns, NMEMBER);
	for (size_t i = 0; i < json_array_size(members); i++) {
		if (member_cells(report, json_array_get(members, i), row, &text, releases) != 0)
			out->bad = true;
		else
			csv_row(out, row, NMEMBER);
	}
	buf_free(&text);
	return out->bad ? -1 : 0;
}

/* The string at a leaf's path in a checked record, or NULL. */
static const char *
leaf_value(const json_t *record, const struct catalog_field *f)
{
	const json_t *v = record;

	for (size_t i = 0; v != NULL && i < f->nsegments; i++)
		v = json_object_get(v, f->segments[i].name);
	return json_string_value(v);
}

/* One member's contact cells: the record read now, or none (*found false) if the origin no
 * longer has the member. APIERR_NONE, or the origin's failure with why. */
static enum apierr
member_record(struct origin *o, const struct catalog *cat, size_t max_bytes, const char *member_id,
              json_t **record, char *why, size_t whylen)
{
	char *bytes = NULL;
	size_t len = 0;
	enum apierr e;

	*record = NULL;
	if (member_id == NULL)
		return APIERR_NONE; /* not resolved: the origin had no member of that reference */
	e = origin_get(o, member_id, &bytes, &len);
	if (e == APIERR_MEMBER_NOT_FOUND)
		return APIERR_NONE;
	if (e != APIERR_NONE) {
		snprintf(why, whylen, "%s: %s", member_id, apierr_message(e));
		return e;
	}
	char w[RELEASE_WHY_MAX];
	e = release_origin(cat, bytes, len, max_bytes, member_id, record, w, sizeof(w));
	OPENSSL_clear_free(bytes, len);
	if (e != APIERR_NONE)
		snprintf(why, whylen, "%s: %s", member_id, w);
	return e;
}

enum apierr
notify_list(const json_t *report, const struct catalog *cat, struct origin *o, size_t max_bytes,
            struct buf *out, struct notify_counts *counts, char *why, size_t whylen)
{
	const json_t *members = json_object_get(report, "members");
	size_t nf = catalog_nfields(cat), ncols = 0, start = out->len;
	const struct catalog_field **cols = calloc(nf ? nf : 1, sizeof(*cols));
	const char **row = calloc(NMEMBER + 1 + nf, sizeof(*row));
	struct buf text = {.secret = true};
	char releases[24];
	enum apierr e = APIERR_NONE;

	counts->count = counts->missing = 0;
	if (cols == NULL || row == NULL)
		goto oom;
	for (size_t i = 0; i < nf; i++)
		if (contact_column(catalog_field_at(cat, i)))
			cols[ncols++] = catalog_field_at(cat, i);
	/* the header */
	csv_start(out);
	for (size_t i = 0; i < NMEMBER; i++)
		csv_field(out, member_columns[i], false);
	csv_field(out, "origin", ncols == 0);
	for (size_t i = 0; i < ncols; i++)
		csv_field(out, cols[i]->path, i + 1 == ncols);
	for (size_t i = 0; i < json_array_size(members); i++) {
		const json_t *m = json_array_get(members, i);
		json_t *record;
		if ((e = member_record(o, cat, max_bytes, str_member(m, "member_id"), &record, why,
		                       whylen)) != APIERR_NONE)
			goto fail;
		if (member_cells(report, m, row, &text, releases) != 0) {
			json_decref(record);
			goto oom;
		}
		row[NMEMBER] = record != NULL ? "found" : "missing";
		for (size_t k = 0; k < ncols; k++)
			row[NMEMBER + 1 + k] = record != NULL ? leaf_value(record, cols[k]) : NULL;
		csv_row(out, row, NMEMBER + 1 + ncols);
		json_decref(record);
		counts->count++;
		if (record == NULL)
			counts->missing++;
	}
	if (out->bad)
		goto oom;
	goto done;
oom:
	e = APIERR_INTERNAL;
	snprintf(why, whylen, "out of memory");
fail:
	buf_truncate(out, start);
	counts->count = counts->missing = 0;
done:
	buf_free(&text);
	free(cols);
	free(row);
	return e;
}
