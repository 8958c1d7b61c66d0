/* kvm-anchor.c - hold one idle KVM vCPU for the test host VM's whole life.
 *
 * Why: every KVM vCPU is created with its local APIC software-disabled, and
 * KVM counts such vCPUs in a static key (apic_sw_disabled). Each time the
 * count goes 0 -> 1 or back (a test VM starts, its guest enables the APIC,
 * it exits) the test host's kernel live-patches its own code with int3
 * breakpoints and cross-CPU IPIs. Under QEMU's multi-threaded TCG the test
 * host has hung twice with one CPU inside exc_int3 and the other in
 * __schedule, both with interrupts off. A vCPU that exists and never runs
 * keeps the count above zero, so test VMs never flip the key.
 *
 * Started in the background by the test host's /init; exits only with it.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);

	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0 || ioctl(vm, KVM_CREATE_VCPU, 0) < 0) {
		perror("kvm-anchor");
		return 1;
	}
	for (;;)
		pause();
}
