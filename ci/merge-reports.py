#!/usr/bin/python3
"""Merges the JUnit reports of sharded runs (GTEST_TOTAL_SHARDS/GTEST_SHARD_INDEX) into one file.

Test suites of the same name are joined: their cases follow one another in shard order, their
counts and times are summed, their properties are kept once each. The result has the shape
`nstest run --xml` writes and validates against the same schema.

Usage: ci/merge-reports.py OUT.xml SHARD.xml [SHARD.xml...]
Exits 2, naming the file, when a shard cannot be read or is not a JUnit report.
"""
import copy
import sys
import xml.etree.ElementTree as ET

COUNTS = ("tests", "failures", "errors", "skipped")


def fail(message):
    print(f"merge-reports: {message}", file=sys.stderr)
    sys.exit(2)


def read(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        fail(f"{path}: {e}")
    if root.tag == "testsuite":  # a single suite, as some tools write
        wrapper = ET.Element("testsuites")
        wrapper.append(root)
        root = wrapper
    if root.tag != "testsuites":
        fail(f"{path}: root element is <{root.tag}>, not <testsuites> or <testsuite>")
    return root


def add_number(element, name, value, digits=None):
    total = float(element.get(name, "0")) + float(value)
    element.set(name, f"{total:.{digits}f}" if digits is not None else str(int(total)))


def merge_suite(into, suite):
    for name in COUNTS:
        if suite.get(name) is not None:
            add_number(into, name, suite.get(name))
    add_number(into, "time", suite.get("time", "0"), 3)
    if suite.get("timestamp", "") and suite.get("timestamp") < into.get("timestamp", "~"):
        into.set("timestamp", suite.get("timestamp"))
    props = into.find("properties")
    seen = set()
    if props is not None:
        seen = {(p.get("name"), p.get("value")) for p in props}
    for p in suite.findall("properties/property"):
        if (p.get("name"), p.get("value")) in seen:
            continue
        if props is None:
            props = ET.Element("properties")
            into.insert(0, props)
        props.append(copy.deepcopy(p))
        seen.add((p.get("name"), p.get("value")))
    # Cases go after the existing ones, before the suite's system-out/system-err.
    tail = [c for c in into if c.tag in ("system-out", "system-err")]
    for c in tail:
        into.remove(c)
    for case in suite.findall("testcase"):
        into.append(copy.deepcopy(case))
    for c in tail:
        into.append(c)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    out, shards = argv[1], argv[2:]
    merged = ET.Element("testsuites")
    by_name = {}
    for path in shards:
        root = read(path)
        for suite in root.findall("testsuite"):
            name = suite.get("name", "")
            if name in by_name:
                merge_suite(by_name[name], suite)
            else:
                by_name[name] = copy.deepcopy(suite)
                merged.append(by_name[name])
    for name in ("tests", "failures", "errors", "time"):
        digits = 3 if name == "time" else None
        merged.set(name, "0")
        for suite in merged:
            add_number(merged, name, suite.get(name, "0"), digits)
    ET.indent(merged, "  ")
    ET.ElementTree(merged).write(out, encoding="utf-8", xml_declaration=True)
    cases = sum(int(s.get("tests", "0")) for s in merged)
    print(f"merge-reports: {len(shards)} reports, {len(merged)} suites, {cases} cases -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
