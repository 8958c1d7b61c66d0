/* hcall.c - the guest side of mvm's hypercalls (mvm/abi.h): one wrapper per call. */
#include "mvm_guest.h"

int64_t mvm_console_write(const void *buf, size_t len)
{
	const char *p = buf;
	int64_t done = 0;

	/* One call carries at most MVM_CONSOLE_MAX bytes. */
	while (len) {
		size_t n = len > MVM_CONSOLE_MAX ? MVM_CONSOLE_MAX : len;
		struct mvm_hc_console a = { .buf = (uintptr_t)p, .len = n };
		int64_t r = mvm_hypercall(MVM_HC_CONSOLE, &a);

		if (r < 0)
			return done ? done : r;
		done += r;
		p += n;
		len -= n;
	}
	return done;
}

uint64_t mvm_time_mono_ns(void)
{
	struct mvm_hc_time a = { 0 };

	mvm_hypercall(MVM_HC_TIME, &a);
	return a.mono_ns;
}

uint64_t mvm_time_wall_ns(void)
{
	struct mvm_hc_time a = { 0 };

	mvm_hypercall(MVM_HC_TIME, &a);
	return a.wall_ns;
}

int64_t mvm_blk_info(struct mvm_hc_blkinfo *info)
{
	return mvm_hypercall(MVM_HC_BLKINFO, info);
}

int64_t mvm_blk_read(uint64_t sector, void *buf, size_t len)
{
	struct mvm_hc_blkio a = { .sector = sector, .buf = (uintptr_t)buf, .len = len };

	return mvm_hypercall(MVM_HC_BLKREAD, &a);
}

int64_t mvm_blk_write(uint64_t sector, const void *buf, size_t len)
{
	struct mvm_hc_blkio a = { .sector = sector, .buf = (uintptr_t)buf, .len = len };

	return mvm_hypercall(MVM_HC_BLKWRITE, &a);
}

int64_t mvm_net_info(struct mvm_hc_netinfo *info)
{
	return mvm_hypercall(MVM_HC_NETINFO, info);
}

int64_t mvm_net_write(const void *frame, size_t len)
{
	struct mvm_hc_netio a = { .buf = (uintptr_t)frame, .len = len };

	return mvm_hypercall(MVM_HC_NETWRITE, &a);
}

int64_t mvm_net_read(void *buf, size_t len)
{
	struct mvm_hc_netio a = { .buf = (uintptr_t)buf, .len = len };

	return mvm_hypercall(MVM_HC_NETREAD, &a);
}

void mvm_exit(int status)
{
	struct mvm_hc_exit a = { .status = (uint64_t)status };

	mvm_hypercall(MVM_HC_EXIT, &a);
	/* mvm stops this vCPU before it runs again. */
	for (;;)
		cpu_relax();
}
