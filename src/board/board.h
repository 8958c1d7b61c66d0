/* board.h - the x86 board mvm emulates around the in-kernel irqchip and PIT:
 * COM1, i8042 (reset only), CMOS RTC, pvpanic, QEMU's isa-debug-exit and
 * the HW-reduced ACPI power registers, plus the host console that feeds COM1.
 *
 * Contract: board_create() is the builder: it initializes every device and
 * registers its port ranges in a fixed order; it fails (with a message) if
 * any range is refused. board_start()/board_stop() start and stop the
 * console thread; board_stop() always restores the terminal.
 */
#ifndef MVM_BOARD_BOARD_H
#define MVM_BOARD_BOARD_H

#include <stdatomic.h>

#include "board/acpi_pm.h"
#include "board/debug_exit.h"
#include "board/i8042.h"
#include "board/pvpanic.h"
#include "board/rtc.h"
#include "board/uart8250.h"
#include "core/bus.h"
#include "core/irq.h"
#include "core/vmstop.h"
#include "board/console.h"

struct board_env {
	struct bus *pio;
	struct bus *mmio;
	void (*irq_set)(void *ctx, uint32_t gsi, int level);
	void *irq_ctx;
	struct vm_stopper stopper;
	const atomic_bool *stopping; /* the VM's stop flag (lets blocked output give up) */
	int console_in_fd;   /* stdin */
	int console_out_fd;  /* stdout */
};

struct board {
	struct uart8250 com1;
	struct i8042 i8042;
	struct rtc rtc;
	struct pvpanic pvpanic;
	struct debug_exit debug_exit;
	struct acpi_pm acpi_pm;
	struct console console;
	struct console_sink console_sink; /* COM1 unless board_set_console_sink() */
	struct vm_stopper stopper;
	int console_in_fd;
	bool created;
	bool console_started;
};

int board_create(struct board *b, const struct board_env *env);
/* Between board_create() and board_start(): host input feeds sink (the
 * virtio console) instead of COM1; COM1 keeps printing guest output. */
void board_set_console_sink(struct board *b, struct console_sink sink);
int board_start(struct board *b);
void board_stop(struct board *b);
void board_destroy(struct board *b);

#endif
