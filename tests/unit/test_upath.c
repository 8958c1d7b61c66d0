/* test_upath.c - upath_open: a FIFO, directory, device or socket is refused at once, by type,
 * with the flag named; a regular file opens, blocking, with its size. Every test runs under
 * an alarm: an open that waits (the bug this guards against) fails instead of hanging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/err.h"
#include "util/upath.h"

#define WATCHDOG 5   /* seconds; every open here must answer in microseconds */

struct dir {
	char path[64];
	char fifo[96];
	char file[96];
	char sock[96];
};

static void on_alarm(int sig)
{
	static const char msg[] = "test_upath: an open blocked (watchdog)\n";

	(void)sig;
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(3);
}

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	int fd;

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/mvm-test-upath-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->fifo, sizeof(d->fifo), "%s/fifo", d->path);
	snprintf(d->file, sizeof(d->file), "%s/file", d->path);
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->path);
	if (mkfifo(d->fifo, 0600))
		return -1;
	fd = open(d->file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "hello, world", 12) != 12)
		return -1;
	close(fd);
	signal(SIGALRM, on_alarm);
	alarm(WATCHDOG);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;

	alarm(0);
	unlink(d->fifo);
	unlink(d->file);
	unlink(d->sock);
	rmdir(d->path);
	free(d);
	return 0;
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* The FIFO has no writer (nor reader): a blocking open for reading or
 * writing would wait forever; each mode is refused by type, at once. */
static void test_fifo_refused_without_blocking(void **state)
{
	static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
	struct dir *d = *state;
	char err[UPATH_ERR_MAX];
	struct upath_file f;
	int before = open_fds();

	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		err_reset();
		assert_int_equal(upath_open(d->fifo, modes[i], UPATH_REG, "--kernel", &f, err,
					    sizeof(err)), -EINVAL);
		assert_string_equal(err, "not a regular file (a FIFO); --kernel takes a regular file");
		assert_int_equal(f.fd, -1);
		assert_int_equal(err_class(), ERR_USAGE);
	}
	assert_int_equal(upath_open(d->fifo, O_RDWR, UPATH_REG | UPATH_BLK, "--disk", &f, err,
				    sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a regular file or a block device (a FIFO); --disk takes a "
			    "regular file or a block device");
	assert_int_equal(open_fds(), before);
}

static void test_directory_refused(void **state)
{
	struct dir *d = *state;
	char err[UPATH_ERR_MAX];
	struct upath_file f;

	/* Read-only, open() succeeds on a directory and fstat refuses it. */
	assert_int_equal(upath_open(d->path, O_RDONLY, UPATH_REG, "--config-file", &f, err,
				    sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a regular file (a directory); --config-file takes a "
			    "regular file");
	/* For writing, open() itself fails (EISDIR): still named by its type. */
	assert_int_equal(upath_open(d->path, O_RDWR, UPATH_REG | UPATH_BLK, "--disk", &f, err,
				    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "(a directory); --disk takes"));
}

static void test_devices_and_sockets_refused(void **state)
{
	struct dir *d = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char err[UPATH_ERR_MAX];
	struct upath_file f;
	int s;

	assert_int_equal(upath_open("/dev/null", O_RDONLY, UPATH_REG, "--kernel", &f, err,
				    sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a regular file (a character device); --kernel takes a "
			    "regular file");
	assert_int_equal(upath_open("/dev/zero", O_RDWR, UPATH_REG | UPATH_BLK, "--disk", &f, err,
				    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "(a character device)"));

	/* A listening Unix socket: open() fails with ENXIO; the type is still said. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(upath_open(d->sock, O_RDONLY, UPATH_REG, "--initrd", &f, err,
				    sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a regular file (a socket); --initrd takes a regular file");
	close(s);
}

static void test_regular_file_opens_blocking(void **state)
{
	struct dir *d = *state;
	char err[UPATH_ERR_MAX] = "", buf[16] = "";
	struct upath_file f;
	int fl;

	assert_int_equal(upath_open(d->file, O_RDONLY, UPATH_REG, "--kernel", &f, err,
				    sizeof(err)), 0);
	assert_true(f.fd >= 0);
	assert_int_equal(f.size, 12);
	assert_true(S_ISREG(f.mode));
	fl = fcntl(f.fd, F_GETFL);
	assert_int_equal(fl & O_NONBLOCK, 0);
	assert_int_equal(fl & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(f.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(read(f.fd, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "hello, world");
	close(f.fd);

	assert_int_equal(upath_open(d->file, O_RDWR, UPATH_REG | UPATH_BLK, "--disk", &f, err,
				    sizeof(err)), 0);
	assert_int_equal(fcntl(f.fd, F_GETFL) & O_ACCMODE, O_RDWR);
	close(f.fd);
}

static void test_missing_file(void **state)
{
	char err[UPATH_ERR_MAX];
	struct upath_file f;

	(void)state;
	err_reset();
	assert_int_equal(upath_open("/nonexistent/mvm-upath", O_RDONLY, UPATH_REG, "--kernel", &f,
				    err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot open: No such file or directory");
	assert_int_equal(f.fd, -1);
	/* Whose a missing file is, is the caller's to say. */
	assert_int_equal(err_class(), ERR_UNSET);
	assert_int_equal(upath_open("/nonexistent/mvm-upath", O_RDWR, UPATH_REG, "--disk", &f,
				    err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot open for writing: No such file or directory");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fifo_refused_without_blocking),
		T(test_directory_refused),
		T(test_devices_and_sockets_refused),
		T(test_regular_file_opens_blocking),
		T(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
