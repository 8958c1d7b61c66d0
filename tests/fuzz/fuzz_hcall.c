/* fuzz_hcall.c - libFuzzer target for the tiny-guest hypercalls
 * (hcall_io/hcall_dispatch in src/hcall/hcall.c): argument structs and the
 * buffers they name, as a hostile ring-3 guest writes them.
 *
 * Guest RAM (1 MiB, guard pages around it) with mvm's supervisor-only
 * pages [LAYOUT_R3_SYS_START, LAYOUT_R3_SYS_END) filled with a pattern; a
 * 64 KiB disk (a memfd, patterned; read-only when bit 0 of the first byte
 * is set); the console goes to /dev/null; no network (its calls must say
 * -ENODEV). Input: one option byte, then up to 16 calls, each
 * [port offset: 1 byte][gpa: le32][flags: 1 byte][struct: 32 bytes]. With
 * flag bit 0 the gpa is folded into RAM (gpa % (RAM + 256), so some
 * structs hang over the end); the struct's bytes are written at gpa when
 * they fit in RAM, and with flag bit 1 its buffer address is folded too.
 * Checked, from hcall.h:
 *  - no call writes mvm's supervisor-only pages (a hypercall must not do
 *    on the guest's behalf what ring 3 cannot), nor outside RAM (guards);
 *  - every port write counts in calls; a struct not wholly in usable RAM,
 *    a bad access width or an unknown call counts in bad_structs, and then
 *    guest RAM is unchanged except an unknown call's ret (-ENOSYS);
 *  - ret is one of the results the ABI lists for that call (bytes moved,
 *    or -EINVAL/-EFAULT/-ENODEV/-EROFS/-EIO), never more bytes than asked;
 *  - the exit call stops the VM with status & 0xff; a read-only disk is
 *    never written (the memfd keeps its pattern).
 *
 * Run: build/fuzz/fuzz_hcall tests/fuzz/corpus/hcall
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/layout.h"
#include "fuzz_common.h"
#include "hcall/hcall.h"

#define RAM      (1ULL << 20)
#define DISK     (64 << 10)
#define SYS_LEN  (LAYOUT_R3_SYS_END - LAYOUT_R3_SYS_START)

static struct gmem m;
static int null_fd = -1, disk_fd = -1;
static uint8_t *disk_map;
static int exit_status, exits;
static uint8_t sys_ref[SYS_LEN], disk_ref[DISK];

static void on_stop(void *ctx, enum vm_stop_reason r) { }
static void on_exit_req(void *ctx, int status) { exit_status = status; exits++; }

static uint8_t sys_pattern(uint64_t i) { return (uint8_t)(i * 31 + 7); }
static uint8_t disk_pattern(uint64_t i) { return (uint8_t)(i * 13 + 1); }

static void setup(void)
{
	fz_logs_off();
	fz_gmem_init(&m, RAM);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	disk_fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	FZ_CHECK(null_fd >= 0 && disk_fd >= 0 && ftruncate(disk_fd, DISK) == 0);
	disk_map = mmap(NULL, DISK, PROT_READ | PROT_WRITE, MAP_SHARED, disk_fd, 0);
	FZ_CHECK(disk_map != MAP_FAILED);
	for (uint64_t i = 0; i < SYS_LEN; i++)
		sys_ref[i] = sys_pattern(i);
	for (uint64_t i = 0; i < DISK; i++)
		disk_ref[i] = disk_pattern(i);
}

static bool sys_intact(void) { return !memcmp(m.base + LAYOUT_R3_SYS_START, sys_ref, SYS_LEN); }
static bool disk_intact(void) { return !memcmp(disk_map, disk_ref, DISK); }

/* Is ret one the ABI allows for call nr with argument a (as the guest wrote it)? */
static void check_ret(uint32_t nr, const uint64_t *a, const uint64_t *out, int64_t ret, bool ro)
{
	switch (nr) {
	case MVM_HC_CONSOLE:
		FZ_CHECK(ret == -MVM_EINVAL || ret == -MVM_EFAULT || ret == -MVM_EIO ||
			 (ret >= 0 && (uint64_t)ret <= a[2] && a[2] <= MVM_CONSOLE_MAX));
		break;
	case MVM_HC_TIME:
		FZ_CHECK(ret == 0);
		break;
	case MVM_HC_BLKINFO:
		FZ_CHECK(ret == 0 && out[1] == DISK / MVM_SECTOR_SIZE && out[2] == MVM_SECTOR_SIZE &&
			 out[3] == ro);
		break;
	case MVM_HC_BLKREAD:
	case MVM_HC_BLKWRITE:
		FZ_CHECK(ret == -MVM_EINVAL || ret == -MVM_EFAULT || ret == -MVM_EIO ||
			 (ret == -MVM_EROFS && nr == MVM_HC_BLKWRITE && ro) ||
			 (ret > 0 && (uint64_t)ret == a[3] && a[3] % MVM_SECTOR_SIZE == 0 &&
			  a[1] < DISK / MVM_SECTOR_SIZE &&
			  a[3] / MVM_SECTOR_SIZE <= DISK / MVM_SECTOR_SIZE - a[1]));
		FZ_CHECK(!(ret > 0 && nr == MVM_HC_BLKWRITE && ro));
		break;
	case MVM_HC_NETINFO:
	case MVM_HC_NETWRITE:
	case MVM_HC_NETREAD:
		FZ_CHECK(ret == -MVM_ENODEV);
		break;
	case MVM_HC_EXIT:
		FZ_CHECK(ret == 0);
		break;
	default:
		FZ_CHECK(ret == -MVM_ENOSYS);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };
	struct hcall_cfg cfg;
	struct hcall h;
	bool ro, faulted = false;

	if (null_fd < 0)
		setup();
	memcpy(m.base + LAYOUT_R3_SYS_START, sys_ref, SYS_LEN);
	memcpy(disk_map, disk_ref, DISK);
	ro = fz_u8(&in) & 1;
	hcall_cfg_init(&cfg);
	cfg.console_fd = null_fd;
	cfg.disk_fd = disk_fd;
	cfg.disk_sectors = DISK / MVM_SECTOR_SIZE;
	cfg.disk_ro = ro;
	hcall_init(&h, &cfg, &m, (struct vm_stopper){ .request = on_stop, .request_exit = on_exit_req });

	for (int n = 0; n < 16 && in.off < in.len; n++) {
		uint32_t port = fz_u8(&in) % (PORT_HCALL_LEN + 2);   /* a few past the range too */
		uint64_t gpa = fz_u32(&in), arg[4], before[4], after[4];
		uint8_t flags = fz_u8(&in);
		unsigned long calls = h.calls, bad = h.bad_structs;
		bool in_ram, usable;
		uint32_t gpa32;
		int exits0 = exits;

		fz_bytes(&in, arg, sizeof(arg));
		if (flags & 1)
			gpa %= RAM + 256;
		if (flags & 2)
			arg[1] %= RAM;        /* buf (console, net) or sector (blk) */
		if (flags & 2 && (port == MVM_HC_BLKREAD || port == MVM_HC_BLKWRITE))
			arg[2] %= RAM, arg[1] %= 256, arg[3] %= 0x10000;
		in_ram = gpa + sizeof(arg) <= RAM;
		usable = in_ram && !(gpa < LAYOUT_R3_SYS_END && gpa + sizeof(arg) > LAYOUT_R3_SYS_START);
		if (usable)
			memcpy(m.base + gpa, arg, sizeof(arg));
		memset(before, 0, sizeof(before));
		if (in_ram)
			memcpy(before, m.base + gpa, sizeof(before));

		gpa32 = (uint32_t)gpa;
		hcall_io(&h, port, (uint8_t *)&gpa32, (flags & 4) ? 2 : 4, true);

		FZ_CHECK(h.calls == calls + ((flags & 4) ? 0 : 1));
		FZ_CHECK(sys_intact());
		if (ro)
			FZ_CHECK(disk_intact());
		if (flags & 4) {        /* a 2-byte OUT is no call */
			FZ_CHECK(h.bad_structs == bad + 1);
			continue;
		}
		if (port == MVM_HC_FAULT) {
			/* The first report stops the VM as a crash; later ones are ignored. */
			FZ_CHECK(exits == exits0 + !faulted);
			FZ_CHECK(faulted || exit_status == MVM_EXIT_CRASH);
			faulted = true;
			continue;
		}
		if (!usable) {
			/* Not usable RAM for the largest struct; smaller ones may still be. */
			continue;
		}
		memcpy(after, m.base + gpa, sizeof(after));
		check_ret(port, before, after, (int64_t)after[0], ro);
		if (port == MVM_HC_EXIT)
			FZ_CHECK(exits == exits0 + 1 && exit_status == (int)(before[1] & 0xff));
		if (h.bad_structs != bad)
			FZ_CHECK(port >= MVM_HC_PORT_COUNT || (int64_t)after[0] == -MVM_ENOSYS);
	}
	hcall_destroy(&h);
	return 0;
}
