/* state.c - reading a paused VM's vCPU and VM state out of KVM. */
#include "vmm/state.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct state_call {
	const struct vcpu_state_host *host;
	struct vcpu_state *vcpus;
	int *rets;
};

/* On vCPU v's own thread, parked. */
static void state_save_one(struct vcpu *v, void *arg)
{
	struct state_call *c = arg;

	c->rets[v->index] = vcpu_state_save(v->fd, c->host, &c->vcpus[v->index]);
}

/* What this host's KVM offers for a vCPU state save, asked once per VM (on
 * first use: a VM that is never saved never pays for it). */
static const struct vcpu_state_host *state_host(struct vm *vm, int *err)
{
	if (!vm->state_host) {
		struct vcpu_state_host *h = calloc(1, sizeof(*h));

		if (!h) {
			*err = -ENOMEM;
			return NULL;
		}
		if ((*err = vcpu_state_host_probe(vm->kvm.fd, vm->fd, h))) {
			free(h);
			return NULL;
		}
		vm->state_host = h;
	}
	return vm->state_host;
}

int vm_state_prepare(struct vm *vm)
{
	int ret = 0;

	return state_host(vm, &ret) ? 0 : ret;
}

int vm_state_read(struct vm *vm, struct vcpu_state *vcpus, struct vm_kvm_state *kvm_state)
{
	const struct vcpu_state_host *host;
	int *rets, ret = 0;

	if (!vm_is_paused(vm))
		return err_usage(-EBUSY);   /* asked of a running VM: the caller's to pause */
	if (!(host = state_host(vm, &ret)))
		return ret;
	rets = calloc((size_t)vm->nr_vcpus, sizeof(*rets));
	if (!rets)
		return -ENOMEM;
	struct state_call c = { .host = host, .vcpus = vcpus, .rets = rets };

	ret = vm_vcpus_call(vm, state_save_one, &c);
	for (int i = 0; !ret && i < vm->nr_vcpus; i++) {
		if (rets[i]) {
			log_err("reading vCPU %d's state: %s", i, strerror(-rets[i]));
			ret = rets[i];
		}
	}
	if (!ret && kvm_state) {
		/* A test's hook (tests/linux: migrate-clock, on request): time
		 * between the vCPUs' reads and the clock's, which a restore should
		 * not turn into a gap between the guest's TSC and kvm-clock. */
		const char *delay = getenv("MVM_TEST_STATE_CLOCK_DELAY_MS");

		if (delay && atoi(delay) > 0 && atoi(delay) <= 1000)
			usleep((useconds_t)atoi(delay) * 1000);
		ret = vm_state_save(vm->fd, kvm_state);
	}
	free(rets);
	return ret;
}

static void state_add_hex(struct json_object *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	json_object_object_add(o, key, json_object_new_string(buf));
}

char *vm_state_vcpus_json(struct vm *vm, int *err)
{
	struct vcpu_state *vcpus = calloc((size_t)vm->nr_vcpus, sizeof(*vcpus));
	struct json_object *arr;
	char *out = NULL;

	if (!vcpus) {
		*err = -ENOMEM;
		return NULL;
	}
	if ((*err = vm_state_read(vm, vcpus, NULL))) {
		free(vcpus);
		return NULL;
	}
	arr = json_object_new_array();
	for (int i = 0; i < vm->nr_vcpus; i++) {
		const struct vcpu_state *s = &vcpus[i];
		bool s2 = s->flags & VCPU_STATE_F_SREGS2;
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int(i));
		state_add_hex(o, "rip", s->regs.rip);
		state_add_hex(o, "rsp", s->regs.rsp);
		state_add_hex(o, "rflags", s->regs.rflags);
		state_add_hex(o, "cr0", s2 ? s->sregs2.cr0 : s->sregs.cr0);
		state_add_hex(o, "cr3", s2 ? s->sregs2.cr3 : s->sregs.cr3);
		state_add_hex(o, "cr4", s2 ? s->sregs2.cr4 : s->sregs.cr4);
		state_add_hex(o, "efer", s2 ? s->sregs2.efer : s->sregs.efer);
		json_object_object_add(o, "mp_state", json_object_new_int((int)s->mp_state.mp_state));
		json_object_object_add(o, "msrs", json_object_new_int((int)s->nmsrs));
		json_object_object_add(o, "cpuid_entries", json_object_new_int((int)s->cpuid_nent));
		json_object_object_add(o, "xsave_bytes", json_object_new_int((int)s->xsave_size));
		json_object_object_add(o, "tsc_khz", json_object_new_int((int)s->tsc_khz));
		json_object_array_add(arr, o);
	}
	out = strdup(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
	free(vcpus);
	if (!out)
		*err = -ENOMEM;
	return out;
}
