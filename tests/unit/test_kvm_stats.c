/* test_kvm_stats.c - the KVM binary statistics reader against stats files
 * crafted in a memfd, laid out as Documentation/virt/kvm/api.rst describes:
 * kvm_stats_header, the id string, descriptors (kvm_stats_desc + name), data. */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "obs/kvm_stats.h"
#include "util/log.h"

#define NAME_SIZE 48               /* KVM_STATS_NAME_SIZE */
#define DESC_SIZE (sizeof(struct kvm_stats_desc) + NAME_SIZE)
#define ID_OFF    (sizeof(struct kvm_stats_header))
#define DESC_OFF  (ID_OFF + NAME_SIZE)

static char last_err[512];

static void sink(enum log_level l, const char *m, void *c)
{
	if (l == LOG_ERR)
		snprintf(last_err, sizeof(last_err), "%s", m);
}

struct fake_desc {
	const char *name;
	uint32_t flags;
	int16_t exponent;
	uint16_t size;
	uint32_t offset;
};

/* The five statistics of a made-up vCPU, one of each kind. */
static const struct fake_desc vcpu_descs[] = {
	{ "halt_exits", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE, 0, 1, 0 },
	{ "io_exits", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE, 0, 1, 8 },
	{ "halt_poll_success_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 32, 16 },
	{ "halt_poll_success_ns", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_SECONDS, -9, 1, 272 },
	{ "guest_mode", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN, 0, 1, 280 },
	{ "max_mmu_rmap_size", KVM_STATS_TYPE_PEAK | KVM_STATS_UNIT_NONE, 0, 1, 288 },
};
#define NR_DESCS (sizeof(vcpu_descs) / sizeof(vcpu_descs[0]))
#define DATA_WORDS 37

/* A stats file in a memfd; h may be edited by the caller through the hook. */
static int make_stats_fd(const struct fake_desc *descs, size_t n,
			 void (*edit)(struct kvm_stats_header *h, uint8_t *desc_block))
{
	struct kvm_stats_header h = {
		.flags = 0, .name_size = NAME_SIZE, .num_desc = (uint32_t)n,
		.id_offset = ID_OFF, .desc_offset = DESC_OFF,
		.data_offset = (uint32_t)(DESC_OFF + n * DESC_SIZE),
	};
	uint8_t block[16 * DESC_SIZE] = { 0 };
	uint64_t data[DATA_WORDS];
	char id[NAME_SIZE] = "kvm-4242/vcpu-0";
	int fd = memfd_create("kvm-stats", MFD_CLOEXEC);

	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(block + i * DESC_SIZE);

		d->flags = descs[i].flags;
		d->exponent = descs[i].exponent;
		d->size = descs[i].size;
		d->offset = descs[i].offset;
		strncpy(d->name, descs[i].name, NAME_SIZE);
	}
	for (int i = 0; i < DATA_WORDS; i++)
		data[i] = 1000 + i;        /* word i holds 1000 + i */
	if (edit)
		edit(&h, block);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
	assert_int_equal(pwrite(fd, id, sizeof(id), ID_OFF), sizeof(id));
	assert_int_equal(pwrite(fd, block, n * DESC_SIZE, DESC_OFF), (ssize_t)(n * DESC_SIZE));
	assert_int_equal(pwrite(fd, data, sizeof(data), DESC_OFF + n * DESC_SIZE), sizeof(data));
	return fd;
}

static void test_parse_and_read(void **state)
{
	struct kvm_stats s;
	uint64_t v[8];

	assert_int_equal(kvm_stats_open_fd(&s, make_stats_fd(vcpu_descs, NR_DESCS, NULL)), 0);
	assert_string_equal(s.id, "kvm-4242/vcpu-0");
	/* The log histogram is skipped; the others are kept in order. */
	assert_int_equal(s.nr_items, 5);
	assert_string_equal(s.items[0].name, "halt_exits");
	assert_string_equal(s.items[1].name, "io_exits");
	assert_string_equal(s.items[2].name, "halt_poll_success_ns");
	assert_int_equal(s.items[2].exponent, -9);
	assert_int_equal(s.items[2].flags & KVM_STATS_UNIT_MASK, KVM_STATS_UNIT_SECONDS);
	assert_string_equal(s.items[3].name, "guest_mode");
	assert_string_equal(s.items[4].name, "max_mmu_rmap_size");
	assert_int_equal(s.data_size, 296);
	assert_int_equal(kvm_stats_find(&s, "io_exits"), 1);
	assert_int_equal(kvm_stats_find(&s, "halt_poll_success_hist"), -1);
	assert_int_equal(kvm_stats_find(&s, "nope"), -1);

	assert_int_equal(kvm_stats_read(&s, v), 0);
	assert_int_equal(v[0], 1000);
	assert_int_equal(v[1], 1001);
	assert_int_equal(v[2], 1034);  /* offset 272 = word 34 */
	assert_int_equal(v[3], 1035);
	assert_int_equal(v[4], 1036);

	/* A second read sees new values: the data block is re-read each time. */
	uint64_t bumped = 77;

	assert_int_equal(pwrite(s.fd, &bumped, 8, DESC_OFF + NR_DESCS * DESC_SIZE + 8), 8);
	assert_int_equal(kvm_stats_read(&s, v), 0);
	assert_int_equal(v[1], 77);
	kvm_stats_close(&s);
	assert_int_equal(s.fd, -1);
	assert_int_equal(s.nr_items, 0);
	kvm_stats_close(&s);           /* twice is harmless */
}

static void test_no_descriptors(void **state)
{
	struct kvm_stats s;
	uint64_t v[1];

	assert_int_equal(kvm_stats_open_fd(&s, make_stats_fd(vcpu_descs, 0, NULL)), 0);
	assert_int_equal(s.nr_items, 0);
	assert_int_equal(kvm_stats_read(&s, v), 0);
	kvm_stats_close(&s);
}

static void bad_name_size(struct kvm_stats_header *h, uint8_t *b) { h->name_size = 0; }
static void huge_name_size(struct kvm_stats_header *h, uint8_t *b) { h->name_size = 1u << 20; }
static void huge_num_desc(struct kvm_stats_header *h, uint8_t *b) { h->num_desc = 1u << 30; }
static void desc_past_end(struct kvm_stats_header *h, uint8_t *b) { h->desc_offset = 1u << 20; }
static void desc_in_header(struct kvm_stats_header *h, uint8_t *b) { h->desc_offset = 4; }
static void data_in_header(struct kvm_stats_header *h, uint8_t *b) { h->data_offset = 0; }
static void misaligned(struct kvm_stats_header *h, uint8_t *b)
{
	((struct kvm_stats_desc *)(b + DESC_SIZE))->offset = 12;
}
static void zero_size(struct kvm_stats_header *h, uint8_t *b)
{
	((struct kvm_stats_desc *)b)->size = 0;
}
static void far_offset(struct kvm_stats_header *h, uint8_t *b)
{
	((struct kvm_stats_desc *)b)->offset = 0xfffffff8u;
}
static void empty_name(struct kvm_stats_header *h, uint8_t *b)
{
	((struct kvm_stats_desc *)(b + 2 * DESC_SIZE))->name[0] = '\0';
}
static void unterminated_name(struct kvm_stats_header *h, uint8_t *b)
{
	memset(((struct kvm_stats_desc *)b)->name, 'x', NAME_SIZE);
}

static void expect_bad(void (*edit)(struct kvm_stats_header *, uint8_t *), const char *field)
{
	struct kvm_stats s;

	last_err[0] = '\0';
	log_set_sink(sink, NULL);
	assert_int_equal(kvm_stats_open_fd(&s, make_stats_fd(vcpu_descs, NR_DESCS, edit)), -EINVAL);
	log_set_sink(NULL, NULL);
	assert_int_equal(s.fd, -1);
	assert_non_null(strstr(last_err, field));
}

static void test_malformed(void **state)
{
	expect_bad(bad_name_size, "name_size");
	expect_bad(huge_name_size, "name_size");
	expect_bad(huge_num_desc, "num_desc");
	expect_bad(desc_past_end, "desc_offset");
	expect_bad(desc_in_header, "desc_offset");
	expect_bad(data_in_header, "data_offset");
	expect_bad(misaligned, "descriptor offset (12)");
	expect_bad(zero_size, "descriptor offset");
	expect_bad(far_offset, "descriptor offset");
	expect_bad(empty_name, "descriptor name of entry (2)");
}

/* A name filling all name_size bytes is cut at the last byte, not read past. */
static void test_unterminated_name(void **state)
{
	struct kvm_stats s;

	assert_int_equal(kvm_stats_open_fd(&s, make_stats_fd(vcpu_descs, NR_DESCS, unterminated_name)), 0);
	assert_int_equal(strlen(s.items[0].name), NAME_SIZE - 1);
	kvm_stats_close(&s);
}

/* The data block shorter than the descriptors say: the read fails, no garbage. */
static void test_truncated_data(void **state)
{
	struct kvm_stats s;
	uint64_t v[8];
	int fd = make_stats_fd(vcpu_descs, NR_DESCS, NULL);

	assert_int_equal(ftruncate(fd, DESC_OFF + NR_DESCS * DESC_SIZE + 100), 0);
	assert_int_equal(kvm_stats_open_fd(&s, fd), 0);
	assert_int_equal(kvm_stats_read(&s, v), -EINVAL);
	kvm_stats_close(&s);
}

/* KVM_GET_STATS_FD on something that is not a KVM fd. */
static void test_open_not_kvm(void **state)
{
	struct kvm_stats s;
	int fd = memfd_create("not-kvm", MFD_CLOEXEC);

	assert_int_equal(kvm_stats_open(&s, fd), -EOPNOTSUPP);
	assert_int_equal(s.fd, -1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_read),
		cmocka_unit_test(test_no_descriptors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unterminated_name),
		cmocka_unit_test(test_truncated_data),
		cmocka_unit_test(test_open_not_kvm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
