/* harden.c - process-wide protections: the dumpable flag. */
#include "util/harden.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

int harden_process(bool dumpable)
{
	if (dumpable)
		return 0;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		int err = errno;

		log_err("cannot turn off core dumps and ptrace (PR_SET_DUMPABLE): %s", strerror(err));
		return -err;
	}
	return 0;
}
