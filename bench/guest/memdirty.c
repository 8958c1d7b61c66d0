/* memdirty.c - a guest program for bench/migrate.sh: dirties memory at a fixed rate.
 *
 * Usage (inside the guest): memdirty MIB RATE
 *   Maps MIB MiB, writes every page of it once (so none is a zero page), prints
 *   MVM-MEMDIRTY-READY, then writes one byte in RATE MiB worth of pages per second, page after
 *   page around the working set, in 10 ms steps: each write changes the page (a round counter),
 *   so a migration must send it again. The store itself costs next to nothing, so the rate is
 *   the same under any VMM and on an emulated CPU; a step that runs late catches up at most one
 *   step's worth, so a guest that was paused does not dirty a burst afterwards.
 * Built static (bench/migrate.sh) and added to the guest's initramfs as /usr/bin/memdirty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096ul
#define STEP_NS 10000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: memdirty MIB RATE_MIB_PER_S\n");
		return 2;
	}
	long mib = strtol(argv[1], NULL, 10), rate = strtol(argv[2], NULL, 10);

	if (mib < 1 || mib > 65536 || rate < 0 || rate > 65536) {
		fprintf(stderr, "memdirty: MIB 1..65536 and RATE 0..65536 expected\n");
		return 2;
	}
	size_t pages = (size_t)mib * (1048576 / PAGE);
	volatile uint8_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (mem == MAP_FAILED) {
		perror("memdirty: mmap");
		return 1;
	}
	for (size_t p = 0; p < pages; p++)
		mem[p * PAGE] = 1;
	printf("MVM-MEMDIRTY-READY %ld MiB at %ld MiB/s\n", mib, rate);
	fflush(stdout);

	/* Pages per 10 ms step, in 1/100ths of a page to keep small rates exact. */
	uint64_t per_step_x100 = (uint64_t)rate * (1048576 / PAGE) * 100 / (1000000000ull / STEP_NS);
	uint64_t owed_x100 = 0, next = now_ns(), p = 0;
	uint8_t round = 2;

	for (;;) {
		uint64_t t = now_ns();

		if (t < next) {
			struct timespec ts = { 0, (long)(next - t) };

			nanosleep(&ts, NULL);
			continue;
		}
		/* Late by more than a step (paused, throttled): start afresh from now. */
		if (t - next > STEP_NS)
			next = t;
		next += STEP_NS;
		owed_x100 += per_step_x100;
		for (; owed_x100 >= 100; owed_x100 -= 100) {
			mem[p * PAGE] = round;
			if (++p == pages) {
				p = 0;
				round = round == 255 ? 2 : round + 1;
			}
		}
	}
}
