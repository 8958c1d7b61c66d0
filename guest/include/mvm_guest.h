/* mvm_guest.h - the tiny-guest SDK: entry, console printf, hypercalls, port/MMIO access, virtio-mmio.
 *
 * Contract: a guest defines `int mvm_main(const struct mvm_bootinfo *bi)`;
 * start.S calls it on mvm's stack at CPL 3 and passes its return value to
 * mvm_exit(). Every hypercall wrapper returns the struct's ret (>= 0 or a
 * negated MVM_E* code). Nothing here needs a libc; the SDK provides
 * memset/memcpy/memmove/memcmp/strlen because gcc may call them.
 */
#ifndef MVM_GUEST_H
#define MVM_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mvm/abi.h"
#include "mvm/virtio_mmio.h"

int mvm_main(const struct mvm_bootinfo *bi);

/* ---- port I/O (legal at CPL 3: mvm sets IOPL 3) and MMIO ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static inline uint64_t mmio_read64(uint64_t a) { return *(volatile uint64_t *)(uintptr_t)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
static inline void mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t *)(uintptr_t)a = v; }

/* ---- what a ring-3 guest can observe about its CPU ---- */
static inline uint16_t read_cs(void) { uint16_t v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline uint16_t read_ss(void) { uint16_t v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }
static inline uint64_t read_rflags(void) { uint64_t v; __asm__ volatile("pushfq; pop %0" : "=r"(v)); return v; }
static inline uint64_t rdtsc(void) { uint32_t lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return (uint64_t)hi << 32 | lo; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }
static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

/* ---- hypercalls ---- */
/* Raw call: OUT of arg's address (identity map: virtual == physical) to
 * MVM_HC_PORT(nr). arg must start with int64_t ret; returns it. */
static inline int64_t mvm_hypercall(unsigned nr, void *arg)
{
	__asm__ volatile("outl %0, %1" :: "a"((uint32_t)(uintptr_t)arg), "Nd"((uint16_t)MVM_HC_PORT(nr))
			 : "memory");
	return *(volatile int64_t *)arg;
}

int64_t mvm_console_write(const void *buf, size_t len);
uint64_t mvm_time_mono_ns(void);
uint64_t mvm_time_wall_ns(void);
int64_t mvm_blk_info(struct mvm_hc_blkinfo *info);
int64_t mvm_blk_read(uint64_t sector, void *buf, size_t len);
int64_t mvm_blk_write(uint64_t sector, const void *buf, size_t len);
int64_t mvm_net_info(struct mvm_hc_netinfo *info);
int64_t mvm_net_write(const void *frame, size_t len);
int64_t mvm_net_read(void *buf, size_t len);
__attribute__((noreturn)) void mvm_exit(int status);

/* ---- console printf: %d %i %u %x %X %p %s %c %%, l/ll/z, width, 0 and - flags ---- */
int mvm_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int mvm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int mvm_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int mvm_puts(const char *s); /* adds a newline */
/* Print "PANIC: ..." and exit with status 1. */
__attribute__((noreturn)) void mvm_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define MVM_ASSERT(c) do { if (!(c)) mvm_panic("%s:%d: assertion failed: %s", __FILE__, __LINE__, #c); } while (0)

/* ---- command line ---- */
/* Value of key=value in the command line into buf (NUL-terminated); 0 or -1 when absent. */
int mvm_cmdline_get(const struct mvm_bootinfo *bi, const char *key, char *buf, size_t size);
/* Strict decimal or 0x-hex; def when absent or malformed. */
uint64_t mvm_cmdline_u64(const struct mvm_bootinfo *bi, const char *key, uint64_t def);

/* ---- freestanding string functions ---- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- virtio-mmio (virtio 1.2 section 4.2.2), split virtqueues ---- */
/* Register offsets and values: mvm/virtio_mmio.h, included above. */

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128
#define VIRTIO_F_VERSION_1        32

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc { uint64_t addr; uint32_t len; uint16_t flags; uint16_t next; };
struct virtq_used_elem { uint32_t id; uint32_t len; };

/* A split queue in guest memory the caller owns (mvm_virtq_mem_size bytes,
 * 4 KiB aligned). Fields are plain so tests can corrupt them at will. */
struct mvm_virtq {
	uint64_t base;          /* the device's MMIO window */
	uint16_t index;         /* queue number */
	uint16_t size;          /* entries, a power of two */
	struct virtq_desc *desc;
	volatile uint16_t *avail;   /* flags, idx, ring[size], used_event */
	volatile uint8_t *used;     /* flags, idx, ring[size] of struct virtq_used_elem */
	uint16_t next_avail;        /* our avail idx */
	uint16_t last_used;         /* used entries consumed */
};

uint64_t mvm_virtq_mem_size(uint16_t size);
/* The first window in bi with device_id, or 0. */
uint64_t mvm_virtio_find(const struct mvm_bootinfo *bi, uint32_t device_id);
/* Reset, ACKNOWLEDGE|DRIVER, offer the device's features & want (always
 * VERSION_1), FEATURES_OK. 0 or -1 (bad magic/version, features refused). */
int mvm_virtio_init(uint64_t base, uint64_t want_features);
/* Set queue `index` up with `size` entries in mem; 0 or -1. */
int mvm_virtq_setup(struct mvm_virtq *q, uint64_t base, uint16_t index, uint16_t size, void *mem);
void mvm_virtio_driver_ok(uint64_t base);
/* Publish head (a chain the caller wrote into q->desc) and notify. */
void mvm_virtq_submit(struct mvm_virtq *q, uint16_t head);
/* Wait up to timeout_ns for a used entry: 0 with id and len set, or -1 on timeout. */
int mvm_virtq_wait_used(struct mvm_virtq *q, uint32_t *id, uint32_t *len, uint64_t timeout_ns);

#endif
