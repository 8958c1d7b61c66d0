/* outq.h - a bounded byte queue drained to an output fd by its own thread.
 *
 * Contract: outq_start() allocates a ring of `size` bytes and starts one
 * writer thread (named `name`, every signal blocked) that writes the ring,
 * in order, to out_fd. Producers call outq_push() (any thread; it never
 * blocks and never touches the fd): a byte that does not fit is dropped and
 * counted. The writer never blocks on the fd: a pipe, FIFO, terminal or
 * character device is written through a non-blocking open file description
 * of its own (a reopen of /proc/self/fd/N, so the caller's fd, shared with
 * the user's shell, keeps its flags), a socket with MSG_DONTWAIT, a regular
 * file directly; it waits for room with poll(). Each time it has made room
 * it calls room(ctx) with no lock of the queue held (callers may call
 * outq_room()/outq_push() from it, and may hold their own lock around
 * outq_push(): the lock order is caller -> queue). A write error other than
 * EAGAIN/EINTR is logged once; what is queued then and later is discarded
 * and counted as lost.
 *
 * outq_stop() asks the writer to flush what is queued within timeout_ms,
 * counts the rest as lost, and joins the thread. When the fd could not be
 * made non-blocking (no /proc) the writer writes at most PIPE_BUF bytes
 * after poll() says there is room, which can still block if another
 * process fills the pipe in between; if the thread has not ended a second
 * after the deadline, outq_stop() leaves it running detached (it frees the
 * queue itself once its write returns) and returns false: the caller's
 * room() context must stay valid only until outq_stop() returns, since no
 * room() call starts after the stop was asked for. The writer names itself
 * and installs the seccomp filter of kind outq (util/sandbox.h) before its
 * first write: write/writev or sendto, poll, read (eventfd), futex, and
 * madvise/munmap at exit (glibc); room() runs under it too (the list holds
 * ioctl KVM_IRQ_LINE for COM1's THR-empty interrupt).
 */
#ifndef MVM_UTIL_OUTQ_H
#define MVM_UTIL_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outq;

struct outq_stats {
	uint64_t bytes;     /* accepted by outq_push() */
	uint64_t written;   /* written to the fd */
	uint64_t dropped;   /* refused by outq_push(): the ring was full */
	uint64_t lost;      /* accepted but never written (write error, stop deadline) */
	uint64_t unflushed; /* of lost: what outq_stop()'s deadline left */
	uint64_t queued;    /* in the ring now */
};

/* 0 or -errno (logged, naming out_fd). */
int outq_start(struct outq **out, int out_fd, size_t size, const char *name,
	       void (*room)(void *ctx), void *ctx);
/* True when queued; false when the ring is full (counted as dropped). After
 * a write error the byte is discarded (counted as lost) and true returned. */
bool outq_push(struct outq *q, uint8_t byte);
/* Free bytes in the ring (the whole ring after a write error). */
size_t outq_room(struct outq *q);
/* Wait until everything queued so far is written (or lost). 0, or
 * -ETIMEDOUT after timeout_ms. */
int outq_flush(struct outq *q, int timeout_ms);
void outq_get_stats(struct outq *q, struct outq_stats *st);
/* Flush within timeout_ms, then stop and free (see above). NULL: no-op.
 * st (may be NULL) gets the final counts. False when the thread was left
 * running detached. */
bool outq_stop(struct outq *q, int timeout_ms, struct outq_stats *st);

#endif
