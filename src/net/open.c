/* open.c - net_backend_open: the one place that knows every backend kind.
 * (Apart from backend.c, so the backends include backend.h without a cycle.) */
#include "net/backend.h"
#include "net/tap.h"
#include "net/user.h"

#include <errno.h>

int net_backend_open(struct net_backend **out, const struct net_cfg *cfg)
{
	*out = NULL;
	switch (cfg->kind) {
	case NET_TAP:
		return net_tap_open(out, cfg->ifname);
	case NET_USER:
		return net_user_open(out, cfg);
	}
	return -EINVAL;
}
