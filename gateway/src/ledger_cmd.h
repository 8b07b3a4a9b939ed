/* ledger_cmd — `pdgate ledger`: verify, export, checkpoint, prove, check-proof. */
#ifndef PDGATE_LEDGER_CMD_H
#define PDGATE_LEDGER_CMD_H

/* `pdgate ledger verify|export|checkpoint|prove|check-proof ...`; argv[0] is "ledger". Returns
 * the exit status. */
int ledger_main(int argc, char **argv);

#endif
