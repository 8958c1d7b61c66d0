/* fake_ioctl.h - ioctl() for a test binary: requests on fake_fd go to the test's fake_ioctl(),
 * every other fd to the kernel. The test binary's definition wins over libc's for the code under
 * test (vcpu.c, profile.c), so a fake KVM vCPU needs no kernel. Include it once, in the test's
 * .c file, and define fake_ioctl(). */
#ifndef MVM_TESTS_FAKE_IOCTL_H
#define MVM_TESTS_FAKE_IOCTL_H

#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fake_fd = -1;

/* One request on fake_fd: the result, errno set when it is -1. */
static int fake_ioctl(unsigned long req, void *arg);

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != fake_fd || fake_fd < 0)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	return fake_ioctl(req, arg);
}

#endif
