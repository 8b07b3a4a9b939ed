/* decision — steps 3 to 10 of SPEC 9.1 decided into a value: the refusal, or what is released. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "decision.h"
#include "release.h"

void
decision_refuse(struct decision *d, enum decision_step step, enum apierr e, const char *message)
{
	assert(e != APIERR_NONE);
	d->error = e;
	d->step = step;
	d->recorded = step >= DECISION_STEP_PARTNER && e != APIERR_LEDGER_UNAVAILABLE;
	snprintf(d->message, sizeof(d->message), "%s", message != NULL ? message : "");
}

static void
take_purpose(struct decision *d, const char *purpose)
{
	assert(purpose == NULL || strlen(purpose) <= DECISION_ID_MAX);
	snprintf(d->purpose, sizeof(d->purpose), "%s", purpose != NULL ? purpose : "");
}

/* The purpose as the policy functions take it: NULL when none was declared. */
static const char *
purpose_of(const struct decision *d)
{
	return d->purpose[0] != '\0' ? d->purpose : NULL;
}

/* True if every contract the partner holds asks for a work order. */
static bool
all_need_tokens(const struct contract_set *set, const char *partner)
{
	const struct contract *const *pc;
	size_t n = contract_set_partner(set, partner, &pc);

	for (size_t i = 0; i < n; i++)
		if (!pc[i]->token_required)
			return false;
	return n > 0;
}

/* Step 5 without a work order: the contract chosen from X-Contract or the purpose. */
static void
step_no_token(struct decision *d, const struct decision_facts *f)
{
	const struct contract *c;
	enum apierr e;

	take_purpose(d, f->purpose);
	e = policy_choose_contract(f->contracts, f->partner, f->contract, purpose_of(d), f->now,
	                           &c);
	if ((e == APIERR_NONE && c->token_required) ||
	    (e != APIERR_NONE && all_need_tokens(f->contracts, f->partner))) {
		d->contract = e == APIERR_NONE ? c : NULL;
		decision_refuse(
		    d, DECISION_STEP_TOKEN, APIERR_TOKEN_REQUIRED,
		    "this contract requires a work order: Authorization: Bearer <token>");
		return;
	}
	if (e != APIERR_NONE) {
		decision_refuse(d, DECISION_STEP_TOKEN, e, NULL);
		return;
	}
	d->contract = c;
}

/* Step 5: the work order verified and bound, and it chooses the contract. */
static void
step_token(struct decision *d, const struct decision_facts *f, const struct decision_io *io)
{
	const char *auth = f->authorization;
	char why[DECISION_MESSAGE_MAX];

	if (f->authorization_unusable) {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID,
		                "the Authorization header is unusable");
		return;
	}
	if (auth == NULL) {
		step_no_token(d, f);
		return;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID,
		                "the Authorization scheme must be Bearer");
		return;
	}
	auth += 7;
	if (token_verify(f->tokens, auth, strlen(auth), (int64_t)f->now, &d->claims, why,
	                 sizeof(why)) != TOKEN_OK) {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, why);
		return;
	}
	d->has_token = true;
	const struct contract *ct = contract_set_find(f->contracts, d->claims.contract);
	struct token_context ctx = {
	    .partner = f->partner,
	    .thumbprint = f->x5t,
	    .contract_partner = ct != NULL ? ct->partner : NULL,
	    .purpose_listed = ct != NULL && contract_purpose(ct, d->claims.purpose) != NULL,
	    .binding = ct != NULL && !ct->token_binding_required ? TOKEN_BINDING_OPTIONAL
	                                                         : TOKEN_BINDING_REQUIRED,
	};
	if (token_check_binding(&d->claims, &ctx, why, sizeof(why)) != TOKEN_BIND_OK) {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, why);
		return;
	}
	d->contract = ct;
	if (io->revoked(io->arg, d->claims.jti) != 0) {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID,
		                "the work order has been revoked");
		return;
	}
	if (f->purpose != NULL && strcmp(f->purpose, d->claims.purpose) != 0) {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_PURPOSE_CONFLICT, NULL);
		return;
	}
	if (f->contract != NULL && strcmp(f->contract, d->claims.contract) != 0) {
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_BAD_REQUEST,
		                "X-Contract disagrees with the work order's contract");
		return;
	}
	take_purpose(d, d->claims.purpose);
}

/* Steps 3 to 8; returns at the first refusal. */
static void
steps(struct decision *d, const struct decision_facts *f, const struct decision_io *io)
{
	const struct contract *const *pc;
	const char *why = NULL;
	uint32_t granted = 0, retry = 0;
	enum apierr e;

	d->step = DECISION_STEP_GATEWAY;
	if (f->gateway_suspended) {
		decision_refuse(d, DECISION_STEP_GATEWAY, APIERR_GATEWAY_SUSPENDED, NULL);
		return;
	}
	d->step = DECISION_STEP_PARTNER;
	if (contract_set_partner(f->contracts, f->partner, &pc) == 0) {
		decision_refuse(d, DECISION_STEP_PARTNER, APIERR_PARTNER_UNKNOWN, NULL);
		return;
	}
	if (f->partner_suspended) {
		decision_refuse(d, DECISION_STEP_PARTNER, APIERR_PARTNER_SUSPENDED, NULL);
		return;
	}
	d->step = DECISION_STEP_TOKEN;
	step_token(d, f, io);
	if (d->error != APIERR_NONE)
		return;
	d->step = DECISION_STEP_CONTRACT;
	if (!contract_pins(d->contract, f->x5t)) {
		decision_refuse(d, DECISION_STEP_CONTRACT, APIERR_CERTIFICATE_INVALID,
		                "the contract pins other certificates than this one");
		return;
	}
	if ((e = policy_check_contract(d->contract, f->now)) != APIERR_NONE) {
		decision_refuse(d, DECISION_STEP_CONTRACT, e, NULL);
		return;
	}
	d->step = DECISION_STEP_PURPOSE;
	e = policy_check_purpose(f->catalog, d->contract, purpose_of(d), f->justification, &d->cp,
	                         &why);
	d->purpose_logged = d->purpose[0] != '\0';
	if (e != APIERR_NONE) {
		decision_refuse(d, DECISION_STEP_PURPOSE, e, why);
		return;
	}
	policy_basis(d->contract, d->cp, d->basis, sizeof(d->basis));
	if (d->cp->purpose->kind == CATALOG_KIND_EXCEPTION)
		d->justification = f->justification;
	d->step = DECISION_STEP_LIMITS;
	if (io->admit(io->arg, d->contract, f->want, f->now_ms, &granted, &retry) != 0) {
		decision_refuse(d, DECISION_STEP_LIMITS, APIERR_RATE_LIMITED, NULL);
		d->retry_after = retry;
		return;
	}
	d->granted = granted;
}

enum apierr
decision_request(struct decision *d, const struct decision_facts *f, const struct decision_io *io)
{
	memset(d, 0, sizeof(*d));
	steps(d, f, io);
	/* headers are untrusted: a purpose is recorded only once the catalog knows it */
	d->purpose_known = d->purpose[0] != '\0' && catalog_purpose(f->catalog, d->purpose) != NULL;
	return d->error;
}

struct decision_verdict
decision_member(const struct decision *d, const struct catalog *cat, size_t max_bytes,
                const char *member_id, unsigned restrictions, const char *bytes, size_t len,
                char *why, size_t whylen)
{
	struct decision_verdict v = {APIERR_NONE, APIERR_NONE, NULL, NULL};
	json_t *record = NULL;

	assert(d->error == APIERR_NONE && d->cp != NULL);
	v.error = release_origin(cat, bytes, len, max_bytes, member_id, &record, why, whylen);
	if (v.error != APIERR_NONE) {
		v.why = why;
		return v;
	}
	v.withheld = policy_check_restrictions(d->contract, d->cp, restrictions, &v.why);
	if (v.withheld == APIERR_NONE)
		v.withheld = policy_check_member(d->contract, d->cp, record, &v.why);
	if (v.withheld != APIERR_NONE) {
		json_decref(record);
		return v;
	}
	v.record = record;
	return v;
}

enum apierr
decision_take_records(struct decision *d, const struct decision_io *io, size_t n)
{
	bool ok = false;

	if (d->error != APIERR_NONE || !d->has_token || d->claims.max_records <= 0 || n == 0)
		return d->error;
	int rc = io->take(io->arg, d->claims.jti, (int64_t)n, d->claims.max_records, &ok);
	if (rc == DECISION_TAKE_UNAVAILABLE)
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_LEDGER_UNAVAILABLE,
		                "the work-order count the nodes share cannot be reached");
	else if (rc != 0)
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_INTERNAL,
		                "the work-order counter cannot be updated");
	else if (!ok)
		decision_refuse(d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID,
		                "the work order's max_records does not cover these records");
	return d->error;
}
