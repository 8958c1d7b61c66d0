/* test_profile.c - `--profile` (obs/profile.h): its argument, its lines, what a sample reads from
 * KVM, and the whole path from the sampling thread through a vCPU's loop into the file.
 *
 * ioctl() comes from fake_ioctl.h (as in test_vcpu_kick.c): on the fake fd, KVM_RUN is a 2 ms guest
 * slice that a kick ends, and KVM_GET_REGS / KVM_GET_SREGS answer fixed registers (or fail,
 * when told to); every other fd goes to the kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/vcpu.h"
#include "obs/profile.h"
#include "fake_ioctl.h"

static struct kvm_run *fake_run;
static uint64_t fake_rip = 0xffffffff81234567ull, fake_cr0 = 0x80050033;
static uint16_t fake_cs = 0x10;
static atomic_bool fail_regs;

static int fake_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case KVM_RUN:
		if (!__atomic_load_n(&fake_run->immediate_exit, __ATOMIC_SEQ_CST))
			usleep(2000);   /* the guest runs until the slice ends or a kick */
		errno = EINTR;
		return -1;
	case KVM_GET_REGS:
		if (atomic_load(&fail_regs)) {
			errno = EIO;
			return -1;
		}
		memset(arg, 0, sizeof(struct kvm_regs));
		((struct kvm_regs *)arg)->rip = fake_rip;
		return 0;
	case KVM_GET_SREGS: {
		struct kvm_sregs *s = arg;

		memset(s, 0, sizeof(*s));
		s->cr0 = fake_cr0;
		s->cs.selector = fake_cs;
		return 0;
	}
	}
	errno = ENOTTY;
	return -1;
}

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/mvm-test-profile.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	fake_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(fake_fd >= 0);
	fake_run = calloc(1, sizeof(*fake_run));
	assert_non_null(fake_run);
	atomic_store(&fail_regs, false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	close(fake_fd);
	fake_fd = -1;
	free(fake_run);
	return 0;
}

/* The file's whole text (malloc'd). */
static char *slurp(void)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_parse_arg(void **state)
{
	size_t len;
	unsigned hz;

	(void)state;
	assert_int_equal(profile_parse_arg("out.prof", &len, &hz), 0);
	assert_int_equal(len, strlen("out.prof"));
	assert_int_equal(hz, PROFILE_HZ_DEFAULT);
	assert_int_equal(profile_parse_arg("/a/b,hz=1000", &len, &hz), 0);
	assert_int_equal(len, strlen("/a/b"));
	assert_int_equal(hz, 1000);
	assert_int_equal(profile_parse_arg("x,hz=10000", &len, &hz), 0);
	const char *bad[] = { "", ",hz=5", "x,hz=0", "x,hz=10001", "x,hz=", "x,hz=1k", "x,rate=5",
			      "x,", "x,hz=-1", "x,hz=99999999999999999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = 99;
		assert_int_equal(profile_parse_arg(bad[i], &len, &hz), -EINVAL);
		assert_int_equal(len, 0);
	}
}

static void test_format(void **state)
{
	struct profile_sample s = { .t_us = 1234567, .rip = 0xffffffff81000000ull, .vcpu = 3, .cpl = 0 };
	char line[96];

	(void)state;
	int n = profile_format(line, sizeof(line), &s);

	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(line, "1234567 3 0xffffffff81000000 0\n");
	s = (struct profile_sample){ .t_us = 0, .rip = 0x401000, .vcpu = 0, .cpl = 3 };
	profile_format(line, sizeof(line), &s);
	assert_string_equal(line, "0 0 0x401000 3\n");
}

/* profile_take on the vCPU's thread, called directly: RIP, CPL from CS in protected mode, 0 in
 * real mode whatever CS holds, and a failing ioctl counted, not written. */
static void test_take(void **state)
{
	struct vcpu v = { .index = 2, .fd = -1 };
	struct profile *p;
	char *text;

	(void)state;
	v.fd = fake_fd;
	assert_int_equal(profile_create(&p, path, 100, 4), 0);
	fake_rip = 0xffffffff81234567ull; fake_cr0 = 0x80050033; fake_cs = 0x10;
	profile_take(p, &v);
	fake_rip = 0x401000; fake_cs = 0x33;
	profile_take(p, &v);
	fake_rip = 0xfff0; fake_cr0 = 0x60000010; fake_cs = 0xf003;   /* real mode */
	profile_take(p, &v);
	atomic_store(&fail_regs, true);
	profile_take(p, &v);
	profile_destroy(p);
	text = slurp();
	assert_non_null(strstr(text, "# mvm profile v1 hz=100 vcpus=4\n"));
	assert_non_null(strstr(text, " 2 0xffffffff81234567 0\n"));
	assert_non_null(strstr(text, " 2 0x401000 3\n"));
	assert_non_null(strstr(text, " 2 0xfff0 0\n"));
	assert_non_null(strstr(text, "# end samples=3 missed=0 failed=1 dropped=0\n"));
	free(text);
}

static atomic_bool stopping, paused;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fake_park(void *ctx, struct vcpu *v)
{
	(void)ctx;
	while (atomic_load(&paused) && !atomic_load(&stopping))
		usleep(1000);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static struct profile *the_profile;

static void on_sample(void *ctx, struct vcpu *v)
{
	(void)ctx;
	profile_take(the_profile, v);
}

static struct vcpu_host host = {
	.stopping = &stopping, .paused = &paused, .park = fake_park, .nr_vcpus = 1,
	.on_sample = on_sample,
};
static struct vcpu the_vcpu;

/* The sampling thread asks, the vCPU's own loop answers between two KVM_RUNs, the file fills:
 * 200 Hz for 300 ms gives tens of samples of the fake RIP (at least 10 even on a slow, loaded
 * host; a request the vCPU had not answered counts as missed, never as a sample). A paused VM is
 * not sampled. */
static void test_thread_and_vcpu(void **state)
{
	char *text, *line;
	unsigned long samples = 0, missed = 0, lines = 0, paused_samples;

	(void)state;
	assert_int_equal(vcpu_signal_setup(), 0);
	atomic_store(&stopping, false);
	atomic_store(&paused, false);
	fake_rip = 0xffffffff81abcdefull; fake_cr0 = 0x80050033; fake_cs = 0x10;
	memset(&the_vcpu, 0, sizeof(the_vcpu));
	the_vcpu.host = &host;
	the_vcpu.fd = fake_fd;
	the_vcpu.run = fake_run;
	assert_int_equal(profile_create(&the_profile, path, 200, 1), 0);
	assert_int_equal(vcpu_start(&the_vcpu), 0);
	uint64_t t0 = now_ms();

	assert_int_equal(profile_start(the_profile, &the_vcpu, 1, &paused, 0), 0);
	usleep(300000);
	atomic_store(&paused, true);
	uint64_t ran_ms = now_ms() - t0;

	usleep(50000);   /* a request in flight is served or parked by now */
	paused_samples = profile_samples(the_profile);
	usleep(200000);
	unsigned long after_pause = profile_samples(the_profile);

	atomic_store(&paused, false);
	atomic_store(&stopping, true);
	vcpu_kick(&the_vcpu);
	assert_int_equal(vcpu_join(&the_vcpu, 2000), 0);
	profile_destroy(the_profile);
	the_profile = NULL;
	assert_int_equal(after_pause, paused_samples);
	text = slurp();
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "# end samples=%lu missed=%lu", &samples, &missed) == 2)
			continue;
		if (line[0] == '#')
			continue;
		assert_non_null(strstr(line, " 0 0xffffffff81abcdef 0"));
		lines++;
	}
	free(text);
	assert_int_equal(lines, samples);
	assert_true(samples >= 10);
	/* Asked during the pause, a parked vCPU would leave every request unanswered. */
	assert_true(missed <= 2);
	assert_true(samples <= ran_ms * 200 / 1000 + 1);   /* never more than were asked for */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_arg),
		cmocka_unit_test(test_format),
		cmocka_unit_test_setup_teardown(test_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_and_vcpu, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
