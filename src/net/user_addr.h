/* user_addr.h - the addresses of user-mode networking's 10.0.2.0/24 network.
 *
 * Contract: constants only, in host byte order, shared by the --net parser
 * (backend.c: hostfwd's default guest address) and the slirp backend.
 */
#ifndef MVM_NET_USER_ADDR_H
#define MVM_NET_USER_ADDR_H

#define NET_USER_NETWORK    0x0a000200u  /* 10.0.2.0/24 */
#define NET_USER_NETMASK    0xffffff00u
#define NET_USER_HOST_ADDR  0x0a000202u  /* 10.0.2.2: the gateway and the host */
#define NET_USER_DNS_ADDR   0x0a000203u  /* 10.0.2.3 */
#define NET_USER_GUEST_ADDR 0x0a00020fu  /* 10.0.2.15: first DHCP lease */

#endif
