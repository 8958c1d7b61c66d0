/* stub.h - the GDB remote protocol's commands for an x86-64 VM, pure: no KVM, no sockets.
 *
 * Contract: struct gdb_stub answers the packets a client sends while the
 * target is stopped (gdb_stub_handle) and builds the stop reply when it
 * stops (gdb_stub_stopped). It reaches the VM only through struct
 * gdb_target_ops: registers of one vCPU, guest-physical memory, resume with
 * a debug state (single-step vCPU, debug registers), re-inject a #BP the
 * guest planted itself, kill. Guest-virtual addresses are translated with
 * gdb/walk.h over the selected vCPU's CR0/CR3/CR4/EFER. Software
 * breakpoints are int3 bytes it patches into guest RAM by physical address
 * and restores; memory reads show the original bytes. Hardware breakpoints
 * and watchpoints fill DR0-3 and DR7. Every vCPU is a thread (id = index+1).
 * Every field of every packet is checked; a malformed one gets "E.." and
 * an unknown one the empty reply, as the protocol asks.
 */
#ifndef MVM_GDB_STUB_H
#define MVM_GDB_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gdb/packet.h"

#define GDB_MAX_SWBP 256
#define GDB_NR_HWBP  4
#define GDB_NR_REGS  65
#define GDB_REGS_BYTES 600      /* the 'g' packet's payload, in bytes */

/* The registers in the target description's order (gdb_stub_target_xml). */
struct gdb_regs {
	uint64_t gpr[16];       /* rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (gdb's order) */
	uint64_t rip;
	uint32_t eflags;
	uint32_t seg[6];        /* cs ss ds es fs gs selectors */
	uint8_t st[8][10];      /* st0..st7, 80-bit */
	uint32_t fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint64_t fs_base, gs_base;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
};

/* What every vCPU runs with after a resume. */
struct gdb_debug {
	int step_cpu;           /* the vCPU to single-step, -1: none */
	bool hw;                /* DR0-3/DR7 below are in use */
	uint64_t dr[GDB_NR_HWBP];
	uint64_t dr7;
};

struct gdb_target_ops {
	int (*get_regs)(void *t, int cpu, struct gdb_regs *r);
	int (*set_regs)(void *t, int cpu, const struct gdb_regs *r);
	/* 0, or -EFAULT when [gpa, gpa+len) is not all RAM. */
	int (*read_phys)(void *t, uint64_t gpa, void *buf, size_t len);
	int (*write_phys)(void *t, uint64_t gpa, const void *buf, size_t len);
	/* Let every vCPU run with dbg; a later stop is reported by the caller. */
	int (*resume)(void *t, const struct gdb_debug *dbg);
	/* Hand a #BP that is not one of ours back to the guest on cpu. */
	int (*inject_bp)(void *t, int cpu);
	void (*kill)(void *t);
};

enum gdb_stop_why {
	GDB_STOP_INTERRUPT,     /* Ctrl-C, or the client attached to a running VM */
	GDB_STOP_START,         /* --gdb-wait: halted before the first instruction */
	GDB_STOP_DEBUG,         /* KVM_EXIT_DEBUG: exception, dr6, pc below */
};

struct gdb_stop_info {
	int cpu;
	enum gdb_stop_why why;
	uint32_t exception;     /* 1 (#DB) or 3 (#BP) */
	uint64_t dr6;
	uint64_t pc;            /* linear address of the instruction */
};

struct gdb_swbp {
	uint64_t va, pa;
	uint8_t orig;
};

struct gdb_hwbp {
	bool used;
	int type;               /* 1 exec, 2 write, 3 read, 4 access (the Z packet's) */
	uint64_t addr;
	unsigned len;           /* 1, 2, 4, 8 */
};

struct gdb_stub {
	const struct gdb_target_ops *ops;
	void *t;
	int nr_cpus;
	int g_cpu;              /* Hg: registers and memory */
	int c_cpu;              /* Hc: the vCPU 's' steps */
	bool no_ack;            /* QStartNoAckMode */
	int cached_cpu;         /* regs holds this vCPU's registers; -1: none */
	struct gdb_regs regs;
	struct gdb_swbp sw[GDB_MAX_SWBP];
	int nr_sw;
	struct gdb_hwbp hw[GDB_NR_HWBP];
	char stop_reply[96];    /* the last stop, for '?' */
	char reply[GDB_PACKET_MAX + 1];
	size_t reply_len;
};

enum gdb_result {
	GDB_REPLY,              /* send stub->reply */
	GDB_RESUMED,            /* the target runs: no reply until it stops */
	GDB_DETACHED,           /* send the reply, then close the connection */
	GDB_KILLED,             /* the VM is being stopped; close */
};

void gdb_stub_init(struct gdb_stub *s, const struct gdb_target_ops *ops, void *t, int nr_cpus);
/* One packet's payload while the target is stopped. */
enum gdb_result gdb_stub_handle(struct gdb_stub *s, const char *pkt, size_t len);
/* The target stopped: true with the stop reply in stub->reply, or false when
 * the stop was not for the client (a guest's own int3, handed back to it,
 * and the target resumed). */
bool gdb_stub_stopped(struct gdb_stub *s, const struct gdb_stop_info *st);
/* Restore every patched byte and forget every breakpoint (detach, disconnect). */
void gdb_stub_clear(struct gdb_stub *s);
/* The debug state that the current hardware breakpoints ask for (no step). */
void gdb_stub_debug(const struct gdb_stub *s, struct gdb_debug *dbg);

/* Guest-virtual memory as the selected vCPU sees it, breakpoints hidden:
 * bytes read (stops at the first unmapped page), or -EFAULT if none. */
int gdb_stub_read_virt(struct gdb_stub *s, uint64_t va, uint8_t *buf, size_t len);

/* x87 tag word: FXSAVE's abridged form (a bit per register, 1 = valid) to the
 * full form (2 bits per register, 3 = empty), and back. */
uint16_t gdb_ftag_full(uint8_t abridged, uint16_t fsw, const uint8_t st[8][10]);
uint8_t gdb_ftag_abridged(uint16_t full);

/* The target description the client reads with qXfer:features:read:target.xml. */
extern const char gdb_stub_target_xml[];

#endif
