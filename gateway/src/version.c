/* version — what pdgate is (X.Y.Z, from the VERSION file) and the libraries it runs on. */
#include <string.h>

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "version.h"

/* The Makefile defines these from VERSION and pkg-config; a build without them is a mistake. */
#ifndef PDGATE_VERSION
#error "PDGATE_VERSION is not defined: build with the Makefile (it reads the VERSION file)"
#endif
#ifndef PDGATE_LIBJWT_VERSION
#define PDGATE_LIBJWT_VERSION "?"
#endif
#ifndef PDGATE_INIH_VERSION
#define PDGATE_INIH_VERSION "?"
#endif

const char *
version_number(void)
{
	return PDGATE_VERSION;
}

void
version_write(FILE *f)
{
	const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

	fprintf(f, "pdgate %s\n", PDGATE_VERSION);
	/* OpenSSL_version already reads "OpenSSL 3.0.x <date>" */
	fprintf(f, "%s\n", OpenSSL_version(OPENSSL_VERSION));
	fprintf(f, "libmicrohttpd %s\n", MHD_get_version());
	fprintf(f, "GnuTLS %s\n", gnutls_check_version(NULL));
	fprintf(f, "SQLite %s\n", sqlite3_libversion());
#if JANSSON_VERSION_HEX >= 0x020d00
	fprintf(f, "jansson %s\n", jansson_version_str());
#else
	fprintf(f, "jansson %s (built with)\n", JANSSON_VERSION);
#endif
	fprintf(f, "libcurl %s%s%s\n", curl->version, curl->ssl_version != NULL ? " " : "",
	        curl->ssl_version != NULL ? curl->ssl_version : "");
	/* Neither libjwt nor inih says its version at run time. */
	fprintf(f, "libjwt %s (built with)\n", PDGATE_LIBJWT_VERSION);
	fprintf(f, "inih %s (built with)\n", PDGATE_INIH_VERSION);
}

int
version_main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs("usage: pdgate version (or pdgate --version)\n"
		      "Prints 'pdgate X.Y.Z', then the version of each library it runs on.\n",
		      stdout);
		return 0;
	}
	if (argc > 1) {
		fputs("usage: pdgate version (or pdgate --version)\n", stderr);
		return 2;
	}
	version_write(stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
