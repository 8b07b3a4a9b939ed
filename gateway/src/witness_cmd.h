/* witness_cmd — `pdgate witness init|serve`: a C2SP witness for an auditor or a partner to run. */
#ifndef PDGATE_WITNESS_CMD_H
#define PDGATE_WITNESS_CMD_H

/* The entry point of `pdgate witness`; argv[0] is "witness". Exit status. */
int witness_main(int argc, char **argv);

#endif
