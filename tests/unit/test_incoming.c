/* test_incoming.c - `mvm run --incoming` given the VM's flags: the stream's configuration against
 * the destination's (each kind of difference refused by name, host paths the destination's own),
 * and the API while an incoming migration owns the VM (GETs answer, the rest is refused; a
 * stream that does not fit is refused with exit status 2 and an ERROR the source can read). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/fc_config.h"
#include "api/migrate.h"
#include "api/server.h"
#include "api_route.h"
#include "cli/cli.h"
#include "core/vmstop.h"
#include "snap/stream.h"
#include "util/log.h"
#include "vmm/config_match.h"
#include "vmm/vm.h"

static void quiet(enum log_level l, const char *m, void *c)
{
	(void)l; (void)m; (void)c;
}

static int setup(void **state)
{
	log_set_sink(quiet, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_sink(NULL, NULL);
	return 0;
}

/* `mvm run [FIRST] ARGS...` into cfg: FIRST (may be NULL) then ap's
 * arguments up to NULL. */
static void parse_run_va(struct vm_config *cfg, const char *first, va_list ap)
{
	const char *argv[32] = { "run" };
	int argc = 1;

	if (first)
		argv[argc++] = first;
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	argv[argc] = NULL;
	assert_int_equal(cli_parse_run(argc, (char **)argv, cfg), 0);
}

/* `mvm run ARGS...` (NULL-terminated) into cfg. */
static void flags(struct vm_config *cfg, ...)
{
	va_list ap;

	va_start(ap, cfg);
	parse_run_va(cfg, NULL, ap);
	va_end(ap);
}

/* What a source started with these flags puts in its stream: its configuration as
 * Firecracker JSON (fc_config_to_json), read back as the destination reads it. */
static char *stream_json(const char *first, ...)
{
	const char *argv[32] = { "run", first };
	struct vm_config cfg;
	int argc = 2;
	va_list ap;
	char *json;

	va_start(ap, first);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	assert_int_equal(cli_parse_run(argc, (char **)argv, &cfg), 0);
	json = fc_config_to_json(&cfg);
	assert_non_null(json);
	cli_free_run(&cfg);
	return json;
}

static void stream_cfg(struct vm_config *out, const char *json)
{
	char err[FC_ERR_MAX];

	fc_config_defaults(out);
	if (fc_config_parse(json, strlen(json), out, err, sizeof(err)))
		fail_msg("the stream's JSON does not parse: %s", err);
}

#define K "--kernel", "/boot/vmlinuz"

/* The destination given the source's flags with other host paths: accepted, and the
 * configuration it builds keeps its own paths, tap and vsock socket. */
static void test_host_paths_differ(void **state)
{
	char *json = stream_json(K, "--cpus", "2", "--mem", "512M", "--disk", "/srv/a/root.img",
				 "--disk", "/srv/a/data.img,ro", "--net", "tap=tap-src,mac=02:00:00:00:00:07",
				 "--net", "user,hostfwd=tcp::2222-:22", "--vsock", "cid=7,uds=/run/src.vsock",
				 "--rng", "--console", "virtio", NULL);
	struct vm_config here;
	char err[512] = "";

	flags(&here, "--incoming", "tcp:127.0.0.1:4444", "--cpus", "2", "--mem", "512M",
	      "--disk", "/mnt/b/root.img", "--disk", "/mnt/b/data.img,ro",
	      "--net", "tap=tap-dst,mac=02:00:00:00:00:07", "--net", "user",
	      "--vsock", "cid=7,uds=/run/dst.vsock", "--rng", "--console", "virtio", NULL);
	assert_true(here.vm_described);
	assert_int_equal(api_migrate_take_config(NULL, json, strlen(json), &here, err,
						 sizeof(err)), 0);
	assert_string_equal(here.disks[0].path, "/mnt/b/root.img");
	assert_string_equal(here.disks[1].path, "/mnt/b/data.img");
	assert_string_equal(here.nets[0], "tap=tap-dst,mac=02:00:00:00:00:07");
	assert_string_equal(here.nets[1], "user");
	assert_string_equal(here.vsock_uds, "/run/dst.vsock");
	assert_int_equal(here.nr_cpus, 2);
	cli_free_run(&here);
	free(json);

	/* No kernel, initrd or command line on the destination: RAM holds the guest. A MAC on
	 * one side only is no difference (the guest keeps the one its state holds). */
	json = stream_json(K, "--initrd", "/boot/initrd", "--cmdline", "console=ttyS0 quiet",
			   "--net", "tap=t0", NULL);
	flags(&here, "--incoming", "unix:/tmp/x.sock", "--net", "tap=t1,mac=02:00:00:00:00:09", NULL);
	assert_int_equal(api_migrate_take_config(NULL, json, strlen(json), &here, err,
						 sizeof(err)), 0);
	assert_null(here.kernel_path);
	cli_free_run(&here);
	free(json);
}

/* Each kind of difference, refused with its message. */
static void refused(const char *json, const char *want, ...)
{
	struct vm_config here, in;
	char err[512] = "";
	va_list ap;

	/* `mvm run --incoming URI ARGS...` */
	va_start(ap, want);
	parse_run_va(&here, "--incoming=tcp:127.0.0.1:4444", ap);
	va_end(ap);
	stream_cfg(&in, json);
	if (vm_config_match(&in, &here, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted, expected '%s'", want);
	if (strcmp(err, want))
		fail_msg("got '%s', expected '%s'", err, want);
	/* The same through the glue: the destination's configuration is left as it was. */
	err[0] = 0;
	assert_int_equal(api_migrate_take_config(NULL, json, strlen(json), &here, err,
						 sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	vm_config_release(&in);
	cli_free_run(&here);
}

static void test_differences(void **state)
{
	char *j;

	j = stream_json(K, "--cpus", "2", NULL);
	refused(j, "the stream's VM has 2 vCPUs; this mvm was given 1 (--cpus)", K, NULL);
	free(j);
	j = stream_json(K, "--mem", "512M", NULL);
	refused(j, "the stream's VM has 512 MiB of RAM; this mvm was given 256 MiB (--mem)",
		"--mem", "256M", NULL);
	free(j);
	j = stream_json(K, "--disk", "/a.img", NULL);
	refused(j, "the stream's VM has 1 disk; this mvm was given 0 (--disk)", K, NULL);
	refused(j, "drive disk0: read-write in the stream, read-only here (--disk FILE,ro)",
		"--disk", "/b.img,ro", NULL);
	free(j);
	j = stream_json(K, "--disk", "/a.img,ro", NULL);
	refused(j, "drive disk0: read-only in the stream, read-write here (--disk FILE,ro)",
		"--disk", "/a.img", NULL);
	free(j);
	j = stream_json(K, "--net", "tap=t0", "--net", "user", NULL);
	refused(j, "the stream's VM has 2 network interfaces; this mvm was given 1 (--net)",
		"--net", "tap=t0", NULL);
	refused(j, "network interface net1: user networking in the stream, a tap here "
		"(--net tap=IFNAME|user)", "--net", "tap=t0", "--net", "tap=t1", NULL);
	free(j);
	j = stream_json(K, "--net", "tap=t0,mac=02:00:00:00:00:01", NULL);
	refused(j, "network interface net0: MAC 02:00:00:00:00:01 in the stream, "
		"02:00:00:00:00:02 here (--net ...,mac=)", "--net", "tap=t9,mac=02:00:00:00:00:02",
		NULL);
	free(j);
	j = stream_json(K, "--vsock", "cid=3,uds=/a", NULL);
	refused(j, "vsock: guest CID 3 in the stream, 4 here (--vsock cid=)",
		"--vsock", "cid=4,uds=/b", NULL);
	refused(j, "the stream's VM has a vsock device; this mvm was given none (--vsock)",
		"--rng", NULL);
	free(j);
	j = stream_json(K, "--rng", NULL);
	refused(j, "the stream's VM has a virtio-rng device; this mvm was given none (--rng)",
		"--cpus", "1", NULL);
	free(j);
	j = stream_json(K, NULL);
	refused(j, "the stream's VM has no virtio-rng device; this mvm was given one (--rng)",
		"--rng", NULL);
	refused(j, "console: serial in the stream, virtio here (--console)", "--console", "virtio",
		NULL);
	refused(j, "the stream's VM has no debug-exit port; this mvm was given one (--debug-exit)",
		"--debug-exit", NULL);
	refused(j, "the stream's VM has no pc-testdev; this mvm was given one (--pc-testdev)",
		"--pc-testdev", NULL);
	free(j);
	/* pc-testdev's state travels in the stream: the destination needs one too. */
	j = stream_json(K, "--pc-testdev", NULL);
	refused(j, "the stream's VM has a pc-testdev; this mvm was given none (--pc-testdev)",
		K, NULL);
	free(j);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A destination configured by --config-file: the message names the file's key; the
 * balloon's features must agree, its target comes from the stream. */
static void test_config_file(void **state)
{
	char dir[] = "/tmp/mvm-test-incoming-XXXXXX", path[128], err[512] = "";
	const char *stream = "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		"\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128}, "
		"\"balloon\": {\"amount_mib\": 64, \"deflate_on_oom\": true}}";
	struct vm_config here;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.json", dir);
	write_file(path, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		   "\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128}}");
	flags(&here, "--incoming", "tcp:127.0.0.1:1", "--config-file", path, NULL);
	assert_true(here.vm_described);
	assert_int_equal(api_migrate_take_config(NULL, stream, strlen(stream), &here, err,
						 sizeof(err)), -EINVAL);
	assert_string_equal(err, "the stream's VM has 2 vCPUs; this mvm was given 1 "
			    "(machine-config.vcpu_count)");
	cli_free_run(&here);

	write_file(path, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		   "\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128}, "
		   "\"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": false}}");
	flags(&here, "--incoming", "tcp:127.0.0.1:1", "--config-file", path, NULL);
	assert_int_equal(api_migrate_take_config(NULL, stream, strlen(stream), &here, err,
						 sizeof(err)), -EINVAL);
	assert_string_equal(err, "balloon: deflate_on_oom true in the stream, false here");
	cli_free_run(&here);

	write_file(path, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		   "\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128}, "
		   "\"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": true}}");
	flags(&here, "--incoming", "tcp:127.0.0.1:1", "--config-file", path, NULL);
	assert_int_equal(api_migrate_take_config(NULL, stream, strlen(stream), &here, err,
						 sizeof(err)), 0);
	assert_int_equal(here.balloon.amount_mib, 64);
	cli_free_run(&here);
	unlink(path);
	rmdir(dir);
}

/* Without flags that describe the VM, the stream's configuration is taken whole; one
 * that does not parse is refused naming it. */
static void test_no_flags(void **state)
{
	char *json = stream_json(K, "--cpus", "3", "--disk", "/srv/root.img", NULL);
	struct vm_config here;
	char err[512] = "";

	flags(&here, "--incoming", "tcp:127.0.0.1:4444", "--stats", NULL);
	assert_false(here.vm_described);
	assert_int_equal(api_migrate_take_config(NULL, json, strlen(json), &here, err,
						 sizeof(err)), 0);
	assert_int_equal(here.nr_cpus, 3);
	assert_int_equal(here.nr_disks, 1);
	assert_string_equal(here.disks[0].path, "/srv/root.img");
	assert_true(here.stats);
	cli_free_run(&here);
	free(json);

	flags(&here, "--incoming", "tcp:127.0.0.1:4444", "--cpus", "1", NULL);
	assert_int_equal(api_migrate_take_config(NULL, "{\"machine-config\": 5}", 21, &here, err,
						 sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the stream's configuration: "));
	cli_free_run(&here);
}

/* --incoming is refused with --restore only now. */
static void test_cli(void **state)
{
	const char *argv[] = { "run", "--incoming", "tcp:127.0.0.1:1", "--restore", "/snap" };
	struct vm_config cfg;

	assert_int_equal(cli_parse_run(5, (char **)argv, &cfg), -EINVAL);
	cli_free_run(&cfg);
	flags(&cfg, "--incoming", "tcp:127.0.0.1:1", "--api-sock", "/tmp/a.sock", NULL);
	assert_false(cfg.vm_described);
	cli_free_run(&cfg);
}

/* ---- the API during an incoming migration (route(): api_route.h) ---- */

static int starts;

static int count_start(struct api_vmm *a, char *err, size_t errlen)
{
	starts++;
	snprintf(err, errlen, "no VM in a unit test");
	return -ENODEV;
}

#define OWNED "An incoming migration owns this microVM"

static void test_routes_while_incoming(void **state)
{
	static const char *const refused_routes[][3] = {
		{ "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128}" },
		{ "PATCH", "/machine-config", "{\"vcpu_count\": 2}" },
		{ "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/x\", "
		  "\"is_root_device\": true, \"is_read_only\": false}" },
		{ "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}" },
		{ "PATCH", "/vm", "{\"state\": \"Paused\"}" },
		{ "PUT", "/mvm/migrate", "{\"uri\": \"tcp:127.0.0.1:1\"}" },
		{ "GET", "/mvm/migrate", "" },
		{ "GET", "/mvm/stats", "" },
	};
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct vm_config cfg;
	struct api_vmm a = { .cfg = &cfg, .start = count_start, .cfg_lock = &lock };
	char out[2048];

	flags(&cfg, "--incoming", "tcp:127.0.0.1:1", "--cpus", "2", "--disk", "/srv/r.img", NULL);
	a.incoming = API_INCOMING_WAITING;
	starts = 0;
	assert_int_equal(route(&a, "GET", "/", "", out, sizeof(out)), 200);
	assert_non_null(strstr(out, "\"state\":\"Not started\""));
	assert_non_null(strstr(out, "\"mvm_incoming\":\"waiting\""));
	assert_int_equal(route(&a, "GET", "/vm/config", "", out, sizeof(out)), 200);
	assert_non_null(strstr(out, "\"vcpu_count\": 2"));
	assert_non_null(strstr(out, "/srv/r.img"));
	assert_int_equal(route(&a, "GET", "/machine-config", "", out, sizeof(out)), 200);
	assert_int_equal(route(&a, "GET", "/version", "", out, sizeof(out)), 200);
	for (size_t i = 0; i < sizeof(refused_routes) / sizeof(refused_routes[0]); i++) {
		assert_int_equal(route(&a, refused_routes[i][0], refused_routes[i][1],
				       refused_routes[i][2], out, sizeof(out)), 400);
		if (!strstr(out, OWNED))
			fail_msg("%s %s: %s", refused_routes[i][0], refused_routes[i][1], out);
	}
	assert_int_equal(starts, 0);
	assert_int_equal(cfg.nr_cpus, 2);
	/* A GET with a body is still refused as any other. */
	assert_int_equal(route(&a, "GET", "/", "{}", out, sizeof(out)), 400);
	assert_null(strstr(out, OWNED));

	a.incoming = API_INCOMING_RECEIVING;
	assert_int_equal(route(&a, "GET", "/", "", out, sizeof(out)), 200);
	assert_non_null(strstr(out, "\"mvm_incoming\":\"receiving\""));
	/* Handed over (no VM behind this one: only routes that stop before it). */
	a.started = true;
	a.incoming = API_INCOMING_NONE;
	assert_int_equal(route(&a, "PUT", "/machine-config", "{\"vcpu_count\": 1}", out,
			       sizeof(out)), 400);
	assert_non_null(strstr(out, "not supported after starting"));
	assert_int_equal(route(&a, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", out,
			       sizeof(out)), 400);
	assert_non_null(strstr(out, "not supported after starting"));
	assert_int_equal(starts, 0);
	cli_free_run(&cfg);
}

/* The whole destination over sockets, no KVM needed: the API socket answers while the
 * migration is awaited, a stream whose VM does not fit is refused with exit status 2 and an
 * ERROR record naming the difference (what the source reports), and api_close removes the
 * socket. */
struct dest {
	struct api api;
	struct vm vm;
	struct vm_config cfg;
	int ret, status;
};

static void *dest_thread(void *arg)
{
	struct dest *d = arg;

	d->ret = api_incoming(&d->api, &d->status);
	return NULL;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void http_get(const char *sock, const char *path, char *out, size_t len)
{
	int fd = unix_connect(sock);
	size_t got = 0;
	ssize_t n;

	assert_true(fd >= 0);
	dprintf(fd, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	while (got + 1 < len && (n = recv(fd, out + got, len - got - 1, 0)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(fd);
}

static void test_refused_stream(void **state)
{
	char dir[] = "/tmp/mvm-test-incoming-XXXXXX", api_sock[128], mig[128], uri[140];
	char out[4096], msg[SNAP_STREAM_MAX_MSG + 1], err[256];
	uint8_t hdr[SNAP_STREAM_HDR_SIZE], rec[SNAP_STREAM_REC_SIZE];
	char *json = stream_json(K, "--cpus", "2", NULL);
	static struct dest d;
	struct snap_rec r;
	pthread_t t;
	int fd = -1;

	assert_non_null(mkdtemp(dir));
	snprintf(api_sock, sizeof(api_sock), "%s/api.sock", dir);
	snprintf(mig, sizeof(mig), "%s/mig.sock", dir);
	snprintf(uri, sizeof(uri), "unix:%s", mig);
	memset(&d, 0, sizeof(d));
	flags(&d.cfg, "--incoming", uri, "--api-sock", api_sock, K, "--cpus", "1", NULL);
	/* start_now as for a --config-file: an incoming migration starts nothing itself. */
	assert_int_equal(api_open(&d.api, api_sock, &d.cfg, &d.vm, true, NULL, &d.status), 0);
	assert_false(d.api.vmm.started);
	http_get(api_sock, "/", out, sizeof(out));
	assert_non_null(strstr(out, "\"mvm_incoming\":\"waiting\""));
	assert_int_equal(pthread_create(&t, NULL, dest_thread, &d), 0);
	/* It listens once the file exists and takes a connection. */
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = unix_connect(mig);
		if (fd < 0)
			usleep(10000);
	}
	assert_true(fd >= 0);
	http_get(api_sock, "/drives/x", out, sizeof(out));
	assert_non_null(strstr(out, "400"));
	snap_stream_put_header(hdr);
	assert_int_equal(send(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	snap_stream_put_rec(rec, SNAP_REC_CONFIG, 256ull << 20, 0, json, (uint32_t)strlen(json));
	assert_int_equal(send(fd, rec, sizeof(rec), 0), (ssize_t)sizeof(rec));
	assert_int_equal(send(fd, json, strlen(json), 0), (ssize_t)strlen(json));
	/* Its answer: ERROR, with the difference. */
	read_full(fd, rec, sizeof(rec));
	assert_int_equal(snap_stream_parse(rec, 0, &r, err, sizeof(err)), 0);
	assert_int_equal(r.type, SNAP_REC_ERROR);
	assert_true(r.len < sizeof(msg));
	read_full(fd, msg, r.len);
	msg[r.len] = 0;
	assert_string_equal(msg, "the stream's VM has 2 vCPUs; this mvm was given 1 (--cpus)");
	close(fd);
	pthread_join(t, NULL);
	assert_int_not_equal(d.ret, 0);
	assert_int_equal(d.status, MVM_EXIT_USAGE);
	assert_false(d.api.vmm.started);
	assert_int_equal(access(mig, F_OK), -1);
	assert_int_equal(access(api_sock, F_OK), 0);
	api_close(&d.api);
	assert_int_equal(access(api_sock, F_OK), -1);
	cli_free_run(&d.cfg);
	vm_config_release(&d.cfg);
	free(json);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_paths_differ),
		cmocka_unit_test(test_differences),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_no_flags),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_routes_while_incoming),
		cmocka_unit_test(test_refused_stream),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
