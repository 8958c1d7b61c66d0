/* server.h - the gdb stub's connection: a listening socket, one client at a time, a thread.
 *
 * Contract: gdb_server_open() parses --gdb's address (tcp:HOST:PORT with a
 * numeric host, or unix:PATH) and listens, on the caller's thread, before
 * any seccomp filter; gdb_server_start() runs the thread (mvm-gdb, its own
 * filter). The thread feeds the client's bytes through gdb/packet.h into
 * gdb/stub.h while the VM is stopped, and watches event_fd for a vCPU's
 * debug exit while it runs. It stops the VM only through struct
 * gdb_server_ops (halt: stop every vCPU and say why; release: clear the
 * debug state and let the VM run). A second client is turned away; a
 * client that leaves, or one that stops reading for GDB_SEND_TIMEOUT_S,
 * is dropped and its breakpoints removed, and a VM it had stopped runs on.
 * Nothing a client sends can block the thread for longer than that.
 * gdb_server_stop() tells a connected client the VM exited ("W" + status)
 * and joins the thread.
 */
#ifndef MVM_GDB_SERVER_H
#define MVM_GDB_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "gdb/packet.h"
#include "gdb/stub.h"

#define GDB_SEND_TIMEOUT_S 5
#define GDB_MAX_NAKS 16         /* resends of one reply before the client is dropped */

struct gdb_server_ops {
	/* Stop every vCPU; *st: a vCPU's pending debug exit, else why = fallback on vCPU 0.
	 * 0, or -errno (the VM is stopping, or a vCPU did not stop). */
	int (*halt)(void *t, enum gdb_stop_why fallback, struct gdb_stop_info *st);
	/* Debug state off on every vCPU, and run. */
	void (*release)(void *t);
};

struct gdb_server {
	int listen_fd;
	int conn_fd;
	int quit_fd;            /* eventfd: gdb_server_stop */
	int event_fd;           /* the target's: readable when a vCPU stopped for the debugger */
	char unix_path[108];    /* to unlink at the end; "" for TCP */
	const struct gdb_server_ops *ops;
	void *t;
	bool stopped;           /* the VM is halted for the client */
	int exit_status;
	int naks;
	pthread_t thread;
	bool started;
	struct gdb_rx rx;
	struct gdb_stub stub;
	char frame[GDB_FRAME_MAX];
	int frame_len;
};

/* Parse and listen. 0, or -errno with a message naming the problem in err
 * and its class recorded (util/err.h): a malformed address or a refused
 * bind is the user's, a failed socket() or listen() the host's. */
int gdb_server_open(struct gdb_server *s, const char *addr, char *err, size_t errlen);
/* start_stopped: the VM is held before its first instruction (--gdb-wait). */
int gdb_server_start(struct gdb_server *s, const struct gdb_target_ops *tops,
		     const struct gdb_server_ops *sops, void *t, int nr_cpus, int event_fd,
		     bool start_stopped);
void gdb_server_stop(struct gdb_server *s, int exit_status);

#endif
