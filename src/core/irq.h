/* irq.h - how a device raises an interrupt line without knowing about KVM.
 *
 * Contract: a device holds a struct irq_line given by the builder and calls
 * irq_line_set(line, 1/0) to report the level of its interrupt output. For
 * edge-triggered ISA lines the in-kernel IOAPIC/PIC see the rising edge.
 * The VM backs this with KVM_IRQ_LINE; unit tests back it with a recorder.
 */
#ifndef MVM_CORE_IRQ_H
#define MVM_CORE_IRQ_H

#include <stdint.h>

struct irq_line {
	void (*set)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line && line->set)
		line->set(line->ctx, line->gsi, level);
}

#endif
