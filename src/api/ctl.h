/* ctl.h - `mvm ctl`: a thin API client for people.
 *
 * Contract: ctl_main() takes the arguments after "ctl":
 *   --api-sock PATH pause|resume|stop [--grace SECONDS]|stat|config|info
 * and the hidden test helper `raw [--chunk N] [--delay-ms D] [--no-shutdown]
 * [--timeout-ms T]` (stdin goes to the socket N bytes per write, D ms apart;
 * whatever comes back goes to stdout until the server closes or T ms pass).
 * Returns the process exit status: 0 done, 1 the API refused or is not
 * there (the fault message is printed), 2 bad usage, 3 raw timed out.
 */
#ifndef MVM_API_CTL_H
#define MVM_API_CTL_H

#include <stdio.h>

int ctl_main(int argc, char **argv);
void ctl_usage(FILE *out);

#endif
