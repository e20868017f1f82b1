#include "nstest/html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "nstest/compare.h"
#include "src/strings.h"

namespace nstest {
namespace {

constexpr size_t kMaxLog = 64 * 1024;

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const std::string* Property(const JUnitCase& c, const std::string& key) {
  for (const auto& [k, v] : c.properties) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<std::string> Pieces(const std::string& text, char sep) {
  std::vector<std::string> out;
  for (std::string& p : Split(text, sep)) {
    if (!p.empty()) out.push_back(std::move(p));
  }
  return out;
}

// One packet of a capture property: "t_us from to flags src:sport>dst:dport payload".
struct Arrow {
  long us = 0;
  std::string from, to, flags, ends;
  long payload = 0;
};

std::vector<Arrow> Arrows(const std::string& encoded) {
  std::vector<Arrow> out;
  for (const std::string& line : Pieces(encoded, ';')) {
    std::istringstream in(line);
    Arrow a;
    if (in >> a.us >> a.from >> a.to >> a.flags >> a.ends >> a.payload) out.push_back(a);
  }
  return out;
}

// The packet ladder: a lane per namespace ("-": an address of no namespace, e.g. the spoofed
// sources of `syns`), an arrow per packet, top to bottom; retransmissions and RSTs marked.
std::string Ladder(const std::string& name, const std::string& encoded, const std::string& count) {
  std::vector<Arrow> arrows = Arrows(encoded);
  std::vector<std::string> lanes;
  for (const Arrow& a : arrows) {
    for (const std::string& l : {a.from, a.to}) {
      if (std::find(lanes.begin(), lanes.end(), l) == lanes.end()) lanes.push_back(l);
    }
  }
  std::string out = fmt::format("<h3>Capture '{}': {} packets</h3>\n", Escape(name), Escape(count));
  if (static_cast<size_t>(std::atol(count.c_str())) > arrows.size()) {
    out += fmt::format("<p class=\"note\">The ladder shows the first {} of {} packets.</p>\n",
                       arrows.size(), Escape(count));
  }
  constexpr int kLeft = 90, kLane = 220, kRow = 18, kTop = 30;
  int width = kLeft + kLane * static_cast<int>(std::max<size_t>(lanes.size(), 2)) + 40;
  int height = kTop + kRow * static_cast<int>(arrows.size()) + 20;
  out += fmt::format("<svg class=\"ladder\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\">\n",
                     width, height, width, height);
  auto x_of = [&](const std::string& lane) {
    auto i = std::find(lanes.begin(), lanes.end(), lane) - lanes.begin();
    return kLeft + kLane / 2 + kLane * static_cast<int>(i);
  };
  for (const std::string& l : lanes) {
    out += fmt::format(
        "<text x=\"{}\" y=\"16\" class=\"lane\">{}</text><line x1=\"{}\" y1=\"22\" x2=\"{}\" "
        "y2=\"{}\" class=\"lane\"/>\n",
        x_of(l), l == "-" ? "elsewhere" : Escape(l), x_of(l), x_of(l), height - 4);
  }
  std::set<std::string> seen;  // a SYN or SYN-ACK seen before on the same ends: a retransmission
  for (size_t i = 0; i < arrows.size(); ++i) {
    const Arrow& a = arrows[i];
    int y = kTop + kRow * static_cast<int>(i) + kRow / 2;
    bool syn = a.flags.find('S') != std::string::npos;
    bool retrans = syn && !seen.insert(a.ends + a.flags).second;
    bool rst = a.flags.find('R') != std::string::npos;
    std::string cls = rst ? "rst" : retrans ? "retrans" : syn ? "syn" : "other";
    std::string label =
        fmt::format("{}{}{}", a.flags, a.payload > 0 ? fmt::format(" {}B", a.payload) : "",
                    retrans ? " (retransmitted)" : "");
    int x1 = x_of(a.from), x2 = x_of(a.to);
    out += fmt::format("<text x=\"4\" y=\"{}\" class=\"time\">{:.3f} s</text>", y + 4,
                       static_cast<double>(a.us) / 1e6);
    if (x1 == x2) {
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" class=\"{}\"/>", x1, y, cls);
    } else {
      out += fmt::format(
          "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{}\" marker-end=\"url(#head)\"/>",
          x1, y, x2 + (x2 > x1 ? -6 : 6), y, cls);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"flags {}\"><title>{}</title>{}</text>\n",
                       (x1 + x2) / 2, y - 3, cls, Escape(a.ends), Escape(label));
  }
  out += "</svg>\n";
  return out;
}

// The timeline: a row per series (a listener's Recv-Q and SYN-RECV, a counter), held steps over
// the case's time.
std::string TimelineChart(const std::string& encoded) {
  struct Point {
    long ms;
    long value;
  };
  std::map<std::string, std::vector<Point>> series;
  std::vector<std::string> order;
  long end = 1;
  for (const std::string& sample : Pieces(encoded, ';')) {
    std::istringstream in(sample);
    long ms = 0;
    if (!(in >> ms)) continue;
    end = std::max(end, ms);
    for (std::string item; in >> item;) {
      size_t eq = item.rfind('=');
      if (eq == std::string::npos) continue;
      std::string key = item.substr(0, eq);
      std::string value = item.substr(eq + 1);
      auto add = [&](const std::string& name, long v) {
        if (series.count(name) == 0) order.push_back(name);
        series[name].push_back({ms, v});
      };
      if (size_t slash = value.find('/'); slash != std::string::npos) {
        add(key + " Recv-Q", std::atol(value.substr(0, slash).c_str()));
        add(key + " SYN-RECV", std::atol(value.substr(slash + 1).c_str()));
      } else {
        add(key, std::atol(value.c_str()));
      }
    }
  }
  if (order.empty()) return "";
  constexpr int kLabel = 300, kPlot = 600, kRow = 34;
  int height = kRow * static_cast<int>(order.size()) + 24;
  int width = kLabel + kPlot + 60;
  std::string out = fmt::format(
      "<h3>Timeline</h3>\n<svg class=\"timeline\" width=\"{}\" height=\"{}\" viewBox=\"0 0 "
      "{} {}\">\n",
      width, height, width, height);
  int row = 0;
  for (const std::string& name : order) {
    const std::vector<Point>& pts = series[name];
    long max = 1;
    for (const Point& p : pts) max = std::max(max, p.value);
    int base = kRow * row + kRow - 6;
    auto x = [&](long ms) {
      return kLabel + static_cast<double>(ms) * kPlot / static_cast<double>(end);
    };
    auto y = [&](long v) {
      return base - static_cast<double>(v) * (kRow - 12) / static_cast<double>(max);
    };
    std::string path;
    for (size_t i = 0; i < pts.size(); ++i) {
      long until = i + 1 < pts.size() ? pts[i + 1].ms : end;
      path += fmt::format("{}{:.1f},{:.1f} {:.1f},{:.1f}", path.empty() ? "" : " ", x(pts[i].ms),
                          y(pts[i].value), x(until), y(pts[i].value));
    }
    out += fmt::format(
        "<text x=\"4\" y=\"{}\" class=\"series\">{}</text><text x=\"{}\" y=\"{}\" "
        "class=\"max\">max {}</text><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>"
        "<polyline points=\"{}\" class=\"series\"/>\n",
        base, Escape(name), kLabel + kPlot + 6, base, pts.empty() ? 0 : max, kLabel, base,
        kLabel + kPlot, base, path);
    ++row;
  }
  out += fmt::format(
      "<text x=\"{}\" y=\"{}\" class=\"time\">0</text><text x=\"{}\" y=\"{}\" "
      "class=\"time\">{:.2f} s</text>\n</svg>\n",
      kLabel, height - 4, kLabel + kPlot - 40, height - 4, static_cast<double>(end) / 1000);
  return out;
}

std::string Steps(const JUnitCase& c) {
  std::string out;
  for (int i = 1;; ++i) {
    const std::string* step = Property(c, fmt::format("step.{}", i));
    if (step == nullptr) break;
    // "<where> <kind> <status> <ms>"
    std::istringstream in(*step);
    std::string where, kind, status, ms;
    in >> where >> kind >> status >> ms;
    out += fmt::format(
        "<li class=\"{}\"><code>{}</code> {} <span class=\"status\">{}</span> "
        "<span class=\"ms\">{} ms</span></li>\n",
        Escape(status), Escape(where), Escape(kind), Escape(status), Escape(ms));
  }
  return out.empty() ? "" : fmt::format("<h3>Steps</h3>\n<ol class=\"steps\">\n{}</ol>\n", out);
}

std::string KeyValues(const JUnitCase& c, const std::string& prefix, const char* title) {
  std::string rows;
  for (const auto& [k, v] : c.properties) {
    if (k.rfind(prefix, 0) != 0) continue;
    rows += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", Escape(k.substr(prefix.size())),
                        Escape(v));
  }
  return rows.empty() ? ""
                      : fmt::format("<h3>{}</h3>\n<table class=\"kv\">\n{}</table>\n", title, rows);
}

constexpr char kStyle[] = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { margin: 0 0 .3em; } h2 { margin: 1.5em 0 .3em; font-size: 1.15em; } h3 { font-size: 1em; }
.summary { font-size: 1.05em; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
.passed { color: #1a7f37; } .failed, .error { color: #cf222e; } .skipped { color: #9a6700; }
.regression, .infrastructure { color: #cf222e; font-weight: 600; } .fix { color: #1a7f37; } .missing, .verdict { color: #9a6700; }
tr.passed td:nth-child(2), tr.failed td:nth-child(2), tr.error td:nth-child(2), tr.skipped td:nth-child(2) { font-weight: 600; }
section.case { border-top: 2px solid #eee; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; max-height: 30em; }
.note { color: #9a6700; } code { font-size: .95em; }
#filter { font-size: 1em; padding: 4px; width: 24em; margin: .5em 0; }
svg text { font: 11px monospace; } svg text.lane { text-anchor: middle; font-weight: 600; }
svg line.lane { stroke: #999; stroke-dasharray: 3 3; }
svg line.syn, svg circle.syn { stroke: #0969da; fill: #0969da; } svg text.syn { fill: #0969da; }
svg line.retrans, svg circle.retrans { stroke: #bc4c00; fill: #bc4c00; } svg text.retrans { fill: #bc4c00; font-weight: 600; }
svg line.rst, svg circle.rst { stroke: #cf222e; fill: #cf222e; } svg text.rst { fill: #cf222e; font-weight: 600; }
svg line.other, svg circle.other { stroke: #444; fill: #444; }
svg text.flags { text-anchor: middle; }
svg polyline.series { fill: none; stroke: #0969da; stroke-width: 1.5; } svg line.axis { stroke: #ccc; }
)";

constexpr char kScript[] = R"(
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('#cases tr.row').forEach(function (r) {
    r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
  document.querySelectorAll('section.case').forEach(function (s) {
    s.style.display = s.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
)";

}  // namespace

std::string RenderHtml(const std::vector<JUnitSuite>& suites) {
  int counts[4] = {0, 0, 0, 0};
  double seconds = 0;
  std::string kernel = "unknown", overrides;
  for (const JUnitSuite& s : suites) {
    for (const auto& [k, v] : s.properties) {
      if (k == "kernel_release") kernel = v;
      if (k.rfind("sysctl.override.", 0) == 0 && overrides.find(k) == std::string::npos) {
        overrides += fmt::format("{}{}={}", overrides.empty() ? "" : ", ", k.substr(16), v);
      }
    }
    for (const JUnitCase& c : s.cases) {
      ++counts[static_cast<int>(c.status)];
      seconds += c.seconds;
    }
  }
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += fmt::format("<title>nstest report</title>\n<style>{}</style>\n</head>\n<body>\n", kStyle);
  // The arrow head every ladder's arrows use.
  out +=
      "<svg width=\"0\" height=\"0\" style=\"position:absolute\"><defs><marker id=\"head\" "
      "markerWidth=\"8\" markerHeight=\"8\" refX=\"6\" refY=\"4\" orient=\"auto\"><path "
      "d=\"M0,0 L8,4 L0,8 z\"/></marker></defs></svg>\n";
  out += fmt::format(
      "<h1>nstest report</h1>\n<p class=\"summary\"><span class=\"passed\">{} passed</span>, "
      "<span class=\"failed\">{} failed</span>, <span class=\"error\">{} errors</span>, "
      "<span class=\"skipped\">{} skipped</span> &middot; kernel {} &middot; overrides: {} "
      "&middot; {:.1f} s of cases</p>\n",
      counts[0], counts[1], counts[2], counts[3], Escape(kernel),
      overrides.empty() ? "none" : Escape(overrides), seconds);
  out += "<input id=\"filter\" placeholder=\"filter: a name or a status\">\n";
  out += "<table id=\"cases\">\n<tr><th>case</th><th>status</th><th>duration</th></tr>\n";
  std::string sections;
  int n = 0;
  for (const JUnitSuite& s : suites) {
    for (const JUnitCase& c : s.cases) {
      ++n;
      std::string status = CaseStatusName(c.status);
      std::string name = fmt::format("{}.{}", s.name, c.name);
      out += fmt::format(
          "<tr class=\"row {}\"><td><a href=\"#case-{}\">{}</a></td><td>{}</td><td>{:.3f} "
          "s</td></tr>\n",
          status, n, Escape(name), status, c.seconds);
      std::string sec = fmt::format(
          "<section class=\"case\" id=\"case-{}\">\n<h2>{} <span class=\"{}\">{}</span> "
          "<small>{:.3f} s</small></h2>\n",
          n, Escape(name), status, status, c.seconds);
      if (!c.message.empty())
        sec += fmt::format("<p class=\"message\">{}</p>\n", Escape(c.message));
      sec += Steps(c);
      if (c.status == CaseStatus::kFailed || c.status == CaseStatus::kError) {
        sec += fmt::format("<h3>What failed (expected and actual)</h3>\n<pre>{}</pre>\n",
                           Escape(c.detail));
      }
      sec += KeyValues(c, "param.", "Parameters");
      sec += KeyValues(c, "sysctl.", "Sysctls set (namespace.key)");
      sec += KeyValues(c, "observed.", "Observed");
      if (const std::string* t = Property(c, "timeline")) sec += TimelineChart(*t);
      for (const auto& [k, v] : c.properties) {
        bool is_count = k.size() > 6 && k.compare(k.size() - 6, 6, ".count") == 0;
        if (k.rfind("capture.", 0) != 0 || is_count) continue;
        std::string cap = k.substr(8);
        const std::string* count = Property(c, k + ".count");
        sec += Ladder(cap, v, count != nullptr ? *count : "?");
      }
      if (!c.system_out.empty()) {
        std::string log = c.system_out.substr(0, kMaxLog);
        sec += fmt::format(
            "<details><summary>Log: sysctls, counter changes, listeners</summary>\n<pre>{}</pre>",
            Escape(log));
        if (c.system_out.size() > kMaxLog) {
          sec += fmt::format("<p class=\"note\">The log is cut at {} KiB of {} KiB.</p>",
                             kMaxLog / 1024, c.system_out.size() / 1024);
        }
        sec += "</details>\n";
      }
      sections += sec + "</section>\n";
    }
  }
  out += "</table>\n";
  out += sections;
  out += fmt::format("<script>{}</script>\n</body>\n</html>\n", kScript);
  return out;
}

std::string RenderComparisonHtml(const Comparison& c, const std::string& base_name,
                                 const std::string& new_name) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += fmt::format("<title>nstest compare</title>\n<style>{}</style>\n</head>\n<body>\n", kStyle);
  out += fmt::format(
      "<h1>nstest compare</h1>\n<table "
      "class=\"kv\">\n<tr><td>base</td><td>{}</td><td>{}</td></tr>\n"
      "<tr><td>new</td><td>{}</td><td>{}</td></tr>\n</table>\n",
      Escape(base_name), Escape(c.base_header), Escape(new_name), Escape(c.new_header));
  out += fmt::format("<p class=\"summary\">{} of {} cases compared differ{}</p>\n",
                     c.changes.size(), c.compared,
                     c.only_in_base.empty() && c.only_in_new.empty()
                         ? ""
                         : fmt::format("; {} only in base, {} only in new", c.only_in_base.size(),
                                       c.only_in_new.size()));
  std::string classes;
  for (ChangeClass k : AllChangeClasses()) {
    classes += fmt::format("<td class=\"{0}\">{1} {0}</td>", ChangeClassName(k), c.Count(k));
  }
  out += fmt::format("<table id=\"classes\" class=\"kv\">\n<tr>{}</tr>\n</table>\n", classes);
  out +=
      "<table id=\"changes\">\n<tr><th>class</th><th>case</th><th>verdict</th><th>what "
      "changed</th></tr>\n";
  for (const CaseChange& ch : c.changes) {
    std::string values;
    for (const std::string& v : ch.values) values += Escape(v) + "<br>";
    out += fmt::format("<tr><td class=\"{0}\">{0}</td><td>{1}</td><td>{2}</td><td>{3}</td></tr>\n",
                       ChangeClassName(ch.what), Escape(ch.name),
                       ch.verdict.empty() ? "same" : Escape(ch.verdict), values);
  }
  for (const std::string& name : c.only_in_base) {
    out += fmt::format(
        "<tr><td class=\"missing\">missing</td><td>{}</td><td>only in base</td><td></td></tr>\n",
        Escape(name));
  }
  for (const std::string& name : c.only_in_new) {
    out +=
        fmt::format("<tr><td class=\"new\">new</td><td>{}</td><td>only in new</td><td></td></tr>\n",
                    Escape(name));
  }
  out += "</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace nstest
