#!/usr/bin/python3
"""Checks the CI integration in ci/: the GitHub Actions workflow and the GitLab CI file parse and
shard with GoogleTest's variables, and ci/merge-reports.py joins real shard reports into one that
has every case once and still validates against the JUnit schema.

Usage: ci_files_test.py NSTEST_BINARY [JUNIT_XSD]   (from the repository root)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import yaml

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def github():
    with open("ci/github/nstest.yml") as f:
        wf = yaml.safe_load(f)
    suites = wf["jobs"]["suites"]
    shards = suites["strategy"]["matrix"]["shard"]
    check(shards == list(range(len(shards))), f"github: shards {shards} are not 0..N-1")
    check(str(suites["env"]["GTEST_TOTAL_SHARDS"]) == str(len(shards)),
          "github: GTEST_TOTAL_SHARDS is not the number of shards")
    check("matrix.shard" in suites["env"]["GTEST_SHARD_INDEX"],
          "github: GTEST_SHARD_INDEX does not come from the matrix")
    runs = " ".join(s.get("run", "") for s in suites["steps"])
    check("sudo -E" in runs and "--xml" in runs, "github: the shard step must keep the env and write XML")
    report = wf["jobs"]["report"]
    check(report["needs"] == "suites", "github: the report job must wait for the shards")
    check("ci/merge-reports.py" in " ".join(s.get("run", "") for s in report["steps"]),
          "github: the report job does not merge")


def gitlab():
    with open("ci/gitlab/nstest.gitlab-ci.yml") as f:
        ci = yaml.safe_load(f)
    job = ci["nstest"]
    check(isinstance(job["parallel"], int) and job["parallel"] > 1, "gitlab: no parallel shards")
    check(job["variables"]["GTEST_TOTAL_SHARDS"] == "$CI_NODE_TOTAL",
          "gitlab: GTEST_TOTAL_SHARDS is not CI_NODE_TOTAL")
    check(any("GTEST_SHARD_INDEX=$((CI_NODE_INDEX - 1))" in line for line in job["script"]),
          "gitlab: GTEST_SHARD_INDEX is not CI_NODE_INDEX - 1")
    check("junit" in job["artifacts"]["reports"], "gitlab: the JUnit report is not published")
    check(any("ci/merge-reports.py" in line for line in ci["nstest-report"]["script"]),
          "gitlab: the report job does not merge")


def merge(nstest, xsd):
    suite = "suites/backlog.toml"
    listed = subprocess.run([nstest, "list", suite], capture_output=True, text=True, check=True)
    want = sorted(line.strip() for line in listed.stdout.splitlines() if line.startswith("  "))
    work = tempfile.mkdtemp()
    try:
        shards = []
        for index in range(2):
            path = os.path.join(work, f"shard-{index}.xml")
            env = dict(os.environ, GTEST_TOTAL_SHARDS="2", GTEST_SHARD_INDEX=str(index))
            subprocess.run([nstest, "run", suite, "--xml", path, "--cost-file", "none"], env=env,
                           capture_output=True, check=False)
            shards.append(path)
        out = os.path.join(work, "merged.xml")
        subprocess.run([sys.executable, "ci/merge-reports.py", out] + shards, check=True,
                       capture_output=True)
        root = ET.parse(out).getroot()
        got = sorted(c.get("name") for c in root.iter("testcase"))
        check(got == want, f"merge: cases {got} != listed {want}")
        check(root.get("tests") == str(len(want)), f"merge: tests={root.get('tests')}")
        suites = root.findall("testsuite")
        check(len(suites) == 1 and suites[0].get("tests") == str(len(want)),
              "merge: the two shards' halves of one suite were not joined")
        if xsd and os.path.exists(xsd) and shutil.which("xmllint"):
            lint = subprocess.run(["xmllint", "--noout", "--schema", xsd, out], capture_output=True,
                                  text=True)
            check(lint.returncode == 0, f"merge: the merged report does not validate: {lint.stderr}")
        bad = os.path.join(work, "bad.xml")
        with open(bad, "w") as f:
            f.write("<html/>")
        r = subprocess.run([sys.executable, "ci/merge-reports.py", out, bad], capture_output=True,
                           text=True)
        check(r.returncode == 2 and "bad.xml: root element is <html>" in r.stderr,
              f"merge: a bad shard gives {r.returncode}: {r.stderr!r}")
    finally:
        shutil.rmtree(work)


def main():
    github()
    gitlab()
    merge(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
    for f in failures:
        print("ci_files_test: " + f)
    print(f"ci_files_test: {'FAILED' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
