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
 * port disable/enable (command byte bits), 0xD0 read output port, 0xD2
 * write keyboard output buffer. Unknown commands are ignored.
 *
 * A PS/2 keyboard is attached, as far as Linux's i8042 and atkbd drivers
 * need to bind (the DSDT declares it as PNP0303; no mouse, so Linux sets
 * noaux): data-port writes are keyboard commands answered with ACK (0xFA),
 * GET ID with FA AB 83 (AB 41 when translating), RESET with FA AA, ECHO
 * with EE, and the parameter byte of SET LEDS / SET TYPEMATIC / SCAN SET
 * acknowledged too. Bytes for the guest wait in a 16-byte queue, a
 * command's answers ahead of key codes not yet read (as QEMU's ps2 does: a
 * driver waiting for its ACK would eat the key codes); each one
 * raises IRQ 1 (an edge, when the command byte's interrupt bit is set and
 * an irq line was given), and reading the data port takes one.
 * i8042_send_ctrl_alt_del() queues the key presses, in scan code set 1
 * when the command byte asks the controller to translate (as Linux leaves
 * it), set 2 otherwise; Linux then signals init (ctrl-alt-del soft mode).
 *
 * State: i8042_save() copies controller and keyboard registers and the
 * queued bytes under the lock; i8042_restore() refuses (-EINVAL, logging
 * the field) a queue index or length out of range, more answers than
 * queued bytes, bytes queued behind an empty output buffer, status bits
 * the controller never sets, flags other than 0/1 and pending commands it
 * does not take. Nothing is raised on restore: IRQ 1 is an edge, and an
 * edge not yet taken is in the irqchip's own state.
 */
#ifndef MVM_BOARD_I8042_H
#define MVM_BOARD_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/irq.h"
#include "core/vmstop.h"

#define I8042_QUEUE 16

/* Guest-visible state: plain data. */
struct i8042_regs {
	uint8_t status;       /* status register without OBF (computed) */
	uint8_t cmd_byte;     /* controller configuration byte */
	uint8_t out_port;     /* output port (bit 0 = reset line, 1 = A20) */
	uint8_t out_buf;      /* byte the data port returns next */
	uint8_t out_full;     /* out_buf holds an unread byte */
	uint8_t pending_cmd;  /* command waiting for its data byte, or 0 */
	uint8_t queue[I8042_QUEUE]; /* bytes for the guest after out_buf */
	uint8_t q_head, q_len;
	uint8_t q_replies;    /* command answers at the head of the queue */
	uint8_t kbd_param_cmd; /* keyboard command waiting for its parameter, or 0 */
	uint8_t kbd_scanning;  /* ENABLE (0xF4) seen and no DISABLE since */
};

struct i8042 {
	struct i8042_regs regs;
	pthread_mutex_t lock;
	struct vm_stopper stop;
	struct irq_line irq;  /* IRQ 1; set is NULL: no interrupts */
};

#define I8042_STATE_VERSION 1

struct i8042_state {
	struct i8042_regs regs;
};

/* 0. */
int i8042_save(struct i8042 *k, struct i8042_state *s);
/* 0 or -EINVAL (logged, naming the field; k unchanged). */
int i8042_restore(struct i8042 *k, const struct i8042_state *s);

void i8042_init(struct i8042 *k, struct vm_stopper stop);
/* The keyboard's interrupt line (board.c); without one, nothing is raised. */
void i8042_set_irq(struct i8042 *k, struct irq_line irq);
void i8042_destroy(struct i8042 *k);

/* bus_io_fn for PORT_I8042_DATA (1 byte); opaque is the struct i8042. */
void i8042_data_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write);
/* bus_io_fn for PORT_I8042_CMD (1 byte); opaque is the struct i8042. */
void i8042_cmd_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write);

/* Queue the make and break codes of Ctrl-Alt-Del and raise IRQ 1. 0,
 * -ENOTSUP without an irq line, -EAGAIN when the queue has no room (the
 * guest is not reading its keyboard). Any thread. */
int i8042_send_ctrl_alt_del(struct i8042 *k);

/* The device kind for the registry (core/device.h). */
extern const struct device_kind i8042_kind;

#endif
