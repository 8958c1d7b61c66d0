/* test_jail.c - `mvm jail`: the ID, the flags, the jail plan of mvm run's files and config
 * file, the permission check, and the removal of a jail's tree (which never follows a link). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "jail/jail_priv.h"

static char err[JAIL_ERR_MAX];

static int parse(struct jail_opts *o, int argc, const char **argv)
{
	err[0] = 0;
	return jail_parse(argc, (char **)argv, o, err, sizeof(err));
}

/* The argv arrays are static: jail_parse() keeps pointers into them (ASan saw the stack reuse). */
#define PARSE(o, ...) ({ static const char *a_[] = { "jail", __VA_ARGS__ }; \
			 parse((o), (int)(sizeof(a_) / sizeof(a_[0])), a_); })

static void test_id(void **state)
{
	char long_id[JAIL_ID_MAX + 2];

	assert_int_equal(jail_id_check("vm-1", err, sizeof(err)), 0);
	assert_int_equal(jail_id_check("A", err, sizeof(err)), 0);
	memset(long_id, 'a', sizeof(long_id));
	long_id[JAIL_ID_MAX] = 0;
	assert_int_equal(jail_id_check(long_id, err, sizeof(err)), 0);
	long_id[JAIL_ID_MAX] = 'a';
	long_id[JAIL_ID_MAX + 1] = 0;
	assert_int_equal(jail_id_check(long_id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1 to 64 characters"));
	assert_int_equal(jail_id_check("", err, sizeof(err)), -EINVAL);
	static const char *const bad[] = { "a_b", "a/b", "..", "../x", "a b", "vm.1", "é", NULL };
	for (int i = 0; bad[i]; i++) {
		err[0] = 0;
		assert_int_equal(jail_id_check(bad[i], err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "only letters, digits and '-'"));
	}
}

static void test_parse_ok(void **state)
{
	struct jail_opts o;

	assert_int_equal(PARSE(&o, "--id", "vm-7", "--uid=1000", "--gid", "100", "--chroot-base",
			       "/srv/jail", "--netns", "/var/run/netns/a", "--cgroup", "memory.max=512M",
			       "--cgroup=pids.max=64", "--cgroup", "cpu.max=50000 100000",
			       "--resource-limit", "no-file=128", "--resource-limit=fsize=1048576",
			       "--daemonize", "--", "/usr/local/bin/mvm", "run", "--kernel", "k"), 0);
	assert_string_equal(o.id, "vm-7");
	assert_int_equal(o.uid, 1000);
	assert_int_equal(o.gid, 100);
	assert_string_equal(o.chroot_base, "/srv/jail");
	assert_string_equal(o.netns, "/var/run/netns/a");
	assert_int_equal(o.nr_cgroups, 3);
	assert_string_equal(o.cgroups[0].file, "memory.max");
	assert_string_equal(o.cgroups[0].value, "512M");
	assert_string_equal(o.cgroups[1].file, "pids.max");
	assert_string_equal(o.cgroups[2].value, "50000 100000");
	assert_true(o.has_nofile && o.nofile == 128);
	assert_true(o.has_fsize && o.fsize == 1048576);
	assert_true(o.daemonize);
	assert_false(o.allow_root);
	assert_int_equal(o.run_argc, 2);
	assert_string_equal(o.run_argv[0], "--kernel");
	/* "run" alone and "mvm run" are the same command. */
	assert_int_equal(PARSE(&o, "--id", "a", "--uid", "1", "--gid", "1", "--chroot-base", "/x",
			       "--", "run"), 0);
	assert_int_equal(o.run_argc, 0);
	assert_int_equal(PARSE(&o, "--id", "a", "--uid", "0", "--gid", "0", "--allow-root",
			       "--chroot-base", "/x", "--", "mvm", "run"), 0);
	assert_true(o.allow_root);
	assert_int_equal(PARSE(&o, "--help"), 1);
}

#define REFUSED(text, ...) do {                                                   \
		struct jail_opts o_;                                              \
		assert_int_equal(PARSE(&o_, __VA_ARGS__), -EINVAL);               \
		if (!strstr(err, text))                                           \
			fail_msg("expected '%s' in '%s'", text, err);             \
	} while (0)

static void test_parse_refused(void **state)
{
#define BASE "--id", "a", "--uid", "1000", "--gid", "1000", "--chroot-base", "/x"
	REFUSED("--uid 0: mvm would run as root", "--id", "a", "--uid", "0", "--gid", "1",
		"--chroot-base", "/x", "--", "run");
	REFUSED("--gid 0", "--id", "a", "--uid", "5", "--gid", "0", "--chroot-base", "/x", "--",
		"run");
	REFUSED("--id is required", "--uid", "1", "--gid", "1", "--chroot-base", "/x", "--", "run");
	REFUSED("--id 'a/b'", "--id", "a/b", "--uid", "1", "--gid", "1", "--chroot-base", "/x",
		"--", "run");
	REFUSED("--uid and --gid are required", "--id", "a", "--chroot-base", "/x", "--", "run");
	REFUSED("--chroot-base is required", "--id", "a", "--uid", "1", "--gid", "1", "--", "run");
	REFUSED("--uid '-1': expected a number", "--id", "a", "--uid", "-1", "--gid", "1");
	REFUSED("--uid '4294967295'", "--id", "a", "--uid", "4294967295", "--gid", "1");
	REFUSED("missing -- mvm run", BASE);
	REFUSED("nothing was given", BASE, "--");
	REFUSED("only run can be jailed", BASE, "--", "mvm", "ctl");
	REFUSED("only run can be jailed", BASE, "--", "/usr/bin/qemu", "run");
	REFUSED("unknown option '--uidx'", "--uidx", "1");
	REFUSED("--netns needs a value", BASE, "--netns");
	REFUSED("the cgroup core's files", BASE, "--cgroup", "cgroup.procs=1", "--", "run");
	REFUSED("controller's file", BASE, "--cgroup", "memory=1", "--", "run");
	REFUSED("expected FILE=VALUE", BASE, "--cgroup", "memory.max", "--", "run");
	REFUSED("only a-z", BASE, "--cgroup", "../../cgroup.procs=1", "--", "run");
	REFUSED("only a-z", BASE, "--cgroup", "memory/../../x.max=1", "--", "run");
	REFUSED("control character", BASE, "--cgroup", "memory.max=1\n2", "--", "run");
	REFUSED("VALUE must have", BASE, "--cgroup", "memory.max=", "--", "run");
	REFUSED("expected no-file=N or fsize=N", BASE, "--resource-limit", "nofile=3");
	REFUSED("must be a whole number", BASE, "--resource-limit", "fsize=1k");
	REFUSED("no-file must be between", BASE, "--resource-limit", "no-file=0");
#undef BASE
}

static const char *const reserved[] = { "dev", "mvm", "lib", NULL };

static int plan_run(struct jail_plan *p, int argc, const char **argv)
{
	err[0] = 0;
	jail_plan_init(p, reserved);
	return jail_plan_run(p, argc, (char **)argv, err, sizeof(err));
}

static void test_plan_run(void **state)
{
	const char *argv[] = { "--kernel", "/boot/vmlinuz", "--initrd=/b/initrd.img",
			       "--disk", "/img/a/root.ext4,ro,id=x", "--disk", "/img/b/root.ext4",
			       "--api-sock", "/run/vm.sock", "--net", "tap=tap0", "--cmdline",
			       "console=ttyS0 root=/dev/vda", "--rng", "--metrics=/var/log/m.json",
			       "--kernel", "/boot/vmlinuz", "--disk", "/srv/lib,rw,ro", "--cpu-hyperv" };
	const char *want[] = { "mvm", "run", "--kernel", "/vmlinuz", "--initrd=/initrd.img",
			       "--disk", "/root.ext4,ro,id=x", "--disk", "/1-root.ext4",
			       "--api-sock", "/vm.sock", "--net", "tap=tap0", "--cmdline",
			       "console=ttyS0 root=/dev/vda", "--rng", "--metrics=/m.json",
			       "--kernel", "/vmlinuz", "--disk", "/1-lib,rw,ro", "--cpu-hyperv" };
	struct jail_plan p;

	assert_int_equal(plan_run(&p, (int)(sizeof(argv) / sizeof(argv[0])), argv), 0);
	assert_int_equal(p.argc, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < p.argc; i++)
		assert_string_equal(p.argv[i], want[i]);
	assert_null(p.argv[p.argc]);
	assert_true(p.needs_tun);
	assert_int_equal(p.config, -1);
	/* The same kernel twice is one file; names clash -> N-name; "lib" is the jail's. */
	assert_int_equal(p.nr_files, 7);
	assert_string_equal(p.files[0].host, "/boot/vmlinuz");
	assert_int_equal(p.files[0].kind, JAIL_FILE_IN);
	assert_int_equal(p.files[2].kind, JAIL_FILE_IN);      /* ,ro */
	assert_string_equal(p.files[3].name, "1-root.ext4");
	assert_int_equal(p.files[3].kind, JAIL_FILE_RW);
	assert_int_equal(p.files[4].kind, JAIL_FILE_SOCK);
	assert_int_equal(p.files[5].kind, JAIL_FILE_OUT);
	assert_string_equal(p.files[6].name, "1-lib");
	assert_int_equal(p.files[6].kind, JAIL_FILE_IN);      /* the last of rw/ro wins */
	jail_plan_free(&p);

	/* One path read and written is written; without a tap there is no tun. */
	const char *rw[] = { "--disk", "/d.img,ro", "--disk", "/d.img", "--net", "user" };
	assert_int_equal(plan_run(&p, 6, rw), 0);
	assert_int_equal(p.nr_files, 1);
	assert_int_equal(p.files[0].kind, JAIL_FILE_RW);
	assert_false(p.needs_tun);
	jail_plan_free(&p);
}

#define PLAN_REFUSED(text, ...) do {                                              \
		const char *a_[] = { __VA_ARGS__ };                               \
		struct jail_plan p_;                                              \
		assert_int_equal(plan_run(&p_, (int)(sizeof(a_) / sizeof(a_[0])), a_), -EINVAL); \
		if (!strstr(err, text))                                           \
			fail_msg("expected '%s' in '%s'", text, err);             \
		jail_plan_free(&p_);                                              \
	} while (0)

static void test_plan_refused(void **state)
{
	PLAN_REFUSED("--restore cannot be jailed", "--restore", "/snap");
	PLAN_REFUSED("--incoming cannot be jailed", "--incoming=tcp:1.2.3.4:5");
	PLAN_REFUSED("write flags in full", "--kern", "/k");
	PLAN_REFUSED("expects only --flags", "/k");
	PLAN_REFUSED("--rng takes no value", "--rng=1");
	PLAN_REFUSED("--kernel needs a value", "--kernel");
	PLAN_REFUSED("not a directory", "--kernel", "/boot/");
	PLAN_REFUSED("empty path", "--disk", ",ro");
	PLAN_REFUSED("two different things", "--kernel", "/x", "--metrics", "/x");
	PLAN_REFUSED("--config-file given twice", "--config-file", "/a", "--config-file", "/b");
}

static void test_plan_config(void **state)
{
	const char *json =
		"{ \"boot-source\": { \"kernel_image_path\": \"/k/vmlinuz\", \"initrd_path\": "
		"\"/k/initrd\", \"boot_args\": \"console=ttyS0\" },"
		"  \"drives\": [ { \"drive_id\": \"root\", \"path_on_host\": \"/i/root.img\","
		"                  \"is_root_device\": true, \"is_read_only\": true },"
		"                { \"drive_id\": \"data\", \"path_on_host\": \"/j/data.img\","
		"                  \"is_root_device\": false, \"is_read_only\": false } ],"
		"  \"network-interfaces\": [ { \"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\" } ],"
		"  \"logger\": { \"log_path\": \"/var/log/mvm.log\", \"level\": \"Info\" },"
		"  \"metrics\": { \"metrics_path\": \"/var/log/vmlinuz\" } }";
	const char *argv[] = { "--config-file", "/etc/vm.json", "--api-sock", "/run/a.sock" };
	struct jail_plan p;
	char *out = NULL;

	assert_int_equal(plan_run(&p, 4, argv), 0);
	assert_int_equal(p.config, 0);
	assert_string_equal(p.argv[3], "/vm.json");
	assert_int_equal(jail_plan_config(&p, json, &out, err, sizeof(err)), 0);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"kernel_image_path\":\"/vmlinuz\"") ?:
			strstr(out, "\"kernel_image_path\": \"/vmlinuz\""));
	assert_non_null(strstr(out, "\"/initrd\""));
	assert_non_null(strstr(out, "\"/root.img\""));
	assert_non_null(strstr(out, "\"/data.img\""));
	assert_non_null(strstr(out, "\"/mvm.log\""));
	assert_non_null(strstr(out, "\"/1-vmlinuz\""));   /* the metrics file's name clashes */
	assert_non_null(strstr(out, "console=ttyS0"));    /* the rest is kept */
	assert_null(strstr(out, "/k/"));
	assert_true(p.needs_tun);
	assert_int_equal(p.nr_files, 8);
	assert_int_equal(p.files[4].kind, JAIL_FILE_IN);   /* root.img, read-only */
	assert_int_equal(p.files[5].kind, JAIL_FILE_RW);   /* data.img */
	assert_int_equal(p.files[6].kind, JAIL_FILE_OUT);  /* the log */
	free(out);
	jail_plan_free(&p);

	assert_int_equal(plan_run(&p, 2, argv), 0);
	assert_int_equal(jail_plan_config(&p, "{ \"boot-source\": { \"kernel_image_path\": 7 } }",
					  &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "boot-source.kernel_image_path: expected a string"));
	assert_null(out);
	assert_int_equal(jail_plan_config(&p, "[1, 2", &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a JSON object"));
	jail_plan_free(&p);
}

static void test_mode_allows(void **state)
{
	/* owner 10:20 */
	assert_true(jail_mode_allows(0600, 10, 20, 10, 99, true));
	assert_false(jail_mode_allows(0400, 10, 20, 10, 99, true));
	assert_true(jail_mode_allows(0400, 10, 20, 10, 99, false));
	/* the owner class decides even when "other" would allow */
	assert_false(jail_mode_allows(0066, 10, 20, 10, 20, false));
	assert_true(jail_mode_allows(0640, 10, 20, 11, 20, false));
	assert_false(jail_mode_allows(0640, 10, 20, 11, 20, true));
	assert_false(jail_mode_allows(0640, 10, 20, 11, 21, false));
	assert_true(jail_mode_allows(0644, 10, 20, 11, 21, false));
	assert_true(jail_mode_allows(0666, 10, 20, 11, 21, true));
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static void mkdir_p(const char *base, const char *rel)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void touch_in(const char *base, const char *rel)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	touch(p);
}

static bool exists_in(const char *base, const char *rel)
{
	char p[PATH_MAX + 64];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	return lstat(p, &st) == 0;
}

/* A jail as jail_fs_create leaves it: root/{vmlinuz, api.sock, dev/kvm, dev/urandom, dev/net,
 * mvm, lib/x/libc.so.6}, for a plan of vmlinuz and api.sock and one library. */
static void make_jail(struct jail_ctx *ctx, struct jail_plan *plan, const char *base)
{
	const char *argv[] = { "--kernel", "/boot/vmlinuz", "--api-sock", "/run/api.sock" };

	jail_plan_init(plan, reserved);
	assert_int_equal(jail_plan_run(plan, 4, (char **)argv, err, sizeof(err)), 0);
	snprintf(ctx->id_dir, sizeof(ctx->id_dir), "%s/mvm/t1", base);
	snprintf(ctx->root, sizeof(ctx->root), "%s/root", ctx->id_dir);
	mkdir_p(base, "mvm");
	mkdir_p(base, "mvm/t1");
	mkdir_p(base, "mvm/t1/root");
	for (const char *const *d = (const char *const[]){ "dev", "dev/net", "lib", "lib/x", NULL };
	     *d; d++)
		mkdir_p(ctx->root, *d);
	for (const char *const *f = (const char *const[]){ "vmlinuz", "api.sock", "dev/kvm",
		     "dev/urandom", "mvm", "lib/x/libc.so.6", NULL }; *f; f++)
		touch_in(ctx->root, *f);
	ctx->libs[0] = strdup("/lib/x/libc.so.6");
	ctx->nr_libs = 1;
}

static void free_jail(struct jail_ctx *ctx, struct jail_plan *plan, const char *base)
{
	char cmd[sizeof("rm -rf ''") + 64];

	free(ctx->libs[0]);
	jail_plan_free(plan);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);   /* base: a short mkdtemp name */
	assert_int_equal(system(cmd), 0);
}

/* The jail's own entries go, then its folders; nothing else. */
static void test_fs_remove(void **state)
{
	char base[] = "/tmp/mvm-jail-test-XXXXXX";
	struct jail_opts o = { .id = "t1" };
	struct jail_plan plan;
	struct jail_ctx ctx = { .opts = &o, .plan = &plan, .netns_fd = -1 };

	assert_non_null(mkdtemp(base));
	make_jail(&ctx, &plan, base);
	/* Not made by this jailer (root_made unset): nothing is touched. */
	assert_int_equal(jail_fs_remove(&ctx), 0);
	assert_true(exists_in(ctx.root, "vmlinuz"));
	ctx.root_made = true;
	assert_int_equal(jail_fs_remove(&ctx), 0);
	assert_false(exists_in(base, "mvm/t1"));
	assert_true(exists_in(base, "mvm"));     /* shared by every jail */
	free_jail(&ctx, &plan, base);
}

/* A file mvm made in its "/" (a snapshot) is kept, with the root holding it. */
static void test_fs_remove_keeps_mvm_files(void **state)
{
	char base[] = "/tmp/mvm-jail-test-XXXXXX";
	struct jail_opts o = { .id = "t1" };
	struct jail_plan plan;
	struct jail_ctx ctx = { .opts = &o, .plan = &plan, .netns_fd = -1, .root_made = true };

	assert_non_null(mkdtemp(base));
	make_jail(&ctx, &plan, base);
	touch_in(ctx.root, "snapshot.mem");
	assert_int_equal(jail_fs_remove(&ctx), -ENOTEMPTY);
	assert_true(exists_in(ctx.root, "snapshot.mem"));
	assert_false(exists_in(ctx.root, "vmlinuz"));
	assert_false(exists_in(ctx.root, "dev"));
	assert_false(exists_in(ctx.root, "lib"));
	assert_false(exists_in(ctx.root, "mvm"));
	free_jail(&ctx, &plan, base);
}

/* mvm owns its "/": it can swap the library folder for a link to the host's. The removal
 * walks folder by folder without following links, so the host's file stays. */
static void test_fs_remove_never_follows(void **state)
{
	char base[] = "/tmp/mvm-jail-test-XXXXXX", lib[PATH_MAX + 64], outside[PATH_MAX + 64];
	struct jail_opts o = { .id = "t1" };
	struct jail_plan plan;
	struct jail_ctx ctx = { .opts = &o, .plan = &plan, .netns_fd = -1, .root_made = true };

	assert_non_null(mkdtemp(base));
	make_jail(&ctx, &plan, base);
	mkdir_p(base, "host");
	mkdir_p(base, "host/x");
	touch_in(base, "host/x/libc.so.6");
	touch_in(base, "host/vmlinuz");
	snprintf(lib, sizeof(lib), "%s/lib/x/libc.so.6", ctx.root);
	assert_int_equal(unlink(lib), 0);
	snprintf(lib, sizeof(lib), "%s/lib/x", ctx.root);
	assert_int_equal(rmdir(lib), 0);
	snprintf(lib, sizeof(lib), "%s/lib", ctx.root);
	assert_int_equal(rmdir(lib), 0);
	snprintf(outside, sizeof(outside), "%s/host", base);
	assert_int_equal(symlink(outside, lib), 0);
	/* The link is not the jail's: it stays, and so does the root holding it. */
	assert_int_equal(jail_fs_remove(&ctx), -ENOTEMPTY);
	assert_true(exists_in(base, "host/x/libc.so.6"));
	assert_true(exists_in(base, "host/vmlinuz"));
	assert_true(exists_in(ctx.root, "lib"));
	free_jail(&ctx, &plan, base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_plan_run),
		cmocka_unit_test(test_plan_refused),
		cmocka_unit_test(test_plan_config),
		cmocka_unit_test(test_mode_allows),
		cmocka_unit_test(test_fs_remove),
		cmocka_unit_test(test_fs_remove_keeps_mvm_files),
		cmocka_unit_test(test_fs_remove_never_follows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
