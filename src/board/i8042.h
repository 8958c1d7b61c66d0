/* i8042.h - the PS/2 controller, only as far as guests use it to reboot.
 *
 * Contract: i8042_init() then register two port ranges, each with the
 * struct i8042 as opaque: i8042_data_io for [PORT_I8042_DATA, +1) and
 * i8042_cmd_io for [PORT_I8042_CMD, +1). (Two ranges, not 0x60-0x64, so
 * port 0x61 stays free.) Callbacks may run on several vCPUs at once.
 *
 * Behaviour: the status register never shows input-buffer-full, so
 * Linux's reboot=k (wait for IBF clear, write 0xFE to 0x64) proceeds; a
 * pulse of the reset line (0xFE, or any 0xF0-0xFF command with bit 0
 * clear) or an output-port write (0xD1) with bit 0 clear asks the VM to
 * reset. Also handled: 0x20/0x60 read/write command byte, 0xAA self test
 * (answers 0x55), 0xAB keyboard interface test (0x00), 0xA7/0xA8/0xAD/0xAE
 * port disable/enable (command byte bits), 0xD0 read output port. No
 * keyboard or mouse is attached: data-port writes (device commands) get no
 * answer and no interrupt is ever raised. Unknown commands are ignored.
 */
#ifndef MVM_BOARD_I8042_H
#define MVM_BOARD_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vmstop.h"

/* Guest-visible state: plain data. */
struct i8042_regs {
	uint8_t status;       /* status register without OBF (computed) */
	uint8_t cmd_byte;     /* controller configuration byte */
	uint8_t out_port;     /* output port (bit 0 = reset line, 1 = A20) */
	uint8_t out_buf;      /* byte the data port returns next */
	uint8_t out_full;     /* out_buf holds an unread byte */
	uint8_t pending_cmd;  /* command waiting for its data byte, or 0 */
};

struct i8042 {
	struct i8042_regs regs;
	pthread_mutex_t lock;
	struct vm_stopper stop;
};

void i8042_init(struct i8042 *k, struct vm_stopper stop);
void i8042_destroy(struct i8042 *k);

/* bus_io_fn for PORT_I8042_DATA (1 byte); opaque is the struct i8042. */
void i8042_data_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write);
/* bus_io_fn for PORT_I8042_CMD (1 byte); opaque is the struct i8042. */
void i8042_cmd_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write);

/* Queue the make and break codes of Ctrl-Alt-Del and raise IRQ 1. 0, or
 * -ENOTSUP when no keyboard is emulated. Any thread. */
int i8042_send_ctrl_alt_del(struct i8042 *k);

#endif
