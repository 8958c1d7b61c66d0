/* tiny.c - the tiny-guest platform: an ELF64 guest of mvm's SDK in ring 3,
 * with mvm's own GDT/IDT/page tables (ring3.c) and hypercall ports (hcall/). */
#include "platform/platform.h"
#include "boot/boot.h"
#include "core/layout.h"
#include "hcall/hcall.h"
#include "hcall/hcall_net.h"
#include "platform/ring3.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tiny {
	struct hcall_net *net;   /* the first --net, until the hypercalls own it */
	struct hcall *hcall;
};

/* An ELF64 guest of the SDK, or the built-in demo (no --kernel). */
static bool tiny_probe(const struct boot_image *img)
{
	return boot_image_is_tiny(img) == 1;
}

/* The first --net is the net hypercalls' backend, not a virtio-net device
 * (docs/guest-abi.md): the devices see the others. */
static void tiny_keep_devices(const struct vm_config *cfg, struct vm_config *dev_cfg)
{
	if (dev_cfg->nr_nets == 0)
		return;
	memmove(dev_cfg->nets, dev_cfg->nets + 1, (dev_cfg->nr_nets - 1) * sizeof(dev_cfg->nets[0]));
	memmove(dev_cfg->net_ids, dev_cfg->net_ids + 1,
		(dev_cfg->nr_nets - 1) * sizeof(dev_cfg->net_ids[0]));
	memmove(dev_cfg->net_rx_rl, dev_cfg->net_rx_rl + 1,
		(dev_cfg->nr_nets - 1) * sizeof(dev_cfg->net_rx_rl[0]));
	memmove(dev_cfg->net_tx_rl, dev_cfg->net_tx_rl + 1,
		(dev_cfg->nr_nets - 1) * sizeof(dev_cfg->net_tx_rl[0]));
	dev_cfg->nr_nets--;
}

static int tiny_open(struct platform *p, const struct vm_config *cfg)
{
	struct tiny *t = calloc(1, sizeof(*t));

	if (!t)
		return err_host(-ENOMEM);
	p->priv = t;
	return cfg->nr_nets > 0 ? hcall_net_open(&t->net, cfg->nets[0]) : 0;
}

static int tiny_load(struct platform *p, const struct platform_load *l, struct cpu_entry *entry)
{
	struct boot_entry be;
	int ret;

	if ((ret = platform_load_image(p, l, &be)))
		return ret;
	if (be.mode != BOOT_MODE_ELF64) {
		log_err("%s: not a tiny guest after all", l->cfg->kernel_path);
		return err_host(-EIO);
	}
	*entry = (struct cpu_entry){
		.mode = CPU_ENTRY_RING3, .rip = be.entry, .info = be.boot_info,
		.set_sregs = ring3_set_sregs, .rflags = RING3_RFLAGS, .rsp = LAYOUT_R3_STACK_TOP,
	};
	ret = cpu_write_boot_tables(p->mem);
	if (!ret)
		ret = ring3_write_tables(p->mem);
	if (ret)
		log_err("writing the boot page tables and GDT: %s", strerror(-ret));
	return ret;
}

/* Hypercall ports; the first --disk is the guest's block device. */
static int tiny_attach(struct platform *p, const struct platform_attach *a)
{
	struct tiny *t = p->priv;
	struct hcall_cfg hc;
	int ret;

	/* The guest finds its virtio-mmio windows in the boot info (a restored
	 * guest's boot info came back with its RAM). */
	for (int i = 0; !p->restored && i < a->nr_devs; i++) {
		if (elf64_add_device(p->mem, p->boot_info, a->devs[i].base, a->devs[i].size,
				     a->devs[i].gsi, a->devs[i].device_id)) {
			log_warn("tiny guest: boot info lists only the first %d virtio devices", i);
			break;
		}
	}
	hcall_cfg_init(&hc);
	if (a->disk_path && (ret = hcall_open_disk(&hc, a->disk_path, a->disk_read_only)))
		return ret;
	hc.net = t->net;   /* opened before KVM; the hypercalls own it now */
	t->net = NULL;
	t->hcall = calloc(1, sizeof(*t->hcall));
	if (!t->hcall) {
		hcall_destroy(&(struct hcall){ .cfg = hc });
		return err_host(-ENOMEM);
	}
	hcall_init(t->hcall, &hc, p->mem, a->stopper);
	return hcall_register(t->hcall, a->pio);
}

/* A ring-3 guest cannot write mvm's GDT, IDT or page tables: say whether
 * they are intact, since the register state at the fault is lost. */
static void tiny_triple_fault(struct platform *p, int vcpu_index)
{
	char what[160];
	int r = ring3_check_tables(p->mem, what, sizeof(what));

	if (r == 0)
		log_err("vCPU %d: mvm's GDT, TSS, IDT, exception stub and page tables are intact",
			vcpu_index);
	else if (r > 0)
		log_err("vCPU %d: mvm's tables were changed: %s", vcpu_index, what);
}

static void tiny_destroy(struct platform *p)
{
	struct tiny *t = p->priv;

	if (!t)
		return;
	if (t->hcall)
		hcall_destroy(t->hcall);
	free(t->hcall);
	hcall_net_destroy(t->net);
	free(t);
}

const struct platform_ops platform_tiny_ops = {
	.name = "tiny",
	.probe = tiny_probe,
	.keep_devices = tiny_keep_devices,
	.open = tiny_open,
	.load = tiny_load,
	.attach = tiny_attach,
	.triple_fault = tiny_triple_fault,
	.destroy = tiny_destroy,
};
