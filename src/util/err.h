/* err.h - the class of a failure, recorded where it happens and carried to mvm's exit status.
 *
 * Contract: a function that fails returns -errno as always; where the
 * failure is detected, it may also say whose it is: err_usage(ret) for the
 * user's input (a bad flag, a missing or malformed file, a value out of
 * range), err_host(ret) for the host (no memory, a permission only the host
 * can grant, a resource another process holds, KVM refusing). Both return
 * ret, so a site reads `return err_usage(-EINVAL);`. The class lives per
 * thread like errno: the first one recorded since err_reset() wins, so an
 * outer function cannot overwrite what the inner one knew. The builder
 * resets it before each step and maps it to the exit status; a step that
 * reads only user input treats an unmarked failure as the user's, any
 * other step as the host's (err_class_or()). No errno value is ever
 * interpreted to guess a class. err_exit_status() is the one place a class
 * becomes an exit status: 2 for the user's, 1 for the host's (mvm's
 * MVM_EXIT_USAGE and MVM_EXIT_HOST, core/vmstop.h, and mvm jail's own).
 */
#ifndef MVM_UTIL_ERR_H
#define MVM_UTIL_ERR_H

#define ERR_EXIT_HOST  1
#define ERR_EXIT_USAGE 2

enum err_class {
	ERR_UNSET = 0,
	ERR_USAGE,   /* the user's input: exit status 2 */
	ERR_HOST,    /* the host or mvm itself: exit status 1 */
};

int err_usage(int ret);
int err_host(int ret);
void err_reset(void);
enum err_class err_class(void);
/* bind, then listen (backlog 1); -1 with errno. A refused bind (the port
 * taken, an address not this host's, a socket's folder missing) is marked
 * the user's, a failed listen the host's: the one rule of --gdb and
 * --incoming. (struct sockaddr is only named here.) */
struct sockaddr;
int err_bind_listen(int fd, const struct sockaddr *sa, unsigned len);
/* The recorded class, or fallback when none was. */
enum err_class err_class_or(enum err_class fallback);
/* The exit status of the recorded class, or of fallback when none was:
 * ERR_EXIT_USAGE or ERR_EXIT_HOST. */
int err_exit_status(enum err_class fallback);

#endif
