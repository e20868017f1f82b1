#include "runner/huge_code.h"

#include <fmt/format.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace nstest {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

uintptr_t RoundUp(uintptr_t x, uintptr_t to) { return (x + to - 1) / to * to; }

// The program's executable segment, and whether another of its segments reaches into the 2 MiB
// windows the segment spans.
struct Segment {
  uintptr_t start = 0;
  size_t size = 0;
  bool crowded = false;
};

int FindCode(dl_phdr_info* info, size_t, void* data) {
  auto* code = static_cast<Segment*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type == PT_LOAD && (p.p_flags & PF_X) != 0) {
      code->start = info->dlpi_addr + p.p_vaddr;
      code->size = p.p_memsz;
    }
  }
  const uintptr_t first = code->start / kHugePage * kHugePage;
  const uintptr_t end = RoundUp(code->start + code->size, kHugePage);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type != PT_LOAD || (p.p_flags & PF_X) != 0) continue;
    const uintptr_t a = info->dlpi_addr + p.p_vaddr;
    if (a < end && a + p.p_memsz > first) code->crowded = true;
  }
  return 1;  // the first object is the program itself
}

std::string Refused(const char* what) {
  return fmt::format("the kernel refused {}: {}", what, std::strerror(errno));
}

HugeCode Move() {
#if defined(__SANITIZE_ADDRESS__)
  return {false, "a sanitizer build"};
#endif
  if (std::getenv("NSTEST_NO_HUGE_CODE") != nullptr) return {false, "NSTEST_NO_HUGE_CODE is set"};
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  if (!std::getline(thp, modes)) return {false, "the kernel has no transparent huge pages"};
  if (modes.find("[never]") != std::string::npos) {
    return {false, "transparent huge pages are disabled"};
  }
  Segment code;
  ::dl_iterate_phdr(FindCode, &code);
  if (code.size == 0) return {false, "the program has no executable segment"};
  if (code.crowded) {
    return {false,
            "the program's segments are not 2 MiB apart (link with -z max-page-size=0x200000)"};
  }
  if (code.start % kHugePage != 0) {
    return {false,
            "the kernel loaded the program's code off a 2 MiB boundary (kernels before 5.10 "
            "do not align it)"};
  }
  const size_t size = RoundUp(code.size, kHugePage);
  // The rest of the last window must be free: it becomes part of the new mapping. Holding it
  // first proves that nothing else lives there.
  const uintptr_t code_end = RoundUp(code.start + code.size, static_cast<uintptr_t>(getpagesize()));
  const size_t tail = code.start + size - code_end;
  if (tail > 0) {
    void* hold = ::mmap(reinterpret_cast<void*>(code_end), tail, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (hold == MAP_FAILED) return {false, "something else is mapped beside the program's code"};
    if (hold != reinterpret_cast<void*>(code_end)) {  // a kernel that took the address as a hint
      ::munmap(hold, tail);
      return {false, "something else is mapped beside the program's code"};
    }
  }
  auto release_tail = [&] {
    if (tail > 0) ::munmap(reinterpret_cast<void*>(code_end), tail);
  };
  // Anonymous memory aligned to a huge page, that asks for huge pages.
  void* raw =
      ::mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    HugeCode h{false, Refused("memory for the copy")};
    release_tail();
    return h;
  }
  const uintptr_t raw_start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t copy = RoundUp(raw_start, kHugePage);
  if (copy > raw_start) ::munmap(raw, copy - raw_start);
  if (raw_start + kHugePage > copy) {
    ::munmap(reinterpret_cast<void*>(copy + size), raw_start + kHugePage - copy);
  }
  auto* to = reinterpret_cast<void*>(copy);
  HugeCode h;
  if (::madvise(to, size, MADV_HUGEPAGE) != 0) {
    h.why_not = Refused("huge pages for the copy");
  } else {
    std::memcpy(to, reinterpret_cast<const void*>(code.start), code.size);
    if (::mprotect(to, size, PROT_READ | PROT_EXEC) != 0) {
      h.why_not = Refused("executable anonymous memory");
    } else if (::mremap(to, size, size, MREMAP_MAYMOVE | MREMAP_FIXED,
                        reinterpret_cast<void*>(code.start)) == MAP_FAILED) {
      // Refused before the kernel unmapped the code (bad arguments, limits), or the code is gone
      // and this process with it: moving a mapping just made, of the same size, does not fail
      // after that point but for want of memory.
      h.why_not = Refused("moving the copy in place of the code");
    } else {
      h.moved = true;
      return h;
    }
  }
  ::munmap(to, size);
  release_tail();
  return h;
}

}  // namespace

HugeCode MoveCodeToHugePages() {
  static const HugeCode once = Move();
  return once;
}

}  // namespace nstest
