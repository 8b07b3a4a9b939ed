/* disclosure — a member's disclosure document (開示書面, APPI Art. 33): the subject report as a
 * printable page in Japanese to send the member. Pure: no I/O, no globals but a constant. */
#ifndef PDGATE_DISCLOSURE_H
#define PDGATE_DISCLOSURE_H

#include <stdint.h>

#include <jansson.h>

#include "buf.h"

/*
 * The page: the association's name (organisation), the member id, the day it was made (today,
 * a Japan day number of cal_jst_day), then what was provided to whom — per recipient the
 * number of provisions, the first and last day and the items — and each provision: the day,
 * the recipient, the purpose, the items and the legal basis. report is report_subject's
 * document (report.h). Every value is escaped for HTML (& < > " '), so a partner's name or a
 * contract's wording cannot become markup. The page's only style is one <style> element whose
 * hash disclosure_style_csp names; it holds no script. Appends to out: 0, or -1 when memory
 * runs out.
 */
int disclosure_html(const json_t *report, const char *organisation, int64_t today, struct buf *out);

/*
 * The style element's source as a CSP source expression, "'sha256-…'": the page's answer sends
 * "style-src" with it and nothing else is allowed; the console, which opens the document in a
 * window of its own origin (and policy) to print it, allows it the same way. A constant, so
 * that a policy can be spelled at compile time; disclosure_style_csp returns it (static).
 */
#define DISCLOSURE_STYLE_CSP "'sha256-2d0h7EcVrdzxjPGzKUmeXoZ0kqUFiipWjUr2/RcpcSs='"
const char *disclosure_style_csp(void);

#endif
