/* init — the `pdgate init` command: a complete, self-contained installation in one step. */
#ifndef PDGATE_INIT_H
#define PDGATE_INIT_H

/*
 * `pdgate init DIR [--members N] [--seed S] [--name NAME] [--share DIR]` (argv[0] is "init"):
 * a demo installation, everything of SPEC section 4. With `--production --hostname HOST...
 * [--origin URL] [--state DIR]`, an installation for real use (SPEC 15.1): a server certificate
 * for those hosts, no demo partner, no contract, no synthetic member. Either is built in a
 * temporary sibling of DIR, its configuration loaded back as serve loads it, and renamed into
 * place, so DIR is either complete or absent. Refuses an existing DIR. Returns the exit
 * status: 0 on success, 1 on failure, 2 on a usage error.
 */
int init_main(int argc, char **argv);

#endif
