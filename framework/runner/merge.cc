#include "nstest/merge.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "nstest/error.h"

namespace nstest {
namespace {

// At most this many names in a problem's line; the report has every one.
constexpr size_t kNamesShown = 5;

const std::string* Property(const JUnitSuite& s, const char* key) {
  return FindProperty(s.properties, key);
}

struct Planned {
  int shard = 0;
  std::string name{};
};

// What one report says of the plan.
struct PlanOf {
  std::string id;
  int shard = 0;
  int total = 1;
  int repeat = 1;
  std::string kernel;
};

PlanOf ReadPlan(const ShardReport& r) {
  if (r.suites.empty() || Property(r.suites[0], kPlanId) == nullptr) {
    throw Error(
        fmt::format("{}: no plan in this report (a report of `nstest run` names its plan "
                    "in the property '{}'); merge takes the reports of nstest runs",
                    r.path, kPlanId));
  }
  PlanOf p;
  p.id = *Property(r.suites[0], kPlanId);
  const std::string* shard = Property(r.suites[0], kPlanShard);
  if (shard != nullptr && shard->rfind("all/", 0) == 0) {
    throw Error(fmt::format("{}: a merged report ({} '{}'); merge the shards' own reports", r.path,
                            kPlanShard, *shard));
  }
  if (shard == nullptr || std::sscanf(shard->c_str(), "%d/%d", &p.shard, &p.total) != 2 ||
      p.total < 1 || p.shard < 0 || p.shard >= p.total) {
    throw Error(fmt::format("{}: its property {} is '{}', not a shard I/N", r.path, kPlanShard,
                            shard ? *shard : ""));
  }
  if (const std::string* kernel = Property(r.suites[0], "kernel_release")) p.kernel = *kernel;
  if (const std::string* repeat = Property(r.suites[0], kPlanRepeat)) {
    p.repeat = std::max(1, std::atoi(repeat->c_str()));
  }
  return p;
}

std::vector<Planned> PlannedCases(const JUnitSuite& s) {
  std::vector<Planned> out;
  const std::string* cases = Property(s, kPlanCases);
  if (cases == nullptr) return out;
  std::istringstream in(*cases);
  for (std::string line; std::getline(in, line);) {
    size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    out.push_back({std::atoi(line.c_str()), line.substr(space + 1)});
  }
  return out;
}

std::string Names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kNamesShown; ++i) {
    out += (i == 0 ? "" : ", ") + names[i];
  }
  if (names.size() > kNamesShown) out += fmt::format(", and {} more", names.size() - kNamesShown);
  return out;
}

JUnitCase ErrorCase(const std::string& suite, const std::string& name, const std::string& why) {
  JUnitCase c;
  c.name = name;
  c.classname = suite;
  c.status = CaseStatus::kError;
  c.message = why;
  c.detail = why;
  return c;
}

}  // namespace

MergeResult MergeShards(const std::vector<ShardReport>& reports) {
  if (reports.empty()) throw Error("merge: no report given");
  MergeResult m;
  PlanOf plan = ReadPlan(reports[0]);
  m.shards = plan.total;
  std::map<int, std::vector<std::string>> by_shard;  // shard -> its reports
  for (const ShardReport& r : reports) {
    PlanOf p = ReadPlan(r);
    if (p.id != plan.id) {
      throw Error(fmt::format(
          "{} is from another plan than {} (plan {} against {}): its suites, --filter, --case, "
          "--repeat, --sysctl overrides, cost file or shard count differ; merge the shards of one "
          "run",
          r.path, reports[0].path, p.id, plan.id));
    }
    if (p.kernel != plan.kernel) {
      throw Error(
          fmt::format("{} ran on kernel {}, {} on {}: merge the shards of one kernel, and "
                      "compare kernels with nstest compare",
                      r.path, p.kernel, reports[0].path, plan.kernel));
    }
    by_shard[p.shard].push_back(r.path);
  }
  m.reported_shards = static_cast<int>(by_shard.size());
  for (const auto& [shard, paths] : by_shard) {
    if (paths.size() > 1) {
      m.problems.push_back(fmt::format("shard {}/{} was given {} times: {}", shard, plan.total,
                                       paths.size(), Names(paths)));
    }
  }
  // What each report says of each case, by suite and name.
  struct Seen {
    std::vector<JUnitCase> results;
    std::vector<std::string> paths;
  };
  std::map<std::string, std::map<std::string, Seen>> seen;
  for (const ShardReport& r : reports) {
    for (const JUnitSuite& s : r.suites) {
      for (const JUnitCase& c : s.cases) {
        Seen& x = seen[s.name][c.name];
        x.results.push_back(c);
        x.paths.push_back(r.path);
      }
    }
  }
  std::map<int, std::vector<std::string>> missing;  // shard -> its cases no report had
  std::set<std::string> suites_done;
  for (const ShardReport& r : reports) {
    for (const JUnitSuite& s : r.suites) {
      if (!suites_done.insert(s.name).second) continue;
      JUnitSuite out = s;
      out.cases.clear();
      for (auto& [k, v] : out.properties) {
        if (k == kPlanShard) v = fmt::format("all/{}", plan.total);
      }
      std::map<std::string, Seen>& reported = seen[s.name];
      for (const Planned& p : PlannedCases(s)) {
        auto it = reported.find(p.name);
        size_t got = it == reported.end() ? 0 : it->second.results.size();
        std::string full = s.name + "." + p.name;
        if (got > static_cast<size_t>(plan.repeat)) {
          ++m.duplicated;
          m.problems.push_back(
              fmt::format("{} was reported {} times, by {}", full, got, Names(it->second.paths)));
          out.cases.push_back(
              ErrorCase(s.name, p.name,
                        fmt::format("reported {} times, by {}: each case belongs to one shard", got,
                                    Names(it->second.paths))));
        } else {
          if (got > 0) {
            for (JUnitCase& c : it->second.results) out.cases.push_back(std::move(c));
          }
          for (size_t k = got; k < static_cast<size_t>(plan.repeat); ++k) {
            ++m.missing;
            missing[p.shard].push_back(full);
            bool reported_shard = by_shard.count(p.shard) != 0;
            out.cases.push_back(ErrorCase(
                s.name, p.name,
                reported_shard
                    ? fmt::format("not reported: shard {}/{} owed it, and its report does not have "
                                  "it (the shard was stopped before it ran?)",
                                  p.shard, plan.total)
                    : fmt::format("not reported: shard {}/{} owed it, and no report of that shard "
                                  "was given (it crashed, was killed or never started)",
                                  p.shard, plan.total)));
          }
        }
        if (it != reported.end()) reported.erase(it);
      }
      for (auto& [name, x] : reported) {
        m.problems.push_back(fmt::format("{}.{} is not in the plan, but {} reports it", s.name,
                                         name, Names(x.paths)));
        out.cases.push_back(ErrorCase(
            s.name, name, fmt::format("not in the plan, but {} reports it", Names(x.paths))));
      }
      m.report.push_back(std::move(out));
    }
  }
  std::vector<std::string> lost;  // first, shard by shard
  for (const auto& [shard, names] : missing) {
    lost.push_back(fmt::format(
        "shard {}/{} {}: {} of its cases missing: {}", shard, plan.total,
        by_shard.count(shard) != 0 ? "reported only part of its cases" : "gave no report",
        names.size(), Names(names)));
  }
  m.problems.insert(m.problems.begin(), lost.begin(), lost.end());
  return m;
}

}  // namespace nstest
