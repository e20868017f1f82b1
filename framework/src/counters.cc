#include "nstest/counters.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <string>

#include "nstest/error.h"
#include "src/proc_net.h"
#include "src/strings.h"

namespace nstest {
namespace {

using CounterMap = std::map<std::string, int64_t, std::less<>>;

// Reads one of the calling thread's namespace's /proc/net files; a missing snmp6 (no IPv6)
// yields "".
std::string ReadProcFile(ProcNetFile file, const std::string& ns_name) {
  const char* path = ProcNetThreadPath(file);
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (file == ProcNetFile::kSnmp6 && errno == ENOENT) return "";
    ThrowErrno(fmt::format("read '{}' in netns '{}'", path, ns_name));
  }
  std::string out;
  if (!ReadFromStart(fd.get(), &out))
    ThrowErrno(fmt::format("read '{}' in netns '{}'", path, ns_name));
  return out;
}

// The next whitespace-separated field of `text` from `*pos`; empty at the end of the line.
std::string_view NextField(std::string_view line, size_t* pos) {
  while (*pos < line.size() && (line[*pos] == ' ' || line[*pos] == '\t')) ++*pos;
  size_t start = *pos;
  while (*pos < line.size() && line[*pos] != ' ' && line[*pos] != '\t') ++*pos;
  return line.substr(start, *pos - start);
}

// The next line of `text` from `*pos` (without its newline).
std::string_view NextLine(std::string_view text, size_t* pos) {
  size_t end = text.find('\n', *pos);
  if (end == std::string_view::npos) end = text.size();
  std::string_view line = text.substr(*pos, end - *pos);
  *pos = std::min(text.size(), end + 1);
  return line;
}

int64_t ParseValue(std::string_view text, const char* file, std::string_view name) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw Error(fmt::format("parse counter '{}' in {}: '{}' is not a number", name, file, text));
  }
  return v;
}

// netstat and snmp: pairs of lines "Prefix: Name1 Name2 ..." / "Prefix: v1 v2 ...". Calls
// `each(prefix, name, value text)` for every counter.
template <typename Fn>
void ForEachHeaderValuePair(std::string_view text, const char* file, Fn&& each) {
  size_t pos = 0;
  for (int line = 1; pos < text.size(); line += 2) {
    std::string_view names = NextLine(text, &pos);
    std::string_view values = NextLine(text, &pos);
    size_t n = 0, v = 0;
    std::string_view prefix = NextField(names, &n);
    if (prefix.empty()) break;
    if (NextField(values, &v) != prefix || prefix.back() != ':') {
      throw Error(fmt::format("parse {}: line {} does not match line {}", file, line, line + 1));
    }
    prefix.remove_suffix(1);
    for (;;) {
      std::string_view name = NextField(names, &n);
      std::string_view value = NextField(values, &v);
      if (name.empty() != value.empty()) {
        throw Error(fmt::format("parse {}: line {} does not match line {}", file, line, line + 1));
      }
      if (name.empty()) break;
      each(prefix, name, value);
    }
  }
}

void ParseHeaderValuePairs(std::string_view text, const char* file, CounterMap* out) {
  std::string key;
  ForEachHeaderValuePair(text, file,
                         [&](std::string_view prefix, std::string_view name, std::string_view v) {
                           key.assign(prefix).append(name);
                           out->insert_or_assign(key, ParseValue(v, file, key));
                         });
}

// snmp6: one "Name value" per line.
void ParseNameValueLines(std::string_view text, const char* file, CounterMap* out) {
  for (size_t pos = 0; pos < text.size();) {
    std::string_view line = NextLine(text, &pos);
    size_t f = 0;
    std::string_view name = NextField(line, &f);
    if (name.empty()) continue;
    std::string_view value = NextField(line, &f);
    if (value.empty() || !NextField(line, &f).empty()) {
      throw Error(fmt::format("parse {}: malformed line '{}'", file, line));
    }
    out->insert_or_assign(std::string(name), ParseValue(value, file, name));
  }
}

template <typename Map>
typename Map::const_iterator Lookup(const Map& m, std::string_view name, const char* verb,
                                    const std::string& ns_name) {
  auto it = m.find(name);
  if (it != m.end()) return it;
  std::vector<std::string> names;
  names.reserve(m.size());
  for (const auto& [k, v] : m) names.push_back(k);
  std::string near = ClosestName(name, names);
  throw Error(fmt::format("{} counter '{}' in netns '{}': no such counter{}", verb, name, ns_name,
                          near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
}

}  // namespace

bool ReadFromStart(int fd, std::string* out) {
  // The files read here fit the stack buffer, of which only what the read writes is touched; a
  // larger one is read again into a buffer twice the size until it fits. No thread_local buffer:
  // registering its destructor walks every loaded library's program headers, in every new process.
  char on_stack[16384];
  std::unique_ptr<char[]> on_heap;
  char* buffer = on_stack;
  for (size_t size = sizeof(on_stack);; size *= 2) {
    if (size > sizeof(on_stack)) {
      on_heap.reset(new char[size]);  // not zeroed: only what the read writes is touched
      buffer = on_heap.get();
    }
    ssize_t n = 0;
    do {
      n = ::pread(fd, buffer, size, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return false;
    if (static_cast<size_t>(n) < size) {
      out->assign(buffer, static_cast<size_t>(n));
      return true;
    }
  }
}

std::string ReadProcNet(const Netns& ns, ProcNetFile file) {
  const char* name = ProcNetName(file);
  int fd = ns.proc_net_fd(file);
  if (fd < 0) {
    if (file == ProcNetFile::kSnmp6) return "";  // no IPv6 in this kernel or namespace
    throw Error(fmt::format("read '{}' in netns '{}': it could not be opened", name, ns.name()));
  }
  std::string out;
  if (!ReadFromStart(fd, &out)) ThrowErrno(fmt::format("read '{}' in netns '{}'", name, ns.name()));
  return out;
}

bool TcpSegmentArrived(int snmp_fd) {
  std::string snmp;
  if (snmp_fd < 0 || !ReadFromStart(snmp_fd, &snmp)) return true;  // cannot tell: assume so
  bool arrived = true;
  try {
    ForEachHeaderValuePair(snmp, "snmp",
                           [&](std::string_view prefix, std::string_view name, std::string_view v) {
                             if (prefix == "Tcp" && name == "InSegs") arrived = v != "0";
                           });
  } catch (const Error&) {
    return true;
  }
  return arrived;
}

Counters Counters::Read(const Netns& ns) {
  return Parse(ns.name(), ReadProcNet(ns, ProcNetFile::kNetstat),
               ReadProcNet(ns, ProcNetFile::kSnmp), ReadProcNet(ns, ProcNetFile::kSnmp6));
}

Counters Counters::ReadCurrent(std::string netns_name) {
  std::string netstat = ReadProcFile(ProcNetFile::kNetstat, netns_name);
  std::string snmp = ReadProcFile(ProcNetFile::kSnmp, netns_name);
  std::string snmp6 = ReadProcFile(ProcNetFile::kSnmp6, netns_name);
  return Parse(std::move(netns_name), netstat, snmp, snmp6);
}

Counters Counters::Parse(std::string netns_name, std::string_view netstat, std::string_view snmp,
                         std::string_view snmp6) {
  Counters c;
  c.netns_name_ = std::move(netns_name);
  ParseHeaderValuePairs(netstat, "netstat", &c.values_);
  ParseHeaderValuePairs(snmp, "snmp", &c.values_);
  ParseNameValueLines(snmp6, "snmp6", &c.values_);
  return c;
}

int64_t Counters::Get(std::string_view name) const {
  return Lookup(values_, name, "read", netns_name_)->second;
}

CounterDelta Counters::Since(const Counters& before) const {
  CounterMap deltas;
  for (const auto& [name, value] : values_) {
    auto it = before.values_.find(name);
    deltas[name] = value - (it == before.values_.end() ? 0 : it->second);
  }
  return CounterDelta(netns_name_, std::move(deltas));
}

CounterDelta::CounterDelta(std::string netns_name,
                           std::map<std::string, int64_t, std::less<>> deltas)
    : netns_name_(std::move(netns_name)), deltas_(std::move(deltas)) {}

int64_t CounterDelta::Get(std::string_view name) const {
  return Lookup(deltas_, name, "read delta of", netns_name_)->second;
}

std::map<std::string, int64_t> CounterDelta::Changed() const {
  std::map<std::string, int64_t> out;
  for (const auto& [name, d] : deltas_) {
    if (d != 0) out[name] = d;
  }
  return out;
}

std::string CounterDelta::ToString() const {
  std::string out;
  for (const auto& [name, d] : Changed()) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {:+d}", name, d);
  }
  return out.empty() ? "no counter changed" : out;
}

std::string CounterDelta::Summary() const {
  std::string tcp, other;
  int noise = 0;
  for (const auto& [name, d] : Changed()) {
    bool is_tcp = name.rfind("Tcp", 0) == 0;
    if (!is_tcp && (name.rfind("Icmp6", 0) == 0 ||
                    (name.rfind("Ip6", 0) == 0 && name.find("Mcast") != std::string::npos))) {
      ++noise;
      continue;
    }
    std::string& list = is_tcp ? tcp : other;
    if (!list.empty()) list += ", ";
    list += fmt::format("{} {:+d}", name, d);
  }
  if (tcp.empty() && other.empty() && noise == 0) return "no counter changed";
  std::string out = "TCP: " + (tcp.empty() ? std::string("none changed") : tcp);
  if (!other.empty()) out += "; other: " + other;
  if (noise > 0) out += fmt::format("; {} ICMPv6/IPv6-multicast counters left out", noise);
  return out;
}

}  // namespace nstest
