/* pki_file — the PKI's files: made new or replaced whole, read within a bound; its error text. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "file.h"
#include "pki_file.h"

void
pki_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void
pki_ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		pki_seterr(err, errlen, "%s: %s", what, buf);
	} else {
		pki_seterr(err, errlen, "%s", what);
	}
	ERR_clear_error();
}

static int
write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
pki_file_new(const char *path, mode_t mode, const void *data, size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	int e;

	if (fd < 0) {
		pki_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(path);
		pki_seterr(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(path);
		pki_seterr(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

int
pki_file_dir(const char *path, char *out, size_t n)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	if (snprintf(out, n, "%s", dirname(tmp)) >= (int)n)
		return -1;
	return 0;
}

int
pki_file_replace(const char *path, mode_t mode, const void *data, size_t len, char *err,
                 size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp) ||
	    pki_file_dir(path, dir, sizeof(dir)) < 0) {
		pki_seterr(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		pki_seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	/* mkstemp creates 0600; the files written here (CRLs) are public and read by the gateway.
	 */
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		pki_seterr(err, errlen, "%s: %s", tmp, strerror(e));
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		pki_seterr(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
pki_file_bio(BIO *bio, int encoded, const char *what, const char *path, mode_t mode, int atomic,
             char *err, size_t errlen)
{
	char *data = NULL;
	long n;
	int rc = -1;

	if (bio == NULL || !encoded) {
		pki_ossl_err(err, errlen, what);
		goto done;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || data == NULL)
		pki_seterr(err, errlen, "%s: nothing to write", path);
	else if (atomic)
		rc = pki_file_replace(path, mode, data, (size_t)n, err, errlen);
	else
		rc = pki_file_new(path, mode, data, (size_t)n, err, errlen);
done:
	BIO_free(bio);
	return rc;
}

int
pki_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

void *
pki_file_object(const char *path, size_t max, unsigned flags, void *(*parse)(const char *, size_t),
                const char *what, char *err, size_t errlen)
{
	size_t len = 0;
	char *data = file_read(path, max, flags, &len, err, errlen);
	void *obj;

	if (data == NULL)
		return NULL;
	obj = parse(data, len);
	if (obj == NULL) {
		char msg[PATH_MAX + 32];
		snprintf(msg, sizeof(msg), "%s: %s", path, what);
		pki_ossl_err(err, errlen, msg);
	}
	if (flags & FILE_READ_SECRET)
		OPENSSL_cleanse(data, len);
	free(data);
	return obj;
}

int
pki_days_ok(unsigned days, char *err, size_t errlen)
{
	if (days < 1 || days > PKI_DAYS_MAX) {
		pki_seterr(err, errlen, "lifetime of %u days: must be 1..%u", days, PKI_DAYS_MAX);
		return 0;
	}
	return 1;
}

int
pki_issued_by(X509 *cert, X509 *ca)
{
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	int ok;

	if (cert == NULL || ca == NULL || pub == NULL)
		return 0;
	if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)) != 0)
		return 0;
	ok = X509_verify(cert, pub) == 1;
	ERR_clear_error();
	return ok;
}
