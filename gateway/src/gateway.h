/* gateway — `pdgate serve`: configuration, trust stores and listeners, run until a signal. */
#ifndef PDGATE_GATEWAY_H
#define PDGATE_GATEWAY_H

/*
 * pdgate serve -c FILE [-n]. Loads and checks everything first (every error printed, exit 1);
 * -n stops there with "configuration OK". Then serves in the foreground until SIGTERM or SIGINT
 * (drain, exit 0). SIGHUP reloads the catalogs, the contracts, both CAs and CRLs and both
 * listeners' certificates and keys, all of them or (if one fails) none, and reopens the log
 * file; SIGUSR1 only reopens the log file. The CRLs' nextUpdate and the server certificates'
 * notAfter are looked at on start, on SIGHUP and daily: the log warns 7 and 30 days ahead.
 * A CRL that is missing or broken at start refuses the start. One already past its nextUpdate
 * does not: the gateway starts, logs an error, and refuses every partner until SIGHUP brings a
 * current CRL (fail closed, yet an operator can recover without a restart).
 */
int serve_main(int argc, char **argv);

#endif
