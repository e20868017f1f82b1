#include "nstest/counters.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "nstest/error.h"
#include "src/strings.h"

namespace nstest {
namespace {

using CounterMap = std::map<std::string, int64_t, std::less<>>;

// Reads a /proc file; a missing file yields "" when `optional`.
std::string ReadProcFile(const char* path, const std::string& ns_name, bool optional) {
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (optional && errno == ENOENT) return "";
    ThrowErrno(fmt::format("read '{}' in netns '{}'", path, ns_name));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowErrno(fmt::format("read '{}' in netns '{}'", path, ns_name));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int64_t ParseValue(const std::string& text, const char* file, const std::string& name) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw Error(fmt::format("parse counter '{}' in {}: '{}' is not a number", name, file, text));
  }
  return v;
}

// netstat and snmp: pairs of lines "Prefix: Name1 Name2 ..." / "Prefix: v1 v2 ...".
void ParseHeaderValuePairs(std::string_view text, const char* file, CounterMap* out) {
  std::vector<std::string> lines = Split(text, '\n');
  for (size_t i = 0; i + 1 < lines.size(); i += 2) {
    std::vector<std::string> names = Split(NormalizeSpaces(lines[i]), ' ');
    std::vector<std::string> values = Split(NormalizeSpaces(lines[i + 1]), ' ');
    if (names.empty() || names[0].empty()) break;
    if (names.size() != values.size() || names[0] != values[0] || names[0].back() != ':') {
      throw Error(fmt::format("parse {}: line {} does not match line {}", file, i + 1, i + 2));
    }
    std::string prefix = names[0].substr(0, names[0].size() - 1);
    for (size_t k = 1; k < names.size(); ++k) {
      std::string name = prefix + names[k];
      (*out)[name] = ParseValue(values[k], file, name);
    }
  }
}

// snmp6: one "Name value" per line.
void ParseNameValueLines(std::string_view text, const char* file, CounterMap* out) {
  for (const std::string& line : Split(text, '\n')) {
    std::vector<std::string> f = Split(NormalizeSpaces(line), ' ');
    if (f.size() == 1 && f[0].empty()) continue;
    if (f.size() != 2) throw Error(fmt::format("parse {}: malformed line '{}'", file, line));
    (*out)[f[0]] = ParseValue(f[1], file, f[0]);
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

Counters Counters::Read(const Netns& ns) {
  NetnsGuard guard(ns);
  return ReadCurrent(ns.name());
}

Counters Counters::ReadCurrent(std::string netns_name) {
  std::string netstat = ReadProcFile("/proc/thread-self/net/netstat", netns_name, false);
  std::string snmp = ReadProcFile("/proc/thread-self/net/snmp", netns_name, false);
  std::string snmp6 = ReadProcFile("/proc/thread-self/net/snmp6", netns_name, true);
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
