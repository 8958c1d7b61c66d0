/* kvm_stats.h - KVM's binary statistics (KVM_GET_STATS_FD) for a VM or a vCPU.
 *
 * Contract: kvm_stats_open_fd() reads the layout of a stats file once
 * (struct kvm_stats_header, then num_desc descriptors of
 * sizeof(struct kvm_stats_desc) + name_size bytes each, then the data block
 * of u64s) and keeps the single-value statistics: cumulative counters,
 * instant values and peaks. Histograms (linear and log) are skipped: their
 * buckets are not a counter, and KVM reports the matching totals as
 * counters anyway (halt_poll_success_hist -> halt_successful_poll). Every
 * header and descriptor field is checked; a malformed file is -EINVAL with a
 * message naming the field. After open, a struct kvm_stats is read-only:
 * kvm_stats_read() may run on any number of threads at once (one pread of
 * the data block into the caller's array). kvm_stats_open() asks KVM for the
 * stats fd of a VM or vCPU fd; it is -EOPNOTSUPP when the host lacks
 * KVM_CAP_BINARY_STATS_FD (Linux < 5.14), which callers report once and
 * carry on without KVM's numbers.
 */
#ifndef MVM_OBS_KVM_STATS_H
#define MVM_OBS_KVM_STATS_H

#include <stddef.h>
#include <stdint.h>

#define KVM_STATS_MAX_DESC  4096   /* x86 has ~60 per vCPU; far past any kernel */
#define KVM_STATS_MAX_NAME  256    /* KVM_STATS_NAME_SIZE is 48 */

struct kvm_stats_item {
	char *name;                /* "halt_exits" */
	uint32_t flags;            /* KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_* */
	int16_t exponent;          /* value * base^exponent is in the unit */
	uint32_t offset;           /* byte offset in the data block */
};

struct kvm_stats {
	int fd;                    /* the stats fd (owned) */
	char id[KVM_STATS_MAX_NAME]; /* "kvm-1234" or "kvm-1234/vcpu-0" */
	uint32_t data_offset;
	uint32_t data_size;        /* bytes of the data block that items cover */
	uint32_t nr_items;
	struct kvm_stats_item *items;
};

/* Whether this KVM has binary stats (KVM_CHECK_EXTENSION on kvm_fd). */
int kvm_stats_supported(int kvm_fd);
/* KVM_GET_STATS_FD on a VM or vCPU fd, then kvm_stats_open_fd(). */
int kvm_stats_open(struct kvm_stats *s, int vm_or_vcpu_fd);
/* Parse the layout of a stats file; takes ownership of fd (also on failure). */
int kvm_stats_open_fd(struct kvm_stats *s, int fd);
/* values[i] for items[i] (s->nr_items entries). 0 or -errno. */
int kvm_stats_read(const struct kvm_stats *s, uint64_t *values);
/* Index of the item called name, or -1. */
int kvm_stats_find(const struct kvm_stats *s, const char *name);
/* NULL-safe; leaves s closed (fd -1, no items). */
void kvm_stats_close(struct kvm_stats *s);

#endif
