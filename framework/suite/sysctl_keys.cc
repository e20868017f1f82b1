// Which sysctl keys a test namespace can take, and the sysctl.d files and --sysctl flags that
// name them.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "nstest/netns.h"
#include "nstest/suite.h"
#include "nstest/sysctl.h"

namespace nstest {

SysctlKeyChecker::SysctlKeyChecker() = default;
SysctlKeyChecker::~SysctlKeyChecker() = default;

std::string SysctlKeyChecker::Problem(const std::string& key, bool for_newer_kernel) {
  try {
    SysctlPath(key);
  } catch (const Error& e) {
    return e.what();
  }
  if (for_newer_kernel) return "";
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  if (!probe_ && !cannot_probe_) {
    try {
      probe_ = std::make_unique<Netns>(Netns::Create("check"));
    } catch (const Error&) {
      cannot_probe_ = true;  // no privilege here: the run refuses the key instead
    }
  }
  if (cannot_probe_) return "";
  std::string path = "/proc/sys/" + SysctlPath(key);
  // -1: absent; else the file's mode inside the namespace.
  int mode = RunInNetns(*probe_, [&] {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode) : -1;
  });
  std::string problem;
  if (mode >= 0 && (mode & 0222) == 0) {
    // The kernel makes some keys read-only inside a namespace (net.core.rmem_max, ...): they
    // show the host's value, and writing them fails even for root.
    problem = fmt::format(
        "'{}' is read-only inside a network namespace (its value is the host's); it cannot be "
        "set per namespace",
        key);
  } else if (mode < 0) {
    problem = ::access(path.c_str(), F_OK) == 0
                  ? fmt::format(
                        "'{}' is not a per-namespace key (absent inside a namespace, "
                        "present on the host); refusing to change the host",
                        key)
                  : fmt::format("no sysctl '{}' on this kernel", key);
  }
  return cache_[key] = problem;
}

std::string SysctlKeyProblem(const std::string& key) { return SysctlKeyChecker().Problem(key); }

namespace {

std::pair<std::string, std::string> CheckedAssignment(const SysctlDLine& a,
                                                      SysctlKeyChecker* keys) {
  if (!a.problem.empty()) throw Error(a.problem);
  SysctlKeyChecker own;
  std::string problem = (keys != nullptr ? keys : &own)->Problem(a.key);
  if (!problem.empty()) throw Error(problem);
  return {SysctlDisplayKey(a.key), a.value};
}

}  // namespace

std::pair<std::string, std::string> ParseSysctlAssignment(const std::string& text,
                                                          SysctlKeyChecker* keys) {
  std::vector<SysctlDLine> lines = SplitSysctlD(text);
  if (lines.size() != 1 || text.find('\n') != std::string::npos) {
    throw Error(fmt::format("'{}': expected KEY=VALUE", text));
  }
  return CheckedAssignment(lines[0], keys);
}

std::vector<std::pair<std::string, std::string>> ParseSysctlFile(const std::string& path,
                                                                 SysctlKeyChecker* keys) {
  std::ifstream in(path);
  if (!in) throw SuiteError(SourcePos{path, 0, 0}, "cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSysctlText(ss.str(), path, keys);
}

std::vector<std::pair<std::string, std::string>> ParseSysctlText(const std::string& text,
                                                                 const std::string& path,
                                                                 SysctlKeyChecker* keys) {
  SysctlKeyChecker own;
  std::vector<std::pair<std::string, std::string>> out;
  for (const SysctlDLine& a : SplitSysctlD(text)) {
    try {
      out.push_back(CheckedAssignment(a, keys != nullptr ? keys : &own));
    } catch (const Error& e) {
      throw SuiteError(SourcePos{path, a.line, a.column}, e.what());
    }
  }
  return out;
}

}  // namespace nstest
