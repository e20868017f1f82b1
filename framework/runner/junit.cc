#include "nstest/junit.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <pugixml.hpp>
#include <sstream>

#include "nstest/error.h"
#include "nstest/fd.h"

namespace nstest {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if it is invalid.
size_t Utf8Length(const std::string& s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t v;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    n = 2;
    v = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    v = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    v = v << 6 | (b(i + k) & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return 0;
  *cp = v;
  return n;
}

bool XmlChar(uint32_t cp) {
  return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
         (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

void AddCdata(pugi::xml_node parent, const std::string& text) {
  // pugixml writes "]]>" inside CDATA as "]]]]><![CDATA[>", which keeps the section valid.
  parent.append_child(pugi::node_cdata).set_value(SanitizeXmlText(text).c_str());
}

// The text of an element, across the CDATA sections AddCdata() may have split it into.
std::string TextOf(pugi::xml_node n) {
  std::string out;
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_cdata || c.type() == pugi::node_pcdata) out += c.value();
  }
  return out;
}

void Attr(pugi::xml_node n, const char* name, const std::string& value) {
  n.append_attribute(name).set_value(SanitizeXmlText(value).c_str());
}

}  // namespace

const std::string* FindProperty(const std::vector<std::pair<std::string, std::string>>& properties,
                                const std::string& key) {
  for (const auto& [k, v] : properties) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string SanitizeXmlText(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t n = Utf8Length(text, i, &cp);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
      continue;
    }
    if (XmlChar(cp)) {
      out.append(text, i, n);
    } else {
      out += fmt::format("\\x{:02x}", cp);
    }
    i += n;
  }
  return out;
}

std::string RenderJUnit(const std::vector<JUnitSuite>& suites) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("testsuites");
  int total = 0, failures = 0, errors = 0;
  double total_time = 0;
  for (const JUnitSuite& s : suites) {
    int f = 0, e = 0, sk = 0;
    double t = 0;
    for (const JUnitCase& c : s.cases) {
      f += c.status == CaseStatus::kFailed;
      e += c.status == CaseStatus::kError;
      sk += c.status == CaseStatus::kSkipped;
      t += c.seconds;
    }
    pugi::xml_node suite = root.append_child("testsuite");
    Attr(suite, "name", s.name);
    Attr(suite, "tests", std::to_string(s.cases.size()));
    Attr(suite, "failures", std::to_string(f));
    Attr(suite, "errors", std::to_string(e));
    Attr(suite, "skipped", std::to_string(sk));
    Attr(suite, "time", fmt::format("{:.3f}", t));
    if (!s.timestamp.empty()) Attr(suite, "timestamp", s.timestamp);
    if (!s.hostname.empty()) Attr(suite, "hostname", s.hostname);
    if (!s.file.empty()) Attr(suite, "file", s.file);
    pugi::xml_node props = suite.append_child("properties");
    for (const auto& [k, v] : s.properties) {
      pugi::xml_node p = props.append_child("property");
      Attr(p, "name", k);
      Attr(p, "value", v);
    }
    for (const JUnitCase& c : s.cases) {
      for (const auto& [k, v] : c.properties) {
        pugi::xml_node p = props.append_child("property");
        Attr(p, "name", c.name + "." + k);
        Attr(p, "value", v);
      }
    }
    for (const JUnitCase& c : s.cases) {
      pugi::xml_node tc = suite.append_child("testcase");
      Attr(tc, "name", c.name);
      Attr(tc, "classname", c.classname.empty() ? s.name : c.classname);
      Attr(tc, "time", fmt::format("{:.3f}", c.seconds));
      if (c.status != CaseStatus::kPassed) {
        pugi::xml_node r = tc.append_child(InfoOf(c.status).junit);
        Attr(r, "message", c.message);
        if (c.status != CaseStatus::kSkipped) {
          Attr(r, "type", c.status == CaseStatus::kFailed ? "AssertionError" : "Error");
        }
        if (!c.detail.empty()) AddCdata(r, c.detail);
      }
      if (!c.system_out.empty()) AddCdata(tc.append_child("system-out"), c.system_out);
    }
    total += static_cast<int>(s.cases.size());
    failures += f;
    errors += e;
    total_time += t;
  }
  Attr(root, "tests", std::to_string(total));
  Attr(root, "failures", std::to_string(failures));
  Attr(root, "errors", std::to_string(errors));
  Attr(root, "time", fmt::format("{:.3f}", total_time));
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

void WriteFileAtomically(const std::string& path, const std::string& text,
                         const std::string& what) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) ThrowErrno(fmt::format("write {} '{}'", what, path));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      ThrowSystemError(fmt::format("write {} '{}'", what, path), err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ThrowSystemError(fmt::format("write {} '{}'", what, path), err);
  }
}

std::vector<JUnitSuite> ReadJUnit(const std::string& path) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_file(path.c_str());
  if (!parsed) {
    throw Error(fmt::format("read JUnit report '{}': {} (at byte {})", path, parsed.description(),
                            parsed.offset));
  }
  pugi::xml_node root = doc.child("testsuites");
  if (!root) root = doc;  // a lone <testsuite>
  std::vector<JUnitSuite> out;
  for (pugi::xml_node ts : root.children("testsuite")) {
    JUnitSuite s;
    s.name = ts.attribute("name").as_string();
    s.file = ts.attribute("file").as_string();
    s.timestamp = ts.attribute("timestamp").as_string();
    s.hostname = ts.attribute("hostname").as_string();
    for (pugi::xml_node tc : ts.children("testcase")) {
      JUnitCase c;
      c.name = tc.attribute("name").as_string();
      c.classname = tc.attribute("classname").as_string();
      c.seconds = tc.attribute("time").as_double();
      for (const CaseStatusInfo& i : kCaseStatuses) {
        pugi::xml_node r = *i.junit != '\0' ? tc.child(i.junit) : pugi::xml_node();
        if (!r) continue;
        c.status = i.status;
        c.message = r.attribute("message").as_string();
        c.detail = TextOf(r);
      }
      c.system_out = TextOf(tc.child("system-out"));
      s.cases.push_back(std::move(c));
    }
    // A property belongs to the case whose name is the longest prefix of it before a '.'.
    for (pugi::xml_node p : ts.child("properties").children("property")) {
      std::string name = p.attribute("name").as_string();
      std::string value = p.attribute("value").as_string();
      JUnitCase* owner = nullptr;
      for (JUnitCase& c : s.cases) {
        if (name.size() > c.name.size() && name.compare(0, c.name.size(), c.name) == 0 &&
            name[c.name.size()] == '.' &&
            (owner == nullptr || c.name.size() > owner->name.size())) {
          owner = &c;
        }
      }
      if (owner != nullptr) {
        owner->properties.emplace_back(name.substr(owner->name.size() + 1), value);
      } else {
        s.properties.emplace_back(name, value);
      }
    }
    out.push_back(std::move(s));
  }
  if (out.empty() && !doc.child("testsuites") && !doc.child("testsuite")) {
    throw Error(
        fmt::format("read JUnit report '{}': no <testsuites> or <testsuite> element", path));
  }
  return out;
}

void WriteJUnit(const std::string& path, const std::vector<JUnitSuite>& suites) {
  WriteFileAtomically(path, RenderJUnit(suites), "JUnit report");
}

}  // namespace nstest
