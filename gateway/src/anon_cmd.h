/* anon_cmd — `pdgate anonymize`: an anonymised data set made from the origin, recorded in the
 * ledger, then written. */
#ifndef PDGATE_ANON_CMD_H
#define PDGATE_ANON_CMD_H

/* The subcommand (argv[0] is "anonymize"): 0 made, 1 refused or failed, 2 usage. */
int anon_main(int argc, char **argv);

#endif
