/* platform.c - the table of platforms, asked in order. */
#include "platform/platform.h"

#include <string.h>

static const struct platform_ops *const platforms[] = {
	&platform_tiny_ops,
	&platform_linux_ops,   /* last: boots whatever no other claims */
};

void platform_select(struct platform *p, const struct vm_config *cfg, struct gmem *mem)
{
	size_t n = sizeof(platforms) / sizeof(platforms[0]);

	memset(p, 0, sizeof(*p));
	p->mem = mem;
	p->ops = platforms[n - 1];
	for (size_t i = 0; i < n; i++) {
		if (platforms[i]->probe(cfg)) {
			p->ops = platforms[i];
			break;
		}
	}
}

void platform_destroy(struct platform *p)
{
	if (p->ops && p->ops->destroy)
		p->ops->destroy(p);
	p->priv = NULL;
}
