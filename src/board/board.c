/* board.c - the builder: every legacy device initialized and registered on
 * the port-I/O bus in one fixed order. */
#include "board/board.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct board_port {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	size_t opaque_offset;   /* which device inside struct board */
	const char *name;
};

#define DEV(field) offsetof(struct board, field)

static const struct board_port board_ports[] = {
	{ PORT_I8042_DATA,     1,                i8042_data_io, DEV(i8042),   "i8042 data" },
	{ PORT_I8042_CMD,      1,                i8042_cmd_io,  DEV(i8042),   "i8042 command" },
	{ PORT_RTC,            2,                rtc_io,        DEV(rtc),     "CMOS RTC" },
	{ PORT_DEBUG_EXIT,     PORT_DEBUG_EXIT_LEN, debug_exit_io, DEV(debug_exit), "isa-debug-exit" },
	{ PORT_COM1,           8,                uart8250_io,   DEV(com1),    "COM1 16550A" },
	{ PORT_PVPANIC,        1,                pvpanic_io,    DEV(pvpanic), "pvpanic" },
	{ PORT_ACPI_SLEEP_CTL, PORT_ACPI_PM_LEN, acpi_pm_io,    DEV(acpi_pm), "ACPI PM" },
};

int board_create(struct board *b, const struct board_env *env)
{
	struct irq_line com1_irq = { env->irq_set, env->irq_ctx, IRQ_COM1 };
	struct irq_line rtc_irq = { env->irq_set, env->irq_ctx, IRQ_RTC };

	memset(b, 0, sizeof(*b));
	b->stopper = env->stopper;
	b->console_in_fd = env->console_in_fd;
	uart8250_init(&b->com1, com1_irq, env->console_out_fd);
	uart8250_set_stop_flag(&b->com1, env->stopping);
	b->console_sink = console_uart_sink(&b->com1);
	i8042_init(&b->i8042, env->stopper);
	i8042_set_irq(&b->i8042, (struct irq_line){ env->irq_set, env->irq_ctx, IRQ_KBD });
	rtc_init(&b->rtc, rtc_irq);
	pvpanic_init(&b->pvpanic, env->stopper);
	debug_exit_init(&b->debug_exit, env->stopper);
	acpi_pm_init(&b->acpi_pm, env->stopper);
	b->created = true;

	for (size_t i = 0; i < sizeof(board_ports) / sizeof(board_ports[0]); i++) {
		const struct board_port *p = &board_ports[i];
		int ret = bus_add(env->pio, p->base, p->len, p->fn,
				  (char *)b + p->opaque_offset, p->name);

		if (ret) {
			log_err("registering %s at port %#llx: %s", p->name,
				(unsigned long long)p->base, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void board_set_console_sink(struct board *b, struct console_sink sink)
{
	b->console_sink = sink;
}

int board_start(struct board *b)
{
	int ret = console_start_sink(&b->console, b->console_in_fd, b->console_sink,
				     b->stopper);

	if (ret) {
		log_err("starting the console: %s", strerror(-ret));
		return ret;
	}
	b->console_started = true;
	return 0;
}

void board_stop(struct board *b)
{
	if (b->console_started)
		console_stop(&b->console);
	b->console_started = false;
}

void board_destroy(struct board *b)
{
	if (!b->created)
		return;
	board_stop(b);
	acpi_pm_destroy(&b->acpi_pm);
	debug_exit_destroy(&b->debug_exit);
	pvpanic_destroy(&b->pvpanic);
	rtc_destroy(&b->rtc);
	i8042_destroy(&b->i8042);
	uart8250_destroy(&b->com1);
	b->created = false;
}
