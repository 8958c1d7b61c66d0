/* vm_state.c - saving and restoring the in-kernel PIC, IOAPIC, PIT and kvm-clock. */
#include "core/vm_state.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define VM_STATE_PIT_FLAGS   (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)
#define VM_STATE_CLOCK_FLAGS (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)

static int vm_state_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) < 0) {
		int err = errno;

		log_err("VM state: %s: %s", what, strerror(err));
		return -err;
	}
	return 0;
}

int vm_state_check(const struct vm_kvm_state *s)
{
	const struct { const struct kvm_irqchip *chip; uint32_t id; const char *name; } chips[] = {
		{ &s->pic_master, KVM_IRQCHIP_PIC_MASTER, "pic_master" },
		{ &s->pic_slave, KVM_IRQCHIP_PIC_SLAVE, "pic_slave" },
		{ &s->ioapic, KVM_IRQCHIP_IOAPIC, "ioapic" },
	};

	if (s->version != VM_STATE_VERSION) {
		log_err("VM state: version %u, this mvm reads version %u", s->version,
			VM_STATE_VERSION);
		return -EINVAL;
	}
	for (int i = 0; i < 3; i++) {
		if (chips[i].chip->chip_id != chips[i].id) {
			log_err("VM state: %s.chip_id %u, expected %u", chips[i].name,
				chips[i].chip->chip_id, chips[i].id);
			return -EINVAL;
		}
	}
	if (s->pit.flags & ~VM_STATE_PIT_FLAGS) {
		log_err("VM state: unknown bits %#x in pit.flags", s->pit.flags & ~VM_STATE_PIT_FLAGS);
		return -EINVAL;
	}
	if (s->clock.flags & ~VM_STATE_CLOCK_FLAGS) {
		log_err("VM state: unknown bits %#x in clock.flags",
			s->clock.flags & ~VM_STATE_CLOCK_FLAGS);
		return -EINVAL;
	}
	return 0;
}

int vm_state_save(int fd, struct vm_kvm_state *s)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->version = VM_STATE_VERSION;
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if ((ret = vm_state_ioctl(fd, KVM_GET_IRQCHIP, &s->pic_master, "KVM_GET_IRQCHIP (PIC master)")) ||
	    (ret = vm_state_ioctl(fd, KVM_GET_IRQCHIP, &s->pic_slave, "KVM_GET_IRQCHIP (PIC slave)")) ||
	    (ret = vm_state_ioctl(fd, KVM_GET_IRQCHIP, &s->ioapic, "KVM_GET_IRQCHIP (IOAPIC)")) ||
	    (ret = vm_state_ioctl(fd, KVM_GET_PIT2, &s->pit, "KVM_GET_PIT2")))
		return ret;
	/* Last: the clock is the one value that moves while we read the rest. */
	return vm_state_ioctl(fd, KVM_GET_CLOCK, &s->clock, "KVM_GET_CLOCK");
}

void vm_state_clock_to_set(const struct kvm_clock_data *saved, struct kvm_clock_data *out)
{
	memset(out, 0, sizeof(*out));
	out->clock = saved->clock;
	/* With KVM_CLOCK_REALTIME and the saved real time, KVM itself adds the
	 * real time elapsed since the save (and never steps the clock back);
	 * the other flags describe the saving host and are not for setting. */
	if (saved->flags & KVM_CLOCK_REALTIME) {
		out->flags = KVM_CLOCK_REALTIME;
		out->realtime = saved->realtime;
	}
}

int vm_state_restore(int fd, const struct vm_kvm_state *s)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int ret;

	if ((ret = vm_state_check(s)))
		return ret;
	/* The ioctls take non-const pointers; hand them copies. */
	chip = s->pic_master;
	if ((ret = vm_state_ioctl(fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (PIC master)")))
		return ret;
	chip = s->pic_slave;
	if ((ret = vm_state_ioctl(fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (PIC slave)")))
		return ret;
	chip = s->ioapic;
	if ((ret = vm_state_ioctl(fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (IOAPIC)")))
		return ret;
	pit = s->pit;
	if ((ret = vm_state_ioctl(fd, KVM_SET_PIT2, &pit, "KVM_SET_PIT2")))
		return ret;
	vm_state_clock_to_set(&s->clock, &clock);
	return vm_state_ioctl(fd, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
}

void vm_state_pic_bios_fill(struct kvm_pic_state *pic, int slave)
{
	/* What ICW1 0x11, ICW2 base, ICW3, ICW4 0x01 leave behind. */
	pic->irq_base = slave ? VM_PIC_BIOS_SLAVE_BASE : VM_PIC_BIOS_MASTER_BASE;
	pic->init_state = 0;      /* no ICW pending */
	pic->init4 = 1;           /* ICW4 was given: 8086 mode */
	pic->auto_eoi = 0;
	pic->rotate_on_auto_eoi = 0;
	pic->special_fully_nested_mode = 0;
	pic->special_mask = 0;
	pic->poll = 0;
	pic->read_reg_select = 0; /* OCW3 reads the IRR */
	pic->priority_add = 0;
}

int vm_state_pic_bios(int fd)
{
	struct kvm_irqchip chip[2] = {
		{ .chip_id = KVM_IRQCHIP_PIC_MASTER }, { .chip_id = KVM_IRQCHIP_PIC_SLAVE },
	};
	int ret;

	for (int i = 0; i < 2; i++) {
		if ((ret = vm_state_ioctl(fd, KVM_GET_IRQCHIP, &chip[i], "KVM_GET_IRQCHIP (PIC)")))
			return ret;
		vm_state_pic_bios_fill(&chip[i].chip.pic, i);
		if ((ret = vm_state_ioctl(fd, KVM_SET_IRQCHIP, &chip[i], "KVM_SET_IRQCHIP (PIC)")))
			return ret;
	}
	return 0;
}
