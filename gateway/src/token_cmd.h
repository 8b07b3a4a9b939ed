/* token_cmd — `pdgate token issue|revoke`: work orders and staff tokens signed, tokens revoked. */
#ifndef PDGATE_TOKEN_CMD_H
#define PDGATE_TOKEN_CMD_H

/* `pdgate token issue|revoke ...`; argv[0] is "token". Returns the exit status. */
int token_main(int argc, char **argv);

#endif
