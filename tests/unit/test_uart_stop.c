/* test_uart_stop.c - a guest writing to COM1 while nobody reads mvm's
 * stdout (a blocking pipe, as a shell gives it) never blocks its vCPU: the
 * bytes queue, then are dropped and counted; the device still stops in
 * bounded time. (The UART used to write() on the vCPU thread, which then
 * sat in pipe_write until a VM stop kicked it, so a pause never completed.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "board/uart8250.h"

#define GUEST_BYTES (UART8250_TX_RING + 50000)

static atomic_bool done;

static void *guest_writes(void *arg)
{
	struct uart8250 *u = arg;

	for (int i = 0; i < GUEST_BYTES; i++) {
		uint8_t byte = 'x';

		uart8250_io(u, 0, &byte, 1, true); /* THR write, THRE ignored */
	}
	atomic_store(&done, true);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_unread_stdout_never_blocks_vcpu(void **state)
{
	struct uart8250 u;
	struct uart8250_stats st;
	struct timespec deadline;
	pthread_t t;
	int p[2], fl;
	char fill[4096] = { 0 };
	double t0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	fl = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	while (write(p[1], fill, 1) > 0)
		;
	fcntl(p[1], F_SETFL, fl); /* blocking again, like a terminal or pipe stdout */

	uart8250_init(&u, (struct irq_line){ 0 }, p[1]);
	assert_int_equal(uart8250_start_output(&u), 0);
	atomic_store(&done, false);
	t0 = now_s();
	assert_int_equal(pthread_create(&t, NULL, guest_writes, &u), 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;
	/* No stop, no kick: the writes must simply return. */
	assert_int_equal(pthread_timedjoin_np(t, NULL, &deadline), 0);
	assert_true(atomic_load(&done));
	print_message("# %d THR writes into a full, unread pipe took %.3f s\n", GUEST_BYTES,
		      now_s() - t0);

	uart8250_get_stats(&u, &st);
	assert_int_equal(st.tx_written, 0);
	assert_int_equal(st.tx_bytes, UART8250_TX_RING);
	assert_int_equal(st.tx_dropped, GUEST_BYTES - UART8250_TX_RING);
	uint8_t lsr = 0;
	uart8250_io(&u, 5, &lsr, 1, false);
	assert_int_equal(lsr & 0x60, 0);          /* the line reads busy */

	t0 = now_s();
	uart8250_destroy(&u);                     /* bounded flush, then dropped */
	assert_true(now_s() - t0 < UART8250_EXIT_FLUSH_MS / 1000.0 + 3);   /* a loaded host */
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unread_stdout_never_blocks_vcpu),
	};
	return cmocka_run_group_tests_name("uart-stop", tests, NULL, NULL);
}
