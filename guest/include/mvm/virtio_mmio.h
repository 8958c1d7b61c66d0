/* mvm/virtio_mmio.h - virtio-mmio register offsets and values, shared by mvm and the guest SDK.
 *
 * Contract: the numbers of the virtio-mmio transport, version 2 (virtio 1.2
 * spec 4.2.2), as mvm's transport (src/virtio/mmio.c) serves them and tiny
 * guests drive them. Offsets are from the start of a device's 4 KiB window;
 * every register is 32 bits wide. Macros only, no includes: usable from
 * mvm and from -ffreestanding -nostdlib guests alike.
 */
#ifndef MVM_GUEST_VIRTIO_MMIO_H
#define MVM_GUEST_VIRTIO_MMIO_H

/* Register offsets. */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100 /* device-specific config space */

/* Register values. */
#define VIRTIO_MMIO_MAGIC      0x74726976 /* MagicValue: "virt" */
#define VIRTIO_MMIO_MVM_VENDOR 0x004d564d /* VendorID mvm reports: "MVM" as little-endian bytes */

/* InterruptStatus / InterruptACK bits. */
#define VIRTIO_MMIO_INT_VRING  0x1 /* a used buffer was added to a queue */
#define VIRTIO_MMIO_INT_CONFIG 0x2 /* the config space changed */

#endif
