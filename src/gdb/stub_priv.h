/* stub_priv.h - what the stub's files share: each register's place in struct gdb_regs. */
#ifndef MVM_GDB_STUB_PRIV_H
#define MVM_GDB_STUB_PRIV_H

#include <stdint.h>

#include "gdb/stub.h"

struct gdb_reg_slot {
	uint16_t off;   /* offsetof(struct gdb_regs, ...) */
	uint8_t size;   /* bytes on the wire */
};

extern const struct gdb_reg_slot gdb_reg_slots[GDB_NR_REGS];

#endif
