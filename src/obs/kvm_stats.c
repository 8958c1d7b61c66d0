/* kvm_stats.c - reading KVM's binary statistics file (Documentation/virt/kvm/api.rst, 4.133). */
#include "obs/kvm_stats.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_STATS_MAX_DATA (1u << 20)  /* a data block past 1 MiB is not KVM's */

int kvm_stats_supported(int kvm_fd)
{
	return ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;
}

int kvm_stats_open(struct kvm_stats *s, int vm_or_vcpu_fd)
{
	int fd = ioctl(vm_or_vcpu_fd, KVM_GET_STATS_FD, NULL);

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (fd < 0)
		return errno == ENOTTY || errno == EINVAL ? -EOPNOTSUPP : -errno;
	return kvm_stats_open_fd(s, fd);
}

/* Read exactly len bytes at off: a short read means the layout lies. */
static int kvm_stats_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EINVAL;
		done += (size_t)n;
	}
	return 0;
}

static int kvm_stats_bad(struct kvm_stats *s, const char *what, uint32_t value)
{
	log_err("KVM binary statistics: %s (%u) is malformed; not using them", what, value);
	kvm_stats_close(s);
	return -EINVAL;
}

/* Only single-value statistics are kept (see the header). */
static int kvm_stats_keep(uint32_t flags, uint16_t size)
{
	uint32_t type = flags & KVM_STATS_TYPE_MASK;

	return size == 1 && (type == KVM_STATS_TYPE_CUMULATIVE || type == KVM_STATS_TYPE_INSTANT ||
			     type == KVM_STATS_TYPE_PEAK);
}

int kvm_stats_open_fd(struct kvm_stats *s, int fd)
{
	struct kvm_stats_header h;
	size_t desc_size;
	uint8_t *block = NULL;
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if ((ret = kvm_stats_pread(fd, &h, sizeof(h), 0))) {
		log_err("KVM binary statistics: cannot read the header: %s", strerror(-ret));
		kvm_stats_close(s);
		return ret;
	}
	if (h.name_size < 2 || h.name_size > KVM_STATS_MAX_NAME)
		return kvm_stats_bad(s, "header name_size", h.name_size);
	if (h.num_desc > KVM_STATS_MAX_DESC)
		return kvm_stats_bad(s, "header num_desc", h.num_desc);
	if (h.desc_offset < sizeof(h))
		return kvm_stats_bad(s, "header desc_offset", h.desc_offset);
	if (h.data_offset < sizeof(h))
		return kvm_stats_bad(s, "header data_offset", h.data_offset);
	if (h.id_offset && kvm_stats_pread(fd, s->id, h.name_size, h.id_offset))
		return kvm_stats_bad(s, "header id_offset", h.id_offset);
	s->id[h.name_size - 1] = '\0';

	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	block = malloc(desc_size * (h.num_desc ? h.num_desc : 1));
	s->items = calloc(h.num_desc ? h.num_desc : 1, sizeof(*s->items));
	if (!block || !s->items) {
		free(block);
		kvm_stats_close(s);
		return err_host(-ENOMEM);
	}
	if (h.num_desc && kvm_stats_pread(fd, block, desc_size * h.num_desc, h.desc_offset)) {
		free(block);
		return kvm_stats_bad(s, "descriptor block at desc_offset", h.desc_offset);
	}
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(block + i * desc_size);
		struct kvm_stats_item *it = &s->items[s->nr_items];
		uint64_t end = (uint64_t)d->offset + 8ull * d->size;

		if (d->size == 0 || d->offset % 8 || end > KVM_STATS_MAX_DATA) {
			uint32_t off = d->offset;

			free(block);
			return kvm_stats_bad(s, "descriptor offset", off);
		}
		d->name[h.name_size - 1] = '\0';
		if (!d->name[0]) {
			free(block);
			return kvm_stats_bad(s, "descriptor name of entry", i);
		}
		if (!kvm_stats_keep(d->flags, d->size))
			continue;
		it->name = strdup(d->name);
		if (!it->name) {
			free(block);
			kvm_stats_close(s);
			return err_host(-ENOMEM);
		}
		it->flags = d->flags;
		it->exponent = d->exponent;
		it->offset = d->offset;
		if (end > s->data_size)
			s->data_size = (uint32_t)end;
		s->nr_items++;
	}
	free(block);
	s->data_offset = h.data_offset;
	return 0;
}

int kvm_stats_read(const struct kvm_stats *s, uint64_t *values)
{
	uint64_t *data;
	int ret;

	if (s->fd < 0)
		return -EBADF;
	if (!s->nr_items)
		return 0;
	data = malloc(s->data_size);
	if (!data)
		return err_host(-ENOMEM);
	ret = kvm_stats_pread(s->fd, data, s->data_size, s->data_offset);
	if (!ret)
		for (uint32_t i = 0; i < s->nr_items; i++)
			values[i] = data[s->items[i].offset / 8];
	free(data);
	return ret;
}

int kvm_stats_find(const struct kvm_stats *s, const char *name)
{
	for (uint32_t i = 0; i < s->nr_items; i++)
		if (!strcmp(s->items[i].name, name))
			return (int)i;
	return -1;
}

void kvm_stats_close(struct kvm_stats *s)
{
	for (uint32_t i = 0; s->items && i < s->nr_items; i++)
		free(s->items[i].name);
	free(s->items);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
