/* cli — the command line's shared parts: subcommand tables, option tables over getopt_long. */
#include <assert.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

int
cli_dispatch(const char *prog, const char *what, const struct cli_command *cmds, size_t n,
             void (*usage)(FILE *f), int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown %s '%s'\n", prog, what, argv[1]);
	usage(stderr);
	return 2;
}

/* getopt_long's value for option i: its letter, or past every char for a long option alone. */
#define LONG_ONLY 256
#define HELP (LONG_ONLY + CLI_MAX_OPTIONS)

bool
cli_options(int argc, char **argv, const struct cli_option *opts, size_t n, void (*usage)(FILE *f),
            int *first, int *status)
{
	struct option longopts[CLI_MAX_OPTIONS + 2];
	char shortopts[2 * CLI_MAX_OPTIONS + 3];
	size_t nlong = 0, nshort = 0;
	int ch;

	assert(n <= CLI_MAX_OPTIONS);
	for (size_t i = 0; i < n; i++) {
		assert(opts[i].name != NULL || opts[i].letter != 0);
		if (opts[i].letter != 0) {
			shortopts[nshort++] = opts[i].letter;
			if (!opts[i].flag)
				shortopts[nshort++] = ':';
		}
		if (opts[i].name != NULL)
			longopts[nlong++] = (struct option){
			    opts[i].name, opts[i].flag ? no_argument : required_argument, NULL,
			    opts[i].letter != 0 ? opts[i].letter : LONG_ONLY + (int)i};
	}
	shortopts[nshort++] = 'h';
	shortopts[nshort] = '\0';
	longopts[nlong++] = (struct option){"help", no_argument, NULL, HELP};
	longopts[nlong] = (struct option){NULL, 0, NULL, 0};

	optind = 0; /* glibc: start afresh whatever parsed an argv before */
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct cli_option *o = NULL;
		if (ch == 'h' || ch == HELP) {
			usage(stdout);
			*status = 0;
			return false;
		}
		for (size_t i = 0; o == NULL && i < n; i++)
			if (ch == (opts[i].letter != 0 ? opts[i].letter : LONG_ONLY + (int)i))
				o = &opts[i];
		if (o == NULL) { /* '?': getopt said what was wrong */
			usage(stderr);
			*status = 2;
			return false;
		}
		if (o->flag)
			*(bool *)o->to = true;
		else if (o->parse == NULL)
			*(const char **)o->to = optarg;
		else if ((*status = o->parse(optarg, o->to)) != 0)
			return false;
	}
	*first = optind;
	return true;
}
