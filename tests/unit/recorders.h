/* recorders.h - test doubles shared by the device tests: a vm_stopper that
 * records what it was asked. Safe to call from another thread. */
#ifndef MVM_TESTS_RECORDERS_H
#define MVM_TESTS_RECORDERS_H

#include "core/vmstop.h"

struct stop_rec {
	enum vm_stop_reason last;
	int count;
};

static inline void stop_rec_request(void *ctx, enum vm_stop_reason reason)
{
	struct stop_rec *s = ctx;

	__atomic_store_n(&s->last, reason, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&s->count, 1, __ATOMIC_SEQ_CST);
}

#define STOPPER(rec) ((struct vm_stopper){ .request = stop_rec_request, .ctx = &(rec) })

#endif
