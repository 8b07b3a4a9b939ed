/* cli — what pdgate's subcommands share on the command line: a table of subcommands
 * dispatched, a table of options read into the caller's variables. */
#ifndef PDGATE_CLI_H
#define PDGATE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A subcommand: its name, its entry point (argv[0] is the subcommand's name), its usage line. */
struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary; /* for a usage that lists the table; may be NULL */
};

/*
 * Runs the command of cmds[0..n) that argv[1] names, with argv from there on, and returns what
 * it returns. "--help", "-h" or "help" print usage on stdout: 0. No name prints usage on
 * stderr; an unknown one "PROG: unknown WHAT 'NAME'" and usage on stderr: 2.
 */
int cli_dispatch(const char *prog, const char *what, const struct cli_command *cmds, size_t n,
                 void (*usage)(FILE *f), int argc, char **argv);

/* An option of a subcommand: --name, -letter, or both. */
struct cli_option {
	const char *name; /* the long form without "--", or NULL for a letter alone */
	char letter;      /* the short form, or 0 for a long option alone */
	bool flag;        /* takes no argument: *(bool *)to is set */
	void *to;         /* else where its argument goes: *(const char **)to, or parse's */
	/* NULL, or reads the argument into to: 0, or the exit status to stop with, having
	 * said why on stderr */
	int (*parse)(const char *arg, void *to);
};

#define CLI_MAX_OPTIONS 16

/*
 * Reads the options of argv[1..argc) (argv[0], the subcommand's name, is how getopt names it in
 * its messages) in the order given, mixed with the operands as GNU getopt permits; -h and
 * --help are always known. True with *first, the index in argv of the first operand; false
 * with *status, what the command exits with: 0 after usage on stdout for -h or --help, 2 after
 * getopt's message and usage on stderr for an unknown option or a missing argument, or what a
 * parse function returned. At most CLI_MAX_OPTIONS options.
 */
bool cli_options(int argc, char **argv, const struct cli_option *opts, size_t n,
                 void (*usage)(FILE *f), int *first, int *status);

#endif
