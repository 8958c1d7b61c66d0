/* server.h - the API: HTTP/1.1 on a Unix socket, served by its own thread.
 *
 * Contract: api_server_open() binds PATH (a stale socket file nobody
 * listens on is replaced; a live one is refused with -EADDRINUSE, any
 * other file with -EEXIST); api_server_start() serves it on a thread with
 * every signal blocked; api_server_close() stops the thread, closes every
 * connection and unlinks PATH if it is still the socket it made (same
 * st_dev/st_ino). The socket file is 0600 from its creation (fchmod before
 * bind). accept() failing for want of fds or memory rests the listener for
 * API_ACCEPT_BACKOFF_MS instead of spinning on it. The thread never blocks on a client: every
 * socket is non-blocking, each connection has bounded buffers (one request
 * of at most HTTP_MAX_HEAD + HTTP_MAX_BODY bytes in, API_OUT_MAX bytes of
 * responses out; past that its requests wait until the client reads), at
 * most API_MAX_CONNS connections are open (when all are taken, the one
 * idle the longest is closed for a newcomer if it has been idle a second;
 * otherwise the newcomer gets a 503), and a connection with no progress for
 * idle_ms (default API_IDLE_MS, $MVM_API_IDLE_MS) is closed, so a client
 * that connects and sends nothing, or never reads, holds one slot for a
 * while and nothing else. A connection answered with Connection: close or
 * an error is shut for writing and its remaining input read and dropped
 * (at most 1 MiB, within the idle timeout) before the close, so a client
 * still sending a refused body reads the answer instead of a broken pipe.
 *
 * Requests go to api_route() (routes.c) on the server thread, one at a
 * time. struct api_vmm is what the routes act on: the configuration before
 * InstanceStart, the VM after. The VM side (api_vmm.c) fills it.
 */
#ifndef MVM_API_SERVER_H
#define MVM_API_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/http.h"
#include "core/vm_config.h"

#define API_MAX_CONNS 16
#define API_IDLE_MS   10000
#define API_OUT_MAX   (256 * 1024)
/* accept() out of fds or memory: the listener rests this long, and the
 * failure is logged at most once per API_ACCEPT_LOG_MS. */
#define API_ACCEPT_BACKOFF_MS 100
#define API_ACCEPT_LOG_MS     10000

struct vm;
struct api_vmm;

/* InstanceStart: create the VM from a->cfg. 0, or -errno with a message in
 * err for the fault_message. Runs on the server thread. */
typedef int (*api_start_fn)(struct api_vmm *a, char *err, size_t errlen);
/* PUT /snapshot/load: create the VM from a snapshot (api/snapshot.h), then
 * as InstanceStart. Runs on the server thread. */
struct api_snapshot_load;
typedef int (*api_restore_fn)(struct api_vmm *a, const struct api_snapshot_load *req,
			      char *err, size_t errlen);

/* `mvm run --incoming URI --api-sock PATH`: where the migration is. */
enum api_incoming {
	API_INCOMING_NONE = 0,     /* no incoming migration (or it handed over) */
	API_INCOMING_WAITING,      /* listening for the stream */
	API_INCOMING_RECEIVING,    /* its configuration came; RAM and state loading */
};

struct api_vmm {
	struct vm_config *cfg;     /* pre-boot resources land here */
	struct vm *vm;             /* non-NULL once started */
	/* Set once, false -> true, after vm: by the API thread (InstanceStart, a
	 * snapshot load) or by the main thread once an incoming migration handed
	 * over; an atomic, so whoever sees it true sees vm. */
	atomic_bool started;
	/* enum api_incoming. While it is not NONE and started is false, only
	 * the GET routes that describe the instance answer, under cfg_lock
	 * (the main thread may fill cfg from the stream meanwhile); every
	 * other route is refused (routes.c). */
	atomic_int incoming;
	pthread_mutex_t *cfg_lock;
	api_start_fn start;
	api_restore_fn restore;
	void *start_ctx;
	bool load_failed;          /* a snapshot load failed: this mvm cannot take another */
	const char *instance_id;   /* GET /: "id" */
};

/* One response: status, an optional JSON body (malloc'd; the server frees
 * it) and optional extra header lines (static). */
struct api_response {
	int status;
	char *body;
	const char *extra;
};

/* routes.c: answer one parsed request. */
void api_route(struct api_vmm *a, const struct http_request *req, struct api_response *resp);

struct api_conn;

struct api_server {
	int listen_fd, epfd, wake_fd;
	char path[108];            /* sun_path */
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	int idle_ms;
	struct api_conn *conns[API_MAX_CONNS];
	struct api_vmm *vmm;
	unsigned long served;      /* requests answered (tests, bench) */
	uint64_t accept_resume_ns; /* listener unwatched until then; 0: watched */
	uint64_t accept_logged_ns; /* last accept-failure message */
	unsigned long long accept_failures;
	dev_t sock_dev;            /* the socket file bind() made: close unlinks */
	ino_t sock_ino;            /* PATH only while it is still this file */
};

/* 0 or -errno (logged, naming PATH), its class recorded (util/err.h): a
 * path the user must fix (too long, not a socket, served by another
 * process, a lookup or bind refused) is the user's; socket() and the
 * rest the host's. */
int api_server_open(struct api_server *s, const char *path, struct api_vmm *vmm);
int api_server_start(struct api_server *s);
/* Safe on a zeroed, failed or never-started server; idempotent. */
void api_server_close(struct api_server *s);

#endif
