/* test_share — where the share folder is found: an option, the environment, an installed
 * PREFIX/share/pdgate beside the binary, or the source tree holding bin/pdgate. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "share.c"

static char dir[64];

static const char *
at(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void
test_from_exe(void)
{
	char out[512], err[256], want[512];

	/* a source tree: TREE/bin/pdgate, the tree is the share folder */
	mkdir(at("tree"), 0755);
	mkdir(at("tree/policies"), 0755);
	CHECK(from_exe(at("tree/bin/pdgate"), out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, at("tree")) == 0,
	      "a source tree: %s", out);
	/* an installation: PREFIX/bin/pdgate and PREFIX/share/pdgate/policies */
	mkdir(at("usr"), 0755);
	mkdir(at("usr/share"), 0755);
	mkdir(at("usr/share/pdgate"), 0755);
	CHECK(from_exe(at("usr/bin/pdgate"), out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, at("usr")) == 0,
	      "share/pdgate without policies/ is not taken: %s", out);
	mkdir(at("usr/share/pdgate/policies"), 0755);
	snprintf(want, sizeof(want), "%s", at("usr/share/pdgate"));
	CHECK(from_exe(at("usr/bin/pdgate"), out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, want) == 0,
	      "installed: %s", out);
	CHECK(from_exe("/pdgate", out, sizeof(out), err, sizeof(err)) == 0 && strcmp(out, "/") == 0,
	      "a binary at the root: %s", out);
	CHECK(from_exe(at("usr/bin/pdgate"), out, 8, err, sizeof(err)) == -1 &&
	          strstr(err, "too long") != NULL,
	      "too long: %s", err);
}

static void
test_share_dir(void)
{
	char out[512], err[256];

	setenv("PDGATE_SHARE", "/from/env", 1);
	CHECK(share_dir("/from/opt", out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, "/from/opt") == 0,
	      "the option first: %s", out);
	CHECK(share_dir(NULL, out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, "/from/env") == 0,
	      "then the environment: %s", out);
	setenv("PDGATE_SHARE", "", 1);
	CHECK(share_dir(NULL, out, sizeof(out), err, sizeof(err)) == 0 && out[0] == '/',
	      "an empty PDGATE_SHARE is not taken: %s", out);
	unsetenv("PDGATE_SHARE");
}

static void
test_ui(void)
{
	char out[512], err[256];

	mkdir(at("tree/gateway"), 0755);
	mkdir(at("tree/gateway/ui"), 0755);
	CHECK(share_ui(at("tree"), out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, at("tree/gateway/ui")) == 0,
	      "the source tree's gateway/ui: %s", out);
	mkdir(at("usr/share/pdgate/ui"), 0755);
	CHECK(share_ui(at("usr/share/pdgate"), out, sizeof(out), err, sizeof(err)) == 0 &&
	          strcmp(out, at("usr/share/pdgate/ui")) == 0,
	      "the installed ui: %s", out);
	CHECK(share_ui(at("usr"), out, sizeof(out), err, sizeof(err)) == -1 &&
	          strstr(err, "neither") != NULL,
	      "neither: %s", err);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_share.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_from_exe();
	test_share_dir();
	test_ui();
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
