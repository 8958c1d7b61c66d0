/* err.c - the calling thread's failure class (err.h). */
#include "util/err.h"

#include <errno.h>
#include <sys/socket.h>

static _Thread_local enum err_class err_current;

static int err_record(enum err_class c, int ret)
{
	if (err_current == ERR_UNSET)
		err_current = c;
	return ret;
}

int err_usage(int ret)
{
	return err_record(ERR_USAGE, ret);
}

int err_host(int ret)
{
	return err_record(ERR_HOST, ret);
}

void err_reset(void)
{
	err_current = ERR_UNSET;
}

enum err_class err_class(void)
{
	return err_current;
}

enum err_class err_class_or(enum err_class fallback)
{
	return err_current == ERR_UNSET ? fallback : err_current;
}

int err_exit_status(enum err_class fallback)
{
	return err_class_or(fallback) == ERR_USAGE ? ERR_EXIT_USAGE : ERR_EXIT_HOST;
}

int err_bind_listen(int fd, const struct sockaddr *sa, unsigned len)
{
	if (bind(fd, sa, len)) {
		err_usage(-errno);
		return -1;
	}
	if (listen(fd, 1)) {
		err_host(-errno);
		return -1;
	}
	return 0;
}
