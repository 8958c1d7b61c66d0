/* platform.c - the table of platforms, asked in order. */
#include "platform/platform.h"

#include <errno.h>
#include <string.h>

static const struct platform_ops *const platforms[] = {
	&platform_tiny_ops,
	&platform_linux_ops,   /* last: boots whatever no other claims */
};

int platform_select(struct platform *p, const struct vm_config *cfg, struct gmem *mem)
{
	size_t n = sizeof(platforms) / sizeof(platforms[0]);
	struct boot_cfg boot = { .kernel_path = cfg->kernel_path, .initrd_path = cfg->initrd_path };
	int ret;

	memset(p, 0, sizeof(*p));
	p->mem = mem;
	p->ops = platforms[n - 1];
	if ((ret = boot_probe(&boot, &p->image)))
		return ret;
	p->image_open = true;
	for (size_t i = 0; i < n; i++) {
		if (platforms[i]->probe(&p->image)) {
			p->ops = platforms[i];
			break;
		}
	}
	return 0;
}

bool platform_known(const char *name)
{
	for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++)
		if (!strcmp(platforms[i]->name, name))
			return true;
	return false;
}

int platform_select_named(struct platform *p, const char *name, struct gmem *mem)
{
	memset(p, 0, sizeof(*p));
	p->mem = mem;
	for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
		if (!strcmp(platforms[i]->name, name)) {
			p->ops = platforms[i];
			p->restored = true;
			return 0;
		}
	}
	return -ENOENT;
}

int platform_load_image(struct platform *p, const struct platform_load *l, struct boot_entry *be)
{
	struct boot_cfg boot = {
		.kernel_path = l->cfg->kernel_path,
		.initrd_path = l->cfg->initrd_path,
		.cmdline = l->cmdline,
		.rsdp_gpa = l->rsdp_gpa,
	};
	int ret = boot_image_load(p->mem, &p->image, &boot, be);

	boot_image_close(&p->image);
	p->image_open = false;
	if (!ret)
		p->boot_info = be->boot_info;
	return ret;
}

void platform_destroy(struct platform *p)
{
	if (p->ops && p->ops->destroy)
		p->ops->destroy(p);
	p->priv = NULL;
	if (p->image_open)
		boot_image_close(&p->image);
	p->image_open = false;
}
