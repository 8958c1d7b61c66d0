/* fw_cfg.c - QEMU's fw_cfg on ports 0x510/0x511: the machine's vCPU count and RAM size for test kernels. */
#include "board/fw_cfg.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FW_CFG_WRITE_BIT 0x4000   /* selector bit 14: ignored in the lookup */
#define FW_CFG_OFF_SEL   0        /* port offsets */
#define FW_CFG_OFF_DATA  1

static void fw_cfg_put_le(struct fw_cfg_item *it, uint16_t key, uint64_t v, uint8_t len)
{
	it->key = key;
	it->len = len;
	for (uint8_t i = 0; i < len; i++)
		it->data[i] = (uint8_t)(v >> (8 * i));
}

void fw_cfg_init(struct fw_cfg *f, int nr_cpus, uint64_t ram_size)
{
	struct fw_cfg_item *it = f->items;

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->regs.key = FW_CFG_INVALID;
	it[0] = (struct fw_cfg_item){ .key = FW_CFG_SIGNATURE, .len = 4, .data = "QEMU" };
	fw_cfg_put_le(&it[1], FW_CFG_ID, FW_CFG_ID_TRADITIONAL, 4);
	fw_cfg_put_le(&it[2], FW_CFG_RAM_SIZE, ram_size, 8);
	fw_cfg_put_le(&it[3], FW_CFG_NB_CPUS, (uint16_t)nr_cpus, 2);
	fw_cfg_put_le(&it[4], FW_CFG_MAX_CPUS, (uint16_t)nr_cpus, 2);
	/* The file directory: a big-endian count of 0 and no entries. */
	it[5] = (struct fw_cfg_item){ .key = FW_CFG_FILE_DIR, .len = 4 };
	_Static_assert(FW_CFG_NR_ITEMS == 6, "every item filled above");
}

void fw_cfg_destroy(struct fw_cfg *f)
{
	pthread_mutex_destroy(&f->lock);
}

/* The item a selected key names, or NULL. */
static const struct fw_cfg_item *fw_cfg_item(const struct fw_cfg *f, uint16_t key)
{
	if (key == FW_CFG_INVALID)
		return NULL;
	key &= (uint16_t)~FW_CFG_WRITE_BIT;
	for (int i = 0; i < FW_CFG_NR_ITEMS; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

void fw_cfg_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct fw_cfg *f = opaque;
	const struct fw_cfg_item *it;

	if (!is_write)
		memset(data, 0, len);
	pthread_mutex_lock(&f->lock);
	if (is_write && off == FW_CFG_OFF_SEL && len == 2) {
		uint16_t key = (uint16_t)(data[0] | data[1] << 8);

		f->regs.key = fw_cfg_item(f, key) ? key : FW_CFG_INVALID;
		f->regs.offset = 0;
	} else if (!is_write && off == FW_CFG_OFF_DATA && len == 1) {
		it = fw_cfg_item(f, f->regs.key);
		if (it && f->regs.offset < it->len)
			data[0] = it->data[f->regs.offset++];
	} else {
		f->ignored++;
		log_debug_rl("fw_cfg: %u-byte %s at port offset %llu ignored", len,
			     is_write ? "write" : "read", (unsigned long long)off);
	}
	pthread_mutex_unlock(&f->lock);
}

void fw_cfg_save(struct fw_cfg *f, struct fw_cfg_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&f->lock);
	s->regs = f->regs;
	pthread_mutex_unlock(&f->lock);
	s->regs.pad = 0;
}

int fw_cfg_restore(struct fw_cfg *f, const struct fw_cfg_state *s)
{
	const struct fw_cfg_item *it = fw_cfg_item(f, s->regs.key);
	uint32_t max = it ? it->len : 0;

	if (s->regs.pad) {
		log_err("fw_cfg state: pad = %#x is not zero; state refused", s->regs.pad);
		return -EINVAL;
	}
	if (s->regs.offset > max || (!it && s->regs.key != FW_CFG_INVALID)) {
		log_err("fw_cfg state: key 0x%x, offset %u: %s", s->regs.key, s->regs.offset,
			it || s->regs.key == FW_CFG_INVALID ? "offset past the end of the item"
							    : "no such item");
		return -EINVAL;
	}
	pthread_mutex_lock(&f->lock);
	f->regs = s->regs;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int fw_cfg_kind_count(const struct vm_config *cfg)
{
	return cfg->fw_cfg ? 1 : 0;
}

static int fw_cfg_kind_create(void **dev, const struct vm_config *cfg, int index,
			      const struct device_env *env)
{
	struct fw_cfg *f = calloc(1, sizeof(*f));

	(void)index;
	(void)env;
	if (!f)
		return -ENOMEM;
	fw_cfg_init(f, cfg->nr_cpus, cfg->mem_size);
	*dev = f;
	return 0;
}

static int fw_cfg_kind_attach(void *dev, const struct device_env *env, uint64_t base, uint32_t gsi)
{
	(void)base;
	(void)gsi;
	return device_claim_ports(env, PORT_FW_CFG, PORT_FW_CFG_LEN, fw_cfg_io, dev, "fw_cfg");
}

static int fw_cfg_kind_save(void *dev, void *state, size_t len)
{
	if (len != sizeof(struct fw_cfg_state))
		return -EINVAL;
	fw_cfg_save(dev, state);
	return 0;
}

static int fw_cfg_kind_restore(void *dev, const void *state, size_t len)
{
	if (len != sizeof(struct fw_cfg_state))
		return -EINVAL;
	return fw_cfg_restore(dev, state);
}

static void fw_cfg_kind_destroy(void *dev)
{
	fw_cfg_destroy(dev);
	free(dev);
}

const struct device_kind fw_cfg_kind = {
	.name = "fw_cfg",
	.short_name = "fw_cfg",
	.count = fw_cfg_kind_count,
	.create = fw_cfg_kind_create,
	.attach = fw_cfg_kind_attach,
	.state_size = sizeof(struct fw_cfg_state),
	.state_version = FW_CFG_STATE_VERSION,
	.save = fw_cfg_kind_save,
	.restore = fw_cfg_kind_restore,
	.destroy = fw_cfg_kind_destroy,
};
