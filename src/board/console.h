/* console.h - the host terminal (or any input fd) feeding the guest's UART.
 *
 * Contract: console_start() starts one thread that reads in_fd and feeds
 * uart8250_receive(), waiting for the guest to drain the FIFO rather than
 * dropping input; console_stop() ends it promptly (even mid-read or while
 * the FIFO is full), joins it and restores the terminal. EOF on in_fd only
 * ends the reader; the VM keeps running.
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

struct console {
	int in_fd;
	struct uart8250 *uart;
	struct vm_stopper stop;
	int wake_fd;            /* eventfd written by console_stop() */
	atomic_bool stopping;
	bool started;
	bool is_tty;            /* escape processing on */
	bool made_raw;          /* this console changed the terminal mode */
	pthread_t thread;
	struct console_escape esc;
};

/* 0 or a negative errno (bad fd, no thread, terminal could not be set). */
int console_start(struct console *c, int in_fd, struct uart8250 *u,
		  struct vm_stopper stop);

/* Stop the reader, join it, restore the terminal. Safe to call twice or
 * after a failed console_start(). */
void console_stop(struct console *c);

/* Put the terminal back as it was before console_start(); does nothing if
 * nothing was changed. Async-signal-safe. */
void console_restore_terminal(void);

#endif
