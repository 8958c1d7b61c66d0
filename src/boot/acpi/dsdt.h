/* dsdt.h - the AML body of mvm's DSDT (internal to boot/acpi).
 *
 * Contract: acpi_dsdt_body() appends the definition block's contents (not
 * the 36-byte table header) to b: \_SB with COM1, RTC, the pvpanic device
 * and one device per cfg->mmio_devs entry, then \_S5. cfg must already be
 * validated by acpi_build(). Returns aml_finish(b): 0, -ENOSPC when b is
 * too small, -EINVAL for a value AML cannot hold.
 */
#ifndef MVM_BOOT_ACPI_DSDT_H
#define MVM_BOOT_ACPI_DSDT_H

#include "boot/acpi/acpi.h"
#include "boot/acpi/aml.h"

int acpi_dsdt_body(struct aml_buf *b, const struct acpi_cfg *cfg);

#endif
