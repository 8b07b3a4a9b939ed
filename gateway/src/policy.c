/* policy — the pure decision of SPEC 9.1 (contract, purpose) and 9.2 (member rules); no I/O. */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "text.h"

const char *
policy_hard_rule(const struct catalog_field *f, const struct catalog_purpose *p,
                 enum contract_relationship rel, bool my_number_permitted,
                 enum contract_transform t)
{
	if (f->cls == CATALOG_CLASS_INTERNAL)
		return "class internal is never released";
	if (f->cls == CATALOG_CLASS_MY_NUMBER) {
		if (p->kind != CATALOG_KIND_MY_NUMBER)
			return "class my_number is released only for the purpose my_number_affairs";
		if (rel != CONTRACT_ENTRUSTMENT)
			return "class my_number is released only to relationship entrustment";
		if (!my_number_permitted)
			return "class my_number is released only when the contract sets "
			       "\"my_number_permitted\": true";
	}
	if (p->kind == CATALOG_KIND_STATISTICAL) {
		if (f->cls == CATALOG_CLASS_NAME || f->cls == CATALOG_CLASS_CONTACT ||
		    f->cls == CATALOG_CLASS_IMAGE)
			return "a statistics purpose releases no name, contact or image class";
		if (f->cls == CATALOG_CLASS_IDENTIFIER && t != CONTRACT_TF_PSEUDONYM)
			return "a statistics purpose releases class identifier only through "
			       "pseudonym";
	}
	return NULL;
}

static bool
lists(const struct contract *c, const char *purpose)
{
	return purpose != NULL && contract_purpose(c, purpose) != NULL;
}

enum apierr
policy_choose_contract(const struct contract_set *set, const char *partner, const char *named,
                       const char *purpose, time_t now, const struct contract **chosen)
{
	const struct contract *const *pc;
	size_t n = contract_set_partner(set, partner, &pc);
	size_t listing = 0, usable = 0;
	const struct contract *only_usable = NULL, *only_candidate = NULL;

	*chosen = NULL;
	if (n == 0)
		return APIERR_PARTNER_UNKNOWN;
	if (named != NULL) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(pc[i]->id, named) == 0) {
				*chosen = pc[i];
				return APIERR_NONE;
			}
		return APIERR_CONTRACT_INACTIVE;
	}
	for (size_t i = 0; i < n; i++)
		if (lists(pc[i], purpose))
			listing++;
	/* Candidates: the contracts listing the purpose, or all when none does. */
	size_t candidates = 0;
	for (size_t i = 0; i < n; i++) {
		if (listing > 0 && !lists(pc[i], purpose))
			continue;
		candidates++;
		only_candidate = pc[i];
		if (contract_in_force(pc[i], now)) {
			usable++;
			only_usable = pc[i];
		}
	}
	if (usable == 1) {
		*chosen = only_usable;
		return APIERR_NONE;
	}
	if (usable > 1) {
		if (purpose == NULL || purpose[0] == '\0')
			return APIERR_PURPOSE_MISSING;
		return listing > 0 ? APIERR_CONTRACT_AMBIGUOUS : APIERR_PURPOSE_NOT_PERMITTED;
	}
	if (candidates == 1) {
		*chosen = only_candidate;
		return APIERR_NONE;
	}
	return APIERR_CONTRACT_INACTIVE;
}

enum apierr
policy_check_contract(const struct contract *c, time_t now)
{
	return contract_in_force(c, now) ? APIERR_NONE : APIERR_CONTRACT_INACTIVE;
}

enum apierr
policy_check_purpose(const struct catalog *cat, const struct contract *c, const char *purpose,
                     const char *justification, const struct contract_purpose **out,
                     const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	*out = NULL;
	*why = NULL;
	if (purpose == NULL || purpose[0] == '\0') {
		*why = "declare a purpose with X-Purpose";
		return APIERR_PURPOSE_MISSING;
	}
	const struct catalog_purpose *known = catalog_purpose(cat, purpose);
	if (known == NULL) {
		*why = "no such purpose in the association's announced purposes of use";
		return APIERR_PURPOSE_NOT_PERMITTED;
	}
	const struct contract_purpose *cp = contract_purpose(c, purpose);
	if (cp == NULL) {
		*why = "the contract does not list this purpose";
		return APIERR_PURPOSE_NOT_PERMITTED;
	}
	if (known->kind == CATALOG_KIND_EXCEPTION &&
	    (justification == NULL || text_check(justification, strlen(justification),
	                                         POLICY_JUSTIFICATION_MAX) != TEXT_OK)) {
		*why = "an exception purpose needs X-Justification: 1..512 characters, " TEXT_RULE;
		return APIERR_JUSTIFICATION_REQUIRED;
	}
	*out = cp;
	return APIERR_NONE;
}

/* 1 if record.obj.key is true, 0 if false, -1 if absent (the record was type-checked). */
static int
flag(const json_t *record, const char *obj, const char *key)
{
	json_t *o = json_object_get(record, obj);
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	if (json_is_true(v))
		return 1;
	if (json_is_false(v))
		return 0;
	return -1;
}

static bool
consented(const json_t *record, const char *contract_id)
{
	json_t *o = json_object_get(record, "consents");
	json_t *list = json_is_object(o) ? json_object_get(o, "consented") : NULL;
	size_t i;
	json_t *v;
	if (!json_is_array(list))
		return false;
	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);
		if (s != NULL && strcmp(s, contract_id) == 0)
			return true;
	}
	return false;
}

enum apierr
policy_check_member(const struct contract *c, const struct contract_purpose *p,
                    const json_t *record, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (!json_is_object(record) || p->purpose == NULL) {
		*why = "no checked record";
		return APIERR_INTERNAL;
	}
	enum catalog_kind kind = p->purpose->kind;
	/* APPI Art. 18(3) and 27(1): these uses need no consent and override an objection. */
	if (kind == CATALOG_KIND_EXCEPTION)
		return APIERR_NONE;
	if (flag(record, "restrictions", "stop_use") == 1) {
		*why = "the member has asked to stop the use of their data";
		return APIERR_MEMBER_RESTRICTED;
	}
	if (c->relationship == CONTRACT_THIRD_PARTY) {
		if (flag(record, "restrictions", "stop_third_party") == 1) {
			*why = "the member has asked to stop provision to third parties";
			return APIERR_MEMBER_RESTRICTED;
		}
		if (flag(record, "consents", "third_party_provision") != 1) {
			*why = "the member has not consented to provision to third parties";
			return APIERR_CONSENT_MISSING;
		}
		/* APPI Art. 28(1): a third party abroad needs a consent of its own */
		if (contract_abroad(c) && flag(record, "consents", "foreign_provision") != 1) {
			*why = "the member has not consented to provision to a third party abroad";
			return APIERR_CONSENT_MISSING;
		}
	}
	int own = flag(record, "consents", p->id);
	if (own == 0) {
		*why = "the member has opted out of this purpose";
		return APIERR_CONSENT_MISSING;
	}
	if (p->requires_consent || kind == CATALOG_KIND_CONSENT) {
		if (own != 1 && !consented(record, c->id)) {
			*why = "the member has not consented to this purpose under this contract";
			return APIERR_CONSENT_MISSING;
		}
	}
	return APIERR_NONE;
}

enum apierr
policy_check_restrictions(const struct contract *c, const struct contract_purpose *p,
                          unsigned restrictions, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (restrictions == 0 || (p->purpose != NULL && p->purpose->kind == CATALOG_KIND_EXCEPTION))
		return APIERR_NONE;
	if (restrictions & POLICY_RESTRICT_STOP_USE) {
		*why = "the member has asked to stop the use of their data";
		return APIERR_MEMBER_RESTRICTED;
	}
	if ((restrictions & POLICY_RESTRICT_STOP_THIRD_PARTY) &&
	    c->relationship == CONTRACT_THIRD_PARTY) {
		*why = "the member has asked to stop provision to third parties";
		return APIERR_MEMBER_RESTRICTED;
	}
	return APIERR_NONE;
}

unsigned
policy_restrictions_mask(const struct contract *c, const struct contract_purpose *p)
{
	if (p->purpose != NULL && p->purpose->kind == CATALOG_KIND_EXCEPTION)
		return 0;
	return POLICY_RESTRICT_STOP_USE |
	       (c->relationship == CONTRACT_THIRD_PARTY ? POLICY_RESTRICT_STOP_THIRD_PARTY : 0);
}

const char *
policy_basis(const struct contract *c, const struct contract_purpose *p, char *buf, size_t len)
{
	if (p != NULL && p->purpose != NULL && p->purpose->kind == CATALOG_KIND_EXCEPTION)
		snprintf(buf, len, "exception:%s", p->id);
	else if (c->relationship == CONTRACT_THIRD_PARTY)
		snprintf(buf, len, "consent");
	else
		snprintf(buf, len, "%s", contract_relationship_name(c->relationship));
	return buf;
}
