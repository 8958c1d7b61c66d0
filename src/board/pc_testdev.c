/* pc_testdev.c - QEMU's pc-testdev for kvm-unit-tests: a latch, a page flush, IRQ lines, RAM-like MMIO. */
#include "board/pc_testdev.h"
#include "core/device.h"
#include "core/layout.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096ULL

void pc_testdev_init(struct pc_testdev *t, const struct gmem *mem,
		     const struct irq_line lines[PC_TESTDEV_NR_IRQS])
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->mem = mem;
	memcpy(t->lines, lines, sizeof(t->lines));
}

void pc_testdev_destroy(struct pc_testdev *t)
{
	pthread_mutex_destroy(&t->lock);
}

void pc_testdev_latch_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pc_testdev *t = opaque;
	uint8_t b[4];

	/* The bus hands over only accesses inside the 4 ports; check anyway. */
	if (off >= 4 || len > 4 - off) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(t->latch >> (8 * i));
	if (is_write) {
		memcpy(b + off, data, len);
		t->latch = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			   (uint32_t)b[3] << 24;
	} else {
		memcpy(data, b + off, len);
	}
	pthread_mutex_unlock(&t->lock);
}

void pc_testdev_flush_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pc_testdev *t = opaque;
	uint32_t gpa;
	uint8_t *host;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (off != 0 || len != 4)
		return;
	memcpy(&gpa, data, 4);
	host = gmem_ptr(t->mem, gpa & ~(PAGE - 1), PAGE);
	if (!host) {
		log_debug_rl("pc-testdev: flush of 0x%x: not RAM, ignored", gpa);
		return;
	}
	/* Changing the protection makes the kernel invalidate the range, and
	 * KVM's MMU notifier drops the guest's translation of the page. */
	pthread_mutex_lock(&t->lock);
	if (mprotect(host, PAGE, PROT_NONE) || mprotect(host, PAGE, PROT_READ | PROT_WRITE))
		log_warn_rl("pc-testdev: flush of 0x%x: mprotect: %s", gpa, strerror(errno));
	t->flushes++;
	pthread_mutex_unlock(&t->lock);
}

void pc_testdev_irq_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pc_testdev *t = opaque;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* QEMU takes these ports a byte at a time: a wider write sets line
	 * off + i from byte i (realmode.flat's outl to 0x200b raises line 11
	 * and lowers 12-14). The bus keeps off + len within the 24 ports. */
	for (uint32_t i = 0; i < len && off + i < PC_TESTDEV_NR_IRQS; i++)
		irq_line_set(&t->lines[off + i], data[i] != 0);
}

void pc_testdev_iomem_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pc_testdev *t = opaque;

	if (off >= PC_TESTDEV_IOMEM_LEN || len > PC_TESTDEV_IOMEM_LEN - off) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (is_write)
		memcpy(t->iomem + off, data, len);
	else
		memcpy(data, t->iomem + off, len);
	pthread_mutex_unlock(&t->lock);
}

_Static_assert(sizeof(struct pc_testdev_state) == 8 + PC_TESTDEV_IOMEM_LEN,
	       "pc_testdev_state has hidden padding");

int pc_testdev_save(struct pc_testdev *t, struct pc_testdev_state *s)
{
	s->pad = 0;
	pthread_mutex_lock(&t->lock);
	s->latch = t->latch;
	memcpy(s->iomem, t->iomem, sizeof(s->iomem));
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int pc_testdev_restore(struct pc_testdev *t, const struct pc_testdev_state *s)
{
	if (s->pad) {
		log_err("pc-testdev state: pad = %#x is not zero; state refused", s->pad);
		return -EINVAL;
	}
	pthread_mutex_lock(&t->lock);
	t->latch = s->latch;
	memcpy(t->iomem, s->iomem, sizeof(t->iomem));
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* ---- the device kind (core/device.h): one line in vmm/devices.c's table ---- */

static int pc_testdev_kind_count(const struct vm_config *cfg)
{
	return cfg->pc_testdev ? 1 : 0;
}

static int pc_testdev_kind_create(void **dev, const struct vm_config *cfg, int index,
				  const struct device_env *env)
{
	struct irq_line lines[PC_TESTDEV_NR_IRQS];
	struct pc_testdev *t;

	(void)index;
	/* The flush's PROT_NONE window must not meet a device worker's access. */
	if (cfg->nr_disks || cfg->nr_nets || cfg->rng || cfg->vsock_uds || cfg->balloon.enabled ||
	    cfg->console == VM_CONSOLE_VIRTIO) {
		log_err("--pc-testdev: a test device for test kernels, not to be combined with "
			"virtio devices (its page flush briefly unmaps guest RAM)");
		return -EINVAL;
	}
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < PC_TESTDEV_NR_IRQS; i++)
		lines[i] = device_irq_line(env, i);
	pc_testdev_init(t, env->mem, lines);
	*dev = t;
	return 0;
}

static int pc_testdev_kind_attach(void *dev, const struct device_env *env, uint64_t base,
				  uint32_t gsi)
{
	int ret;

	(void)base;
	(void)gsi;
	ret = device_claim_ports(env, PORT_TESTDEV_LATCH, 4, pc_testdev_latch_io, dev,
				 "pc-testdev latch");
	if (!ret)
		ret = device_claim_ports(env, PORT_TESTDEV_FLUSH, 4, pc_testdev_flush_io, dev,
					 "pc-testdev flush");
	if (!ret)
		ret = device_claim_ports(env, PORT_TESTDEV_IRQ, PC_TESTDEV_NR_IRQS, pc_testdev_irq_io,
					 dev, "pc-testdev irq");
	if (!ret && (ret = bus_add(env->mmio, LAYOUT_TESTDEV_IOMEM, PC_TESTDEV_IOMEM_LEN,
				   pc_testdev_iomem_io, dev, "pc-testdev iomem")))
		log_err("registering pc-testdev iomem at %#llx: %s",
			(unsigned long long)LAYOUT_TESTDEV_IOMEM, strerror(-ret));
	return ret;
}

static int pc_testdev_kind_save(void *dev, void *state, size_t len)
{
	return len == sizeof(struct pc_testdev_state) ? pc_testdev_save(dev, state) : -EINVAL;
}

static int pc_testdev_kind_restore(void *dev, const void *state, size_t len)
{
	return len == sizeof(struct pc_testdev_state) ? pc_testdev_restore(dev, state) : -EINVAL;
}

static void pc_testdev_kind_destroy(void *dev)
{
	pc_testdev_destroy(dev);
	free(dev);
}

const struct device_kind pc_testdev_kind = {
	.name = "pc-testdev",
	.short_name = "pc_testdev",
	.count = pc_testdev_kind_count,
	.create = pc_testdev_kind_create,
	.attach = pc_testdev_kind_attach,
	.state_size = sizeof(struct pc_testdev_state),
	.state_version = PC_TESTDEV_STATE_VERSION,
	.save = pc_testdev_kind_save,
	.restore = pc_testdev_kind_restore,
	.destroy = pc_testdev_kind_destroy,
};
