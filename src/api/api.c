/* api.c - the VM behind the API: pre-boot configuration, InstanceStart, hand-off to vm_run. */
#include "api/api.h"
#include "api/fc_config.h"
#include "api/migrate.h"
#include "api/snapshot.h"
#include "vmm/vm.h"
#include "core/vmstop.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* InstanceStart, on the API thread (or on main's before the thread starts). */
static int api_start(struct api_vmm *a, char *err, size_t errlen)
{
	struct api *api = a->start_ctx;
	uint64_t one = 1;
	int ret;

	if ((ret = fc_config_finalize(a->cfg, err, errlen)))
		return ret;
	if (!a->cfg->kernel_path) {
		snprintf(err, errlen, "boot-source: required: PUT /boot-source before InstanceStart");
		return -EINVAL;
	}
	ret = vm_create(api->vm, a->cfg, &api->create_status);
	if (ret) {
		vm_destroy(api->vm);
		snprintf(err, errlen, "creating the VM: %s (mvm's stderr says more)", strerror(-ret));
		return ret;
	}
	a->vm = api->vm;
	a->started = true;
	if (write(api->start_efd, &one, sizeof(one)) < 0)
		log_err("api: cannot wake the main thread: %s", strerror(errno));
	return 0;
}

/* PUT /snapshot/load (or --restore): the VM from a snapshot, then as api_start. */
static int api_restore(struct api_vmm *a, const struct api_snapshot_load *req, char *err,
		       size_t errlen)
{
	struct api *api = a->start_ctx;
	uint64_t one = 1;
	int ret;

	if (a->load_failed) {
		snprintf(err, errlen, "an earlier snapshot load failed in this mvm process: start "
			 "a new one to try again");
		return -EINVAL;
	}
	ret = api_snapshot_restore(api->vm, a->cfg, req, &api->create_status, err, errlen);
	if (ret) {
		/* The snapshot's configuration may be in a->cfg now, half applied. */
		if (api_config_has_vm(a->cfg))
			a->load_failed = true;
		return ret;
	}
	a->vm = api->vm;
	a->started = true;
	if (write(api->start_efd, &one, sizeof(one)) < 0)
		log_err("api: cannot wake the main thread: %s", strerror(errno));
	return 0;
}

int api_open(struct api *api, const char *path, struct vm_config *cfg, struct vm *vm,
	     bool start_now, const struct api_snapshot_load *restore, int *exit_status)
{
	char err[FC_ERR_MAX] = "";
	int ret;

	memset(api, 0, sizeof(*api));
	api->vm = vm;
	api->vmm.cfg = cfg;
	api->vmm.start = api_start;
	api->vmm.restore = api_restore;
	api->vmm.start_ctx = api;
	api->start_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*exit_status = MVM_EXIT_HOST;
	if (api->start_efd < 0) {
		log_err("api: eventfd: %s", strerror(errno));
		return -errno;
	}
	pthread_mutex_init(&api->cfg_lock, NULL);
	api->opened = true;
	if (cfg->incoming) {
		/* The migration brings the VM: nothing starts it here. */
		api->vmm.incoming = API_INCOMING_WAITING;
		api->vmm.cfg_lock = &api->cfg_lock;
		restore = NULL;
		start_now = false;
	}
	err_reset();
	if ((ret = api_server_open(&api->server, path, &api->vmm))) {
		/* server.c marks what is the user's path (util/err.h). */
		*exit_status = err_exit_status(ERR_HOST);
		return ret;
	}
	if (restore && (ret = api_restore(&api->vmm, restore, err, sizeof(err)))) {
		if (err[0])
			log_err("%s", err);
		*exit_status = api->create_status;
		return ret;
	}
	if (!restore && start_now && (ret = api_start(&api->vmm, err, sizeof(err)))) {
		if (err[0])
			log_err("%s", err);
		*exit_status = api->create_status;
		return ret;
	}
	return api_server_start(&api->server);
}

int api_wait_for_start(struct api *api)
{
	struct pollfd fds[2] = { { .fd = api->start_efd, .events = POLLIN } };
	sigset_t set;
	int ret = 0;

	/* vm_run() keeps this mask and makes its own signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	fds[1].fd = signalfd(-1, &set, SFD_CLOEXEC);
	fds[1].events = POLLIN;
	if (fds[1].fd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return -errno;
	}
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			log_err("api: waiting for InstanceStart: %s", strerror(errno));
			break;
		}
		if (fds[0].revents & POLLIN)
			break;
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(fds[1].fd, &si, sizeof(si)) == sizeof(si))
				log_info("received %s before InstanceStart, exiting", strsignal(si.ssi_signo));
			ret = -EINTR;
			break;
		}
	}
	close(fds[1].fd);
	return ret;
}

int api_incoming(struct api *api, int *exit_status)
{
	struct api_vmm *a = &api->vmm;
	int ret = api_migrate_incoming(api->vm, a->cfg, a->cfg->incoming, a, exit_status);

	if (ret)
		return ret;
	/* The API thread reads vm only once it sees started (release, acquire). */
	a->vm = api->vm;
	atomic_store_explicit(&a->started, true, memory_order_release);
	atomic_store(&a->incoming, API_INCOMING_NONE);
	return 0;
}

void api_close(struct api *api)
{
	if (!api->opened)
		return;
	api_server_close(&api->server);
	pthread_mutex_destroy(&api->cfg_lock);
	close(api->start_efd);
	api->opened = false;
}
