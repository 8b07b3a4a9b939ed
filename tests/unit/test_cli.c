/* test_cli — subcommand tables dispatched and option tables read, on tables of argv. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static FILE *usage_to;  /* where the last usage went, NULL if none */
static const char *ran; /* the subcommand that ran, and what it saw */
static int ran_argc;
static char *ran_argv0;

static void
usage(FILE *f)
{
	usage_to = f;
}

/* What a subcommand saw, and the status it returns. */
static int
record(const char *name, int argc, char **argv, int status)
{
	ran = name;
	ran_argc = argc;
	ran_argv0 = argv[0];
	return status;
}

static int
run_issue(int argc, char **argv)
{
	return record("issue", argc, argv, 7);
}

static int
run_revoke(int argc, char **argv)
{
	return record("revoke", argc, argv, 0);
}

/* Each row an argv: the status, the subcommand that ran with how many arguments, the usage. */
static void
test_dispatch(void)
{
	static const struct cli_command cmds[] = {
	    {"issue", run_issue, "first"},
	    {"revoke", run_revoke, NULL},
	};
	static const struct {
		const char *argv[4];
		int status;
		const char *ran;
		int argc;  /* what the subcommand got */
		int usage; /* 0 none, 1 stdout, 2 stderr */
	} rows[] = {
	    {{"pdgate"}, 2, NULL, 0, 2},
	    {{"pdgate", "--help"}, 0, NULL, 0, 1},
	    {{"pdgate", "-h", "issue"}, 0, NULL, 0, 1},
	    {{"pdgate", "help"}, 0, NULL, 0, 1},
	    {{"pdgate", "issue"}, 7, "issue", 1, 0},
	    {{"pdgate", "issue", "-c", "x"}, 7, "issue", 3, 0},
	    {{"pdgate", "revoke", "jti"}, 0, "revoke", 2, 0},
	    {{"pdgate", "Issue"}, 2, NULL, 0, 2},
	    {{"pdgate", "iss"}, 2, NULL, 0, 2},
	    {{"pdgate", "--issue"}, 2, NULL, 0, 2},
	    {{"pdgate", ""}, 2, NULL, 0, 2},
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		char *argv[5] = {NULL};
		int argc = 0;
		while (argc < 4 && rows[i].argv[argc] != NULL) {
			argv[argc] = (char *)rows[i].argv[argc];
			argc++;
		}
		usage_to = NULL;
		ran = NULL;
		ran_argc = 0;
		int st =
		    cli_dispatch("pdgate test", "subcommand", cmds, NELEM(cmds), usage, argc, argv);
		FILE *want = rows[i].usage == 1 ? stdout : rows[i].usage == 2 ? stderr : NULL;
		CHECK(st == rows[i].status, "row %zu: status %d", i, st);
		CHECK((ran == NULL) == (rows[i].ran == NULL) &&
		          (ran == NULL || strcmp(ran, rows[i].ran) == 0),
		      "row %zu: ran %s", i, ran ? ran : "nothing");
		CHECK(ran == NULL || (ran_argc == rows[i].argc && ran_argv0 == argv[1]),
		      "row %zu: the subcommand got %d arguments from its own name on", i, ran_argc);
		CHECK(usage_to == want, "row %zu: usage to the wrong place", i);
	}
}

/* A parse function: a number 1..9, else exit status 1. */
static int
parse_digit(const char *arg, void *to)
{
	if (strlen(arg) != 1 || arg[0] < '1' || arg[0] > '9')
		return 1;
	*(int *)to = arg[0] - '0';
	return 0;
}

/* Each row an argv: the status (-1: went through), the operands, the values read. */
static void
test_options(void)
{
	static const struct {
		const char *argv[8];
		int status;
		int first; /* index of the first operand, when it went through */
		const char *conf, *dir, *operand;
		bool json;
		int digit;
		int usage;
	} rows[] = {
	    {{"list"}, -1, 1, NULL, NULL, NULL, false, 0, 0},
	    {{"list", "-c", "a.conf"}, -1, 3, "a.conf", NULL, NULL, false, 0, 0},
	    {{"list", "-ca.conf"}, -1, 2, "a.conf", NULL, NULL, false, 0, 0},
	    {{"list", "--config", "a.conf", "--dir=d"}, -1, 4, "a.conf", "d", NULL, false, 0, 0},
	    {{"list", "--dir", "d", "--dir", "e"}, -1, 5, NULL, "e", NULL, false, 0, 0},
	    {{"list", "x", "--json", "-c", "f"}, -1, 4, "f", NULL, "x", true, 0, 0},
	    {{"list", "--json", "--", "-c"}, -1, 3, NULL, NULL, "-c", true, 0, 0},
	    {{"list", "--digit", "4"}, -1, 3, NULL, NULL, NULL, false, 4, 0},
	    {{"list", "--digit", "0"}, 1, 0, NULL, NULL, NULL, false, 0, 0},
	    {{"list", "--digit", "x", "--help"}, 1, 0, NULL, NULL, NULL, false, 0, 0},
	    {{"list", "--help", "--digit", "x"}, 0, 0, NULL, NULL, NULL, false, 0, 1},
	    {{"list", "-h"}, 0, 0, NULL, NULL, NULL, false, 0, 1},
	    {{"list", "--bogus"}, 2, 0, NULL, NULL, NULL, false, 0, 2},
	    {{"list", "-x"}, 2, 0, NULL, NULL, NULL, false, 0, 2},
	    {{"list", "-c"}, 2, 0, NULL, NULL, NULL, false, 0, 2},
	    {{"list", "--dir"}, 2, 0, NULL, NULL, NULL, false, 0, 2},
	    {{"list", "--json=yes"}, 2, 0, NULL, NULL, NULL, false, 0, 2},
	    {{"list", "-d", "x"}, 2, 0, NULL, NULL, NULL, false, 0, 2}, /* --dir has no letter */
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		const char *conf = NULL, *dir = NULL;
		bool json = false;
		int digit = 0, first = -1, status = -1;
		const struct cli_option opts[] = {
		    {.name = "config", .letter = 'c', .to = &conf},
		    {.name = "dir", .to = &dir},
		    {.name = "json", .flag = true, .to = &json},
		    {.name = "digit", .to = &digit, .parse = parse_digit},
		};
		char *argv[9] = {NULL};
		int argc = 0;
		while (argc < 8 && rows[i].argv[argc] != NULL) {
			argv[argc] = (char *)rows[i].argv[argc];
			argc++;
		}
		usage_to = NULL;
		bool go = cli_options(argc, argv, opts, NELEM(opts), usage, &first, &status);
		FILE *want = rows[i].usage == 1 ? stdout : rows[i].usage == 2 ? stderr : NULL;
		if (rows[i].status < 0) {
			CHECK(go && first == rows[i].first, "row %zu: went through, first %d", i,
			      first);
			CHECK((conf == NULL ? rows[i].conf == NULL
			                    : rows[i].conf && strcmp(conf, rows[i].conf) == 0) &&
			          (dir == NULL ? rows[i].dir == NULL
			                       : rows[i].dir && strcmp(dir, rows[i].dir) == 0) &&
			          json == rows[i].json && digit == rows[i].digit,
			      "row %zu: values conf=%s dir=%s json=%d digit=%d", i, conf, dir, json,
			      digit);
			const char *op = first < argc ? argv[first] : NULL;
			CHECK(op == NULL ? rows[i].operand == NULL
			                 : rows[i].operand && strcmp(op, rows[i].operand) == 0,
			      "row %zu: first operand %s", i, op ? op : "none");
		} else {
			CHECK(!go && status == rows[i].status, "row %zu: stopped with %d", i,
			      status);
		}
		CHECK(usage_to == want, "row %zu: usage to the wrong place", i);
	}
}

int
main(void)
{
	test_dispatch();
	test_options();
	return check_done();
}
