/* contract_cmd — `pdgate contract check|list`: contract files checked, the folder listed. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "cli.h"
#include "codec.h"
#include "config.h"
#include "contract.h"
#include "contract_cmd.h"
#include "contract_file.h"
#include "share.h"

static void
contract_usage(FILE *f)
{
	fprintf(f,
	        "usage: pdgate contract check [--policies DIR | -c FILE] CONTRACT.json...\n"
	        "       pdgate contract list (-c FILE | [--policies DIR] --dir CONTRACTS) "
	        "[--json]\n"
	        "\n"
	        "check  validates contract files against the purpose and field catalogs; prints\n"
	        "       every error as FILE: $.json.path: message, or \"OK FILE\" for each good\n"
	        "       file. Exit 1 if any file has an error.\n"
	        "list   loads the contracts folder all-or-nothing and lists each contract with\n"
	        "       its state now (a table, or JSON with --json).\n"
	        "\n"
	        "  -c FILE          take the catalogs and the contracts folder from pdgate.conf\n"
	        "  --policies DIR   folder with purposes.json and fields.json (default: policies/\n"
	        "                   of the share folder: $PDGATE_SHARE, else ../share/pdgate\n"
	        "                   or the source tree beside the binary)\n"
	        "  --dir DIR        the contracts folder to list\n"
	        "  --json           list as JSON\n");
}

struct cli_paths {
	char purposes[PATH_MAX];
	char fields[PATH_MAX];
	char contracts[PATH_MAX]; /* empty when not known */
};

/* Resolves the catalogs and the contracts folder from -c, --policies or the default. */
static int
cli_paths(const char *conf, const char *policies, const char *dir, struct cli_paths *p)
{
	p->contracts[0] = '\0';
	if (conf != NULL) {
		char *errors = NULL;
		struct config *cfg = config_load(conf, &errors);
		if (cfg == NULL) {
			fprintf(stderr, "%s\n",
			        errors ? errors : "pdgate: cannot load the configuration");
			free(errors);
			return -1;
		}
		snprintf(p->purposes, sizeof(p->purposes), "%s", cfg->policy.purposes);
		snprintf(p->fields, sizeof(p->fields), "%s", cfg->policy.fields);
		snprintf(p->contracts, sizeof(p->contracts), "%s", cfg->policy.contracts);
		config_free(cfg);
		return 0;
	}
	char base[PATH_MAX];
	if (policies != NULL) {
		snprintf(base, sizeof(base), "%s", policies);
	} else {
		char share[PATH_MAX - 16], err[256];
		if (share_dir(NULL, share, sizeof(share), err, sizeof(err)) != 0) {
			fprintf(
			    stderr,
			    "pdgate contract: cannot find the policies (%s); use --policies DIR\n",
			    err);
			return -1;
		}
		snprintf(base, sizeof(base), "%s/policies", share);
	}
	if (snprintf(p->purposes, sizeof(p->purposes), "%s/purposes.json", base) >=
	        (int)sizeof(p->purposes) ||
	    snprintf(p->fields, sizeof(p->fields), "%s/fields.json", base) >=
	        (int)sizeof(p->fields)) {
		fprintf(stderr, "pdgate contract: path too long\n");
		return -1;
	}
	if (dir != NULL)
		snprintf(p->contracts, sizeof(p->contracts), "%s", dir);
	return 0;
}

static int
contract_check(const struct catalog *cat, int argc, char **argv)
{
	int bad = 0;
	for (int i = 0; i < argc; i++) {
		char *errors = NULL;
		struct contract *c = contract_load(cat, argv[i], &errors);
		if (c == NULL) {
			fprintf(stderr, "%s\n", errors ? errors : "out of memory");
			bad = 1;
		} else {
			fprintf(stdout, "OK %s\n", argv[i]);
		}
		free(errors);
		contract_free(c);
	}
	return bad;
}

static const char *
state_now(const struct contract *c, time_t now)
{
	if (c->status != CONTRACT_ACTIVE)
		return contract_status_name(c->status);
	if (now < c->valid_from)
		return "not yet valid";
	if (now > c->valid_until)
		return "expired";
	return "in force";
}

static json_t *
contract_json(const struct contract *c, time_t now)
{
	json_t *o = json_object(), *purposes = json_object(), *certs = json_array();
	for (size_t i = 0; i < c->npurposes; i++) {
		const struct contract_purpose *p = &c->purposes[i];
		json_t *written = json_array(), *items = json_array();
		for (size_t k = 0; k < p->nwritten; k++)
			json_array_append_new(written, json_string(p->written[k]));
		for (size_t k = 0; k < p->nfields; k++)
			json_array_append_new(items, json_string(p->fields[k].item));
		json_object_set_new(purposes, p->id,
		                    json_pack("{s:o, s:o, s:b}", "fields", written, "items", items,
		                              "requires_consent", p->requires_consent));
	}
	for (size_t i = 0; i < c->ncertificates; i++) {
		char hex[7 + 65];
		memcpy(hex, "sha256:", 7);
		codec_hex_encode(c->certificates[i], 32, hex + 7);
		json_array_append_new(certs, json_string(hex));
	}
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "partner", json_string(c->partner));
	json_object_set_new(o, "partner_name", json_string(c->partner_name));
	json_object_set_new(o, "relationship",
	                    json_string(contract_relationship_name(c->relationship)));
	json_object_set_new(o, "country", json_string(c->country));
	json_object_set_new(o, "foreign_safeguards",
	                    c->foreign_safeguards ? json_string(c->foreign_safeguards)
	                                          : json_null());
	json_object_set_new(o, "status", json_string(contract_status_name(c->status)));
	json_object_set_new(o, "state", json_string(state_now(c, now)));
	json_object_set_new(o, "in_force", json_boolean(contract_in_force(c, now)));
	json_object_set_new(o, "valid_from", json_string(c->valid_from_text));
	json_object_set_new(o, "valid_until", json_string(c->valid_until_text));
	json_object_set_new(o, "token_required", json_boolean(c->token_required));
	json_object_set_new(o, "token_binding",
	                    json_string(c->token_binding_required ? "required" : "optional"));
	json_object_set_new(o, "certificates", certs);
	json_object_set_new(o, "my_number_permitted", json_boolean(c->my_number_permitted));
	json_object_set_new(o, "purposes", purposes);
	json_t *limits = json_object();
	if (c->requests_per_minute)
		json_object_set_new(limits, "requests_per_minute",
		                    json_integer((json_int_t)c->requests_per_minute));
	if (c->records_per_day)
		json_object_set_new(limits, "records_per_day",
		                    json_integer((json_int_t)c->records_per_day));
	json_object_set_new(o, "limits", limits);
	json_object_set_new(o, "file", json_string(c->file));
	return o;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp((*(const struct contract *const *)a)->id,
	              (*(const struct contract *const *)b)->id);
}

static int
contract_list(const struct contract_set *set, bool as_json)
{
	time_t now = time(NULL);
	size_t n = contract_set_count(set);
	/* People read contract registers by number; the set keeps partner order for lookups. */
	const struct contract **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		v[i] = contract_set_at(set, i);
	qsort(v, n, sizeof(*v), cmp_id);
	if (as_json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, contract_json(v[i], now));
		char *s = json_dumps(arr, JSON_INDENT(2));
		json_decref(arr);
		free(v);
		if (s == NULL)
			return 1;
		printf("%s\n", s);
		free(s);
		return 0;
	}
	printf("%-13s %-18s %-12s %-10s %-14s %-25s %-25s %s\n", "ID", "PARTNER", "RELATIONSHIP",
	       "STATUS", "NOW", "VALID_FROM", "VALID_UNTIL", "PURPOSES");
	for (size_t i = 0; i < n; i++) {
		const struct contract *c = v[i];
		printf("%-13s %-18s %-12s %-10s %-14s %-25s %-25s ", c->id, c->partner,
		       contract_relationship_name(c->relationship), contract_status_name(c->status),
		       state_now(c, now), c->valid_from_text, c->valid_until_text);
		for (size_t k = 0; k < c->npurposes; k++)
			printf("%s%s", k ? "," : "", c->purposes[k].id);
		printf("\n");
	}
	free(v);
	return 0;
}

int
contract_main(int argc, char **argv)
{
	const char *conf = NULL, *policies = NULL, *dir = NULL;
	bool as_json = false;
	const struct cli_option opts[] = {
	    {.letter = 'c', .to = &conf},
	    {.name = "policies", .to = &policies},
	    {.name = "dir", .to = &dir},
	    {.name = "json", .flag = true, .to = &as_json},
	};
	int first, status, rc = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		contract_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "check") != 0 && strcmp(sub, "list") != 0) {
		fprintf(stderr, "pdgate contract: unknown subcommand '%s'\n", sub);
		contract_usage(stderr);
		return 2;
	}
	if (!cli_options(argc - 1, argv + 1, opts, sizeof(opts) / sizeof(opts[0]), contract_usage,
	                 &first, &status))
		return status;
	int nargs = argc - 1 - first;
	char **args = argv + 1 + first;
	if (conf != NULL && (policies != NULL || dir != NULL)) {
		fprintf(stderr, "pdgate contract: -c and --policies/--dir exclude each other\n");
		return 2;
	}
	bool check = strcmp(sub, "check") == 0;
	if ((check && (nargs == 0 || as_json || dir != NULL)) ||
	    (!check && (nargs != 0 || (conf == NULL && dir == NULL)))) {
		contract_usage(stderr);
		return 2;
	}

	struct cli_paths p;
	if (cli_paths(conf, policies, dir, &p) != 0)
		return 1;
	char *errors = NULL;
	struct catalog *cat = catalog_load(p.purposes, p.fields, &errors);
	if (cat == NULL) {
		fprintf(stderr, "%s\n",
		        errors ? errors : "pdgate contract: cannot load the catalogs");
		free(errors);
		return 1;
	}
	if (check) {
		rc = contract_check(cat, nargs, args);
	} else {
		struct contract_set *set = contract_set_load(cat, p.contracts, &errors);
		if (set == NULL) {
			fprintf(stderr, "%s\n", errors ? errors : "out of memory");
			free(errors);
		} else {
			rc = contract_list(set, as_json);
		}
		contract_set_free(set);
	}
	catalog_free(cat);
	return rc;
}
