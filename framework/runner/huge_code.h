// The program's own code on transparent huge pages, for the processes the runner forks.
//
// A case's process runs a few hundred pages of nstest's code. A fork copies no page-table entry
// of a file mapping, so each new process faults its code in again, and where page tables are
// dear (a virtual machine that shadows them, as the development machine does) every page a new
// process touches has a price of its own, about 4 us, even one whose entry the fork copied. On a
// 2 MiB page all that code is one entry, copied with the rest of the process's anonymous memory.
#ifndef NSTEST_RUNNER_HUGE_CODE_H_
#define NSTEST_RUNNER_HUGE_CODE_H_

#include <string>

namespace nstest {

struct HugeCode {
  bool moved = false;   // the code runs from anonymous memory that asked for huge pages
  std::string why_not;  // if not: why it stayed where it was
  // If the code moved: why a read-only data segment stayed where it was, or "" if none did.
  std::string data_why_not;
};

// Copies the program's code (its executable PT_LOAD segment) into anonymous memory that asks for
// transparent huge pages, and puts the copy in place of the file's mapping (mremap), at the same
// addresses: the code runs on unchanged. Its other read-only segments (constants, unwind tables,
// the headers the dynamic linker reads) follow it the same way where they can, and stay where they
// are where they cannot (`data_why_not` says why). Processes forked afterwards inherit it. Done
// once in a process; later calls return what the first did. The code stays where it was, with the
// reason, if:
// - the program was not linked with its segments 2 MiB apart (`-z max-page-size=0x200000`, as the
//   `nstest` executable is), or something else is mapped in the 2 MiB windows of its code;
// - transparent huge pages are disabled, or the kernel refuses executable anonymous memory;
// - this is a sanitizer build, or NSTEST_NO_HUGE_CODE is set (profilers name a function by its
//   file's mapping, which the copy no longer is).
// Call it while no other thread runs.
HugeCode MoveCodeToHugePages();

}  // namespace nstest

#endif  // NSTEST_RUNNER_HUGE_CODE_H_
