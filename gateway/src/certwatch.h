/* certwatch — when the installation's certificates and CRLs end, and which of them to announce. */
#ifndef PDGATE_CERTWATCH_H
#define PDGATE_CERTWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

/*
 * Pure: the one count of the days to a certificate's notAfter or a CRL's nextUpdate, the one
 * rule of how far ahead each is announced, for the supervision summary (certificates_expiring)
 * and the gateway's daily look at its own dates alike. certreg gathers what is watched.
 */

#define CERTWATCH_CERT_DAYS 30 /* a certificate is announced this many days before it ends */
#define CERTWATCH_CRL_DAYS 7   /* a CRL this many days before its nextUpdate */

/* What a watched certificate or CRL is. */
enum certwatch_kind {
	CERTWATCH_PARTNER,
	CERTWATCH_STAFF,
	CERTWATCH_SERVER,
	CERTWATCH_CRL,
};

/* A certificate or CRL whose end is watched. Borrowed strings. */
struct certwatch_item {
	enum certwatch_kind kind;
	const char *name;    /* partner id, staff name, the server's names, or a CRL's CA */
	const char *serial;  /* upper-case hex; NULL for a CRL */
	const char *sha256;  /* "sha256:<hex>"; NULL for a CRL */
	const char *file;    /* where it is; NULL if not known */
	int64_t ends;        /* Unix seconds: notAfter, or a CRL's nextUpdate */
	const char *problem; /* the file could not be read, and why (ends means nothing); or NULL */
};

/* The items watched. Borrowed. */
struct certwatch {
	const struct certwatch_item *v;
	size_t n;
};

/* Whole days from now to ends, rounded down: negative once ends has passed (-1 on the first
 * day after). The summary's days_left. */
int64_t certwatch_days_left(int64_t ends, time_t now);

/* The days still to go before ends, a day begun counting as one: 0 once it has passed. What a
 * warning says ("in N day(s)"). */
int64_t certwatch_days_to(int64_t ends, time_t now);

/* Whether something of kind that ends at ends is announced at now: it ends (or ended) within
 * CERTWATCH_CRL_DAYS for a CRL, CERTWATCH_CERT_DAYS for a certificate. */
bool certwatch_due(enum certwatch_kind kind, int64_t ends, time_t now);

/*
 * The summary's certificates_expiring at now (new reference; an empty array for w NULL, NULL
 * on memory): partner and staff certificates ending within CERTWATCH_CERT_DAYS (not those
 * already ended: no longer anyone's to renew), server certificates and CRLs that are due
 * (also once past their end: the gateway then fails), and every item with a problem; problems
 * first, then the soonest end. Each {"kind","name","serial","sha256","file","ends",
 * "days_left","problem"}, ends in the ledger's time format.
 */
json_t *certwatch_json(const struct certwatch *w, time_t now);

#endif
