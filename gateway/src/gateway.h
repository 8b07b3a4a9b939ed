/* gateway — `pdgate serve`: configuration, trust stores and listeners, run until a signal. */
#ifndef PDGATE_GATEWAY_H
#define PDGATE_GATEWAY_H

/*
 * pdgate serve -c FILE [-n]. Loads and checks everything first (every error printed, exit 1);
 * -n stops there with "configuration OK". Then serves in the foreground until SIGTERM or SIGINT
 * (drain, exit 0); SIGHUP reloads the CRL all or nothing and reopens the log file.
 * A CRL that is missing or broken at start refuses the start. One already past its nextUpdate
 * does not: the gateway starts, logs an error, and refuses every partner until SIGHUP brings a
 * current CRL (fail closed, yet an operator can recover without a restart).
 */
int serve_main(int argc, char **argv);

#endif
