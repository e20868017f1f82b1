#include "runner/huge_code.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace nstest {
namespace {

// The mapping of /proc/self/smaps that holds `address`: its first line and its AnonHugePages.
struct Mapping {
  std::string header;
  long anon_huge_kb = -1;
};

Mapping MappingOf(const void* address) {
  const auto at = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  Mapping m;
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream fields(line);
    if (fields >> std::hex >> start >> dash >> end && dash == '-') {
      if (inside) break;
      inside = start <= at && at < end;
      if (inside) m.header = line;
    } else if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      m.anon_huge_kb = std::stol(line.substr(14));
    }
  }
  return m;
}

int Twice(int x) { return 2 * x; }

// A constant in the program's read-only data, and a read of it the compiler cannot fold away.
const char kConstant[] = "read-only data, moved with the code";
std::string ReadConstant() {
  std::string out;
  for (const volatile char* p = kConstant; *p != 0; ++p) out += *p;
  return out;
}

TEST(HugeCodeTest, MovesTheProgramsCodeOntoAHugePageAndRunsOnFromThere) {
  const HugeCode h = MoveCodeToHugePages();  // or an earlier test in this process did
  if (!h.moved) {
    const Mapping m = MappingOf(reinterpret_cast<const void*>(&Twice));
    EXPECT_NE(m.header.find("nstest_unit_tests"), std::string::npos) << m.header;
    EXPECT_FALSE(h.why_not.empty());
    GTEST_SKIP() << "the code stays in the file's mapping: " << h.why_not;
  }
  const Mapping after = MappingOf(reinterpret_cast<const void*>(&Twice));
  // Anonymous now (no file, inode 0), at the same address.
  EXPECT_EQ(after.header.find("nstest_unit_tests"), std::string::npos) << after.header;
  EXPECT_NE(after.header.find(" 00:00 0"), std::string::npos) << after.header;
  const bool huge = after.anon_huge_kb >= 2048;
  // The read-only data, constants and the program headers the dynamic linker reads, followed
  // the code unchanged, or stayed in the file's mapping with the reason.
  for (const void* data :
       {static_cast<const void*>(kConstant), reinterpret_cast<const void*>(::getauxval(AT_PHDR))}) {
    const Mapping m = MappingOf(data);
    if (h.data_why_not.empty()) {
      EXPECT_NE(m.header.find(" 00:00 0"), std::string::npos) << m.header;
    } else {
      EXPECT_NE(m.header.find("nstest_unit_tests"), std::string::npos)
          << m.header << ": " << h.data_why_not;
    }
  }
  EXPECT_EQ(ReadConstant(), "read-only data, moved with the code");
  // The code runs on, here and in a forked child.
  volatile int x = 21;
  EXPECT_EQ(Twice(x), 42);
  EXPECT_EQ(fmt::format("{}", Twice(x)), "42");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const bool ok =
        Twice(x) == 42 && ReadConstant() == "read-only data, moved with the code" &&
        MappingOf(reinterpret_cast<const void*>(&Twice)).anon_huge_kb == after.anon_huge_kb;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Done once: a second call says the same and changes nothing.
  EXPECT_TRUE(MoveCodeToHugePages().moved);
  EXPECT_EQ(MappingOf(reinterpret_cast<const void*>(&Twice)).header, after.header);
  // The kernel may have had no free huge page (fragmented memory, or huge pages turned off for
  // this process): the code runs from 4 KiB pages then, and the point of the move is lost.
  if (!huge) GTEST_SKIP() << "moved, but onto 4 KiB pages: " << after.header;
}

}  // namespace
}  // namespace nstest
