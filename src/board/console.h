/* console.h - the host terminal (or any input fd) feeding the guest's
 * console device: COM1 or the virtio console, through a console_sink.
 *
 * Contract: console_start_sink() starts one thread that reads in_fd and
 * hands the bytes to sink.write(), waiting (sink.wait_room()) for the guest
 * to take them rather than dropping input; console_start() is the same with
 * the UART as the sink. console_stop() ends the thread promptly (even
 * mid-read or while the sink is full), joins it and restores the terminal.
 * EOF on in_fd only ends the reader; the VM keeps running.
 *
 * When in_fd is a terminal it goes into raw mode (no echo, no line
 * editing, no signals from Ctrl-C/Ctrl-Z, no XON/XOFF, 8-bit; output
 * post-processing is left as it was, so mvm's own messages stay readable)
 * and the escape key Ctrl-A works: Ctrl-A x asks the VM to stop
 * (VM_STOP_USER), Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h prints help on
 * stderr, Ctrl-A anything else is swallowed. Input that is not a terminal
 * (pipe, file, /dev/null) passes to the guest unchanged, 0x01 included.
 *
 * The terminal's original settings are process-wide state (there is one
 * controlling terminal), kept in console.c so console_restore_terminal()
 * can put them back from an atexit handler or a fatal-signal handler: it
 * only calls tcsetattr(), which is async-signal-safe. The integrator
 * registers those handlers; console_stop() restores by itself.
 */
#ifndef MVM_BOARD_CONSOLE_H
#define MVM_BOARD_CONSOLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/uart8250.h"
#include "core/vmstop.h"

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */

/* Actions the escape machine asks for (bit mask). */
#define CONSOLE_ACT_QUIT 0x1
#define CONSOLE_ACT_HELP 0x2

struct console_escape {
	bool pending; /* Ctrl-A seen, waiting for the command key */
};

/* Feed terminal bytes through the escape machine. Writes the bytes meant for
 * the guest to out (room for len bytes is enough) and returns their count;
 * ORs requested actions into *actions. Input after a quit is dropped. */
size_t console_escape_feed(struct console_escape *e, const uint8_t *in,
			   size_t len, uint8_t *out, unsigned *actions);

/* Where console input goes. Both calls come from the console thread only.
 * write() takes what fits of buf now and returns that count (0: full);
 * wait_room() returns 0 once write() would take at least one byte, or
 * -ETIMEDOUT after timeout_ms; the console calls it with a short timeout
 * in a loop so console_stop() is never held up by a guest that reads
 * nothing. */
struct console_sink {
	size_t (*write)(void *ctx, const uint8_t *buf, size_t len);
	int (*wait_room)(void *ctx, int timeout_ms);
	void *ctx;
};

/* The UART as a sink (uart8250_receive / uart8250_wait_rx_room). */
struct console_sink console_uart_sink(struct uart8250 *u);

struct console {
	int in_fd;
	struct console_sink sink;
	struct vm_stopper stop;
	int wake_fd;            /* eventfd written by console_stop() */
	atomic_bool stopping;
	bool started;
	bool is_tty;            /* escape processing on */
	bool made_raw;          /* this console changed the terminal mode */
	pthread_t thread;
	struct console_escape esc;
};

/* 0 or a negative errno (bad fd or sink, no thread, terminal could not be
 * set). */
int console_start_sink(struct console *c, int in_fd, struct console_sink sink,
		       struct vm_stopper stop);
/* console_start_sink(c, in_fd, console_uart_sink(u), stop). */
int console_start(struct console *c, int in_fd, struct uart8250 *u,
		  struct vm_stopper stop);

/* Stop the reader, join it, restore the terminal. Safe to call twice or
 * after a failed console_start(). */
void console_stop(struct console *c);

/* Put the terminal back as it was before console_start(); does nothing if
 * nothing was changed. Async-signal-safe. */
void console_restore_terminal(void);

#endif
