// Rootless operation: an ordinary user may create network namespaces, veth pairs and nftables
// tables, write their sysctls and capture on them, once it is root in a user namespace of its own.
#ifndef NSTEST_USERNS_H_
#define NSTEST_USERNS_H_

#include <string>

namespace nstest {

// True when this process lacks CAP_SYS_ADMIN or CAP_NET_ADMIN in its user namespace, so that
// namespaces can only be made after EnterOwnUserNamespace().
bool NeedsOwnUserNamespace();

// Moves this process into a new user namespace in which its user and group are root (uid and gid
// 0 map to the caller's; setgroups is denied), with every capability over the namespaces it then
// creates, and into a new, empty network namespace of that user namespace: its threads can enter
// test namespaces and return home, which they could not do to the host's namespace. The host's
// files keep their owners: what it writes belongs to the caller. Must be called before the process
// has threads. Throws SystemError, with what `nstest doctor` would advise:
//   "enter a user namespace: unshare(CLONE_NEWUSER | CLONE_NEWNET): Operation not permitted;
//    AppArmor restricts it (kernel.apparmor_restrict_unprivileged_userns=1): ..."
void EnterOwnUserNamespace();

}  // namespace nstest

#endif  // NSTEST_USERNS_H_
