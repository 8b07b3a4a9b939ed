/* main — pdgate's one binary: dispatches subcommands, nothing else. */
#include <stdio.h>
#include <string.h>

#include "anon_cmd.h"
#include "cert.h"
#include "cli.h"
#include "contract_cmd.h"
#include "gateway.h"
#include "init.h"
#include "ledger_cmd.h"
#include "report_cmd.h"
#include "token_cmd.h"
#include "version.h"
#include "witness_cmd.h"

/* Each subcommand lives in its module; the entries below are its whole interface to main. */
static const struct cli_command commands[] = {
    /* COMMANDS: one line per subcommand, in the order of SPEC section 3 */
    {"init", init_main, "create a complete installation in a new folder: a demo, or --production"},
    {"serve", serve_main, "run the gateway in the foreground (-n: check, --routes: list routes)"},
    {"contract", contract_main, "check contract files, list the loaded contracts"},
    {"cert", cert_main, "issue or revoke client certificates, re-sign CRLs"},
    {"token", token_main, "issue work orders and staff tokens, revoke tokens"},
    {"ledger", ledger_main, "verify, export, prove the transfer ledger; check proofs"},
    {"report", report_main, "compliance reports: provisions, subject, breach, summary"},
    {"anonymize", anon_main, "make an anonymised data set (匿名加工情報), recorded, then written"},
    {"witness", witness_main, "run a C2SP witness that cosigns consistent ledger checkpoints"},
    {"version", version_main, "print the version of pdgate and of the libraries it runs on"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: pdgate COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'pdgate COMMAND --help' describes each; 'pdgate --version' is 'pdgate "
	           "version'.\n");
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0)
		return version_main(argc - 1, argv + 1);
	return cli_dispatch("pdgate", "command", commands, sizeof(commands) / sizeof(commands[0]),
	                    usage, argc, argv);
}
