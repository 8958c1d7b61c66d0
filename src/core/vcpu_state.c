/* vcpu_state.c - reading an x86 vCPU's state out of KVM and writing it back. */
#include "core/vcpu_state.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Saved whether or not KVM_GET_MSR_INDEX_LIST names them: older kernels
 * listed only part of KVM's emulated MSRs, and these carry guest-visible
 * state that a restored guest would otherwise lose (its clocks and TSC, its
 * syscall entry points, its paravirtual features, its memory types). An MSR
 * that KVM_GET_MSRS refuses on this host is skipped and counted. */
static const uint32_t vcpu_msr_must[] = {
	VCPU_MSR_IA32_TSC, 0x11 /* KVM wall clock (old) */, 0x12 /* KVM system time (old) */,
	VCPU_MSR_IA32_APIC_BASE, VCPU_MSR_IA32_TSC_ADJUST,
	0x174, 0x175, 0x176,                     /* SYSENTER_CS/ESP/EIP */
	0x1a0,                                   /* MISC_ENABLE */
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207, /* variable MTRRs */
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
	0x250, 0x258, 0x259,                     /* fixed MTRRs */
	0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
	0x277,                                   /* PAT */
	0x2ff,                                   /* MTRR default type */
	VCPU_MSR_IA32_TSC_DEADLINE,
	0x4b564d00, 0x4b564d01,                  /* KVM wall clock, system time (new) */
	0x4b564d02, 0x4b564d03, 0x4b564d04,      /* async PF, steal time, PV EOI */
	0x4b564d05, 0x4b564d06,                  /* poll control, async PF interrupt */
	0xc0000080,                              /* EFER */
	0xc0000081, VCPU_MSR_LSTAR, 0xc0000083, 0xc0000084, /* STAR, LSTAR, CSTAR, SFMASK */
	VCPU_MSR_KERNEL_GS_BASE, 0xc0000103,     /* KERNEL_GS_BASE, TSC_AUX */
};

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int msr_wanted(uint32_t index)
{
	return index < VCPU_MSR_HYPERV_FIRST || index > VCPU_MSR_HYPERV_LAST;
}

int vcpu_state_msr_candidates(const uint32_t *kvm_list, uint32_t n, uint32_t *out, uint32_t max)
{
	const uint32_t nmust = sizeof(vcpu_msr_must) / sizeof(vcpu_msr_must[0]);
	uint32_t total = 0, kept = 0;
	uint32_t *all = malloc(((size_t)n + nmust) * sizeof(*all));

	if (!all)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (msr_wanted(kvm_list[i]))
			all[total++] = kvm_list[i];
	for (uint32_t i = 0; i < nmust; i++)
		all[total++] = vcpu_msr_must[i];
	qsort(all, total, sizeof(*all), u32_cmp);
	for (uint32_t i = 0; i < total; i++) {
		if (kept && out[kept - 1] == all[i])
			continue;
		if (kept == max) {
			free(all);
			log_err("vCPU state: more MSRs to save than VCPU_STATE_MAX_MSRS (%u)", max);
			return -E2BIG;
		}
		out[kept++] = all[i];
	}
	free(all);
	return (int)kept;
}

void vcpu_state_msr_restore_order(const struct kvm_msr_entry *in, uint32_t n,
				  struct kvm_msr_entry *out)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		if (in[i].index == VCPU_MSR_IA32_TSC)
			out[k++] = in[i];
	for (uint32_t i = 0; i < n; i++)
		if (in[i].index != VCPU_MSR_IA32_TSC && in[i].index != VCPU_MSR_IA32_TSC_DEADLINE)
			out[k++] = in[i];
	for (uint32_t i = 0; i < n; i++)
		if (in[i].index == VCPU_MSR_IA32_TSC_DEADLINE)
			out[k++] = in[i];
}

int vcpu_state_msr_get(const struct vcpu_state *s, uint32_t index, uint64_t *value)
{
	for (uint32_t i = 0; i < s->nmsrs && i < VCPU_STATE_MAX_MSRS; i++) {
		if (s->msrs[i].index == index) {
			*value = s->msrs[i].data;
			return 0;
		}
	}
	return -ENOENT;
}

int vcpu_state_check(const struct vcpu_state *s)
{
	if (s->version != VCPU_STATE_VERSION) {
		log_err("vCPU state: version %u, this mvm reads version %u", s->version,
			VCPU_STATE_VERSION);
		return -EINVAL;
	}
	if (s->flags & ~VCPU_STATE_F_ALL) {
		log_err("vCPU state: unknown bits %#x in flags", s->flags & ~VCPU_STATE_F_ALL);
		return -EINVAL;
	}
	if (s->nmsrs > VCPU_STATE_MAX_MSRS) {
		log_err("vCPU state: nmsrs %u exceeds the array's %u entries", s->nmsrs,
			VCPU_STATE_MAX_MSRS);
		return -EINVAL;
	}
	if (s->cpuid_nent == 0 || s->cpuid_nent > VCPU_STATE_MAX_CPUID) {
		log_err("vCPU state: cpuid_nent %u outside 1..%u", s->cpuid_nent,
			VCPU_STATE_MAX_CPUID);
		return -EINVAL;
	}
	if (s->xsave_size < VCPU_STATE_XSAVE_MIN || s->xsave_size > VCPU_STATE_XSAVE_MAX ||
	    s->xsave_size % 4) {
		log_err("vCPU state: xsave_size %u outside %u..%u or not a multiple of 4",
			s->xsave_size, VCPU_STATE_XSAVE_MIN, VCPU_STATE_XSAVE_MAX);
		return -EINVAL;
	}
	if (s->xcrs.nr_xcrs > KVM_MAX_XCRS) {
		log_err("vCPU state: xcrs.nr_xcrs %u exceeds %u", s->xcrs.nr_xcrs, KVM_MAX_XCRS);
		return -EINVAL;
	}
	return 0;
}

/* ---- asking the host once ---- */

static int probe_msr_list(int kvm_fd, struct vcpu_state_host *host)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;
	int ret;

	/* With nmsrs 0 KVM answers E2BIG and the count it needs. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		ret = -errno;
		log_err("vCPU state: KVM_GET_MSR_INDEX_LIST: %s", strerror(-ret));
		return ret;
	}
	list = calloc(1, sizeof(*list) + (size_t)probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		ret = -errno;
		log_err("vCPU state: KVM_GET_MSR_INDEX_LIST (%u MSRs): %s", probe.nmsrs,
			strerror(-ret));
		free(list);
		return ret;
	}
	ret = vcpu_state_msr_candidates(list->indices, list->nmsrs, host->msr_index,
					VCPU_STATE_MAX_MSRS);
	free(list);
	if (ret < 0)
		return ret;
	host->nmsrs = (uint32_t)ret;
	return 0;
}

int vcpu_state_host_probe(int kvm_fd, int vm_fd, struct vcpu_state_host *host)
{
	int size;

	memset(host, 0, sizeof(*host));
	host->has_sregs2 = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0;
	/* The API documents the XSAVE2 size as asked of the VM fd. */
	size = ioctl(vm_fd >= 0 ? vm_fd : kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	host->has_xsave2 = size > 0;
	host->xsave_size = size > VCPU_STATE_XSAVE_MIN ? (uint32_t)size : VCPU_STATE_XSAVE_MIN;
	if (host->xsave_size > VCPU_STATE_XSAVE_MAX || host->xsave_size % 4) {
		log_err("vCPU state: KVM's XSAVE area is %u bytes, more than VCPU_STATE_XSAVE_MAX "
			"(%u): raise it", host->xsave_size, VCPU_STATE_XSAVE_MAX);
		return -E2BIG;
	}
	return probe_msr_list(kvm_fd, host);
}

/* ---- save ---- */

static int vcpu_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) < 0) {
		int err = errno;

		log_err("vCPU state: %s: %s", what, strerror(err));
		return -err;
	}
	return 0;
}

/* KVM_GET_MSRS stops at the first MSR it refuses and returns how many it read:
 * keep those, skip the refused one, go on with the rest. */
static int save_msrs(int fd, const struct vcpu_state_host *host, struct vcpu_state *s)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + host->nmsrs * sizeof(m->entries[0]));
	uint32_t next = 0;
	int ret = 0;

	if (!m)
		return -ENOMEM;
	while (next < host->nmsrs) {
		uint32_t want = host->nmsrs - next;

		m->nmsrs = want;
		for (uint32_t i = 0; i < want; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = host->msr_index[next + i] };
		int got = ioctl(fd, KVM_GET_MSRS, m);

		if (got < 0 || (uint32_t)got > want) {
			ret = got < 0 ? -errno : -EIO;
			log_err("vCPU state: KVM_GET_MSRS (%u MSRs from %#x): %s", want,
				host->msr_index[next], strerror(-ret));
			break;
		}
		memcpy(&s->msrs[s->nmsrs], m->entries, (size_t)got * sizeof(m->entries[0]));
		s->nmsrs += (uint32_t)got;
		next += (uint32_t)got;
		if (next < host->nmsrs) {
			log_debug("vCPU state: KVM_GET_MSRS refused MSR %#x, not saved",
				  host->msr_index[next]);
			s->nmsrs_refused++;
			next++;
		}
	}
	free(m);
	return ret;
}

static int save_cpuid(int fd, struct vcpu_state *s)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + VCPU_STATE_MAX_CPUID * sizeof(c->entries[0]));
	int ret;

	if (!c)
		return -ENOMEM;
	c->nent = VCPU_STATE_MAX_CPUID;
	ret = vcpu_ioctl(fd, KVM_GET_CPUID2, c, "KVM_GET_CPUID2");
	if (!ret && (c->nent == 0 || c->nent > VCPU_STATE_MAX_CPUID)) {
		log_err("vCPU state: KVM_GET_CPUID2 gave %u entries", c->nent);
		ret = -EIO;
	}
	if (!ret) {
		s->cpuid_nent = c->nent;
		memcpy(s->cpuid, c->entries, c->nent * sizeof(c->entries[0]));
	}
	free(c);
	return ret;
}

static int save_xsave(int fd, const struct vcpu_state_host *host, struct vcpu_state *s)
{
	/* KVM writes exactly host->xsave_size bytes, which probe bounded. */
	s->xsave_size = host->xsave_size;
	if (host->has_xsave2)
		return vcpu_ioctl(fd, KVM_GET_XSAVE2, s->xsave, "KVM_GET_XSAVE2");
	return vcpu_ioctl(fd, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE");
}

int vcpu_state_save(int fd, const struct vcpu_state_host *host, struct vcpu_state *s)
{
	int ret, khz;

	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	if ((ret = save_cpuid(fd, s)))
		return ret;
	khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	s->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	if ((ret = vcpu_ioctl(fd, KVM_GET_REGS, &s->regs, "KVM_GET_REGS")))
		return ret;
	if (host->has_sregs2) {
		s->flags |= VCPU_STATE_F_SREGS2;
		ret = vcpu_ioctl(fd, KVM_GET_SREGS2, &s->sregs2, "KVM_GET_SREGS2");
	} else {
		ret = vcpu_ioctl(fd, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS");
	}
	if (ret || (ret = save_xsave(fd, host, s)) ||
	    (ret = vcpu_ioctl(fd, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS")))
		return ret;
	/* MSRs before the LAPIC: reading the LAPIC first lets a TSC-deadline
	 * timer that fires in between vanish from both (the QEMU order). */
	if ((ret = save_msrs(fd, host, s)) ||
	    (ret = vcpu_ioctl(fd, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC")) ||
	    (ret = vcpu_ioctl(fd, KVM_GET_MP_STATE, &s->mp_state, "KVM_GET_MP_STATE")) ||
	    (ret = vcpu_ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS")) ||
	    (ret = vcpu_ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS")))
		return ret;
	return 0;
}

/* ---- restore ---- */

static int restore_cpuid(int fd, const struct vcpu_state *s)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + s->cpuid_nent * sizeof(c->entries[0]));
	int ret;

	if (!c)
		return -ENOMEM;
	c->nent = s->cpuid_nent;
	memcpy(c->entries, s->cpuid, s->cpuid_nent * sizeof(c->entries[0]));
	ret = vcpu_ioctl(fd, KVM_SET_CPUID2, c, "KVM_SET_CPUID2");
	free(c);
	return ret;
}

/* Only when the frequency differs: setting it needs TSC scaling, which a
 * restore on the same host does not. Before the TSC MSR, which is in guest
 * cycles at this frequency. */
static int restore_tsc_khz(int fd, const struct vcpu_state *s)
{
	int now = ioctl(fd, KVM_GET_TSC_KHZ, 0);

	if (s->tsc_khz == 0 || now == (int)s->tsc_khz)
		return 0;
	if (ioctl(fd, KVM_SET_TSC_KHZ, (unsigned long)s->tsc_khz) < 0) {
		int err = errno;

		log_err("vCPU state: KVM_SET_TSC_KHZ %u kHz (this host runs the vCPU at %d kHz; "
			"changing it needs TSC scaling): %s", s->tsc_khz, now, strerror(err));
		return -err;
	}
	return 0;
}

/* KVM_SET_XSAVE reads as many bytes as this host's KVM uses, which may be
 * more than the saving host wrote: give it a zeroed buffer larger than any
 * XSAVE area, with the saved bytes at the start. */
static int restore_xsave(int fd, const struct vcpu_state *s)
{
	const size_t room = 64 * 1024;
	void *buf = calloc(1, room);
	int ret;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, s->xsave, s->xsave_size);
	ret = vcpu_ioctl(fd, KVM_SET_XSAVE, buf, "KVM_SET_XSAVE");
	free(buf);
	return ret;
}

static int restore_msrs(int fd, const struct vcpu_state *s)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + s->nmsrs * sizeof(m->entries[0]));
	int ret = 0, got;

	if (!m)
		return -ENOMEM;
	m->nmsrs = s->nmsrs;
	vcpu_state_msr_restore_order(s->msrs, s->nmsrs, m->entries);
	got = ioctl(fd, KVM_SET_MSRS, m);
	if (got < 0) {
		ret = -errno;
		log_err("vCPU state: KVM_SET_MSRS (%u MSRs): %s", s->nmsrs, strerror(-ret));
	} else if ((uint32_t)got < s->nmsrs) {
		/* KVM stops at the first MSR it refuses: name it. */
		log_err("vCPU state: KVM_SET_MSRS refused MSR %#x (value %#llx), the %d-th of %u",
			m->entries[got].index, (unsigned long long)m->entries[got].data, got + 1,
			s->nmsrs);
		ret = -EINVAL;
	}
	free(m);
	return ret;
}

static int msr_one(int fd, uint32_t index, uint64_t value, uint64_t *read_back)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	int ret;

	if (!m)
		return -ENOMEM;
	m->nmsrs = 1;
	m->entries[0] = (struct kvm_msr_entry){ .index = index, .data = value };
	ret = ioctl(fd, read_back ? KVM_GET_MSRS : KVM_SET_MSRS, m);
	if (ret != 1) {
		log_err("vCPU state: %s of MSR %#x: %s", read_back ? "KVM_GET_MSRS" : "KVM_SET_MSRS",
			index, ret < 0 ? strerror(errno) : "refused");
		ret = ret < 0 ? -errno : -EIO;
	} else {
		ret = 0;
		if (read_back)
			*read_back = m->entries[0].data;
	}
	free(m);
	return ret;
}

/* KVM takes a host write of IA32_TSC that lands within a second of the TSC
 * its previous write predicts for an attempt to synchronise vCPUs, and keeps
 * its own offset instead of the value written. Before Linux 6.8 the vCPU's
 * creation (TSC 0) counts as such a write, so a guest saved in the first
 * second of its TSC would jump. Read the TSC back; when it is off by more
 * than VCPU_STATE_TSC_SLACK_MS, set the offset directly (KVM_VCPU_TSC_OFFSET,
 * Linux 5.16) and write the deadline again: it was taken against the wrong
 * TSC. A genuine multi-vCPU synchronisation (the next vCPUs of a VM taking
 * the first one's offset) lands within the slack, and is kept: KVM then
 * counts the vCPUs as matched, which kvm-clock's stable mode needs. */

static int restore_tsc_fixup(int fd, const struct vcpu_state *s)
{
	uint64_t want, now, off, deadline;
	struct kvm_device_attr attr = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
					.addr = (uintptr_t)&off };
	int64_t err, slack = (int64_t)s->tsc_khz * VCPU_STATE_TSC_SLACK_MS;
	int ret;

	if (vcpu_state_msr_get(s, VCPU_MSR_IA32_TSC, &want) || !s->tsc_khz)
		return 0;
	if ((ret = msr_one(fd, VCPU_MSR_IA32_TSC, 0, &now)))
		return ret;
	err = (int64_t)(now - want);
	if (err <= slack && err >= -slack)
		return 0;
	if (ioctl(fd, KVM_HAS_DEVICE_ATTR, &attr) < 0) {
		log_warn("vCPU state: KVM kept its own TSC, %+lld cycles from the saved one, and "
			 "offers no KVM_VCPU_TSC_OFFSET to correct it", (long long)err);
		return 0;
	}
	if ((ret = vcpu_ioctl(fd, KVM_GET_DEVICE_ATTR, &attr, "KVM_GET_DEVICE_ATTR (TSC offset)")))
		return ret;
	off -= (uint64_t)err;
	if ((ret = vcpu_ioctl(fd, KVM_SET_DEVICE_ATTR, &attr, "KVM_SET_DEVICE_ATTR (TSC offset)")))
		return ret;
	log_debug("vCPU state: KVM took the TSC write for a sync (%+lld cycles); offset set instead",
		  (long long)err);
	if (vcpu_state_msr_get(s, VCPU_MSR_IA32_TSC_DEADLINE, &deadline) == 0 && deadline)
		return msr_one(fd, VCPU_MSR_IA32_TSC_DEADLINE, deadline, NULL);
	return 0;
}

int vcpu_state_restore(int fd, const struct vcpu_state *s)
{
	struct kvm_vcpu_events events;
	struct kvm_debugregs dbg;
	int ret;

	if ((ret = vcpu_state_check(s)))
		return ret;
	/* CPUID first: KVM derives what the other registers and MSRs may hold
	 * from it, and refuses to change it once the vCPU has run. */
	if ((ret = restore_cpuid(fd, s)) || (ret = restore_tsc_khz(fd, s)))
		return ret;
	/* Special registers carry the APIC base, which the LAPIC needs first. */
	if (s->flags & VCPU_STATE_F_SREGS2)
		ret = vcpu_ioctl(fd, KVM_SET_SREGS2, (void *)&s->sregs2, "KVM_SET_SREGS2");
	else
		ret = vcpu_ioctl(fd, KVM_SET_SREGS, (void *)&s->sregs, "KVM_SET_SREGS");
	if (ret || (ret = vcpu_ioctl(fd, KVM_SET_REGS, (void *)&s->regs, "KVM_SET_REGS")) ||
	    (ret = restore_xsave(fd, s)))
		return ret;
	if (s->xcrs.nr_xcrs &&
	    (ret = vcpu_ioctl(fd, KVM_SET_XCRS, (void *)&s->xcrs, "KVM_SET_XCRS")))
		return ret;
	/* LAPIC before the MSRs: KVM ignores a TSC_DEADLINE write unless the
	 * LAPIC timer is already in TSC-deadline mode. */
	if ((ret = vcpu_ioctl(fd, KVM_SET_LAPIC, (void *)&s->lapic, "KVM_SET_LAPIC")) ||
	    (ret = restore_msrs(fd, s)) || (ret = restore_tsc_fixup(fd, s)))
		return ret;
	/* Events after the registers (KVM_SET_REGS drops a pending exception);
	 * NMI pending and the SIPI vector are only taken when flagged. */
	events = s->events;
	events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	dbg = s->debugregs;
	dbg.flags = 0; /* KVM refuses any flag here */
	if ((ret = vcpu_ioctl(fd, KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS")) ||
	    (ret = vcpu_ioctl(fd, KVM_SET_MP_STATE, (void *)&s->mp_state, "KVM_SET_MP_STATE")) ||
	    (ret = vcpu_ioctl(fd, KVM_SET_DEBUGREGS, &dbg, "KVM_SET_DEBUGREGS")))
		return ret;
	return 0;
}
