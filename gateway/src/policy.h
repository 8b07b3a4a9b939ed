/* policy — the pure decision of SPEC 9.1 (contract, purpose) and 9.2 (member rules); no I/O. */
#ifndef PDGATE_POLICY_H
#define PDGATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "apierr.h"
#include "catalog.h"
#include "contract.h"

#define POLICY_JUSTIFICATION_MAX 512 /* characters of X-Justification, a free text (text.h) */
#define POLICY_BASIS_MAX 96          /* room for "exception:<purpose id>" */

/*
 * Picks the contract a request runs under (SPEC 7, 9.1 step 4). named is the contract the
 * work order names, else X-Contract, else NULL; purpose is the declared purpose or NULL.
 *  - the partner has no contract on file: PARTNER_UNKNOWN;
 *  - named: that contract of this partner, whatever its state (steps 6 and 7 judge it); a name
 *    that is not one of the partner's contracts: CONTRACT_INACTIVE (no contract covers it);
 *  - else among the partner's contracts listing the purpose (all of them if none lists it, or
 *    no purpose is declared), the ones in force: exactly one is chosen; several give
 *    CONTRACT_AMBIGUOUS (PURPOSE_MISSING with no purpose declared, PURPOSE_NOT_PERMITTED
 *    if none of them lists the purpose); none in force: the only candidate, so that step 6
 *    refuses it by name, or CONTRACT_INACTIVE.
 * On APIERR_NONE *chosen is set (borrowed from the set), else NULL.
 */
enum apierr policy_choose_contract(const struct contract_set *set, const char *partner,
                                   const char *named, const char *purpose, time_t now,
                                   const struct contract **chosen);

/* Step 6: CONTRACT_INACTIVE unless the contract is active and now is within its validity. */
enum apierr policy_check_contract(const struct contract *c, time_t now);

/*
 * Step 7: PURPOSE_MISSING (purpose NULL or empty), PURPOSE_NOT_PERMITTED (unknown to the
 * catalog, or not listed in the contract), JUSTIFICATION_REQUIRED (an exception purpose
 * without a justification that is a free text of 1..512 characters, text.h). On APIERR_NONE
 * *out is the contract's entry for the purpose (borrowed). *why, if why is not NULL, gets a
 * static message.
 */
enum apierr policy_check_purpose(const struct catalog *cat, const struct contract *c,
                                 const char *purpose, const char *justification,
                                 const struct contract_purpose **out, const char **why);

/*
 * Step 10, the member rules of SPEC 9.2, on a record checked by release_origin. In order:
 *  - an exception purpose passes: the law allows it without the member's consent;
 *  - restrictions.stop_use: MEMBER_RESTRICTED;
 *  - relationship third_party: restrictions.stop_third_party gives MEMBER_RESTRICTED (the
 *    member asked to stop), consents.third_party_provision not true gives CONSENT_MISSING,
 *    and so does consents.foreign_provision not true when the recipient is abroad
 *    (contract_abroad, SPEC 16.5);
 *  - consents.<purpose> false: CONSENT_MISSING (the member opted out: marketing, survey, …);
 *  - requires_consent or the purpose "consented": CONSENT_MISSING unless consents.<purpose> is
 *    true or the contract id is listed in consents.consented.
 * *why, if why is not NULL, gets a static message.
 */
enum apierr policy_check_member(const struct contract *c, const struct contract_purpose *p,
                                const json_t *record, const char **why);

/*
 * Step 10's restrictions that pdgate holds itself, from members' requests not yet carried into
 * the member system's record (subjects.h): applied as if the record said so, before the
 * record's rules, so the stricter of the two wins and a partner sees one behaviour. Bits:
 */
#define POLICY_RESTRICT_STOP_USE 1u         /* as restrictions.stop_use */
#define POLICY_RESTRICT_STOP_THIRD_PARTY 2u /* as restrictions.stop_third_party */
/* MEMBER_RESTRICTED (with policy_check_member's message) or APIERR_NONE; an exception purpose
 * passes, as it does there. *why, if why is not NULL, gets a static message. */
enum apierr policy_check_restrictions(const struct contract *c, const struct contract_purpose *p,
                                      unsigned restrictions, const char **why);
/* The bits policy_check_restrictions reads for c and p: STOP_USE, STOP_THIRD_PARTY for a
 * third-party provision, none for an exception purpose. Two sets of bits equal under it give
 * the same answer. */
unsigned policy_restrictions_mask(const struct contract *c, const struct contract_purpose *p);

/*
 * The basis for the ledger: "exception:<purpose>" for an exception purpose, "consent" for a
 * third-party provision, else the relationship ("entrustment", "joint_use"). Writes it into
 * buf (POLICY_BASIS_MAX is enough); returns buf.
 */
const char *policy_basis(const struct contract *c, const struct contract_purpose *p, char *buf,
                         size_t len);

/*
 * The hard rules of SPEC 9.3, which no contract can lift: NULL if the leaf may be released
 * for the purpose with this transform under this relationship, else why not (static text).
 * The contract loader refuses a file that breaks one; the release checks again.
 */
const char *policy_hard_rule(const struct catalog_field *f, const struct catalog_purpose *p,
                             enum contract_relationship rel, bool my_number_permitted,
                             enum contract_transform t);

#endif
