#include "runner/huge_code.h"

#include <fmt/format.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

namespace nstest {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

uintptr_t RoundUp(uintptr_t x, uintptr_t to) { return (x + to - 1) / to * to; }

// One of the program's read-only segments: where it lies, how it is protected, and whether
// another of the program's segments reaches into the 2 MiB windows it spans.
struct Segment {
  uintptr_t start = 0;
  size_t size = 0;
  int prot = PROT_READ;
  bool crowded = false;
};

// The program's read-only segments (its code, constants and unwind tables; the headers the dynamic
// linker reads), the executable one first. A fixed array: nothing may allocate while glibc holds
// its loader lock for this callback.
struct ReadOnlySegments {
  std::array<Segment, 8> list{};
  size_t count = 0;
};

int FindReadOnlySegments(dl_phdr_info* info, size_t, void* data) {
  auto* segments = static_cast<ReadOnlySegments*>(data);
  for (int i = 0; i < info->dlpi_phnum && segments->count < segments->list.size(); ++i) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type != PT_LOAD || (p.p_flags & PF_W) != 0) continue;
    Segment s;
    s.start = info->dlpi_addr + p.p_vaddr;
    s.size = p.p_memsz;
    s.prot = PROT_READ | ((p.p_flags & PF_X) != 0 ? PROT_EXEC : 0);
    const uintptr_t first = s.start / kHugePage * kHugePage;
    const uintptr_t end = RoundUp(s.start + s.size, kHugePage);
    for (int j = 0; j < info->dlpi_phnum; ++j) {
      const ElfW(Phdr)& q = info->dlpi_phdr[j];
      if (j == i || q.p_type != PT_LOAD) continue;
      const uintptr_t a = info->dlpi_addr + q.p_vaddr;
      if (a < end && a + q.p_memsz > first) s.crowded = true;
    }
    segments->list[segments->count++] = s;
    if ((s.prot & PROT_EXEC) != 0)
      std::swap(segments->list[0], segments->list[segments->count - 1]);
  }
  return 1;  // the first object is the program itself
}

std::string Refused(const char* what) {
  return fmt::format("the kernel refused {}: {}", what, std::strerror(errno));
}

// Why `s` cannot be moved, or "" if it can. `what` names it: "code", "read-only data".
std::string CannotMove(const Segment& s, const char* what) {
  if (s.crowded) {
    return "the program's segments are not 2 MiB apart (link with -z max-page-size=0x200000)";
  }
  if (s.start % kHugePage != 0) {
    return fmt::format(
        "the kernel loaded the program's {} off a 2 MiB boundary (kernels before 5.10 do not "
        "align it)",
        what);
  }
  return "";
}

// Puts a copy of `s` on anonymous memory that asks for huge pages in place of its file mapping.
// "" if done, else why not; `s` is then as it was.
std::string MoveSegment(const Segment& s, const char* what) {
  if (std::string why = CannotMove(s, what); !why.empty()) return why;
  const size_t size = RoundUp(s.size, kHugePage);
  // The rest of the last window must be free: it becomes part of the new mapping. Holding it
  // first proves that nothing else lives there.
  const uintptr_t s_end = RoundUp(s.start + s.size, static_cast<uintptr_t>(getpagesize()));
  const size_t tail = s.start + size - s_end;
  if (tail > 0) {
    void* hold = ::mmap(reinterpret_cast<void*>(s_end), tail, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    const std::string crowded =
        fmt::format("something else is mapped beside the program's {}", what);
    if (hold == MAP_FAILED) return crowded;
    if (hold != reinterpret_cast<void*>(s_end)) {  // a kernel that took the address as a hint
      ::munmap(hold, tail);
      return crowded;
    }
  }
  auto release_tail = [&] {
    if (tail > 0) ::munmap(reinterpret_cast<void*>(s_end), tail);
  };
  // Anonymous memory aligned to a huge page, that asks for huge pages.
  void* raw =
      ::mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    std::string why = Refused("memory for the copy");
    release_tail();
    return why;
  }
  const uintptr_t raw_start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t copy = RoundUp(raw_start, kHugePage);
  if (copy > raw_start) ::munmap(raw, copy - raw_start);
  if (raw_start + kHugePage > copy) {
    ::munmap(reinterpret_cast<void*>(copy + size), raw_start + kHugePage - copy);
  }
  auto* to = reinterpret_cast<void*>(copy);
  std::string why;
  if (::madvise(to, size, MADV_HUGEPAGE) != 0) {
    why = Refused("huge pages for the copy");
  } else {
    std::memcpy(to, reinterpret_cast<const void*>(s.start), s.size);
    if (::mprotect(to, size, s.prot) != 0) {
      why = Refused((s.prot & PROT_EXEC) != 0 ? "executable anonymous memory"
                                              : "read-only anonymous memory");
    } else if (::mremap(to, size, size, MREMAP_MAYMOVE | MREMAP_FIXED,
                        reinterpret_cast<void*>(s.start)) == MAP_FAILED) {
      // Refused before the kernel unmapped the segment (bad arguments, limits), or the segment
      // is gone and this process with it: moving a mapping just made, of the same size, does not
      // fail after that point but for want of memory.
      why = Refused("moving the copy in place of the mapping");
    } else {
      return "";
    }
  }
  ::munmap(to, size);
  release_tail();
  return why;
}

// The code stays where it is, for `why`.
HugeCode Stays(std::string why) {
  HugeCode h;
  h.why_not = std::move(why);
  return h;
}

HugeCode Move() {
#if defined(__SANITIZE_ADDRESS__)
  return Stays("a sanitizer build");
#endif
  if (std::getenv("NSTEST_NO_HUGE_CODE") != nullptr) return Stays("NSTEST_NO_HUGE_CODE is set");
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  if (!std::getline(thp, modes)) return Stays("the kernel has no transparent huge pages");
  if (modes.find("[never]") != std::string::npos) {
    return Stays("transparent huge pages are disabled");
  }
  ReadOnlySegments segments;
  ::dl_iterate_phdr(FindReadOnlySegments, &segments);
  if (segments.count == 0 || (segments.list[0].prot & PROT_EXEC) == 0) {
    return Stays("the program has no executable segment");
  }
  if (std::string why = MoveSegment(segments.list[0], "code"); !why.empty()) return Stays(why);
  // The code has moved; the read-only data follows where it can, or stays where it is.
  HugeCode h;
  h.moved = true;
  for (size_t i = 1; i < segments.count; ++i) {
    std::string why = MoveSegment(segments.list[i], "read-only data");
    if (!why.empty() && h.data_why_not.empty()) h.data_why_not = why;
  }
  return h;
}

}  // namespace

HugeCode MoveCodeToHugePages() {
  static const HugeCode once = Move();
  return once;
}

}  // namespace nstest
