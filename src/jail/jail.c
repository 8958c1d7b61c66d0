/* jail.c - `mvm jail`: checks, the jail's tree and cgroup, the jailed child, cleanup. */
#include "jail/jail_priv.h"
#include "util/err.h"
#include "util/log.h"
#include "util/upath.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define JAIL_CONFIG_MAX (1 << 20)

extern char **environ;

/* The init's pid for the forwarding handler: the one global the jailer keeps. */
static volatile pid_t jail_child;

static void forward_signal(int sig)
{
	if (jail_child > 0)
		kill(jail_child, sig);
}

static int read_config(const char *path, char **out, char *err, size_t errlen)
{
	struct upath_file uf;
	char uerr[UPATH_ERR_MAX];
	char *buf;
	size_t off = 0;
	int ret;

	ret = upath_open(path, O_RDONLY, UPATH_REG, "--config-file", &uf, uerr, sizeof(uerr));
	if (ret) {
		snprintf(err, errlen, "--config-file %s: %s", path, uerr);
		return err_usage(-EINVAL);
	}
	if (uf.size > JAIL_CONFIG_MAX) {
		close(uf.fd);
		snprintf(err, errlen, "--config-file %s: larger than %d bytes", path, JAIL_CONFIG_MAX);
		return err_usage(-EINVAL);
	}
	buf = malloc(uf.size + 1);
	if (!buf) {
		close(uf.fd);
		snprintf(err, errlen, "--config-file %s: out of memory", path);
		return err_host(-ENOMEM);
	}
	while (off < uf.size) {
		ssize_t n = read(uf.fd, buf + off, uf.size - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(uf.fd);
	if (off != uf.size) {
		free(buf);
		snprintf(err, errlen, "--config-file %s: cannot read it", path);
		return err_usage(-EIO);
	}
	buf[off] = 0;
	*out = buf;
	return 0;
}

/* The environment of the jailed mvm: the caller's, with LD_LIBRARY_PATH naming the folders
 * of mvm's libraries (the jail has no ld.so.cache). */
static char **jail_env(const struct jail_ctx *ctx)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_LIBRARY_PATH=", 16))
			env[k++] = environ[i];
	}
	if (asprintf(&env[k], "LD_LIBRARY_PATH=%s", ctx->ld_path) < 0)
		env[k] = NULL;
	return env;
}

/* Plan and check everything without creating anything. 0 or -errno with err, its class
 * recorded where it failed (util/err.h): the host's for what the host lacks (cgroup v2, a
 * device node, memory, room for mvm's libraries); unmarked, the user's (it reads their
 * flags and files). */
static int jail_prepare(struct jail_ctx *ctx, char *err, size_t errlen)
{
	struct jail_plan *plan = ctx->plan;
	const char *reserved[JAIL_MAX_RESERVED + 1] = { "dev", "mvm" };
	int nr = 2, ret;

	if ((ret = jail_libs_collect(ctx, err, errlen)))
		return ret;
	/* The top folders of the libraries' paths are the jail's own. */
	for (int i = 0; i < ctx->nr_libs && nr < JAIL_MAX_RESERVED; i++) {
		const char *p = ctx->libs[i] + 1, *slash = strchr(p, '/');
		bool dup = false;

		snprintf(ctx->tops[nr], sizeof(ctx->tops[nr]), "%.*s",
			 slash ? (int)(slash - p) : (int)strlen(p), p);
		for (int k = 0; k < nr; k++)
			dup |= !strcmp(reserved[k], ctx->tops[nr]);
		if (!dup) {
			reserved[nr] = ctx->tops[nr];
			nr++;
		}
	}
	jail_plan_init(plan, reserved);
	if ((ret = jail_plan_run(plan, ctx->opts->run_argc, ctx->opts->run_argv, err, errlen)))
		return ret;
	if (plan->config >= 0) {
		char *text = NULL;

		if ((ret = read_config(plan->files[plan->config].host, &text, err, errlen)))
			return ret;
		ret = jail_plan_config(plan, text, &ctx->config_json, err, errlen);
		free(text);
		if (ret)
			return ret;
	}
	if ((ret = jail_fs_check(ctx, err, errlen)) || (ret = jail_cgroup_check(ctx, err, errlen)))
		return ret;
	return 0;
}

static void jail_cleanup(struct jail_ctx *ctx)
{
	int ret;

	if ((ret = jail_fs_remove(ctx)) == -ENOTEMPTY)
		log_warn("jail %s: %s/root is kept: it holds files mvm made there (the jail's own "
			 "are removed)", ctx->opts->id, ctx->id_dir);
	else if (ret)
		log_warn("jail %s: could not remove %s: %s", ctx->opts->id, ctx->id_dir,
			 strerror(-ret));
	if ((ret = jail_cgroup_remove(ctx)))
		log_warn("jail %s: could not remove cgroup %s: %s", ctx->opts->id, ctx->cgroup,
			 strerror(-ret));
}

/* mvm's pid as the host sees it: the init's one child. 0 when unknown. */
static pid_t mvm_pid(pid_t init)
{
	char path[64], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init, (int)init);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return (pid_t)atoi(buf);
}

/* Start the jailed child, wait for mvm's exec (or the child's error), then for its end.
 * ready_fd (daemonize): told "ok" or the error once mvm runs. Returns the exit status. */
static int jail_spawn(struct jail_ctx *ctx, int ready_fd)
{
	char err[JAIL_ERR_MAX] = "", **env;
	int go[2], st[2], status;
	ssize_t n, off = 0;
	pid_t child;

	env = jail_env(ctx);
	if (!env || pipe2(go, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0) {
		log_err("jail %s: %s", ctx->opts->id, strerror(errno));
		return MVM_JAIL_EXIT_HOST;
	}
	/* Our next child is PID 1 of a new PID namespace (we stay where we are). */
	if (unshare(CLONE_NEWPID) < 0) {
		log_err("jail %s: unshare(CLONE_NEWPID): %s", ctx->opts->id, strerror(errno));
		return MVM_JAIL_EXIT_HOST;
	}
	child = fork();
	if (child < 0) {
		log_err("jail %s: fork: %s", ctx->opts->id, strerror(errno));
		return MVM_JAIL_EXIT_HOST;
	}
	if (child == 0) {
		close(go[1]);
		close(st[0]);
		jail_enter(ctx, go[0], st[1], env);
	}
	jail_child = child;
	close(go[0]);
	close(st[1]);
	if (jail_cgroup_add(ctx, child, err, sizeof(err))) {
		kill(child, SIGKILL);
	} else if (write(go[1], "g", 1) != 1) {
		snprintf(err, sizeof(err), "the jailed child is gone");
	}
	close(go[1]);
	/* EOF without a word: mvm was exec'd (the pipe is close-on-exec). */
	while (!*err && (n = read(st[0], err + off, sizeof(err) - 1 - (size_t)off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += n;
		if ((size_t)off >= sizeof(err) - 1)
			break;
	}
	close(st[0]);
	if (*err) {
		log_err("jail %s: %s", ctx->opts->id, err);
		if (ready_fd >= 0 && write(ready_fd, err, strlen(err)) < 0)
			log_err("jail %s: cannot tell the caller", ctx->opts->id);
	} else {
		log_info("jail %s: mvm runs as pid %d, uid %u, in %s", ctx->opts->id,
			 (int)mvm_pid(child), (unsigned)ctx->opts->uid, ctx->root);
	}
	if (ready_fd >= 0)
		close(ready_fd);
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			status = MVM_JAIL_EXIT_HOST << 8;
			break;
		}
	}
	jail_child = 0;
	if (*err)
		return MVM_JAIL_EXIT_HOST;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* --daemonize: the caller returns once mvm runs (0) or with the error (1); the jailer lives on
 * in its own session, stdio on /dev/null, to remove the jail when mvm ends. */
static int daemonize(int *ready_fd)
{
	char buf[JAIL_ERR_MAX];
	int p[2], null;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		n = read(p[0], buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = 0;
			log_err("jail: %s", buf);
		} else if (n < 0) {
			log_err("jail: the daemonized jailer said nothing: %s", strerror(errno));
		} else {
			log_info("jail: mvm runs in the background; its jailer is pid %d (SIGTERM "
				 "stops the VM; the jailer then removes the jail)", (int)pid);
		}
		_exit(n == 0 ? 0 : MVM_JAIL_EXIT_HOST);
	}
	close(p[0]);
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	*ready_fd = p[1];
	return 0;
}

int jail_main(int argc, char **argv)
{
	char err[JAIL_ERR_MAX] = "";
	struct jail_opts opts;
	struct jail_plan plan = { .config = -1 };
	struct jail_ctx ctx = { .opts = &opts, .plan = &plan, .netns_fd = -1 };
	struct sigaction sa = { .sa_handler = forward_signal };
	int ret, status, ready_fd = -1;

	ret = jail_parse(argc, argv, &opts, err, sizeof(err));
	if (ret) {
		if (ret < 0)
			log_err("jail: %s", err);
		return ret > 0 ? 0 : MVM_JAIL_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		log_err("jail: must run as root (it makes device nodes, mounts, namespaces and "
			"cgroups, then drops to --uid %u)", (unsigned)opts.uid);
		return MVM_JAIL_EXIT_USAGE;
	}
	err_reset();
	ret = jail_prepare(&ctx, err, sizeof(err));
	if (ret) {
		log_err("jail %s: %s", opts.id, err);
		status = err_exit_status(ERR_USAGE);
		goto out_free;
	}
	/* Making the tree and the cgroup is the host's work; a --cgroup value the kernel
	 * refuses is marked the user's (cgroup.c). */
	err_reset();
	if ((ret = jail_fs_create(&ctx, err, sizeof(err))) ||
	    (ret = jail_cgroup_create(&ctx, err, sizeof(err)))) {
		log_err("jail %s: %s", opts.id, err);
		status = err_exit_status(ERR_HOST);
		goto out_clean;
	}
	if (opts.daemonize && (ret = daemonize(&ready_fd))) {
		log_err("jail %s: cannot daemonize: %s", opts.id, strerror(-ret));
		status = MVM_JAIL_EXIT_HOST;
		goto out_clean;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	status = jail_spawn(&ctx, ready_fd);
out_clean:
	jail_cleanup(&ctx);
out_free:
	if (ctx.netns_fd >= 0)
		close(ctx.netns_fd);
	for (int i = 0; i < ctx.nr_libs; i++)
		free(ctx.libs[i]);
	for (int i = 0; i < ctx.nr_binds; i++) {
		free(ctx.binds[i].src);
		free(ctx.binds[i].dst);
	}
	free(ctx.ld_path);
	free(ctx.config_json);
	jail_plan_free(&plan);
	return status;
}
