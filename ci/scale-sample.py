#!/usr/bin/python3
"""Samples, until told to stop (SIGTERM), how many network namespaces processes pin (are in or hold
open), the memory
the machine has in use, and the proportional set size (PSS: shared pages divided among their
users) of the processes whose environment holds a tag.
Prints one JSON object at the end. Used by ci/scale.sh.

Usage: scale-sample.py TAG INTERVAL_MS
"""
import json
import os
import signal
import sys
import time

tag = sys.argv[1].encode()
interval = int(sys.argv[2]) / 1000.0
stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def namespaces_and_rss(with_pss):
    netns = set()
    rss_kib = 0
    procs = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                netns.add(os.readlink(f"/proc/{pid}/task/{tid}/ns/net"))
            for fd in os.listdir(f"/proc/{pid}/fd"):  # namespaces held open
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("net:"):
                    netns.add(target)
            with open(f"/proc/{pid}/environ", "rb") as f:
                if tag not in f.read():
                    continue
            procs += 1
            if not with_pss:
                continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        rss_kib += int(line.split()[1])
        except OSError:
            continue  # gone meanwhile
    return netns, rss_kib, procs


def used_kib():
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            info[key] = int(value.split()[0])
    return info["MemTotal"] - info["MemAvailable"]


baseline_ns, _, _ = namespaces_and_rss(False)
baseline_used = used_kib()
start = time.monotonic()
samples = []
while not stop:
    # PSS walks every page table: every fifth sample is enough for its peak.
    netns, rss, procs = namespaces_and_rss(len(samples) % 5 == 0)
    samples.append((time.monotonic() - start, len(netns - baseline_ns), used_kib() - baseline_used,
                    rss, procs))
    time.sleep(interval)

peak = max(s[1] for s in samples)
# Creation: from the first namespace of ours to the first sample with all of them.
first = next(s[0] for s in samples if s[1] > 0) if peak else 0
full = next(s[0] for s in samples if s[1] == peak)
# Destruction: from the last sample with all of them to the first with none left.
last_full = max(s[0] for s in samples if s[1] == peak)
none = next((s[0] for s in samples if s[0] > last_full and s[1] == 0), samples[-1][0])
print(json.dumps({
    "samples": len(samples),
    "peak_namespaces": peak,
    "seconds_to_create": round(full - first, 3),
    "seconds_to_destroy": round(none - last_full, 3),
    "namespaces_left": samples[-1][1],
    "peak_used_mib": round(max(s[2] for s in samples) / 1024, 1),
    "peak_pss_mib": round(max(s[3] for s in samples) / 1024, 1),
    "peak_processes": max(s[4] for s in samples),
}))
