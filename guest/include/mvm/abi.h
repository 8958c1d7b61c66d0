/* mvm/abi.h - the tiny-guest ABI, shared by mvm and the guest SDK.
 *
 * Contract (docs/guest-abi.md says the same in prose): a static ELF64 guest
 * starts in 64-bit long mode at CPL 3 with RFLAGS.IOPL = 3, identity-mapped
 * paging over 0-4 GiB, RSP = MVM_STACK_TOP and RDI = the guest-physical
 * address of a struct mvm_bootinfo. It calls mvm with a 32-bit OUT of an
 * argument struct's guest-physical address to MVM_HC_PORT(call); mvm checks
 * the struct and every buffer it names lies in RAM and writes the result
 * into the struct's ret field (>= 0 success, < 0 a negated MVM_E* code). A
 * struct that is not in RAM is ignored (ret cannot be written) and counted.
 * Every field is little-endian and 8 bytes unless said otherwise; structs
 * must lie below 4 GiB (the OUT carries 32 bits). Freestanding: stdint only.
 */
#ifndef MVM_GUEST_ABI_H
#define MVM_GUEST_ABI_H

#include <stdint.h>

#define MVM_ABI_VERSION      1

/* Hypercall ports: one per call, like Solo5 hvt. 0x505 is pvpanic. */
#define MVM_HC_PORT_BASE     0x520
#define MVM_HC_PORT_COUNT    16
#define MVM_HC_PORT(nr)      (MVM_HC_PORT_BASE + (nr))

enum mvm_hc_nr {
	MVM_HC_CONSOLE  = 1,  /* struct mvm_hc_console */
	MVM_HC_TIME     = 2,  /* struct mvm_hc_time */
	MVM_HC_BLKINFO  = 3,  /* struct mvm_hc_blkinfo */
	MVM_HC_BLKREAD  = 4,  /* struct mvm_hc_blkio */
	MVM_HC_BLKWRITE = 5,  /* struct mvm_hc_blkio */
	MVM_HC_NETINFO  = 6,  /* struct mvm_hc_netinfo */
	MVM_HC_NETWRITE = 7,  /* struct mvm_hc_netio */
	MVM_HC_NETREAD  = 8,  /* struct mvm_hc_netio */
	MVM_HC_EXIT     = 9,  /* struct mvm_hc_exit */
	MVM_HC_FAULT    = 15, /* written by mvm's ring-0 exception stub only */
};

/* Error codes in ret (negated), Linux errno values. */
#define MVM_EIO     5   /* the host's read/write failed */
#define MVM_EAGAIN  11  /* net read: no frame waiting */
#define MVM_EFAULT  14  /* a buffer is not (all) guest RAM */
#define MVM_ENODEV  19  /* no such device (no --disk, no --net) */
#define MVM_EINVAL  22  /* bad length, alignment or sector range */
#define MVM_ENOSYS  38  /* unknown call number */
#define MVM_EROFS   30  /* write to a read-only disk */

#define MVM_CONSOLE_MAX   4096        /* bytes per console call */
#define MVM_SECTOR_SIZE   512
#define MVM_BLK_MAX       (1u << 20)  /* bytes per block call */
#define MVM_NET_MAX       1514        /* bytes per frame (no FCS) */

struct mvm_hc_console { int64_t ret; uint64_t buf; uint64_t len; };        /* ret: bytes */
struct mvm_hc_time    { int64_t ret; uint64_t mono_ns; uint64_t wall_ns; };
struct mvm_hc_blkinfo { int64_t ret; uint64_t sectors; uint64_t sector_size; uint64_t read_only; };
/* len: a multiple of MVM_SECTOR_SIZE, 1..MVM_BLK_MAX; ret: bytes moved. */
struct mvm_hc_blkio   { int64_t ret; uint64_t sector; uint64_t buf; uint64_t len; };
struct mvm_hc_netinfo { int64_t ret; uint8_t mac[6]; uint8_t pad[2]; uint64_t mtu; };
/* write: len bytes of a frame; read: len = buffer size, ret = frame length. */
struct mvm_hc_netio   { int64_t ret; uint64_t buf; uint64_t len; };
struct mvm_hc_exit    { int64_t ret; uint64_t status; };                   /* status 0..255 */

/* What the ring-0 stub stores before it writes MVM_HC_PORT(MVM_HC_FAULT). */
struct mvm_fault_report {
	uint64_t vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cr2;
	uint64_t cs;
	uint64_t rsp;
	uint64_t rflags;
};

#define MVM_BOOTINFO_MAGIC   0x424d564dU /* "MVMB" */
#define MVM_BOOTINFO_MAX_DEVS 16

/* A virtio-mmio window. */
struct mvm_bootinfo_dev {
	uint64_t base;
	uint64_t size;
	uint32_t gsi;
	uint32_t device_id;   /* VIRTIO_ID_* (2 block, 1 net, 4 rng, 3 console) */
};

struct mvm_bootinfo {
	uint32_t magic;        /* MVM_BOOTINFO_MAGIC */
	uint32_t version;      /* MVM_ABI_VERSION */
	uint64_t mem_size;     /* bytes of RAM in all */
	uint64_t low_mem_end;  /* end of RAM below 4 GiB: the mapped part */
	uint64_t cmdline;      /* gpa of the NUL-terminated command line */
	uint64_t cmdline_len;  /* without the NUL */
	uint64_t image_end;    /* first page after the loaded image: free RAM from here */
	uint64_t free_end;     /* free RAM ends here (the stack's bottom) */
	uint64_t stack_top;    /* RSP at entry */
	uint32_t hc_port_base; /* MVM_HC_PORT_BASE */
	uint32_t nr_devices;
	struct mvm_bootinfo_dev devices[MVM_BOOTINFO_MAX_DEVS];
};

#endif
