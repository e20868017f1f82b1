// A namespace's /proc/net files, read through the descriptors its Netns holds.
#ifndef NSTEST_SRC_PROC_NET_H_
#define NSTEST_SRC_PROC_NET_H_

#include <string>

#include "nstest/netns.h"

namespace nstest {

// The file's path as seen from inside the calling thread's namespace, and as messages name it.
inline const char* ProcNetThreadPath(ProcNetFile file) {
  static const char* const kPaths[] = {"/proc/thread-self/net/netstat",
                                       "/proc/thread-self/net/snmp", "/proc/thread-self/net/snmp6"};
  return kPaths[static_cast<int>(file)];
}
inline const char* ProcNetName(ProcNetFile file) {
  static const char* const kNames[] = {"/proc/net/netstat", "/proc/net/snmp", "/proc/net/snmp6"};
  return kNames[static_cast<int>(file)];
}

// Reads all of an open /proc file from its start, in one read: the kernel makes the whole text
// afresh for a read at offset 0, so one read is one consistent snapshot. A second read at the
// offset where the first ended would continue a text the descriptor's other readers (threads of
// the case, a duplicate of the descriptor) may have made afresh meanwhile, with other lengths:
// torn lines. A buffer that comes back full is doubled and the read done again. The read goes
// into a buffer on the stack (on the heap when the text is larger) and `out` gets the text's own
// size: a string sized for the read would keep 16 KiB, zeroed, wherever the text is kept (six texts
// a case, each page of them a page fault). False on a read error.
bool ReadFromStart(int fd, std::string* out);

// The whole file; "" for snmp6 where the namespace has none. Throws SystemError.
std::string ReadProcNet(const Netns& ns, ProcNetFile file);

// Whether any TCP segment has arrived in the namespace whose /proc/net/snmp `snmp_fd` is (its Tcp
// InSegs is not 0); true when that cannot be read. Until one has, the namespace can hold no
// request socket (SYN-RECV): each starts with a SYN that arrived.
bool TcpSegmentArrived(int snmp_fd);

}  // namespace nstest

#endif  // NSTEST_SRC_PROC_NET_H_
