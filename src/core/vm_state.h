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

/* The legacy PIC as a PC BIOS leaves it for the loaded kernel (SeaBIOS's
 * pic_reset): initialised (ICW1-ICW4 done: edge, cascade on master line 2,
 * 8086 mode, normal EOI), vectors 0x08-0x0f (master) and 0x70-0x77 (slave).
 * KVM creates it uninitialised with both vector bases 0, so a kernel that
 * takes an IRQ through the IVT (kvm-unit-tests' realmode.flat: IRQ 11 at
 * vector 0x73) gets vector 3 instead. The masks stay as KVM made them (none
 * masked): mvm has no BIOS timer tick, and nothing raises an IRQ line until
 * the guest programs a device. vm_state_pic_bios_fill() is the pure part
 * (one chip's state from KVM_GET_IRQCHIP, changed in place);
 * vm_state_pic_bios() reads, changes and writes both chips, before the
 * vCPUs first run. */
#define VM_PIC_BIOS_MASTER_BASE 0x08
#define VM_PIC_BIOS_SLAVE_BASE  0x70
void vm_state_pic_bios_fill(struct kvm_pic_state *pic, int slave);
int vm_state_pic_bios(int vm_fd);

/* What vm_state_restore hands KVM_SET_CLOCK for a saved clock: the value,
 * and KVM_CLOCK_REALTIME with the saved real time when the save had it. Pure. */
void vm_state_clock_to_set(const struct kvm_clock_data *saved, struct kvm_clock_data *out);

#endif
