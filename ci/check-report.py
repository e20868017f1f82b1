#!/usr/bin/python3
"""Reads a JUnit report the way lenient consumers do (junitparser) and prints its totals.

Usage: ci/check-report.py REPORT.xml
Exits 1 if the report cannot be read or a case lacks its name or class.
"""
import sys

from junitparser import JUnitXml


def main() -> int:
    xml = JUnitXml.fromfile(sys.argv[1])
    cases = failures = errors = skipped = 0
    for suite in xml:
        for case in suite:
            if not case.name or not case.classname:
                print(f"check-report: a case in suite {suite.name!r} lacks a name or class")
                return 1
            cases += 1
            kinds = {type(r).__name__ for r in case.result}
            failures += "Failure" in kinds
            errors += "Error" in kinds
            skipped += "Skipped" in kinds
    print(f"check-report: junitparser read {cases} cases in {len(list(xml))} suites: "
          f"{failures} failures, {errors} errors, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
