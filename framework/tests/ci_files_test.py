#!/usr/bin/python3
"""Checks the scheduler recipes in ci/: the GitHub Actions workflow, the GitLab CI file and the
Kubernetes Indexed Job parse, shard the way nstest reads it and merge with `nstest merge`; then
runs a suite as each recipe would (its variables set as that scheduler sets them), merges the
shards and checks that the merged report has every case once and validates against the JUnit
schema.

Usage: ci_files_test.py NSTEST_BINARY [JUNIT_XSD]   (from the repository root)
"""
import os
import re
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
    runs = " ".join(s.get("run", "") for s in suites["steps"])
    check(f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in runs,
          "github: the run does not pass --shard <matrix.shard>/<number of shards>")
    check("--xml" in runs, "github: the shard step does not write XML")
    report = wf["jobs"]["report"]
    check(report["needs"] == "suites", "github: the report job must wait for the shards")
    check("nstest merge nstest-shard-*.xml --xml" in " ".join(s.get("run", "")
                                                            for s in report["steps"]),
          "github: the report job does not merge with nstest merge")


def gitlab():
    with open("ci/gitlab/nstest.gitlab-ci.yml") as f:
        ci = yaml.safe_load(f)
    job = ci["nstest"]
    check(isinstance(job["parallel"], int) and job["parallel"] > 1, "gitlab: no parallel shards")
    check("GTEST_TOTAL_SHARDS" not in job.get("variables", {}),
          "gitlab: nstest reads CI_NODE_INDEX itself; no GTEST_* translation")
    check(any("nstest run suites" in line and "$CI_NODE_INDEX" in line for line in job["script"]),
          "gitlab: the shard's report is not named by CI_NODE_INDEX")
    check("junit" in job["artifacts"]["reports"], "gitlab: the JUnit report is not published")
    check(any("nstest merge nstest-shard-*.xml --xml" in line
              for line in ci["nstest-report"]["script"]),
          "gitlab: the report job does not merge with nstest merge")


def kubernetes():
    with open("ci/kubernetes/nstest-job.yaml") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    jobs = [d for d in docs if d["kind"] == "Job"]
    check(len(jobs) == 1, "kubernetes: one Job of shards")
    spec = jobs[0]["spec"]
    check(spec.get("completionMode") == "Indexed", "kubernetes: the Job is not Indexed")
    container = spec["template"]["spec"]["containers"][0]
    args = container["args"]
    count = int(args[args.index("--shards") + 1]) if "--shards" in args else 0
    check(count == spec["completions"] == spec["parallelism"],
          f"kubernetes: --shards {count} is not the Job's completions and parallelism")
    check(any("$(JOB_COMPLETION_INDEX)" in a for a in args),
          "kubernetes: the shard's report is not named by its index")
    caps = container["securityContext"]["capabilities"]["add"]
    check({"SYS_ADMIN", "NET_ADMIN"} <= set(caps), f"kubernetes: capabilities {caps}")
    with open("ci/kubernetes/nstest-merge.yaml") as f:
        merge_job = yaml.safe_load(f)
    check("nstest merge" in " ".join(merge_job["spec"]["template"]["spec"]["containers"][0]["args"]),
          "kubernetes: the merge Job does not run nstest merge")


# The variables schedulers shard by: this test may itself run under one (a GitLab parallel job).
SCHEDULER_VARIABLES = ("GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", "TEST_SHARD_INDEX",
                       "TEST_TOTAL_SHARDS", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN",
                       "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX",
                       "CI_NODE_INDEX", "CI_NODE_TOTAL")


def clean_env(**more):
    env = {k: v for k, v in os.environ.items() if k not in SCHEDULER_VARIABLES}
    env.update(more)
    return env


def run_shards(nstest, work, suite, name, envs, extra=()):
    paths = []
    for index, env in enumerate(envs):
        path = os.path.join(work, f"{name}-{index}.xml")
        r = subprocess.run([nstest, "run", suite, "--xml", path, "--cost-file", "none", *extra],
                           env=clean_env(**env), capture_output=True, text=True)
        check(r.returncode == 0, f"{name}: shard {index} exited {r.returncode}: {r.stderr}")
        check(re.search(rf"Note: this is shard {index}/{len(envs)} \(from ", r.stdout) is not None,
              f"{name}: shard {index} does not say which shard it is: {r.stdout[:300]!r}")
        paths.append(path)
    return paths


def merge(nstest, xsd):
    suite = "suites/backlog.toml"
    listed = subprocess.run([nstest, "list", suite], capture_output=True, text=True, check=True,
                            env=clean_env())
    want = sorted(line.strip() for line in listed.stdout.splitlines() if line.startswith("  "))
    work = tempfile.mkdtemp()
    try:
        recipes = {
            "gitlab": [{"CI_NODE_INDEX": str(i + 1), "CI_NODE_TOTAL": "2"} for i in range(2)],
            "kubernetes": [{"JOB_COMPLETION_INDEX": str(i)} for i in range(2)],
            "slurm": [{"SLURM_ARRAY_TASK_ID": str(5 + i), "SLURM_ARRAY_TASK_MIN": "5",
                       "SLURM_ARRAY_TASK_COUNT": "2"} for i in range(2)],
        }
        for name, envs in recipes.items():
            extra = ("--shards", "2") if name == "kubernetes" else ()
            shards = run_shards(nstest, work, suite, name, envs, extra)
            out = os.path.join(work, f"{name}-merged.xml")
            r = subprocess.run([nstest, "merge", *shards, "--xml", out], capture_output=True,
                               text=True)
            check(r.returncode == 0, f"{name}: merge exited {r.returncode}: {r.stderr}")
            root = ET.parse(out).getroot()
            got = sorted(c.get("name") for c in root.iter("testcase"))
            check(got == want, f"{name}: merged cases {got} != listed {want}")
            if xsd and os.path.exists(xsd) and shutil.which("xmllint"):
                lint = subprocess.run(["xmllint", "--noout", "--schema", xsd, out],
                                      capture_output=True, text=True)
                check(lint.returncode == 0, f"{name}: the merged report does not validate: "
                      f"{lint.stderr}")
        bad = os.path.join(work, "bad.xml")
        with open(bad, "w") as f:
            f.write("<html/>")
        r = subprocess.run([nstest, "merge", bad, "--xml", os.path.join(work, "x.xml")],
                           capture_output=True, text=True)
        check(r.returncode == 2 and "bad.xml': no <testsuites> or <testsuite> element" in r.stderr,
              f"merge: a report that is none gives {r.returncode}: {r.stderr!r}")
    finally:
        shutil.rmtree(work)


def main():
    github()
    gitlab()
    kubernetes()
    merge(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
    for f in failures:
        print("ci_files_test: " + f)
    print(f"ci_files_test: {'FAILED' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
