/* report_deletion — which ended entrustment contracts still owe a certificate of deletion
 * (委託先の監督, 番号法): the supervision summary's deletion_due, over ledger entries and the
 * contracts. */
#ifndef PDGATE_REPORT_DELETION_H
#define PDGATE_REPORT_DELETION_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "catalog.h"
#include "contract.h"
#include "ledger.h"

/* The admin action that records a contractor's certificate of deletion; its detail names the
 * contract ("contract") among attested_by, certificate and deleted_at. */
#define REPORT_DELETION_ACTION "contract_deletion"

/*
 * Every entrustment contract of cs that has ended at now (terminated, or past valid_until) and
 * released members since the last REPORT_DELETION_ACTION entry naming it (or ever, if none):
 * [{"contract","partner","partner_name","status","valid_until","ended":"terminated"|"expired",
 * "releases","first_release","last_release","my_number"}] in the set's order; my_number is true
 * when one of those releases held an item of class my_number (cat). The ledger is read as it is
 * at the call, once for its admin entries and once per ended contract for its partner's
 * releases. New reference, or NULL with err.
 */
json_t *report_deletion_due(struct ledger *l, const struct contract_set *cs,
                            const struct catalog *cat, time_t now, char *err, size_t errlen);

#endif
