/* cert — the `pdgate cert` command: issue and revoke client certificates, re-sign CRLs. */
#ifndef PDGATE_CERT_H
#define PDGATE_CERT_H

/*
 * `pdgate cert issue|revoke|crl ...` (argv[0] is "cert"). Returns the process exit status:
 * 0 on success, 1 on failure, 2 on a usage error.
 */
int cert_main(int argc, char **argv);

#endif
