/* init — the `pdgate init` command: a complete, self-contained demo installation in one step. */
#ifndef PDGATE_INIT_H
#define PDGATE_INIT_H

/*
 * `pdgate init DIR [--members N] [--seed S] [--name NAME] [--share DIR]` (argv[0] is "init").
 * Builds everything of SPEC section 4 in a temporary sibling of DIR and renames it into place,
 * so DIR is either complete or absent. Refuses an existing DIR. Returns the exit status:
 * 0 on success, 1 on failure, 2 on a usage error.
 */
int init_main(int argc, char **argv);

#endif
