/* vm_state.h - a VM's in-kernel device state (PIC, IOAPIC, PIT, kvm-clock) as plain data.
 *
 * Contract: struct vm_kvm_state holds no pointers; it is zeroed before it is
 * filled, so two saves compare byte for byte, and VM_STATE_VERSION changes
 * with its layout. vm_state_save() and vm_state_restore() take the VM fd of a
 * VM created with KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2, with every vCPU out
 * of KVM_RUN; any thread may call them (VM ioctls). vm_state_restore() checks
 * the whole struct first (vm_state_check(): a state file is untrusted) and
 * wants the target VM fresh, before its vCPUs first run.
 *
 * The clock: KVM_SET_CLOCK puts kvm-clock back at the saved value. When the
 * save carried KVM_CLOCK_REALTIME (the host's clocksource is the TSC), the
 * saved host real time goes along and KVM adds the real time elapsed since
 * the save, so the guest's clock does not fall behind by the time the VM was
 * away (KVM never steps it back); otherwise it continues from the saved value,
 * as if the VM had been paused. The vCPUs' TSCs continue from their saved
 * values either way (vcpu_state.h). All functions return 0 or -errno and log
 * what failed.
 */
#ifndef MVM_CORE_VM_STATE_H
#define MVM_CORE_VM_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#define VM_STATE_VERSION 1

struct vm_kvm_state {
	uint32_t version;                 /* VM_STATE_VERSION */
	uint32_t pad0;
	struct kvm_irqchip pic_master;    /* chip_id KVM_IRQCHIP_PIC_MASTER */
	struct kvm_irqchip pic_slave;     /* chip_id KVM_IRQCHIP_PIC_SLAVE */
	struct kvm_irqchip ioapic;        /* chip_id KVM_IRQCHIP_IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;      /* with KVM's flags */
};

int vm_state_save(int vm_fd, struct vm_kvm_state *s);
int vm_state_restore(int vm_fd, const struct vm_kvm_state *s);

/* 0 when version, chip ids and flags are what this mvm writes, else -EINVAL
 * with a message naming the field. No KVM. */
int vm_state_check(const struct vm_kvm_state *s);

/* What vm_state_restore hands KVM_SET_CLOCK for a saved clock: the value,
 * and KVM_CLOCK_REALTIME with the saved real time when the save had it. Pure. */
void vm_state_clock_to_set(const struct kvm_clock_data *saved, struct kvm_clock_data *out);

#endif
