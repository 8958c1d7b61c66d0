/* test_metrics.c - the --metrics JSON line: its shape parsed back with json-c,
 * KVM stats from crafted memfd stats files, lines to a file and a FIFO with no
 * reader, the interval thread, the final line at stop. No KVM needed. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "obs/kvm_stats.h"
#include "obs/metrics.h"
#include "vmm/vm.h"
#include "util/log.h"

#define NAME_SIZE 48

static void quiet(enum log_level l, const char *m, void *c) { }

/* A stats file of cumulative counters names[i] = values[i]. */
static int stats_fd(const char *const *names, const uint64_t *values, int n)
{
	size_t dsz = sizeof(struct kvm_stats_desc) + NAME_SIZE;
	struct kvm_stats_header h = {
		.name_size = NAME_SIZE, .num_desc = n, .id_offset = 0,
		.desc_offset = sizeof(h), .data_offset = sizeof(h) + n * dsz,
	};
	uint8_t desc[8 * 64] = { 0 };
	int fd = memfd_create("stats", MFD_CLOEXEC);

	for (int i = 0; i < n; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(desc + i * dsz);

		d->flags = KVM_STATS_TYPE_CUMULATIVE;
		d->size = 1;
		d->offset = 8 * i;
		strcpy(d->name, names[i]);
	}
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
	assert_int_equal(pwrite(fd, desc, n * dsz, h.desc_offset), (ssize_t)(n * dsz));
	assert_int_equal(pwrite(fd, values, 8 * n, h.data_offset), 8 * n);
	return fd;
}

/* A VM as far as metrics look: two vCPUs with counters, buses, no KVM. */
static void fake_vm(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->kvm.fd = vm->stop_efd = -1;
	bus_init(&vm->pio, "port I/O");
	bus_init(&vm->mmio, "MMIO");
	vm->nr_vcpus = 2;
	vm->vcpus = calloc(2, sizeof(*vm->vcpus));
	for (int i = 0; i < 2; i++) {
		vm->vcpus[i].index = i;
		vm->vcpus[i].fd = -1;
	}
	vm->vcpus[0].exits[KVM_EXIT_IO] = 100;
	vm->vcpus[0].exit_ns[KVM_EXIT_IO] = 5000;
	vm->vcpus[1].exits[KVM_EXIT_IO] = 20;
	vm->vcpus[1].exits[KVM_EXIT_MMIO] = 3;
	vm->vcpus[1].exits[60] = 1;    /* a reason without a name */
	atomic_store(&vm->pio.unclaimed, 7);
	atomic_store(&vm->mmio.unclaimed, 2);
	vm->obs = (struct obs_source){
		.vcpus = vm->vcpus, .nr_vcpus = vm->nr_vcpus, .kvm_fd = -1, .vm_fd = -1,
		.pio = &vm->pio, .mmio = &vm->mmio, .run_start_ns = 1000000000ull,
	};
}

static void free_vm(struct vm *vm)
{
	free(vm->vcpus);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
}

static uint64_t get_u64(struct json_object *o, const char *path0, const char *path1)
{
	struct json_object *a, *b;

	assert_true(json_object_object_get_ex(o, path0, &a));
	if (!path1)
		return json_object_get_uint64(a);
	assert_true(json_object_object_get_ex(a, path1, &b));
	return json_object_get_uint64(b);
}

static void test_shape(void **state)
{
	static const char *const vm_names[] = { "remote_tlb_flush", "pages_4k" };
	static const char *const cpu_names[] = { "halt_exits", "io_exits", "pf_fixed" };
	uint64_t vm_vals[] = { 3, 4096 }, c0[] = { 11, 100, 0 }, c1[] = { 22, 20, 5 };
	struct kvm_stats vs, cs[2];
	struct json_object *o, *parsed, *vcpus, *v1, *kvm;
	struct vm vm;
	const char *text;

	fake_vm(&vm);
	assert_int_equal(kvm_stats_open_fd(&vs, stats_fd(vm_names, vm_vals, 2)), 0);
	assert_int_equal(kvm_stats_open_fd(&cs[0], stats_fd(cpu_names, c0, 3)), 0);
	assert_int_equal(kvm_stats_open_fd(&cs[1], stats_fd(cpu_names, c1, 3)), 0);
	o = metrics_build(&vm.obs, &vs, cs, 3500000000ull);
	assert_non_null(o);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	assert_null(strchr(text, '\n'));            /* one line */
	parsed = json_tokener_parse(text);
	assert_non_null(parsed);

	assert_true(get_u64(parsed, "timestamp_ms", NULL) > 1600000000000ull);
	assert_int_equal(get_u64(parsed, "uptime_ms", NULL), 2500);
	assert_int_equal(get_u64(parsed, "exits", "IO"), 120);
	assert_int_equal(get_u64(parsed, "exits", "MMIO"), 3);
	assert_int_equal(get_u64(parsed, "exits", "reason_60"), 1);
	assert_int_equal(get_u64(parsed, "unclaimed", "port_io"), 7);
	assert_int_equal(get_u64(parsed, "unclaimed", "mmio"), 2);
	assert_int_equal(get_u64(parsed, "kvm_vm", "pages_4k"), 4096);
	assert_true(json_object_get_boolean(json_object_object_get(parsed, "kvm_stats_available")));
	assert_non_null(json_object_object_get(parsed, "devices"));

	assert_true(json_object_object_get_ex(parsed, "vcpus", &vcpus));
	assert_int_equal(json_object_array_length(vcpus), 2);
	v1 = json_object_array_get_idx(vcpus, 1);
	assert_int_equal(get_u64(v1, "id", NULL), 1);
	assert_int_equal(get_u64(v1, "exits", "IO"), 20);
	assert_int_equal(get_u64(v1, "exits", "MMIO"), 3);
	assert_int_equal(get_u64(v1, "exit_handler_ns", "MMIO"), 0);
	assert_int_equal(get_u64(v1, "kvm", "halt_exits"), 22);
	assert_int_equal(get_u64(v1, "kvm", "pf_fixed"), 5);
	assert_int_equal(get_u64(json_object_array_get_idx(vcpus, 0), "exit_handler_ns", "IO"), 5000);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(vcpus, 0), "kvm", &kvm));
	assert_int_equal(get_u64(kvm, "pf_fixed", NULL), 0);   /* zeros are kept in JSON */

	json_object_put(parsed);
	json_object_put(o);
	kvm_stats_close(&vs);
	kvm_stats_close(&cs[0]);
	kvm_stats_close(&cs[1]);
	free_vm(&vm);
}

/* Without KVM stats: the flag says so and no kvm keys appear. */
static void test_snapshot_without_kvm(void **state)
{
	struct json_object *parsed, *vcpus;
	struct vm vm;
	char *s;

	fake_vm(&vm);
	s = metrics_snapshot_json(&vm.obs);
	assert_non_null(s);
	parsed = json_tokener_parse(s);
	assert_non_null(parsed);
	assert_false(json_object_get_boolean(json_object_object_get(parsed, "kvm_stats_available")));
	assert_null(json_object_object_get(parsed, "kvm_vm"));
	assert_true(json_object_object_get_ex(parsed, "vcpus", &vcpus));
	assert_null(json_object_object_get(json_object_array_get_idx(vcpus, 0), "kvm"));
	assert_int_equal(get_u64(parsed, "exits", "IO"), 120);
	json_object_put(parsed);
	free(s);
	free_vm(&vm);
}

/* Every line of path parses and has the keys; returns the number of lines. */
static int check_lines(const char *path)
{
	char line[65536];
	FILE *f = fopen(path, "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct json_object *o;

		if (!strcmp(line, "{\"earlier\":1}\n") && n == 0)
			continue;          /* what the file held before mvm appended */
		o = json_tokener_parse(line);

		assert_non_null(o);
		assert_non_null(json_object_object_get(o, "timestamp_ms"));
		assert_non_null(json_object_object_get(o, "uptime_ms"));
		assert_non_null(json_object_object_get(o, "vcpus"));
		assert_non_null(json_object_object_get(o, "unclaimed"));
		json_object_put(o);
		n++;
	}
	fclose(f);
	return n;
}

static void test_file_flush_and_stop(void **state)
{
	char path[] = "/tmp/mvm-metrics-XXXXXX";
	struct metrics *m;
	struct vm vm;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"earlier\":1}\n", 14), 14);  /* appended to, not truncated */
	close(fd);
	fake_vm(&vm);
	log_set_sink(quiet, NULL);
	assert_int_equal(metrics_create(&m, &vm.obs, path, 3600000), 0);
	log_set_sink(NULL, NULL);
	vm.obs.metrics = m;
	assert_int_equal(metrics_flush(m), 0);
	assert_int_equal(metrics_start(m), 0);
	assert_int_equal(metrics_flush(m), 0);
	metrics_stop(m);                               /* the final line */
	metrics_destroy(m);
	assert_int_equal(check_lines(path), 3);
	assert_int_equal(metrics_flush(NULL), -ENODEV);
	unlink(path);
	free_vm(&vm);
}

/* Firecracker's emit_id and properties: every line carries "id" and "properties". */
static void test_labels(void **state)
{
	char path[] = "/tmp/mvm-metrics-XXXXXX", line[65536];
	struct json_object *o, *p;
	struct metrics *m;
	struct vm vm;
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	close(fd);
	fake_vm(&vm);
	log_set_sink(quiet, NULL);
	assert_int_equal(metrics_create(&m, &vm.obs, path, 3600000), 0);
	log_set_sink(NULL, NULL);
	assert_int_equal(metrics_set_labels(m, "vm-7", "{\"customer_id\":\"1234\"}"), 0);
	assert_int_equal(metrics_flush(m), 0);
	metrics_destroy(m);
	assert_int_equal(check_lines(path), 1);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(o = json_tokener_parse(line));
	assert_string_equal(json_object_get_string(json_object_object_get(o, "id")), "vm-7");
	assert_true(json_object_object_get_ex(o, "properties", &p));
	assert_string_equal(json_object_get_string(json_object_object_get(p, "customer_id")),
			    "1234");
	json_object_put(o);
	/* Without labels, neither key; properties that are not an object are refused. */
	log_set_sink(quiet, NULL);
	assert_int_equal(metrics_create(&m, &vm.obs, path, 3600000), 0);
	log_set_sink(NULL, NULL);
	assert_int_equal(metrics_set_labels(m, NULL, "[1]"), -EINVAL);
	assert_int_equal(metrics_flush(m), 0);
	metrics_destroy(m);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(o = json_tokener_parse(line));
	assert_null(json_object_object_get(o, "id"));
	assert_null(json_object_object_get(o, "properties"));
	json_object_put(o);
	unlink(path);
	free_vm(&vm);
}

static void test_interval_thread(void **state)
{
	char path[] = "/tmp/mvm-metrics-XXXXXX";
	struct metrics *m;
	struct vm vm;
	int fd = mkstemp(path);

	close(fd);
	fake_vm(&vm);
	log_set_sink(quiet, NULL);
	setenv("MVM_METRICS_INTERVAL_MS", "20", 1);
	assert_int_equal(metrics_create(&m, &vm.obs, path, 0), 0);
	unsetenv("MVM_METRICS_INTERVAL_MS");
	log_set_sink(NULL, NULL);
	assert_int_equal(metrics_start(m), 0);
	usleep(130 * 1000);
	metrics_destroy(m);                            /* stops the thread, no final line */
	int n = check_lines(path);

	assert_true(n >= 4 && n <= 7);
	unlink(path);
	free_vm(&vm);
}

/* A FIFO with no reader: the open does not block, lines wait in the pipe;
 * a full pipe drops lines after a short wait instead of blocking. */
static void test_fifo(void **state)
{
	char dir[] = "/tmp/mvm-metrics-XXXXXX", path[64], buf[65536];
	struct metrics *m;
	struct vm vm;
	int rd, dropped = 0;
	ssize_t n;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	fake_vm(&vm);
	log_set_sink(quiet, NULL);
	assert_int_equal(metrics_create(&m, &vm.obs, path, 3600000), 0);
	assert_int_equal(metrics_flush(m), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	n = read(rd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(buf[n - 1], '\n');
	assert_non_null(strstr(buf, "\"uptime_ms\""));
	/* Fill the pipe: flushes start failing with -EAGAIN and return. */
	for (int i = 0; i < 2000 && !dropped; i++)
		dropped = metrics_flush(m) == -EAGAIN;
	assert_true(dropped);
	log_set_sink(NULL, NULL);
	metrics_destroy(m);
	close(rd);
	unlink(path);
	rmdir(dir);
	free_vm(&vm);
}

static void test_bad_path(void **state)
{
	struct metrics *m;
	struct vm vm;

	fake_vm(&vm);
	log_set_sink(quiet, NULL);
	assert_int_equal(metrics_create(&m, &vm.obs, "/nonexistent-dir/metrics", 0), -ENOENT);
	log_set_sink(NULL, NULL);
	assert_null(m);
	metrics_stop(NULL);
	metrics_destroy(NULL);
	assert_int_equal(metrics_start(NULL), 0);
	free_vm(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_snapshot_without_kvm),
		cmocka_unit_test(test_file_flush_and_stop),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_interval_thread),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_bad_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
