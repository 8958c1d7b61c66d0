/* test_uart_stop.c - a guest writing to COM1 while nobody reads mvm's
 * stdout blocks its vCPU; a VM stop (flag + kick signal) must free it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "board/uart8250.h"

static atomic_bool done;

static void noop(int sig) { (void)sig; }

static void *guest_writes(void *arg)
{
	struct uart8250 *u = arg;
	uint8_t byte = 'x';

	uart8250_io(u, 0, &byte, 1, true); /* THR write: blocks on the full pipe */
	atomic_store(&done, true);
	return NULL;
}

static void test_stop_frees_blocked_transmit(void **state)
{
	struct sigaction sa = { .sa_handler = noop }; /* no SA_RESTART: write gets EINTR */
	atomic_bool stopping = false;
	struct uart8250 u;
	struct timespec deadline;
	pthread_t t;
	int p[2], fl;
	char fill[4096] = { 0 };

	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	assert_int_equal(pipe(p), 0);
	fl = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	while (write(p[1], fill, 1) > 0)
		;
	fcntl(p[1], F_SETFL, fl); /* blocking again, like a terminal or pipe stdout */

	uart8250_init(&u, (struct irq_line){ 0 }, p[1]);
	uart8250_set_stop_flag(&u, &stopping);
	atomic_store(&done, false);
	assert_int_equal(pthread_create(&t, NULL, guest_writes, &u), 0);
	usleep(100000);
	assert_false(atomic_load(&done)); /* really blocked: the test means something */

	atomic_store(&stopping, true);
	/* The VM's stop loop kicks until the thread leaves; do the same. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	for (int i = 0; i < 20 && !atomic_load(&done); i++) {
		pthread_kill(t, SIGUSR1);
		usleep(50000);
	}
	assert_int_equal(pthread_timedjoin_np(t, NULL, &deadline), 0);
	assert_true(atomic_load(&done));
	uart8250_destroy(&u);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_frees_blocked_transmit),
	};
	return cmocka_run_group_tests_name("uart-stop", tests, NULL, NULL);
}
