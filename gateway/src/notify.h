/* notify — a breach's member lists: the breach report's members as CSV, and the notification
 * list with each affected member's contact details read from the origin at that moment. */
#ifndef PDGATE_NOTIFY_H
#define PDGATE_NOTIFY_H

#include <stddef.h>

#include <jansson.h>

#include "apierr.h"
#include "buf.h"
#include "catalog.h"
#include "origin.h"

/*
 * Both lists are CSV (csv.h), one row per member of a breach report (report_breach, report.h:
 * {"partner","partner_name",…,"members":[{"subject","member_id","items","releases","first",
 * "last"}]}), in the report's order, under a header row naming the columns:
 *
 *   member_id, subject, items (";" between them), releases, first, last, partner, partner_name
 *
 * The notification list adds "origin" (found, or missing: the origin no longer has the member)
 * and the contact columns: every leaf of the catalog of class name or contact, and the other
 * leaves under "address" (a postal address needs its prefecture), in catalog order, leaves
 * inside arrays excepted. A column is named by its catalog path.
 */

/* The breach report's members, appended to out. 0, or -1 if memory ran out. */
int notify_breach_csv(const json_t *report, struct buf *out);

/* What a notification list holds. */
struct notify_counts {
	size_t count;   /* members: rows */
	size_t missing; /* of them, those the origin no longer has: no contact details */
};

/*
 * The notification list, appended to out (make it secret: it holds personal data). Each
 * member's record is read from o now (origin_get) and checked (release_origin, with the
 * catalog and max_bytes); a member the origin no longer has — its subject was not resolved to
 * a member id, or the origin answers not found — keeps its row with the contact columns empty
 * and is counted missing. APIERR_NONE with counts; or the first other failure (ORIGIN_ERROR,
 * ORIGIN_TIMEOUT, ORIGIN_INVALID; INTERNAL when memory ran out) with why, and out as it was.
 */
enum apierr notify_list(const json_t *report, const struct catalog *cat, struct origin *o,
                        size_t max_bytes, struct buf *out, struct notify_counts *counts, char *why,
                        size_t whylen);

#endif
