/* share — where pdgate's shared files are: the catalogs, the console, the example contracts. */
#ifndef PDGATE_SHARE_H
#define PDGATE_SHARE_H

#include <stddef.h>

/*
 * The share folder into out (outlen bytes): opt (a --share option) unless NULL, else
 * $PDGATE_SHARE unless empty, else found beside the running binary BIN/pdgate: BIN/../share/pdgate
 * when it holds policies/ (what `make install` lays out), else BIN/.. (a source tree, whose
 * bin/pdgate sits at its top). The folder is not checked further. 0, or -1 with a message in err.
 */
int share_dir(const char *opt, char *out, size_t outlen, char *err, size_t errlen);

/*
 * The console's files within the share folder share: ui/ (installed) or else gateway/ui/ (a
 * source tree), into out. 0, or -1 (err set) if the path is too long or neither is a folder.
 */
int share_ui(const char *share, char *out, size_t outlen, char *err, size_t errlen);

#endif
