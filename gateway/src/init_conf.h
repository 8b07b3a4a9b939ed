/* init_conf — pdgate.conf as pdgate init writes it, for a demo or a production installation. */
#ifndef PDGATE_INIT_CONF_H
#define PDGATE_INIT_CONF_H

#include <stdbool.h>

/* What the configuration names of one installation, each a value pdgate.conf can hold as it
 * is (init checked it). */
struct init_conf_vars {
	const char *name;          /* the installation's name */
	const char *stamp;         /* when init ran, as UTC "YYYY-MM-DDTHH:MM:SSZ" */
	const char *state;         /* where the gateway's files go: "DIR/", or "" for beside it */
	const char *origin;        /* [origin] url */
	const char *ledger_origin; /* [ledger] origin and [tokens] issuer */
};

/*
 * The text of pdgate.conf: a demo has everything on this machine; production takes partners
 * from anywhere and staff on this machine with a certificate and a token. The values of v are
 * written as they are. Caller frees; NULL when out of memory.
 */
char *init_conf_text(bool production, const struct init_conf_vars *v);

#endif
