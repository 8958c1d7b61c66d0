/* launch.c - run a command with MVM_T0_NS set and time it to a marker line on its stdout.
 *
 * usage: launch [--guest-mem KB] [--stop-after MS] MARKER TIMEOUT_S -- cmd args...
 * Sets MVM_T0_NS to CLOCK_MONOTONIC just before fork+exec, so mvm can report exec -> first
 * KVM_RUN against the same clock; runs cmd with its stdout on a pipe and copies it to our
 * stdout. On stderr it prints, when a line containing MARKER arrives,
 *   launch: marker_ms=<ms from exec to the end of that line>
 * and when cmd has exited
 *   launch: exit_ms=<ms from exec to exit> maxrss_kb=<cmd's peak RSS> status=<exit status>
 * maxrss_kb comes from wait4()'s rusage, so it is measured the same way for every command.
 * With --guest-mem KB, at the marker it also reads cmd's /proc/PID/status and smaps and prints
 *   launch: at_marker rss_kb=<VmRSS> guest_rss_kb=<RSS of mappings of >= KB> overhead_kb=<difference>
 * which treats every run of contiguous anonymous mappings, or of contiguous mappings of one file
 * (a restored snapshot's memory file, mapped MAP_PRIVATE), at least as large as guest memory as
 * guest RAM: the same rule for any VMM, so their footprints beyond guest memory compare (QEMU's
 * ROMs count as its overhead).
 * With --stop-after MS, MS milliseconds after the marker it samples the same figures again,
 *   launch: after_marker ms=<MS> rss_kb=... guest_rss_kb=... overhead_kb=...
 * (with --guest-mem), then kills cmd with SIGKILL and reports its exit as usual;
 * a command stopped this way counts as a success (exit status 0). For guests that never stop.
 * With --stamp FILE, every complete output line is also written to FILE as "<ms from exec> <line>"
 * (carriage returns dropped), so a profile can tell when each boot message arrived.
 * With --kvm-every MS (needs --stamp), every MS milliseconds it also reads KVM's counters of cmd's
 * VM from debugfs (/sys/kernel/debug/kvm/<pid>-<fd>/: exits, io_exits, mmio_exits, halt_exits,
 * irq_window_exits, insn_emulation, summed over the VM's vCPUs) into FILE as
 * "<ms> #kvm exits=N io_exits=N ...". At the marker it prints them on stderr whenever debugfs is
 * readable (launch: at_marker_kvm exits=N ...): the same count for any VMM, mvm or QEMU or kvmtool.
 * After TIMEOUT_S seconds (0: none) cmd is killed with SIGKILL. Exit status: cmd's status when
 * the marker was seen (128+signal when it was killed), 124 when it was not.
 * Built static (bench/boot.sh) so it runs in the test host VM without libraries.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Scan new output for MARKER, one line at a time; a line longer than the buffer is split,
 * which can only hide a marker that is not at a line start in a huge line. */
struct scan {
	const char *marker;
	char line[8192];
	size_t used;
	int found;
};

static int scan_feed(struct scan *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && !s->found; i++) {
		if (buf[i] == '\n' || s->used == sizeof(s->line) - 1) {
			s->line[s->used] = 0;
			s->found = strstr(s->line, s->marker) != NULL;
			s->used = 0;
		} else {
			s->line[s->used++] = buf[i];
		}
	}
	return s->found;
}

/* One mapping from smaps: its range, whether it is anonymous, its RSS. */
struct vma {
	unsigned long long start, end, rss_kb;
	int anon;
	unsigned long long ino;       /* a file mapping's inode and device; 0: none */
	unsigned int dev;
};

#define MAX_VMAS 8192

/* Do two mappings belong to one run of guest RAM: both anonymous, or both of one file? */
static int same_kind(const struct vma *a, const struct vma *b)
{
	return a->anon ? b->anon : !b->anon && a->ino && a->ino == b->ino && a->dev == b->dev;
}

/* RSS of pid and of its guest RAM, from /proc; 0 when unreadable. Guest RAM
 * is every run of address-contiguous anonymous mappings, or of mappings of
 * one file, at least guest_kb long: a VMM's madvise() on part of its RAM
 * splits one mapping into several, which must still count as one. */
static void sample_rss(pid_t pid, unsigned long long guest_kb, const char *label)
{
	static struct vma v[MAX_VMAS];
	unsigned long long rss_kb = 0, in_kb = 0, kb;
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmRSS: %llu kB", &rss_kb);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' '), *dash = strchr(line, '-');
		unsigned long long start, end, ino = 0;
		unsigned int major = 0, minor = 0;
		int pos = 0;

		/* A mapping's header starts "start-end perms offset dev inode [path]";
		 * field lines start "Name:". */
		if (sp && dash && dash < sp &&
		    sscanf(line, "%llx-%llx %*s %*s %x:%x %llu%n", &start, &end, &major, &minor,
			   &ino, &pos) == 5) {
			int anon;

			if (n == MAX_VMAS)
				break;
			while (line[pos] == ' ')
				pos++;
			anon = line[pos] == '\n' || line[pos] == 0;
			v[n++] = (struct vma){ start, end, 0, anon, anon ? 0 : ino, major << 20 | minor };
		} else if (n && sscanf(line, "Rss: %llu kB", &kb) == 1) {
			v[n - 1].rss_kb = kb;
		}
	}
	if (f)
		fclose(f);
	for (int i = 0; i < n;) {
		int j = i + 1;
		unsigned long long run_rss = v[i].rss_kb;

		int ram = v[i].anon || v[i].ino;

		while (ram && j < n && same_kind(&v[i], &v[j]) && v[j].start == v[j - 1].end)
			run_rss += v[j++].rss_kb;
		if (ram && (v[j - 1].end - v[i].start) / 1024 >= guest_kb)
			in_kb += run_rss;
		i = j;
	}
	fprintf(stderr, "launch: %s rss_kb=%llu guest_rss_kb=%llu overhead_kb=%llu\n", label,
		rss_kb, in_kb, rss_kb > in_kb ? rss_kb - in_kb : 0);
}

/* KVM's counters of pid's VM from debugfs, as "exits=N io_exits=N ..."; 0 when there is none
 * (debugfs not mounted, or the VM not created yet or gone). */
static int kvm_counters(pid_t pid, char *out, size_t len)
{
	static const char *const names[] = { "exits", "io_exits", "mmio_exits", "halt_exits",
					     "irq_window_exits", "insn_emulation" };
	char prefix[32], dir[300] = "", path[400];
	struct dirent *d;
	size_t used = 0;
	DIR *k = opendir("/sys/kernel/debug/kvm");

	if (!k)
		return 0;
	snprintf(prefix, sizeof(prefix), "%d-", (int)pid);
	while ((d = readdir(k)))
		if (!strncmp(d->d_name, prefix, strlen(prefix))) {
			snprintf(dir, sizeof(dir), "/sys/kernel/debug/kvm/%s", d->d_name);
			break;
		}
	closedir(k);
	if (!dir[0])
		return 0;
	out[0] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned long long v = 0;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "r");
		if (!f || fscanf(f, "%llu", &v) != 1) {
			if (f)
				fclose(f);
			return 0;
		}
		fclose(f);
		used += snprintf(out + used, used < len ? len - used : 0, "%s%s=%llu", i ? " " : "",
				 names[i], v);
	}
	return used < len;
}

/* Whole lines of output into the stamp file, each with the time its newline arrived. */
struct stamper {
	FILE *f;
	char line[8192];
	size_t used;
};

static void stamp_feed(struct stamper *st, const char *buf, size_t n, double ms)
{
	for (size_t i = 0; st->f && i < n; i++) {
		if (buf[i] == '\n' || st->used == sizeof(st->line) - 1) {
			st->line[st->used] = 0;
			fprintf(st->f, "%.1f %s\n", ms, st->line);
			st->used = 0;
		} else if (buf[i] != '\r') {
			st->line[st->used++] = buf[i];
		}
	}
}

int main(int argc, char **argv)
{
	struct scan scan = { 0 };
	unsigned long long t0, deadline = 0;
	struct rusage ru = { 0 };
	int pfd[2], status = 0, timed_out = 0, code;
	char env[32], buf[4096];
	unsigned long long guest_kb = 0, stop_ms = 0, stop_at = 0;
	int stopped = 0, have_stop = 0;
	unsigned long long kvm_every = 0, next_kvm = 0;
	struct stamper st = { 0 };
	char kvm[256];
	pid_t pid;

	while (argc > 2 && (!strcmp(argv[1], "--guest-mem") || !strcmp(argv[1], "--stop-after") ||
			    !strcmp(argv[1], "--kvm-every") || !strcmp(argv[1], "--stamp"))) {
		char *end;

		if (!strcmp(argv[1], "--stamp")) {
			if (st.f)
				fclose(st.f);
			st.f = fopen(argv[2], "w");
			if (!st.f) {
				fprintf(stderr, "launch: --stamp %s: %s\n", argv[2], strerror(errno));
				return 2;
			}
			argc -= 2;
			argv += 2;
			continue;
		}
		unsigned long long v = strtoull(argv[2], &end, 10);

		if (*end || end == argv[2]) {
			fprintf(stderr, "launch: %s %s: expected a whole number\n", argv[1], argv[2]);
			return 2;
		}
		if (!strcmp(argv[1], "--guest-mem"))
			guest_kb = v;
		else if (!strcmp(argv[1], "--kvm-every"))
			kvm_every = v;
		else
			stop_ms = v, have_stop = 1;
		argc -= 2;
		argv += 2;
	}
	if (argc < 5 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: launch [--stamp FILE] [--guest-mem KB] [--stop-after MS] "
			"[--kvm-every MS] MARKER TIMEOUT_S -- cmd args...\n");
		return 2;
	}
	scan.marker = argv[1];
	if (pipe(pfd)) {
		perror("launch: pipe");
		return 2;
	}
	/* Our own stdout may be a closed pipe when the caller stops reading; keep going. */
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ns();
	if (atoi(argv[2]) > 0)
		deadline = t0 + atoi(argv[2]) * 1000000000ULL;
	snprintf(env, sizeof(env), "%llu", t0);
	setenv("MVM_T0_NS", env, 1);
	pid = fork();
	if (pid < 0) {
		perror("launch: fork");
		return 2;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[4], argv + 4);
		fprintf(stderr, "launch: cannot run %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		unsigned long long t = now_ns(), until = 0;
		int wait_ms = -1;
		ssize_t n;

		if (stop_at && t >= stop_at) {
			fprintf(stderr, "launch: after_marker ms=%llu\n", stop_ms);
			if (guest_kb)
				sample_rss(pid, guest_kb, "after_marker");
			stopped = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (deadline && t >= deadline) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (deadline)
			until = deadline;
		if (stop_at && (!until || stop_at < until))
			until = stop_at;
		if (kvm_every && st.f) {
			if (t >= next_kvm) {
				if (kvm_counters(pid, kvm, sizeof(kvm)))
					fprintf(st.f, "%.1f #kvm %s\n", (t - t0) / 1e6, kvm);
				next_kvm = t + kvm_every * 1000000ULL;
			}
			if (!until || next_kvm < until)
				until = next_kvm;
		}
		if (until)
			wait_ms = (until - t) / 1000000 + 1;
		if (poll(&p, 1, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!p.revents)
			continue;
		n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		fwrite(buf, 1, n, stdout);
		stamp_feed(&st, buf, n, (now_ns() - t0) / 1e6);
		if (!scan.found && scan_feed(&scan, buf, n)) {
			unsigned long long t = now_ns();

			fprintf(stderr, "launch: marker_ms=%.1f\n", (t - t0) / 1e6);
			if (kvm_counters(pid, kvm, sizeof(kvm)))
				fprintf(stderr, "launch: at_marker_kvm %s\n", kvm);
			if (guest_kb)
				sample_rss(pid, guest_kb, "at_marker");
			if (have_stop)
				stop_at = t + stop_ms * 1000000ULL;
		}
	}
	fflush(stdout);
	if (st.f)
		fclose(st.f);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	fprintf(stderr, "launch: exit_ms=%.1f maxrss_kb=%ld status=%d%s%s\n", (now_ns() - t0) / 1e6,
		ru.ru_maxrss, code, timed_out ? " timed_out=1" : "", stopped ? " stopped=1" : "");
	if (!scan.found) {
		fprintf(stderr, "launch: marker not seen\n");
		return 124;
	}
	return stopped ? 0 : code;
}
