#include "nstest/sysctl.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "nstest/error.h"
#include "src/strings.h"

namespace nstest {
namespace {

constexpr size_t kMaxKeyLength = 256;
constexpr size_t kMaxValueLength = 4096;

bool KeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || c == '@';
}

std::string ProcPath(std::string_view key) { return "/proc/sys/" + SysctlPath(key); }

// Reads a whole sysctl file through an open descriptor; sysctl files are small.
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowErrno("read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return NormalizeSpaces(out);
}

// Suggests a sibling of the missing last component, if one is close.
std::string Suggestion(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = path.substr(0, slash);
  std::string leaf = path.substr(slash + 1);
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::string near = ClosestName(leaf, names);
  if (near.empty()) return "";
  std::string key = SysctlDisplayKey(dir.substr(sizeof("/proc/sys/") - 1) + "/" + near);
  return fmt::format("; did you mean '{}'?", key);
}

bool ExistsOnHost(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Opens `path` inside the namespace. Must be called with the guard held: /proc/sys/net resolves
// against the opening thread's namespace.
Fd OpenInNetns(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  return Fd(fd);
}

}  // namespace

std::string SysctlPath(std::string_view key) {
  auto bad = [&](const std::string& why) -> std::string {
    throw Error(fmt::format("check sysctl key '{}': {}", key, why));
  };
  if (key.empty()) return bad("empty key");
  if (key.size() > kMaxKeyLength) return bad("longer than 256 characters");
  char sep = key.find('/') != std::string_view::npos ? '/' : '.';
  std::vector<std::string> parts = Split(key, sep);
  for (const std::string& p : parts) {
    if (p.empty()) return bad("empty component");
    if (p == "." || p == "..") return bad("'.' and '..' are not allowed");
    for (char c : p) {
      if (!KeyChar(c)) return bad(fmt::format("character '{}' is not allowed", Printable(c)));
    }
  }
  if (parts[0] != "net") return bad("only net.* keys can be set per namespace");
  if (parts.size() < 3) return bad("not a key: net.<group>.<name> expected");
  return Join(parts, '/');
}

std::string SysctlDisplayKey(std::string_view key) {
  if (key.find('/') == std::string_view::npos) return std::string(key);
  return Join(Split(key, '/'), '.');
}

std::string SetSysctl(Netns& ns, std::string_view key, std::string_view value) {
  std::string path = ProcPath(key);
  std::string shown = SysctlDisplayKey(key);
  std::string what = fmt::format("set sysctl '{}' in netns '{}'", shown, ns.name());
  if (value.size() > kMaxValueLength) throw Error(what + ": value longer than 4096 bytes");
  for (char c : value) {
    if (c == '\n' || c == '\0') throw Error(what + ": value contains a newline or NUL");
  }
  bool on_host = ExistsOnHost(path);
  std::string want = NormalizeSpaces(value);
  std::string got;
  {
    NetnsGuard guard(ns);
    Fd fd = OpenInNetns(path, O_RDWR);
    if (!fd) {
      int err = errno;
      if (err == ENOENT && on_host) {
        throw Error(what +
                    ": not a per-namespace key (absent inside the namespace, present on the host); "
                    "refusing to change the host");
      }
      if (err == ENOENT) throw Error(what + ": no such key" + Suggestion(path));
      if (err == EACCES || err == EPERM) {
        throw Error(what +
                    ": read-only inside the namespace (the kernel shares it with the host "
                    "or fixes it); refusing");
      }
      ThrowSystemError(what, err);
    }
    if (::write(fd.get(), want.data(), want.size()) < 0) {
      ThrowSystemError(fmt::format("{} to '{}'", what, want), errno);
    }
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) ThrowErrno(what + ": rewind");
    got = ReadAll(fd.get());
  }
  if (got != want) {
    throw Error(fmt::format("{}: wrote '{}' but the kernel reads back '{}'", what, want, got));
  }
  ns.RecordSysctl(shown, got);
  return got;
}

std::string GetSysctl(const Netns& ns, std::string_view key) {
  if (std::optional<std::string> value = FindSysctl(ns, key)) return *value;
  NetnsGuard guard(ns);  // near names as the namespace has them
  throw Error(fmt::format("read sysctl '{}' in netns '{}': no such key in this namespace{}",
                          SysctlDisplayKey(key), ns.name(), Suggestion(ProcPath(key))));
}

std::optional<std::string> FindSysctl(const Netns& ns, std::string_view key) {
  std::string path = ProcPath(key);
  NetnsGuard guard(ns);
  Fd fd = OpenInNetns(path, O_RDONLY);
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    ThrowErrno(fmt::format("read sysctl '{}' in netns '{}'", SysctlDisplayKey(key), ns.name()));
  }
  return ReadAll(fd.get());
}

std::string GetCurrentSysctl(std::string_view key) {
  std::string path = ProcPath(key);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) ThrowErrno(fmt::format("read sysctl '{}'", SysctlDisplayKey(key)));
  return ReadAll(fd.get());
}

std::vector<SysctlComparison> CompareWithHost(const Netns& ns,
                                              const std::vector<std::string>& keys) {
  std::vector<SysctlComparison> out;
  for (const std::string& key : keys) {
    SysctlComparison c{SysctlDisplayKey(key), GetSysctl(ns, key), ""};
    try {
      c.host_value = GetCurrentSysctl(key);
    } catch (const SystemError&) {
      // Unreadable on the host (e.g. inside a restricted container): shown as empty.
    }
    out.push_back(std::move(c));
  }
  return out;
}

const std::vector<std::string>& ListenPathSysctls() {
  static const std::vector<std::string> keys = {
      "net.core.somaxconn",          "net.ipv4.tcp_max_syn_backlog",
      "net.ipv4.tcp_syncookies",     "net.ipv4.tcp_abort_on_overflow",
      "net.ipv4.tcp_synack_retries", "net.ipv4.tcp_syn_retries",
      "net.ipv4.ip_forward",         "net.ipv4.conf.all.forwarding",
  };
  return keys;
}

std::vector<SysctlDLine> SplitSysctlD(std::string_view text) {
  std::vector<SysctlDLine> out;
  uint32_t n = 0;
  for (const std::string& whole : Split(text, '\n')) {
    std::string_view line = whole;
    ++n;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#' || line[first] == ';') continue;
    std::string_view body = line.substr(first);
    auto column = static_cast<uint32_t>(first) + 1;
    if (body[0] == '-') {  // "ignore errors" prefix; the key is still checked
      body.remove_prefix(1);
      ++column;
    }
    SysctlDLine a;
    a.line = n;
    a.column = column;
    size_t eq = body.find('=');
    if (eq == std::string_view::npos) {
      a.problem = fmt::format("'{}': expected KEY=VALUE", NormalizeSpaces(body));
    } else {
      a.key = NormalizeSpaces(body.substr(0, eq));
      a.value = NormalizeSpaces(body.substr(eq + 1));
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace nstest
