/* profile.c - `--profile`: a thread asks each vCPU where it is, hz times a second. */
#include "obs/profile.h"
#include "core/vcpu.h"
#include "util/bench_probe.h"
#include "util/log.h"
#include "util/nap.h"
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PROFILE_STOP_STEP_NS 10000000ull   /* a stop waits at most this long */

struct profile {
	FILE *out;
	char *path;
	unsigned hz;
	int nr_vcpus;
	struct vcpu *vcpus;
	const atomic_bool *paused;
	uint64_t t0_ns;
	pthread_t thread;
	bool running;
	bool closed;                   /* the closing line is written: nothing more */
	atomic_bool stop;
	pthread_mutex_t lock;          /* buf, n and the counters */
	struct profile_sample buf[PROFILE_BUF];
	size_t n;
	struct profile_sample spare[PROFILE_BUF];   /* the writer's copy of buf */
	uint64_t samples, missed, failed, dropped;
	bool write_failed;
};

int profile_parse_arg(const char *arg, size_t *path_len, unsigned *hz)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);

	*hz = PROFILE_HZ_DEFAULT;
	*path_len = 0;
	if (len == 0)
		return -EINVAL;
	if (comma) {
		char *end;
		unsigned long v;

		if (strncmp(comma + 1, "hz=", 3) || !comma[4])
			return -EINVAL;
		errno = 0;
		v = strtoul(comma + 4, &end, 10);
		if (errno || *end || v == 0 || v > PROFILE_HZ_MAX)
			return -EINVAL;
		*hz = (unsigned)v;
	}
	*path_len = len;
	return 0;
}

int profile_format(char *buf, size_t len, const struct profile_sample *s)
{
	return snprintf(buf, len, "%" PRIu64 " %u 0x%" PRIx64 " %u\n", s->t_us, s->vcpu, s->rip,
			s->cpl);
}

int profile_create(struct profile **out, const char *path, unsigned hz, int nr_vcpus)
{
	struct profile *p;
	int fd;

	*out = NULL;
	if (hz == 0 || hz > PROFILE_HZ_MAX || nr_vcpus <= 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(p->out = fdopen(fd, "w"))) {
		int ret = -errno;

		log_err("--profile %s: cannot open: %s", path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		free(p);
		return ret;
	}
	p->path = strdup(path);
	if (!p->path) {
		fclose(p->out);
		free(p);
		return -ENOMEM;
	}
	p->hz = hz;
	p->nr_vcpus = nr_vcpus;
	pthread_mutex_init(&p->lock, NULL);
	fprintf(p->out, "# mvm profile v1 hz=%u vcpus=%d\n", hz, nr_vcpus);
	*out = p;
	return 0;
}

void profile_take(struct profile *p, struct vcpu *v)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct profile_sample s = { .vcpu = (uint16_t)v->index };
	bool ok = ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0;
	uint64_t now = bench_probe_now_ns();

	if (ok) {
		s.t_us = now > p->t0_ns ? (now - p->t0_ns) / 1000 : 0;
		s.rip = regs.rip;
		/* CS's RPL is the CPL once protected mode is on; before, there is only ring 0. */
		s.cpl = (sregs.cr0 & 1) ? (sregs.cs.selector & 3) : 0;
	}
	pthread_mutex_lock(&p->lock);
	if (!ok)
		p->failed++;
	else if (p->n == PROFILE_BUF)
		p->dropped++;
	else {
		p->buf[p->n++] = s;
		p->samples++;
	}
	pthread_mutex_unlock(&p->lock);
}

/* Write out what the vCPUs recorded: copied under the lock, written outside it, so a vCPU
 * never waits for the file. Only the profile's thread, or profile_stop() after it ended. */
static void profile_flush(struct profile *p)
{
	struct profile_sample *out = p->spare;
	char line[96];
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	memcpy(out, p->buf, n * sizeof(out[0]));
	p->n = 0;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n && !p->write_failed; i++) {
		profile_format(line, sizeof(line), &out[i]);
		if (fputs(line, p->out) == EOF)
			p->write_failed = true;
	}
	if (!p->write_failed && fflush(p->out) == EOF)
		p->write_failed = true;
}

static void *profile_thread(void *arg)
{
	struct profile *p = arg;
	uint64_t period = 1000000000ull / p->hz;

	pthread_setname_np(pthread_self(), "mvm-profile");
	sandbox_enter(SANDBOX_METRICS);
	while (!atomic_load(&p->stop)) {
		nap_unless(&p->stop, period, PROFILE_STOP_STEP_NS);
		if (atomic_load(&p->stop))
			break;
		if (!atomic_load(p->paused)) {
			for (int i = 0; i < p->nr_vcpus; i++) {
				if (vcpu_request_sample(&p->vcpus[i])) {
					pthread_mutex_lock(&p->lock);
					p->missed++;
					pthread_mutex_unlock(&p->lock);
				}
			}
		}
		profile_flush(p);
	}
	return NULL;
}

int profile_start(struct profile *p, struct vcpu *vcpus, int nr_vcpus, const atomic_bool *paused,
		  uint64_t t0_ns)
{
	int ret;

	if (!p || p->running || p->closed)
		return 0;
	if (nr_vcpus != p->nr_vcpus)
		return -EINVAL;
	p->vcpus = vcpus;
	p->paused = paused;
	p->t0_ns = t0_ns;
	atomic_store(&p->stop, false);
	ret = pthread_create(&p->thread, NULL, profile_thread, p);
	if (ret) {
		log_err("--profile: cannot start its thread: %s", strerror(ret));
		return -ret;
	}
	p->running = true;
	return 0;
}

void profile_stop(struct profile *p)
{
	if (!p || p->closed)
		return;
	if (p->running) {
		atomic_store(&p->stop, true);
		pthread_join(p->thread, NULL);
		p->running = false;
	}
	p->closed = true;
	profile_flush(p);
	pthread_mutex_lock(&p->lock);
	fprintf(p->out, "# end samples=%" PRIu64 " missed=%" PRIu64 " failed=%" PRIu64
		" dropped=%" PRIu64 "\n", p->samples, p->missed, p->failed, p->dropped);
	pthread_mutex_unlock(&p->lock);
	if (fflush(p->out) == EOF || p->write_failed)
		log_warn("--profile %s: not every sample could be written", p->path);
	else
		log_info("--profile %s: %" PRIu64 " samples (%" PRIu64 " missed)", p->path,
			 p->samples, p->missed);
}

uint64_t profile_samples(struct profile *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->samples;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void profile_destroy(struct profile *p)
{
	if (!p)
		return;
	profile_stop(p);
	fclose(p->out);
	pthread_mutex_destroy(&p->lock);
	free(p->path);
	free(p);
}
