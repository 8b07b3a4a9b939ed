/* test_file — the one whole-file reader: sizes, flags, what is not a regular file, the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "file.h"

static char dir[64];
static char made[32][128]; /* every path make() wrote, removed at the end */
static size_t nmade;

/* Writes n bytes of data into the file name of the temporary folder with mode; its path. */
static const char *
make(const char *name, const void *data, size_t n, mode_t mode)
{
	char *path = made[nmade < 32 ? nmade++ : 31];
	FILE *f;

	snprintf(path, sizeof(made[0]), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) != NULL) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
	chmod(path, mode);
	return path;
}

static void
test_file_read(void)
{
	static const struct {
		const char *name, *text;
		mode_t mode;
		size_t max;
		unsigned flags;
		const char *want; /* the content, or NULL: refused with why in the message */
		const char *why;
	} cases[] = {
	    {"f-plain", "hello\n", 0644, 64, 0, "hello\n", NULL},
	    {"f-max", "12345678", 0644, 8, 0, "12345678", NULL},
	    {"f-over", "123456789", 0644, 8, 0, NULL, "larger than 8 bytes"},
	    {"f-empty", "", 0644, 8, 0, "", NULL},
	    {"f-empty-refused", "", 0644, 8, FILE_READ_NONEMPTY, NULL, "empty"},
	    {"f-secret", "key", 0600, 64, FILE_READ_SECRET, "key", NULL},
	    {"f-secret-owner-only", "key", 0400, 64, FILE_READ_SECRET, "key", NULL},
	    {"f-secret-group", "key", 0640, 64, FILE_READ_SECRET, NULL, "group or others"},
	    {"f-secret-other", "key", 0604, 64, FILE_READ_SECRET, NULL, "chmod 600"},
	    {"f-secret-mode", "key", 0620, 64, FILE_READ_SECRET, NULL, "mode 0620"},
	    {"f-public-key", "pub", 0644, 64, FILE_READ_NOFOLLOW | FILE_READ_NONEMPTY, "pub", NULL},
	};
	char err[512];
	size_t len;
	char *buf;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path =
		    make(cases[i].name, cases[i].text, strlen(cases[i].text), cases[i].mode);

		err[0] = '\0';
		len = 99;
		buf = file_read(path, cases[i].max, cases[i].flags, &len, err, sizeof(err));
		if (cases[i].want != NULL)
			CHECK(buf != NULL && len == strlen(cases[i].want) &&
			          strcmp(buf, cases[i].want) == 0,
			      "%s: %s", cases[i].name, err);
		else
			CHECK(buf == NULL && len == 0 && strstr(err, path) != NULL &&
			          strstr(err, cases[i].why) != NULL,
			      "%s refused: %s", cases[i].name, err);
		free(buf);
	}

	char plain[128], none[128];
	const char *link = make("f-link", "", 0, 0644); /* made a link below, removed at the end */
	snprintf(plain, sizeof(plain), "%s/f-plain", dir);
	snprintf(none, sizeof(none), "%s/f-none", dir);
	unlink(link);
	CHECK(symlink(plain, link) == 0, "symlink");
	buf = file_read(link, 64, 0, &len, err, sizeof(err));
	CHECK(buf != NULL && strcmp(buf, "hello\n") == 0, "a link is followed by default: %s", err);
	free(buf);
	buf = file_read(link, 64, FILE_READ_NOFOLLOW, &len, err, sizeof(err));
	CHECK(buf == NULL && strstr(err, "f-link") != NULL, "FILE_READ_NOFOLLOW: %s", err);
	buf = file_read(dir, 64, 0, &len, err, sizeof(err));
	CHECK(buf == NULL && strstr(err, "not a regular file") != NULL, "a folder: %s", err);
	buf = file_read("/dev/null", 64, 0, &len, err, sizeof(err));
	CHECK(buf == NULL && strcmp(err, "/dev/null: not a regular file") == 0, "a device: %s",
	      err);
	buf = file_read(none, 64, 0, &len, err, sizeof(err));
	CHECK(buf == NULL && strstr(err, "No such file") != NULL, "missing: %s", err);

	/* the exact shape "PATH: reason", which errlist and config take apart */
	char want[600];
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", none);
	CHECK(strcmp(err, want) == 0, "missing: '%s', want '%s'", err, want);
	CHECK(strcmp(file_reason(none, err), "cannot open: No such file or directory") == 0,
	      "file_reason: %s", file_reason(none, err));
	CHECK(file_reason("other", err) == err, "file_reason of another path");
	CHECK(strcmp(file_reason("x", "x:y"), "x:y") == 0, "file_reason wants ': '");

	/* a NUL inside is kept, and counted */
	buf = file_read(make("f-nul", "a\0b", 3, 0644), 64, 0, &len, err, sizeof(err));
	CHECK(buf != NULL && len == 3 && memcmp(buf, "a\0b", 4) == 0, "NUL inside: %s", err);
	free(buf);

	/* no room for the message is no reason to fail differently */
	const char *over = make("f-over-again", "123456789", 9, 0644);
	buf = file_read(over, 8, 0, &len, NULL, 0);
	CHECK(buf == NULL && len == 0, "err NULL");
	char tiny[6];
	buf = file_read(over, 8, 0, &len, tiny, sizeof(tiny));
	CHECK(buf == NULL && strlen(tiny) == sizeof(tiny) - 1, "a short err is cut: '%s'", tiny);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_file.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_file_read();
	for (size_t i = 0; i < nmade; i++)
		unlink(made[i]);
	rmdir(dir);
	return check_done();
}
