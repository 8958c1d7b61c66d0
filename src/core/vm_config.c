/* vm_config.c - ownership of the strings in a struct vm_config. */
#include "util/err.h"
#include "core/vm_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int vm_config_set_string(struct vm_config *cfg, const char **field, unsigned own_bit,
			 const char *value)
{
	char *copy = NULL;

	if (value && !(copy = strdup(value)))
		return err_host(-ENOMEM);
	/* always-heap fields (own_bit 0) are freed unconditionally */
	if (!own_bit || (cfg->owned & own_bit))
		free((char *)*field);
	*field = copy;
	if (own_bit) {
		if (copy)
			cfg->owned |= own_bit;
		else
			cfg->owned &= ~own_bit;
	}
	return 0;
}

void vm_config_put_string(struct vm_config *cfg, const char **field, unsigned own_bit,
			  char *copy)
{
	if (!own_bit || (cfg->owned & own_bit))
		free((char *)*field);
	*field = copy;
	if (own_bit) {
		if (copy)
			cfg->owned |= own_bit;
		else
			cfg->owned &= ~own_bit;
	}
}

static void release_owned(struct vm_config *cfg, const char **field, unsigned bit)
{
	if (cfg->owned & bit) {
		free((char *)*field);
		*field = NULL;
	}
	cfg->owned &= ~bit;
}

void vm_config_release(struct vm_config *cfg)
{
	release_owned(cfg, &cfg->kernel_path, VM_OWN_KERNEL);
	release_owned(cfg, &cfg->initrd_path, VM_OWN_INITRD);
	release_owned(cfg, &cfg->cmdline, VM_OWN_CMDLINE);
	for (int i = 0; i < VM_MAX_NETS; i++) {
		release_owned(cfg, &cfg->nets[i], VM_OWN_NET(i));
		free((char *)cfg->net_ids[i]);
		cfg->net_ids[i] = NULL;
	}
	for (int i = 0; i < cfg->nr_disks && i < VM_MAX_DISKS; i++) {
		struct vm_disk_cfg *d = &cfg->disks[i];

		free((char *)d->path);
		free((char *)d->id);
		free((char *)d->drive_id);
		free((char *)d->partuuid);
		memset(d, 0, sizeof(*d));
	}
	cfg->nr_disks = 0;
	free((char *)cfg->metrics_properties);
	cfg->metrics_properties = NULL;
	free((char *)cfg->log_path);
	free((char *)cfg->metrics_path);
	cfg->log_path = cfg->metrics_path = NULL;
	free((char *)cfg->vsock_uds);
	free((char *)cfg->vsock_id);
	cfg->vsock_uds = cfg->vsock_id = NULL;
}
