/* main.c - command dispatch: run, version. */
#include "cli/cli.h"
#include "core/vm.h"
#include "core/vmstop.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MVM_VERSION
#define MVM_VERSION "0.1.0"
#endif

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct vm vm;
	enum vm_stop_reason reason;
	int ret, status;

	ret = cli_parse_run(argc, argv, &cfg);
	if (ret)
		return ret > 0 ? MVM_EXIT_OK : MVM_EXIT_USAGE;
	if (vm_create(&vm, &cfg, &status)) {
		vm_destroy(&vm);
		return status;
	}
	reason = vm_run(&vm);
	vm_report_bench(&vm);
	status = vm_stop_exit_status(reason);
	if (status != MVM_EXIT_OK)
		log_err("%s (exit status %d)", vm_stop_reason_name(reason), status);
	else
		log_debug("%s", vm_stop_reason_name(reason));
	vm_destroy(&vm);
	return status;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (getenv("MVM_DEBUG"))
		log_set_level(LOG_DEBUG);
	if (!cmd || !strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		cli_usage(cmd ? stdout : stderr);
		return cmd ? MVM_EXIT_OK : MVM_EXIT_USAGE;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("mvm %s\n", MVM_VERSION);
		return MVM_EXIT_OK;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	log_err("unknown command '%s' (commands: run, version)", cmd);
	return MVM_EXIT_USAGE;
}
