/* ledger_err — the ledger's error codes and what each means, in one table. */
#include "ledger_err.h"

static const char *const messages[] = {
    [-LEDGER_OK] = "success",
    [-LEDGER_EIO] = "the ledger database failed",
    [-LEDGER_ERANGE] = "index or size outside the ledger",
    [-LEDGER_ENOENT] = "no such checkpoint",
    [-LEDGER_EINVAL] = "invalid argument",
    [-LEDGER_ENOMEM] = "out of memory",
    [-LEDGER_EENTRY] = "a malformed entry",
    [-LEDGER_EVERIFY] = "the ledger is not intact",
    [-LEDGER_ESTATE] = "the shared state changed since the decision",
    [-LEDGER_EVOLUME] = "the contract's daily volume is used up",
};

const char *
ledger_strerror(int err)
{
	if (err > 0 || -err >= (int)(sizeof(messages) / sizeof(messages[0])))
		return "unknown ledger error";
	return messages[-err];
}
