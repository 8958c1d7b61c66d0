/* console.c - reader thread: host input -> escape handling -> a sink (UART RX
 * or the virtio console). */
#include "board/console.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sandbox.h"

/* One controlling terminal per process: its saved mode is process state,
 * and must be reachable from signal handlers that know nothing of a VM. */
static struct termios saved_tio;
static volatile sig_atomic_t saved_fd = -1;

#define ROOM_WAIT_MS 50 /* how often a blocked feed rechecks for stop */

void console_restore_terminal(void)
{
	int fd = saved_fd;

	if (fd >= 0)
		tcsetattr(fd, TCSANOW, &saved_tio);
}

static const char help_text[] =
	"\r\nmvm console escapes:\r\n"
	"  Ctrl-A x       stop the VM\r\n"
	"  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n"
	"  Ctrl-A h       this help\r\n";

size_t console_escape_feed(struct console_escape *e, const uint8_t *in,
			   size_t len, uint8_t *out, unsigned *actions)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t ch = in[i];

		if (!e->pending) {
			if (ch == CONSOLE_ESCAPE_CHAR)
				e->pending = true;
			else
				out[n++] = ch;
			continue;
		}
		e->pending = false;
		switch (ch) {
		case CONSOLE_ESCAPE_CHAR:
			out[n++] = ch;
			break;
		case 'x':
		case 'X':
			*actions |= CONSOLE_ACT_QUIT;
			return n;
		case 'h':
		case 'H':
		case '?':
			*actions |= CONSOLE_ACT_HELP;
			break;
		default:
			break; /* unknown command: swallowed, like QEMU's mux */
		}
	}
	return n;
}

static int set_raw(int fd)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	/* A second console on the same terminal must not save raw mode as
	 * "original". */
	if (saved_fd < 0) {
		saved_tio = tio;
		saved_fd = fd;
	}
	tio.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
			 ICRNL | IXON);
	tio.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	tio.c_cflag &= ~(CSIZE | PARENB);
	tio.c_cflag |= CS8;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	/* c_oflag untouched: OPOST/ONLCR keep our own "\n" messages sane. */
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	return 0;
}

static size_t uart_sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	return uart8250_receive(ctx, buf, len);
}

static int uart_sink_wait_room(void *ctx, int timeout_ms)
{
	return uart8250_wait_rx_room(ctx, timeout_ms);
}

struct console_sink console_uart_sink(struct uart8250 *u)
{
	return (struct console_sink){
		.write = uart_sink_write,
		.wait_room = uart_sink_wait_room,
		.ctx = u,
	};
}

/* Hand bytes to the sink, waiting while it is full. False when the console
 * is being stopped. */
static bool feed(struct console *c, const uint8_t *p, size_t n)
{
	while (n) {
		size_t k = c->sink.write(c->sink.ctx, p, n);

		p += k;
		n -= k;
		if (!n)
			break;
		if (atomic_load(&c->stopping))
			return false;
		c->sink.wait_room(c->sink.ctx, ROOM_WAIT_MS);
	}
	return true;
}

/* Terminal input the guest has not taken yet. A terminal keeps being read
 * while the guest ignores its UART, so Ctrl-A x always works; what does not
 * fit here is dropped, as a real serial line would. */
#define TTY_BACKLOG 4096

struct tty_backlog {
	uint8_t bytes[TTY_BACKLOG];
	size_t len;
};

static void backlog_push(struct tty_backlog *b, const uint8_t *p, size_t n)
{
	if (n > TTY_BACKLOG - b->len)
		n = TTY_BACKLOG - b->len;
	memcpy(b->bytes + b->len, p, n);
	b->len += n;
}

static void backlog_drain(struct tty_backlog *b, const struct console_sink *s)
{
	size_t k = b->len ? s->write(s->ctx, b->bytes, b->len) : 0;

	memmove(b->bytes, b->bytes + k, b->len - k);
	b->len -= k;
}

static void *console_thread(void *arg)
{
	struct console *c = arg;
	uint8_t buf[256], out[256];
	struct tty_backlog *backlog = calloc(1, sizeof(*backlog));

	pthread_setname_np(pthread_self(), "mvm-stdin");
	sandbox_enter(SANDBOX_CONSOLE);
	if (c->is_tty && !backlog) {
		log_err("console: out of memory; guest input stops");
		return NULL;
	}
	while (!atomic_load(&c->stopping)) {
		/* A terminal is read whenever there is room to keep what it sends;
		 * a pipe only when the guest has taken the previous bytes. */
		bool read_input = !c->is_tty || backlog->len < TTY_BACKLOG;
		struct pollfd p[2] = {
			{ .fd = read_input ? c->in_fd : -1, .events = POLLIN },
			{ .fd = c->wake_fd, .events = POLLIN },
		};
		int timeout = c->is_tty && backlog->len ? ROOM_WAIT_MS : -1;
		unsigned actions = 0;
		ssize_t n;
		size_t m;

		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_err("console: poll failed: %s; guest input stops", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLNVAL) {
			log_err("console: input fd %d is not open; guest input stops", c->in_fd);
			break;
		}
		if (!p[0].revents) {
			if (c->is_tty)
				backlog_drain(backlog, &c->sink);
			continue;
		}
		n = read(c->in_fd, buf, sizeof(buf));
		if (n == 0)
			break; /* EOF: no more input, the VM runs on */
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("console: reading input failed: %s; guest input stops",
				 strerror(errno));
			break;
		}
		if (!c->is_tty) {
			if (!feed(c, buf, (size_t)n))
				break;
			continue;
		}
		m = console_escape_feed(&c->esc, buf, (size_t)n, out, &actions);
		backlog_push(backlog, out, m);
		backlog_drain(backlog, &c->sink);
		if (actions & CONSOLE_ACT_HELP) {
			ssize_t w = write(STDERR_FILENO, help_text, sizeof(help_text) - 1);
			(void)w; /* help is best effort */
		}
		if (actions & CONSOLE_ACT_QUIT) {
			vm_stopper_request(&c->stop, VM_STOP_USER);
			break;
		}
	}
	free(backlog);
	return NULL;
}

int console_start(struct console *c, int in_fd, struct uart8250 *u,
		  struct vm_stopper stop)
{
	if (!u) {
		memset(c, 0, sizeof(*c));
		c->wake_fd = -1;
		return -EBADF;
	}
	return console_start_sink(c, in_fd, console_uart_sink(u), stop);
}

int console_start_sink(struct console *c, int in_fd, struct console_sink sink,
		       struct vm_stopper stop)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->wake_fd = -1;
	c->in_fd = in_fd;
	c->sink = sink;
	c->stop = stop;
	atomic_init(&c->stopping, false);
	if (in_fd < 0 || !sink.write || !sink.wait_room)
		return -EBADF;

	c->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		rc = -errno;
		log_err("console: eventfd failed: %s", strerror(errno));
		return rc;
	}
	c->is_tty = isatty(in_fd);
	if (c->is_tty) {
		rc = set_raw(in_fd);
		if (rc < 0) {
			log_err("console: cannot put the terminal in raw mode: %s",
				strerror(-rc));
			goto fail;
		}
		c->made_raw = true;
	}
	rc = -pthread_create(&c->thread, NULL, console_thread, c);
	if (rc < 0) {
		log_err("console: cannot start the input thread: %s", strerror(-rc));
		goto fail;
	}
	c->started = true;
	return 0;
fail:
	if (c->made_raw) {
		console_restore_terminal();
		c->made_raw = false;
	}
	close(c->wake_fd);
	c->wake_fd = -1;
	return rc;
}

void console_stop(struct console *c)
{
	uint64_t one = 1;

	if (c->started) {
		atomic_store(&c->stopping, true);
		if (write(c->wake_fd, &one, sizeof(one)) < 0)
			log_warn("console: cannot wake the input thread: %s", strerror(errno));
		pthread_join(c->thread, NULL);
		close(c->wake_fd);
		c->wake_fd = -1;
		c->started = false;
	}
	if (c->made_raw) {
		console_restore_terminal();
		saved_fd = -1;
		c->made_raw = false;
	}
}
