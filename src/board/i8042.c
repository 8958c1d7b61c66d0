/* i8042.c - minimal PS/2 controller (status, command byte, reset line) and keyboard. */
#include "board/i8042.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

#define CMD_WRITE_KBD_OUT 0xd2

#define CB_KBD_INT   0x01
#define CB_TRANSLATE 0x40

/* Keyboard commands (data-port writes) and answers. */
#define KBD_SET_LEDS   0xed
#define KBD_ECHO       0xee
#define KBD_SCAN_SET   0xf0
#define KBD_GET_ID     0xf2
#define KBD_TYPEMATIC  0xf3
#define KBD_ENABLE     0xf4
#define KBD_DISABLE    0xf5
#define KBD_DEFAULTS   0xf6
#define KBD_RESEND     0xfe
#define KBD_RESET      0xff
#define KBD_ACK        0xfa
#define KBD_BAT_OK     0xaa

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

/* Controller answers replace what is waiting (the guest asked for them). */
static void put_output(struct i8042_regs *r, uint8_t v)
{
	r->out_buf = v;
	r->out_full = 1;
}

/* A byte from the keyboard: straight into the output buffer when it is
 * free, else behind it in the queue. false when the queue is full. */
static bool kbd_push(struct i8042_regs *r, uint8_t v)
{
	if (!r->out_full) {
		put_output(r, v);
		return true;
	}
	if (r->q_len == I8042_QUEUE)
		return false;
	r->queue[(r->q_head + r->q_len++) % I8042_QUEUE] = v;
	return true;
}

/* The keyboard's answer to a command: ahead of any key codes still queued
 * (behind earlier answers), since a driver waiting for its ACK takes what
 * comes first as the answer and drops it (Linux's libps2 does). When the
 * queue is full the newest key code makes room: the driver's command must
 * complete. */
static void kbd_reply(struct i8042_regs *r, uint8_t v)
{
	unsigned pos;

	if (!r->out_full) {
		put_output(r, v);
		return;
	}
	if (r->q_len == I8042_QUEUE) {
		if (r->q_replies == I8042_QUEUE)
			return;
		r->q_len--;
	}
	/* Shift the key codes after the answers one slot back. */
	for (pos = r->q_len; pos > r->q_replies; pos--)
		r->queue[(r->q_head + pos) % I8042_QUEUE] =
			r->queue[(r->q_head + pos - 1) % I8042_QUEUE];
	r->queue[(r->q_head + r->q_replies) % I8042_QUEUE] = v;
	r->q_len++;
	r->q_replies++;
}

/* After the guest read the data port: the next queued byte, if any.
 * true when a new byte is there (another interrupt is due). */
static bool kbd_refill(struct i8042_regs *r)
{
	if (r->out_full || !r->q_len)
		return false;
	put_output(r, r->queue[r->q_head]);
	r->q_head = (r->q_head + 1) % I8042_QUEUE;
	r->q_len--;
	if (r->q_replies)
		r->q_replies--;
	return true;
}

static bool kbd_irq_enabled(const struct i8042_regs *r)
{
	return (r->cmd_byte & CB_KBD_INT) && !(r->cmd_byte & CB_KBD_DISABLE);
}

/* One IRQ 1 edge, with k->lock held. Two threads raise this line (the API
 * thread's Ctrl-Alt-Del, a vCPU reading the data port): pulsed outside the
 * lock, the vCPU's rise can land while the API thread still holds the line
 * high, so it is no edge and the guest waits for a byte that never
 * interrupts (a Ctrl-Alt-Del lost after its first scan code). */
static void kbd_pulse_locked(struct i8042 *k)
{
	irq_line_set(&k->irq, 1);
	irq_line_set(&k->irq, 0);
}

/* A keyboard command or its parameter byte, written to the data port. */
static void kbd_command(struct i8042_regs *r, uint8_t v)
{
	uint8_t param_of = r->kbd_param_cmd;

	r->kbd_param_cmd = 0;
	if (param_of) {
		kbd_reply(r, KBD_ACK);
		/* SCAN SET 0 asks which set: 2 (0x41 as the translator shows it). */
		if (param_of == KBD_SCAN_SET && v == 0)
			kbd_reply(r, r->cmd_byte & CB_TRANSLATE ? 0x41 : 0x02);
		return;
	}
	switch (v) {
	case KBD_SET_LEDS:
	case KBD_SCAN_SET:
	case KBD_TYPEMATIC:
		r->kbd_param_cmd = v;
		kbd_reply(r, KBD_ACK);
		break;
	case KBD_ECHO:
		kbd_reply(r, KBD_ECHO);
		break;
	case KBD_GET_ID:
		kbd_reply(r, KBD_ACK);
		kbd_reply(r, 0xab);
		kbd_reply(r, r->cmd_byte & CB_TRANSLATE ? 0x41 : 0x83);
		break;
	case KBD_ENABLE:
		r->kbd_scanning = 1;
		kbd_reply(r, KBD_ACK);
		break;
	case KBD_DISABLE:
	case KBD_DEFAULTS:
		r->kbd_scanning = v == KBD_DEFAULTS;
		kbd_reply(r, KBD_ACK);
		break;
	case KBD_RESET:
		r->q_len = r->q_replies = 0;
		r->kbd_scanning = 1;
		kbd_reply(r, KBD_ACK);
		kbd_reply(r, KBD_BAT_OK);
		break;
	case KBD_RESEND:
		kbd_reply(r, r->out_buf);
		break;
	default:
		kbd_reply(r, KBD_ACK);  /* everything else: acknowledged, nothing changes */
		break;
	}
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
	case CMD_WRITE_KBD_OUT:
		r->pending_cmd = cmd;
		break;
	default:
		/* 0xF0-0xFF pulse output lines whose mask bit is 0; bit 0 is reset. */
		if (cmd >= 0xf0)
			return !(cmd & OUTP_RESET);
		log_debug_rl("i8042: ignoring command 0x%02x", cmd);
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
	case CMD_WRITE_KBD_OUT:
		kbd_push(r, v);  /* as if the keyboard had sent it */
		return false;
	default:
		kbd_command(r, v);
		return false;
	}
}

static void port_access(struct i8042 *k, bool cmd_port, uint64_t off, uint8_t *data,
		   uint32_t len, bool is_write)
{
	struct i8042_regs *r = &k->regs;
	bool reset = false, raise = false, irq_was;
	uint8_t had;

	/* One-byte registers: only the first byte of offset 0 means anything. */
	if (!is_write)
		memset(data, 0xff, len);
	if (off != 0 || len == 0)
		return;

	pthread_mutex_lock(&k->lock);
	had = r->out_full;
	irq_was = kbd_irq_enabled(r);
	if (is_write) {
		if (cmd_port) {
			r->status |= STS_CMD;
			reset = command(r, data[0]);
		} else {
			r->status &= ~STS_CMD;
			reset = data_write(r, data[0]);
		}
		/* A keyboard answer just landed in the output buffer, or the
		 * guest just enabled the interrupt with a byte waiting (a new
		 * command byte, or 0xAE re-enabling the keyboard interface):
		 * the 8042's IRQ1 follows OBF while the interrupt is enabled,
		 * so enabling it over a full buffer raises it. */
		raise = r->out_full && (!irq_was || (!cmd_port && !had));
	} else if (cmd_port) {
		data[0] = r->status | (r->out_full ? STS_OBF : 0);
	} else {
		data[0] = r->out_buf;
		r->out_full = 0;
		raise = kbd_refill(r);
	}
	if (raise && kbd_irq_enabled(r))
		kbd_pulse_locked(k);
	pthread_mutex_unlock(&k->lock);

	if (reset) {
		log_debug_rl("i8042: guest pulsed the reset line");
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

void i8042_set_irq(struct i8042 *k, struct irq_line irq)
{
	k->irq = irq;
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Ctrl, Alt, Delete pressed, then released in reverse order. */
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71,
					0xf0, 0x11, 0xf0, 0x14 };
	struct i8042_regs *r = &k->regs;
	const uint8_t *codes;
	size_t n;
	bool raise;

	if (!k->irq.set)
		return -ENOTSUP;
	pthread_mutex_lock(&k->lock);
	if (r->cmd_byte & CB_TRANSLATE) {
		codes = set1;
		n = sizeof(set1);
	} else {
		codes = set2;
		n = sizeof(set2);
	}
	/* All or nothing: half a key sequence would leave a key held down. */
	if ((size_t)(I8042_QUEUE - r->q_len) + !r->out_full < n) {
		pthread_mutex_unlock(&k->lock);
		return -EAGAIN;
	}
	raise = !r->out_full;
	for (size_t i = 0; i < n; i++)
		kbd_push(r, codes[i]);
	raise = raise && kbd_irq_enabled(r);
	/* What the guest's driver will see: for a Ctrl-Alt-Del that goes unanswered. */
	log_info("i8042: Ctrl-Alt-Del queued (%zu scancodes, set %d); command byte %#04x, "
		 "%s, %u byte(s) queued, %s", n, codes == set1 ? 1 : 2, r->cmd_byte,
		 raise ? "interrupt raised" : "output buffer already full",
		 (unsigned)r->q_len, r->kbd_scanning ? "scanning" : "keyboard disabled");
	if (raise)
		kbd_pulse_locked(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* ---- state ---- */

static int i8042_refuse(const char *field, unsigned val, const char *why)
{
	log_err("i8042 state: %s = %#x %s; state refused", field, val, why);
	return -EINVAL;
}

int i8042_save(struct i8042 *k, struct i8042_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&k->lock);
	memcpy(&s->regs, &k->regs, sizeof(s->regs));
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int i8042_check(const struct i8042_regs *r)
{
	uint8_t pc = r->pending_cmd, kc = r->kbd_param_cmd;

	if (r->status & ~(STS_SYS | STS_CMD | STS_UNLOCKED))
		return i8042_refuse("status", r->status, "has bits the controller never stores");
	if (r->out_full > 1)
		return i8042_refuse("out_full", r->out_full, "is not 0 or 1");
	if (r->kbd_scanning > 1)
		return i8042_refuse("kbd_scanning", r->kbd_scanning, "is not 0 or 1");
	if (pc && pc != CMD_WRITE_CB && pc != CMD_WRITE_OUTP && pc != CMD_WRITE_KBD_OUT)
		return i8042_refuse("pending_cmd", pc, "is not a command that takes a data byte");
	if (kc && kc != KBD_SET_LEDS && kc != KBD_SCAN_SET && kc != KBD_TYPEMATIC)
		return i8042_refuse("kbd_param_cmd", kc, "is not a keyboard command with a parameter");
	if (r->q_head >= I8042_QUEUE)
		return i8042_refuse("q_head", r->q_head, "is past the queue");
	if (r->q_len > I8042_QUEUE)
		return i8042_refuse("q_len", r->q_len, "exceeds the queue");
	if (r->q_replies > r->q_len)
		return i8042_refuse("q_replies", r->q_replies, "exceeds the queued bytes");
	/* The output buffer is refilled from the queue as soon as it empties. */
	if (r->q_len && !r->out_full)
		return i8042_refuse("q_len", r->q_len, "with an empty output buffer");
	return 0;
}

int i8042_restore(struct i8042 *k, const struct i8042_state *s)
{
	int err = i8042_check(&s->regs);

	if (err)
		return err;
	pthread_mutex_lock(&k->lock);
	memcpy(&k->regs, &s->regs, sizeof(k->regs));
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */


static int i8042_kind_create(void **dev, const struct vm_config *cfg, int index,
			     const struct device_env *env)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	i8042_init(k, env->stopper);
	i8042_set_irq(k, device_irq_line(env, IRQ_KBD));
	*dev = k;
	return 0;
}

static int i8042_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	struct i8042 *k = dev;

	return device_claim_ports(env, PORT_I8042_DATA, 1, i8042_data_io, k, "i8042 data") ?:
	       device_claim_ports(env, PORT_I8042_CMD, 1, i8042_cmd_io, k, "i8042 command");
}

static int i8042_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct i8042_state) ? i8042_save(dev, state) : -EINVAL;
}

static int i8042_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct i8042_state) ? i8042_restore(dev, state) : -EINVAL;
}

static void i8042_kind_destroy(void *dev)
{
	struct i8042 *k = dev;

	i8042_destroy(k);
	free(k);
}

const struct device_kind i8042_kind = {
	.name = "i8042",
	.short_name = "i8042",
	.create = i8042_kind_create,
	.attach = i8042_kind_attach,
	.state_size = sizeof(struct i8042_state),
	.state_version = I8042_STATE_VERSION,
	.save = i8042_kind_save,
	.restore = i8042_kind_restore,
	.destroy = i8042_kind_destroy,
};
