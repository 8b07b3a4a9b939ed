/* version — what pdgate is (X.Y.Z, from the VERSION file) and the libraries it runs on. */
#ifndef PDGATE_VERSION_H
#define PDGATE_VERSION_H

#include <stdio.h>

/* pdgate's own version, "X.Y.Z" (static). The one place it comes from is the VERSION file,
 * which the Makefile passes to this module alone. */
const char *version_number(void);

/* Writes "pdgate X.Y.Z" and then one line per library: the version the running process has
 * loaded where the library can tell, else the one it was built with, said so. */
void version_write(FILE *f);

/* `pdgate version` (argv[0] is "version"), as `pdgate --version`. Returns the exit status. */
int version_main(int argc, char **argv);

#endif
