/* virtio.h - virtio 1.2 constants shared by the transport, the virtqueue and
 * every device: device IDs, status bits, feature bits, descriptor flags.
 * Numbers only; no behaviour. (virtio 1.2 spec sections 2.1, 2.7, 5, 6.) */
#ifndef MVM_VIRTIO_VIRTIO_H
#define MVM_VIRTIO_VIRTIO_H

#include <stdint.h>

/* Device IDs (spec 5). */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4
#define VIRTIO_ID_BALLOON 5

/* Device status bits (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE  0x01
#define VIRTIO_STATUS_DRIVER       0x02
#define VIRTIO_STATUS_DRIVER_OK    0x04
#define VIRTIO_STATUS_FEATURES_OK  0x08
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

/* Transport and ring feature bits (spec 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_BIT(b) (1ULL << (b))

/* Split virtqueue layout (spec 2.7). All fields little-endian; x86 is. */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct virtq_avail {            /* followed by used_event (EVENT_IDX) */
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
} __attribute__((packed));

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct virtq_used {             /* followed by avail_event (EVENT_IDX) */
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
} __attribute__((packed));

#endif
