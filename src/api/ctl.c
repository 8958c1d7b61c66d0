/* ctl.c - `mvm ctl`: pause, resume, stop, stat, config over the API socket. */
#include "api/ctl.h"
#include "api/snapshot.h"
#include "util/log.h"

#include <errno.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define CTL_TIMEOUT_MS  10000
#define CTL_RESP_MAX    (1 << 20)
#define CTL_GRACE_S     10
#define CTL_SNAPSHOT_TIMEOUT_MS (30 * 60 * 1000)  /* writing a large guest's RAM */

static int ctl_timeout_ms = CTL_TIMEOUT_MS;   /* a request's answer */

void ctl_usage(FILE *out)
{
	fprintf(out,
		"usage: mvm ctl --api-sock PATH COMMAND\n"
		"  pause            PATCH /vm {\"state\": \"Paused\"}: every vCPU and device worker stops\n"
		"  resume           PATCH /vm {\"state\": \"Resumed\"}\n"
		"  stop [--grace S] SendCtrlAltDel, wait up to S seconds (default %d) for mvm to exit,\n"
		"                   then PUT /actions {\"action_type\": \"MvmStop\"} (mvm stops the VM as\n"
		"                   on SIGTERM)\n"
		"  stat             live exit counts and KVM statistics (GET /mvm/stats)\n"
		"  config           the VM's configuration (GET /vm/config)\n"
		"  info             instance state (GET /)\n"
		"  snapshot DIR [--stay-paused] [--diff]\n"
		"                   pause, PUT /snapshot/create (DIR/%s and DIR/%s), resume\n"
		"                   (unless it was paused already or --stay-paused); mvm run --restore\n"
		"                   DIR continues the VM; --diff: only the pages written since the\n"
		"                   last snapshot (needs track_dirty_pages; mvm snapshot-merge)\n"
		"  migrate tcp:HOST:PORT|unix:PATH [--max-downtime MS] [--bandwidth MB/s]\n"
		"          [--auto-converge]\n"
		"                   live migration to an mvm run --incoming there (PUT and GET\n"
		"                   /mvm/migrate); the source exits 0 once the destination runs;\n"
		"                   --auto-converge: slow the guest's vCPUs down while it dirties\n"
		"                   memory faster than the link sends it\n"
		"  migrate-set [--max-downtime MS] [--bandwidth MB/s] [--auto-converge on|off]\n"
		"                   change the running migration's limits (PATCH /mvm/migrate)\n",
		CTL_GRACE_S, API_SNAP_STATE_FILE,
		API_SNAP_MEM_FILE);
}

static uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int ctl_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until EOF or the deadline into a growing buffer. 0, -ETIMEDOUT, -errno. */
static int ctl_read_all(int fd, char **out, size_t *out_len, int timeout_ms)
{
	uint64_t end = ctl_now_ms() + (uint64_t)timeout_ms;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = ctl_now_ms();
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)(end - now)) == 0) {
			buf[len] = 0;
			*out = buf;
			*out_len = len;
			return -ETIMEDOUT;
		}
		if (len == cap) {
			char *nb = cap < CTL_RESP_MAX ? realloc(buf, cap * 2 + 1) : NULL;

			if (!nb) {
				free(buf);
				return -E2BIG;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	*out = buf;
	*out_len = len;
	return 0;
}

/* One request with Connection: close; *status and a malloc'd *body. */
static int ctl_request(const char *sock, const char *method, const char *path, const char *json,
		       int *status, char **body)
{
	char head[512];
	size_t blen = json ? strlen(json) : 0, len;
	char *resp = NULL, *p;
	int fd, n, ret;

	*body = NULL;
	fd = ctl_connect(sock);
	if (fd < 0)
		return fd;
	if (json)
		n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			     method, path, blen);
	else
		n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			     "Connection: close\r\n\r\n", method, path);
	if ((ret = ctl_write_all(fd, head, (size_t)n)) || (ret = ctl_write_all(fd, json ? json : "", blen)) ||
	    (ret = ctl_read_all(fd, &resp, &len, ctl_timeout_ms))) {
		close(fd);
		free(resp);
		return ret;
	}
	close(fd);
	if (sscanf(resp, "HTTP/1.%*[01] %d", status) != 1) {
		free(resp);
		return -EPROTO;
	}
	p = strstr(resp, "\r\n\r\n");
	*body = strdup(p ? p + 4 : "");
	free(resp);
	return *body ? 0 : -ENOMEM;
}

/* Print a JSON body indented, or as it came when it is not JSON. */
static void ctl_print_json(const char *body)
{
	json_object *o = json_tokener_parse(body);

	if (o)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_SPACED));
	else
		printf("%s\n", body);
	json_object_put(o);
}

/* 0 on 2xx; else print why and return 1. */
static int ctl_call(const char *sock, const char *method, const char *path, const char *json,
		    bool print)
{
	char *body = NULL;
	int status = 0, ret = ctl_request(sock, method, path, json, &status, &body);

	if (ret) {
		log_err("%s: %s %s: %s", sock, method, path, strerror(-ret));
		return 1;
	}
	if (status < 200 || status > 299) {
		json_object *o = json_tokener_parse(body), *m;

		if (o && json_object_object_get_ex(o, "fault_message", &m))
			log_err("%s %s: %d: %s", method, path, status, json_object_get_string(m));
		else
			log_err("%s %s: HTTP %d %s", method, path, status, body);
		json_object_put(o);
		free(body);
		return 1;
	}
	if (print)
		ctl_print_json(body);
	free(body);
	return 0;
}

/* Has the mvm behind sock exited (its socket gone or refusing)? */
static bool ctl_gone(const char *sock)
{
	int fd = ctl_connect(sock);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return true;
}

static bool ctl_wait_gone(const char *sock, int ms)
{
	uint64_t end = ctl_now_ms() + (uint64_t)ms;

	while (ctl_now_ms() < end) {
		if (ctl_gone(sock))
			return true;
		usleep(100 * 1000);
	}
	return ctl_gone(sock);
}

/* mvm ctl migrate URI: PUT /mvm/migrate, then follow GET /mvm/migrate until
 * it completes (the source mvm then exits) or fails. One line per round, or
 * a progress line redrawn in place on a terminal. */
static int ctl_migrate(const char *sock, const char *uri, long downtime_ms, long bandwidth,
		       bool auto_converge)
{
	char body[512];
	bool tty = isatty(STDOUT_FILENO);
	int last_round = -1;
	char last_phase[32] = "", shown_phase[32] = "";

	if (strpbrk(uri, "\"\\")) {
		log_err("migrate %s: the URI may not hold '\"' or '\\'", uri);
		return 2;
	}
	snprintf(body, sizeof(body), "{\"uri\": \"%s\", \"max_downtime_ms\": %ld, "
		 "\"bandwidth_mbps\": %ld, \"auto_converge\": %s}", uri, downtime_ms, bandwidth,
		 auto_converge ? "true" : "false");
	if (ctl_call(sock, "PUT", "/mvm/migrate", body, false))
		return 1;
	for (;;) {
		char *resp = NULL;
		int status = 0;
		json_object *o, *v;

		usleep(tty ? 100 * 1000 : 50 * 1000);
		if (ctl_request(sock, "GET", "/mvm/migrate", NULL, &status, &resp) || status != 200) {
			free(resp);
			/* The source exits once the destination runs the guest. */
			if (!strcmp(last_phase, "handover") || !strcmp(last_phase, "completed")) {
				printf("%smigrated to %s (the source mvm exited)\n", tty ? "\n" : "", uri);
				return 0;
			}
			log_err("migrate: the source mvm stopped answering during %s",
				last_phase[0] ? last_phase : "the start");
			return 1;
		}
		o = json_tokener_parse(resp);
		free(resp);
		if (!o)
			continue;
#define J_INT(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0)
#define J_DBL(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0.0)
#define J_STR(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
		const char *state = J_STR("state"), *phase = J_STR("phase");
		int round = (int)J_INT("round");

		snprintf(last_phase, sizeof(last_phase), "%s", phase);
		if (!strcmp(state, "failed")) {
			printf("%s", tty ? "\n" : "");
			log_err("migrate: failed: %s", J_STR("error"));
			json_object_put(o);
			return 1;
		}
		if (!strcmp(state, "completed")) {
			printf("%smigrated to %s: %d rounds, %lld MiB sent, downtime %.1f ms, total "
			       "%.0f ms\n", tty ? "\n" : "", uri, round + 1,
			       (long long)(J_INT("bytes_sent") >> 20), J_DBL("downtime_ms"),
			       J_DBL("total_ms"));
			json_object_put(o);
			return 0;
		}
		if (tty || round != last_round || strcmp(phase, shown_phase)) {
			long long sent = J_INT("bytes_sent") >> 20, left = J_INT("remaining_bytes") >> 10;

			long long thr = J_INT("throttle_pct");
			char tbuf[32] = "";

			if (thr)
				snprintf(tbuf, sizeof(tbuf), ", vCPUs throttled %lld %%", thr);
			printf("%sround %d: %lld MiB sent, %lld KiB dirty, %lld pages dirtied/s, "
			       "expected downtime %.1f ms%s (%s)%s", tty ? "\r" : "", round, sent, left,
			       (long long)J_INT("dirty_pages_per_s"), J_DBL("expected_downtime_ms"),
			       tbuf, phase, tty ? "\033[K" : "\n");
			fflush(stdout);
			last_round = round;
			snprintf(shown_phase, sizeof(shown_phase), "%s", phase);
		}
#undef J_INT
#undef J_DBL
#undef J_STR
		json_object_put(o);
	}
}

/* Ctrl-Alt-Del first (the guest shuts down cleanly); after the grace
 * period, mvm's own MvmStop action (the VM stops as on SIGTERM). An API
 * action and not a signal: the client needs no right to signal mvm's
 * process, only access to the socket. */
static int ctl_stop(const char *sock, long grace_s)
{
	int ret;

	if (ctl_gone(sock)) {
		log_err("%s: no mvm is serving this socket", sock);
		return 1;
	}
	ret = ctl_call(sock, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", false);
	if (ret == 0 && ctl_wait_gone(sock, (int)(grace_s * 1000))) {
		printf("stopped (the guest shut down after Ctrl-Alt-Del)\n");
		return 0;
	}
	log_warn("%s: the guest did not stop%s; stopping the VM (MvmStop)", sock,
		 ret ? " (Ctrl-Alt-Del was refused)" : " within the grace period");
	if (ctl_call(sock, "PUT", "/actions", "{\"action_type\": \"MvmStop\"}", false) &&
	    !ctl_gone(sock))
		return 1;
	if (!ctl_wait_gone(sock, 5000)) {
		log_err("%s: mvm is still serving 5 s after MvmStop", sock);
		return 1;
	}
	printf("stopped\n");
	return 0;
}

/* Is the VM behind sock paused? 1 yes, 0 no, -1 unknown (printed). */
static int ctl_is_paused(const char *sock)
{
	char *body = NULL;
	int status = 0, ret = ctl_request(sock, "GET", "/", NULL, &status, &body);
	json_object *o, *st;

	if (ret || status != 200) {
		log_err("%s: GET /: %s", sock, ret ? strerror(-ret) : "refused");
		free(body);
		return -1;
	}
	o = json_tokener_parse(body);
	free(body);
	ret = o && json_object_object_get_ex(o, "state", &st) &&
	      !strcmp(json_object_get_string(st), "Paused");
	json_object_put(o);
	return ret;
}

static long long ctl_file_size(const char *path, long long *allocated)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	*allocated = (long long)st.st_blocks * 512;
	return (long long)st.st_size;
}

/* Progress of a long save: mvm writes the memory file under a temporary name
 * beside its final one (snap/memfile.c: "memory.tmp-XXXXXX") and the API
 * answers only at the end, so the bytes written are read off that file. */
struct ctl_progress {
	const char *dir;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* signalled when done: the save ends without waiting a tick */
	bool done;
	struct timespec t0;
};

static uint64_t ctl_tmp_bytes(const char *dir)
{
	char prefix[64], path[4200];
	struct dirent *e;
	struct stat st;
	uint64_t sum = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	snprintf(prefix, sizeof(prefix), "%s.tmp-", API_SNAP_MEM_FILE);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

static void *ctl_progress_thread(void *arg)
{
	struct ctl_progress *p = arg;
	bool tty = isatty(STDOUT_FILENO), shown = false;
	double last_line = 0;

	pthread_mutex_lock(&p->lock);
	while (!p->done) {
		struct timespec now, tick;
		double secs;

		clock_gettime(CLOCK_MONOTONIC, &tick);
		tick.tv_nsec += 200 * 1000 * 1000;
		if (tick.tv_nsec >= 1000000000L) {
			tick.tv_sec++;
			tick.tv_nsec -= 1000000000L;
		}
		while (!p->done && pthread_cond_timedwait(&p->cond, &p->lock, &tick) == 0)
			;
		if (p->done)
			break;
		pthread_mutex_unlock(&p->lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		secs = (now.tv_sec - p->t0.tv_sec) + (now.tv_nsec - p->t0.tv_nsec) / 1e9;
		if (secs < 1.0) {
			pthread_mutex_lock(&p->lock);
			continue;   /* a short save shows only its result */
		}
		if (tty) {
			printf("\r  saving guest memory: %llu MiB written, %.1f s ",
			       (unsigned long long)(ctl_tmp_bytes(p->dir) >> 20), secs);
			fflush(stdout);
			shown = true;
		} else if (secs - last_line >= 2.0) {
			printf("saving guest memory: %llu MiB written, %.1f s\n",
			       (unsigned long long)(ctl_tmp_bytes(p->dir) >> 20), secs);
			fflush(stdout);
			last_line = secs;
		}
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	if (shown)
		printf("\n");
	return NULL;
}

/* mvm ctl snapshot DIR: pause, save, resume as it was. */
static int ctl_snapshot(const char *sock, const char *dir, bool stay_paused, bool diff)
{
	char abs[4096], state[4200], mem[4200], body[8800];
	long long ssize, msize, salloc = 0, malloc_ = 0;
	struct timespec t0, t1;
	int was_paused, ret;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_err("snapshot %s: cannot create the directory: %s", dir, strerror(errno));
		return 1;
	}
	if (!realpath(dir, abs)) {
		log_err("snapshot %s: %s", dir, strerror(errno));
		return 1;
	}
	snprintf(state, sizeof(state), "%s/%s", abs, API_SNAP_STATE_FILE);
	snprintf(mem, sizeof(mem), "%s/%s", abs, API_SNAP_MEM_FILE);
	if (strpbrk(abs, "\"\\")) {
		log_err("snapshot %s: the path may not hold '\"' or '\\'", dir);
		return 1;
	}
	if ((was_paused = ctl_is_paused(sock)) < 0)
		return 1;
	if (!was_paused && ctl_call(sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", false))
		return 1;
	snprintf(body, sizeof(body), "{\"snapshot_type\": \"%s\", \"snapshot_path\": \"%s\", "
		 "\"mem_file_path\": \"%s\"}", diff ? "Diff" : "Full", state, mem);
	struct ctl_progress prog = { .dir = abs, .done = false };
	pthread_condattr_t ca;
	pthread_t pt;
	bool progress;

	pthread_mutex_init(&prog.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&prog.cond, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	prog.t0 = t0;
	progress = pthread_create(&pt, NULL, ctl_progress_thread, &prog) == 0;
	ctl_timeout_ms = CTL_SNAPSHOT_TIMEOUT_MS;
	ret = ctl_call(sock, "PUT", "/snapshot/create", body, false);
	ctl_timeout_ms = CTL_TIMEOUT_MS;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_lock(&prog.lock);
	prog.done = true;
	pthread_cond_signal(&prog.cond);
	pthread_mutex_unlock(&prog.lock);
	if (progress)
		pthread_join(pt, NULL);
	pthread_cond_destroy(&prog.cond);
	pthread_mutex_destroy(&prog.lock);
	if (!was_paused && !stay_paused &&
	    ctl_call(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", false))
		ret = 1;
	if (ret)
		return 1;
	ssize = ctl_file_size(state, &salloc);
	msize = ctl_file_size(mem, &malloc_);
	printf("%s snapshot %s: %s %lld bytes, %s %lld MiB (%lld MiB on disk), %.1f ms%s\n", diff ? "Diff" : "Full", abs,
	       API_SNAP_STATE_FILE, ssize, API_SNAP_MEM_FILE, msize >> 20, malloc_ >> 20,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
	       was_paused || stay_paused ? "; the VM stays paused" : "");
	return 0;
}

/* Test helper: stdin to the socket in small writes, the answer to stdout. */
static int ctl_raw(const char *sock, long chunk, long delay_ms, bool no_shutdown, long timeout_ms)
{
	static char in[1 << 20];
	size_t len = 0, off = 0;
	char *resp = NULL;
	size_t rlen = 0;
	ssize_t n;
	int fd, ret;

	while (len < sizeof(in) && (n = read(STDIN_FILENO, in + len, sizeof(in) - len)) > 0)
		len += (size_t)n;
	fd = ctl_connect(sock);
	if (fd < 0) {
		log_err("%s: %s", sock, strerror(-fd));
		return 1;
	}
	while (off < len) {
		size_t k = chunk > 0 && (size_t)chunk < len - off ? (size_t)chunk : len - off;

		if (ctl_write_all(fd, in + off, k))
			break;   /* the server closed: print what it said */
		off += k;
		if (delay_ms > 0 && off < len)
			usleep((useconds_t)delay_ms * 1000);
	}
	if (!no_shutdown)
		shutdown(fd, SHUT_WR);
	ret = ctl_read_all(fd, &resp, &rlen, (int)timeout_ms);
	close(fd);
	if (resp)
		fwrite(resp, 1, rlen, stdout);
	free(resp);
	return ret == -ETIMEDOUT ? 3 : ret ? 1 : 0;
}

/* A whole decimal number, or -2 (refused by the range checks after). */
static long ctl_long(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return errno || end == s || *end ? -2 : v;
}

/* mvm ctl migrate-set: PATCH /mvm/migrate with the limits given (-1: not given). */
static int ctl_migrate_set(const char *sock, long downtime_ms, long bandwidth, const char *converge)
{
	char body[256];
	int n = 0;

	if (downtime_ms == -1 && bandwidth == -1 && !converge) {
		log_err("ctl: migrate-set needs --max-downtime MS, --bandwidth MB/s or "
			"--auto-converge on|off");
		return 2;
	}
	if ((downtime_ms != -1 && (downtime_ms < 1 || downtime_ms > 60000)) ||
	    (bandwidth != -1 && (bandwidth < 0 || bandwidth > 1000000))) {
		log_err("ctl: --max-downtime must be 1 to 60000 ms, --bandwidth 0 to 1000000 MB/s");
		return 2;
	}
	n += snprintf(body + n, sizeof(body) - (size_t)n, "{");
	if (downtime_ms != -1)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\"max_downtime_ms\": %ld, ",
			      downtime_ms);
	if (bandwidth != -1)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\"bandwidth_mbps\": %ld, ",
			      bandwidth);
	if (converge)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\"auto_converge\": %s, ",
			      strcmp(converge, "on") ? "false" : "true");
	snprintf(body + n - 2, sizeof(body) - (size_t)(n - 2), "}");
	return ctl_call(sock, "PATCH", "/mvm/migrate", body, false);
}

int ctl_main(int argc, char **argv)
{
	const char *sock = NULL, *cmd = NULL;
	long grace = CTL_GRACE_S, chunk = 0, delay = 0, timeout = CTL_TIMEOUT_MS;
	long downtime = 30, bandwidth = 0;
	bool no_shutdown = false, stay_paused = false, diff = false, auto_converge = false;
	bool set_downtime = false, set_bandwidth = false;
	const char *converge_arg = NULL;   /* migrate-set's --auto-converge on|off */
	const char *arg = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;

		if (!strcmp(a, "--api-sock") && has_val)
			sock = argv[++i];
		else if (!strcmp(a, "--grace") && has_val)
			grace = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--chunk") && has_val)
			chunk = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--delay-ms") && has_val)
			delay = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--timeout-ms") && has_val)
			timeout = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--no-shutdown"))
			no_shutdown = true;
		else if (!strcmp(a, "--stay-paused"))
			stay_paused = true;
		else if (!strcmp(a, "--auto-converge") && has_val &&
			 (!strcmp(argv[i + 1], "on") || !strcmp(argv[i + 1], "off")))
			converge_arg = argv[++i];
		else if (!strcmp(a, "--auto-converge"))
			auto_converge = true;
		else if (!strcmp(a, "--diff"))
			diff = true;
		else if (!strcmp(a, "--max-downtime") && has_val) {
			downtime = ctl_long(argv[++i]);
			set_downtime = true;
		} else if (!strcmp(a, "--bandwidth") && has_val) {
			bandwidth = ctl_long(argv[++i]);
			set_bandwidth = true;
		}
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			ctl_usage(stdout);
			return 0;
		} else if (!cmd && a[0] != '-')
			cmd = a;
		else if (cmd && !arg && a[0] != '-')
			arg = a;
		else {
			log_err("ctl: unexpected argument '%s' (see mvm ctl --help)", a);
			return 2;
		}
	}
	if (!sock || !cmd) {
		ctl_usage(stderr);
		return 2;
	}
	if (grace < 0 || grace > 3600) {
		log_err("ctl: --grace must be between 0 and 3600 seconds");
		return 2;
	}
	if (!strcmp(cmd, "pause"))
		return ctl_call(sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", false);
	if (!strcmp(cmd, "resume"))
		return ctl_call(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", false);
	if (!strcmp(cmd, "stat"))
		return ctl_call(sock, "GET", "/mvm/stats", NULL, true);
	if (!strcmp(cmd, "vcpus"))
		return ctl_call(sock, "GET", "/mvm/vcpus", NULL, true);
	if (!strcmp(cmd, "config"))
		return ctl_call(sock, "GET", "/vm/config", NULL, true);
	if (!strcmp(cmd, "info"))
		return ctl_call(sock, "GET", "/", NULL, true);
	if (!strcmp(cmd, "stop"))
		return ctl_stop(sock, grace);
	if (!strcmp(cmd, "snapshot")) {
		if (!arg) {
			log_err("ctl: snapshot needs a directory (mvm ctl --api-sock S snapshot DIR)");
			return 2;
		}
		return ctl_snapshot(sock, arg, stay_paused, diff);
	}
	if (!strcmp(cmd, "migrate")) {
		if (!arg) {
			log_err("ctl: migrate needs a destination (mvm ctl --api-sock S migrate "
				"tcp:HOST:PORT)");
			return 2;
		}
		if (downtime < 1 || downtime > 60000 || bandwidth < 0 || bandwidth > 1000000) {
			log_err("ctl: --max-downtime must be 1 to 60000 ms, --bandwidth 0 to 1000000 MB/s");
			return 2;
		}
		return ctl_migrate(sock, arg, downtime, bandwidth, auto_converge);
	}
	if (arg) {
		log_err("ctl: unexpected argument '%s' (see mvm ctl --help)", arg);
		return 2;
	}
	if (!strcmp(cmd, "migrate-set"))
		return ctl_migrate_set(sock, set_downtime ? downtime : -1,
				       set_bandwidth ? bandwidth : -1, converge_arg);
	if (!strcmp(cmd, "raw"))
		return ctl_raw(sock, chunk, delay, no_shutdown, timeout);
	log_err("ctl: unknown command '%s' (pause, resume, stop, stat, vcpus, config, info, "
		"snapshot, migrate, migrate-set)", cmd);
	return 2;
}
