/* contract_cmd — `pdgate contract check|list`: contract files checked, the folder listed. */
#ifndef PDGATE_CONTRACT_CMD_H
#define PDGATE_CONTRACT_CMD_H

/* `pdgate contract check|list`: argv[0] is "contract". Returns the exit status. */
int contract_main(int argc, char **argv);

#endif
