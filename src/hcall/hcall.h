/* hcall.h - the tiny-guest hypercalls: a 32-bit OUT to MVM_HC_PORT(nr)
 * carrying the guest-physical address of an argument struct (mvm/abi.h).
 *
 * Contract: hcall_init() then hcall_register() claims [PORT_HCALL,
 * +PORT_HCALL_LEN) on the port bus (only for BOOT_MODE_ELF64 guests: a Linux
 * guest never sees these ports). On each call the struct is copied out of
 * guest RAM (gmem_ptr; a struct not wholly in RAM is ignored and counted in
 * bad_structs), checked, executed, and its ret field (and outputs) written
 * back; every buffer it names must lie in RAM and every length is bounded,
 * else ret is -MVM_EFAULT / -MVM_EINVAL. Nothing a guest passes ends mvm,
 * except the exit call (status & 0xff becomes mvm's exit status) and the
 * ring-0 stub's fault report (logged as "guest fault: #PF at RIP ...",
 * exit status MVM_EXIT_CRASH). Calls may come from any vCPU thread at once:
 * the state touched per call is the host disk fd (pread/pwrite), atomics and
 * the net module's queue (its own lock; hcall_net.h).
 * The disk is what the integrator puts in struct hcall_cfg (hcall_open_disk
 * helps); so is the network (hcall_net_open in hcall/hcall_net.h: the first
 * --net's backend, owned by the hypercalls; without one the net calls
 * return -MVM_ENODEV). hcall_register() also starts the net worker thread.
 */
#ifndef MVM_HCALL_HCALL_H
#define MVM_HCALL_HCALL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/memory.h"
#include "core/vmstop.h"
#include "hcall/hcall_net.h"
#include "mvm/abi.h"

struct hcall_cfg {
	int console_fd;         /* where MVM_HC_CONSOLE writes (stdout) */
	int disk_fd;            /* the first --disk, or -1 */
	uint64_t disk_sectors;  /* its size in MVM_SECTOR_SIZE sectors */
	bool disk_ro;
	bool own_disk_fd;       /* hcall_destroy closes disk_fd */
	struct hcall_net *net;  /* the first --net (hcall_net_open), or NULL; hcall_destroy frees it */
};

struct hcall {
	struct hcall_cfg cfg;
	const struct gmem *mem;
	struct vm_stopper stopper;
	atomic_ulong calls;        /* every hypercall port write */
	atomic_ulong bad_structs;  /* argument struct not in RAM, bad width, unknown call */
	atomic_bool faulted;       /* the fault report was given */
};

/* Defaults for cfg: console stdout, no disk. */
void hcall_cfg_init(struct hcall_cfg *cfg);
/* Open path for the block calls (read-only when ro) and size it: sets
 * disk_fd, disk_sectors, disk_ro, own_disk_fd. A trailing partial sector
 * is not reachable. 0 or -errno (logged, naming the file). */
int hcall_open_disk(struct hcall_cfg *cfg, const char *path, bool ro);

void hcall_init(struct hcall *h, const struct hcall_cfg *cfg, const struct gmem *mem,
		struct vm_stopper stopper);
/* Claim the ports and start the net worker (cfg.net). 0 or -errno (logged). */
int hcall_register(struct hcall *h, struct bus *pio);
void hcall_destroy(struct hcall *h);

/* bus_io_fn; opaque is the struct hcall, offset the call number. */
void hcall_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The call itself (hcall_io after decoding the OUT); for tests. */
void hcall_dispatch(struct hcall *h, uint32_t nr, uint64_t gpa);

#endif
