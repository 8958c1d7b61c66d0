/* metrics.c - the metrics file/FIFO: one JSON line per interval, on flush and at stop. */
#include "obs/metrics.h"
#include "obs/kvm_stats.h"
#include "obs/source.h"
#include "util/bench_probe.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define METRICS_FIFO_WAIT_MS 100   /* how long a full FIFO may hold a line */

struct metrics {
	const struct obs_source *src;
	int fd;
	bool is_fifo;
	uint64_t interval_ms;
	struct kvm_stats vm_stats;
	struct kvm_stats *vcpu_stats;   /* nr_vcpus entries; fd -1 when unavailable */
	bool kvm_ok;
	char *id;                       /* each line's "id"; NULL: none */
	struct json_object *properties; /* each line's "properties"; NULL: none */

	pthread_mutex_t write_lock;     /* one line at a time */
	uint64_t dropped;

	pthread_mutex_t lock;           /* the thread's stop flag */
	pthread_cond_t cond;
	bool stopping, started;
	pthread_t thread;
};

static void metrics_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static struct json_object *metrics_kvm_object(const struct kvm_stats *s)
{
	struct json_object *o;
	uint64_t *values;

	if (!s || s->fd < 0)
		return NULL;
	values = calloc(s->nr_items ? s->nr_items : 1, sizeof(*values));
	if (!values || kvm_stats_read(s, values)) {
		free(values);
		return NULL;
	}
	o = json_object_new_object();
	for (uint32_t i = 0; o && i < s->nr_items; i++)
		metrics_add_u64(o, s->items[i].name, values[i]);
	free(values);
	return o;
}

static void metrics_add_vcpus(struct json_object *root, const struct obs_source *vm,
			      const struct kvm_stats *vcpu_stats)
{
	struct json_object *arr = json_object_new_array();
	struct json_object *totals = json_object_new_object();
	uint64_t sum[VCPU_EXIT_REASONS] = { 0 };

	for (int c = 0; c < vm->nr_vcpus; c++) {
		struct vcpu *v = &vm->vcpus[c];
		struct json_object *o = json_object_new_object();
		struct json_object *exits = json_object_new_object();
		struct json_object *ns = json_object_new_object();
		struct json_object *kvm;

		json_object_object_add(o, "id", json_object_new_int(c));
		for (uint32_t r = 0; r < VCPU_EXIT_REASONS; r++) {
			/* Written by the vCPU thread without atomics: each load is whole on
			 * a 64-bit host; the set is not one instant (see the header). */
			uint64_t n = __atomic_load_n(&v->exits[r], __ATOMIC_RELAXED);
			uint64_t t = __atomic_load_n(&v->exit_ns[r], __ATOMIC_RELAXED);
			const char *name = vcpu_exit_name(r);
			char other[24];

			if (!n)
				continue;
			if (!name) {
				snprintf(other, sizeof(other), "reason_%u", r);
				name = other;
			}
			sum[r] += n;
			metrics_add_u64(exits, name, n);
			metrics_add_u64(ns, name, t);
		}
		json_object_object_add(o, "exits", exits);
		json_object_object_add(o, "exit_handler_ns", ns);
		kvm = vcpu_stats ? metrics_kvm_object(&vcpu_stats[c]) : NULL;
		if (kvm)
			json_object_object_add(o, "kvm", kvm);
		json_object_array_add(arr, o);
	}
	for (uint32_t r = 0; r < VCPU_EXIT_REASONS; r++) {
		const char *name = vcpu_exit_name(r);
		char other[24];

		if (!sum[r])
			continue;
		if (!name) {
			snprintf(other, sizeof(other), "reason_%u", r);
			name = other;
		}
		metrics_add_u64(totals, name, sum[r]);
	}
	json_object_object_add(root, "vcpus", arr);
	json_object_object_add(root, "exits", totals);
}

static void metrics_add_devices(struct json_object *root, const struct obs_source *src)
{
	struct json_object *devs = json_object_new_object();

	if (src->device_stats)
		src->device_stats(src->device_ctx, devs);
	json_object_object_add(root, "devices", devs);
}

struct json_object *metrics_build(const struct obs_source *vm, const struct kvm_stats *vm_stats,
				  const struct kvm_stats *vcpu_stats, uint64_t now_ns)
{
	struct json_object *root = json_object_new_object();
	struct json_object *unclaimed, *kvm;
	struct timespec ts;

	if (!root)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	metrics_add_u64(root, "timestamp_ms", (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	metrics_add_u64(root, "uptime_ms", vm->run_start_ns && now_ns > vm->run_start_ns ?
			(now_ns - vm->run_start_ns) / 1000000 : 0);
	metrics_add_vcpus(root, vm, vcpu_stats);
	kvm = metrics_kvm_object(vm_stats);
	json_object_object_add(root, "kvm_stats_available", json_object_new_boolean(kvm != NULL));
	if (kvm)
		json_object_object_add(root, "kvm_vm", kvm);
	unclaimed = json_object_new_object();
	metrics_add_u64(unclaimed, "port_io", atomic_load(&vm->pio->unclaimed));
	metrics_add_u64(unclaimed, "mmio", atomic_load(&vm->mmio->unclaimed));
	json_object_object_add(root, "unclaimed", unclaimed);
	metrics_add_devices(root, vm);
	return root;
}

/* KVM's stats of the VM and each vCPU into vm_stats / vcpu_stats[]; false when
 * unavailable (the caller closes what was opened). */
static bool metrics_open_kvm(const struct obs_source *vm, struct kvm_stats *vm_stats, struct kvm_stats *vcpu_stats)
{
	bool ok;

	memset(vm_stats, 0, sizeof(*vm_stats));
	vm_stats->fd = -1;
	for (int c = 0; c < vm->nr_vcpus; c++) {
		memset(&vcpu_stats[c], 0, sizeof(vcpu_stats[c]));
		vcpu_stats[c].fd = -1;
	}
	ok = vm->kvm_fd >= 0 && vm->vm_fd >= 0 && kvm_stats_supported(vm->kvm_fd) &&
	     !kvm_stats_open(vm_stats, vm->vm_fd);
	for (int c = 0; ok && c < vm->nr_vcpus; c++)
		if (kvm_stats_open(&vcpu_stats[c], vm->vcpus[c].fd))
			ok = false;
	return ok;
}

static void metrics_close_kvm(const struct obs_source *vm, struct kvm_stats *vm_stats, struct kvm_stats *vcpu_stats)
{
	kvm_stats_close(vm_stats);
	for (int c = 0; vcpu_stats && c < vm->nr_vcpus; c++)
		kvm_stats_close(&vcpu_stats[c]);
}

char *metrics_snapshot_json(const struct obs_source *vm)
{
	struct metrics *m = vm->metrics;
	struct kvm_stats vm_stats = { .fd = -1 }, *vcpu_stats = m ? m->vcpu_stats : NULL;
	struct json_object *o;
	char *out = NULL;

	if (!m) {
		vcpu_stats = calloc(vm->nr_vcpus ? vm->nr_vcpus : 1, sizeof(*vcpu_stats));
		if (!vcpu_stats)
			return NULL;
		metrics_open_kvm(vm, &vm_stats, vcpu_stats);
	}
	o = metrics_build(vm, m ? &m->vm_stats : &vm_stats, vcpu_stats, bench_probe_now_ns());
	if (o)
		out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (!m) {
		metrics_close_kvm(vm, &vm_stats, vcpu_stats);
		free(vcpu_stats);
	}
	return out;
}

/* Write all of buf; a FIFO that stays full for METRICS_FIFO_WAIT_MS loses the rest. */
static int metrics_write(struct metrics *m, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(m->fd, buf + done, len - done);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = m->fd, .events = POLLOUT };

			if (poll(&p, 1, METRICS_FIFO_WAIT_MS) > 0)
				continue;
			return -EAGAIN;
		}
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

int metrics_flush(struct metrics *m)
{
	struct json_object *o;
	const char *s;
	char *line;
	size_t len;
	int ret;

	if (!m)
		return -ENODEV;
	pthread_mutex_lock(&m->write_lock);
	o = metrics_build(m->src, m->kvm_ok ? &m->vm_stats : NULL, m->kvm_ok ? m->vcpu_stats : NULL,
			  bench_probe_now_ns());
	if (o && m->id)
		json_object_object_add(o, "id", json_object_new_string(m->id));
	if (o && m->properties)
		json_object_object_add(o, "properties", json_object_get(m->properties));
	s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
	len = s ? strlen(s) : 0;
	line = s ? malloc(len + 1) : NULL;
	if (!line) {
		ret = err_host(-ENOMEM);
	} else {
		memcpy(line, s, len);
		line[len] = '\n';
		ret = metrics_write(m, line, len + 1);
	}
	if (ret && m->dropped++ == 0)
		log_warn("--metrics: a line was not written (%s); later losses are counted silently",
			 strerror(-ret));
	free(line);
	json_object_put(o);
	pthread_mutex_unlock(&m->write_lock);
	return ret;
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;
	struct timespec next;

	pthread_setname_np(pthread_self(), "mvm-metrics");
	sandbox_enter(SANDBOX_METRICS);
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		next.tv_sec += m->interval_ms / 1000;
		next.tv_nsec += (m->interval_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (!m->stopping && pthread_cond_timedwait(&m->cond, &m->lock, &next) != ETIMEDOUT)
			;
		if (m->stopping)
			break;
		pthread_mutex_unlock(&m->lock);
		metrics_flush(m);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static uint64_t metrics_interval(uint64_t interval_ms)
{
	const char *env = getenv("MVM_METRICS_INTERVAL_MS");

	if (interval_ms)
		return interval_ms;
	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (!*end && v > 0)
			return v;
		log_warn("MVM_METRICS_INTERVAL_MS='%s' is not a positive number of ms; using %d",
			 env, METRICS_INTERVAL_MS);
	}
	return METRICS_INTERVAL_MS;
}

int metrics_create(struct metrics **out, const struct obs_source *vm, const char *path, uint64_t interval_ms)
{
	struct metrics *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	struct stat st;
	int err;

	*out = NULL;
	if (!m || !(m->vcpu_stats = calloc(vm->nr_vcpus ? vm->nr_vcpus : 1, sizeof(*m->vcpu_stats)))) {
		free(m);
		log_err("out of memory for --metrics");
		return err_host(-ENOMEM);
	}
	m->src = vm;
	m->is_fifo = !stat(path, &st) && S_ISFIFO(st.st_mode);
	/* O_RDWR on a FIFO: the open does not wait for (or fail without) a reader. */
	m->fd = m->is_fifo ? open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
			   : open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
	if (m->fd < 0) {
		err = errno;
		log_err("--metrics %s: cannot open it for writing: %s", path, strerror(err));
		free(m->vcpu_stats);
		free(m);
		return -err;
	}
	m->interval_ms = metrics_interval(interval_ms);
	m->vm_stats.fd = -1;
	m->kvm_ok = metrics_open_kvm(vm, &m->vm_stats, m->vcpu_stats);
	if (!m->kvm_ok) {
		metrics_close_kvm(vm, &m->vm_stats, m->vcpu_stats);
		log_info("--metrics: this KVM has no binary statistics (KVM_CAP_BINARY_STATS_FD, "
			 "Linux 5.14+); the lines carry mvm's own counters only");
	}
	pthread_mutex_init(&m->write_lock, NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = m;
	return 0;
}

int metrics_set_labels(struct metrics *m, const char *id, const char *properties)
{
	if (id && !(m->id = strdup(id)))
		return err_host(-ENOMEM);
	if (properties) {
		m->properties = json_tokener_parse(properties);
		if (!json_object_is_type(m->properties, json_type_object)) {
			json_object_put(m->properties);
			m->properties = NULL;
			return -EINVAL;
		}
	}
	return 0;
}

int metrics_start(struct metrics *m)
{
	int ret;

	if (!m || m->started)
		return 0;
	m->stopping = false;
	ret = pthread_create(&m->thread, NULL, metrics_thread, m);
	if (ret) {
		log_err("--metrics: cannot start its thread: %s", strerror(ret));
		return -ret;
	}
	m->started = true;
	return 0;
}

/* End the writer thread if it runs. */
static void metrics_join(struct metrics *m)
{
	if (!m->started)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	m->started = false;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	metrics_join(m);
	metrics_flush(m);
}

void metrics_destroy(struct metrics *m)
{
	if (!m)
		return;
	metrics_join(m);
	metrics_close_kvm(m->src, &m->vm_stats, m->vcpu_stats);
	free(m->vcpu_stats);
	free(m->id);
	json_object_put(m->properties);
	close(m->fd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->write_lock);
	free(m);
}
