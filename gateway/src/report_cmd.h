/* report_cmd — `pdgate report`: provisions, subject, breach, summary, from the command line. */
#ifndef PDGATE_REPORT_CMD_H
#define PDGATE_REPORT_CMD_H

/* `pdgate report provisions|subject|breach|summary ...`; argv[0] is "report". Returns the exit
 * status. */
int report_main(int argc, char **argv);

#endif
