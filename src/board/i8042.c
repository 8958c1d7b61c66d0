/* i8042.c - minimal PS/2 controller: status, command byte, reset line. */
#include "board/i8042.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"

#define STS_OBF      0x01 /* output buffer full */
#define STS_SYS      0x04 /* system flag: self test passed */
#define STS_CMD      0x08 /* last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited */

#define CB_KBD_DISABLE 0x10
#define CB_AUX_DISABLE 0x20

#define CMD_READ_CB      0x20
#define CMD_WRITE_CB     0x60
#define CMD_AUX_DISABLE  0xa7
#define CMD_AUX_ENABLE   0xa8
#define CMD_SELF_TEST    0xaa
#define CMD_KBD_TEST     0xab
#define CMD_KBD_DISABLE  0xad
#define CMD_KBD_ENABLE   0xae
#define CMD_READ_OUTP    0xd0
#define CMD_WRITE_OUTP   0xd1

#define OUTP_RESET 0x01 /* active low: 0 holds the CPU in reset */
#define OUTP_A20   0x02

void i8042_init(struct i8042 *k, struct vm_stopper stop)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->stop = stop;
	k->regs.status = STS_SYS | STS_UNLOCKED;
	k->regs.cmd_byte = 0x44 | CB_AUX_DISABLE; /* sys flag, translate */
	k->regs.out_port = OUTP_RESET | OUTP_A20;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void put_output(struct i8042_regs *r, uint8_t v)
{
	r->out_buf = v;
	r->out_full = 1;
}

/* Returns true when the guest asked for a reset. */
static bool command(struct i8042_regs *r, uint8_t cmd)
{
	r->pending_cmd = 0;
	switch (cmd) {
	case CMD_READ_CB:
		put_output(r, r->cmd_byte);
		break;
	case CMD_WRITE_CB:
	case CMD_WRITE_OUTP:
		r->pending_cmd = cmd;
		break;
	case CMD_AUX_DISABLE:
		r->cmd_byte |= CB_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		r->cmd_byte &= ~CB_AUX_DISABLE;
		break;
	case CMD_SELF_TEST:
		r->status |= STS_SYS;
		put_output(r, 0x55);
		break;
	case CMD_KBD_TEST:
		put_output(r, 0x00);
		break;
	case CMD_KBD_DISABLE:
		r->cmd_byte |= CB_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		r->cmd_byte &= ~CB_KBD_DISABLE;
		break;
	case CMD_READ_OUTP:
		put_output(r, r->out_port);
		break;
	default:
		/* 0xF0-0xFF pulse output lines whose mask bit is 0; bit 0 is reset. */
		if (cmd >= 0xf0)
			return !(cmd & OUTP_RESET);
		log_debug("i8042: ignoring command 0x%02x", cmd);
		break;
	}
	return false;
}

static bool data_write(struct i8042_regs *r, uint8_t v)
{
	uint8_t cmd = r->pending_cmd;

	r->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CB:
		r->cmd_byte = v;
		/* The system flag in the command byte shows in the status. */
		r->status = (r->status & ~STS_SYS) | (v & STS_SYS);
		return false;
	case CMD_WRITE_OUTP:
		r->out_port = v;
		return !(v & OUTP_RESET);
	default:
		return false; /* a keyboard command: nobody is attached */
	}
}

static void port_access(struct i8042 *k, bool cmd_port, uint64_t off, uint8_t *data,
		   uint32_t len, bool is_write)
{
	struct i8042_regs *r = &k->regs;
	bool reset = false;

	/* One-byte registers: only the first byte of offset 0 means anything. */
	if (!is_write)
		memset(data, 0xff, len);
	if (off != 0 || len == 0)
		return;

	pthread_mutex_lock(&k->lock);
	if (is_write) {
		if (cmd_port) {
			r->status |= STS_CMD;
			reset = command(r, data[0]);
		} else {
			r->status &= ~STS_CMD;
			reset = data_write(r, data[0]);
		}
	} else if (cmd_port) {
		data[0] = r->status | (r->out_full ? STS_OBF : 0);
	} else {
		data[0] = r->out_buf;
		r->out_full = 0;
	}
	pthread_mutex_unlock(&k->lock);

	if (reset) {
		log_debug("i8042: guest pulsed the reset line");
		vm_stopper_request(&k->stop, VM_STOP_RESET);
	}
}

void i8042_data_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write)
{
	port_access(opaque, false, off, data, len, is_write);
}

void i8042_cmd_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write)
{
	port_access(opaque, true, off, data, len, is_write);
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	return -ENOTSUP;
}
