/* udpflood.c - a guest tool of tests/linux (net-user-flood): one UDP datagram from each of N
 * source ports, as a guest trying to make user networking open a host socket per flow.
 *
 * Usage: udpflood ADDR PORT N FIRST-SOURCE-PORT
 * Prints MVM-UDPFLOOD-SENT-<datagrams sent> at the end. Built static (cc -static) on the
 * host: the reference guest has only busybox, which opens one flow per process. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	long n, first, sent = 0;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "usage: udpflood ADDR PORT N FIRST-SOURCE-PORT\n");
		return 2;
	}
	dst.sin_port = htons((uint16_t)atoi(argv[2]));
	n = atol(argv[3]);
	first = atol(argv[4]);
	for (long i = 0; i < n && first + i < 65536; i++) {
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_port = htons((uint16_t)(first + i)) };
		int s = socket(AF_INET, SOCK_DGRAM, 0);

		if (s < 0)
			break;
		if (bind(s, (struct sockaddr *)&src, sizeof(src)) == 0 &&
		    sendto(s, "mvm", 3, 0, (struct sockaddr *)&dst, sizeof(dst)) == 3)
			sent++;
		close(s);
		/* Let the NIC's queue drain now and then: a full one drops
		 * (sendto still succeeds), and each datagram should reach mvm. */
		if (i % 16 == 15)
			usleep(10000);
	}
	printf("MVM-UDPFLOOD-SENT-%ld\n", sent);
	return 0;
}
