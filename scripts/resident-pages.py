#!/usr/bin/env python3
"""What of a running process's memory is resident, and which code it belongs to.

Usage: scripts/resident-pages.py PID [BINARY]

Prints the RSS of each mapping (from /proc/PID/smaps), then the resident pages of the process's
executable by ELF section and by Swift module (from /proc/PID/pagemap and the binary's symbol
table; pass BINARY when the running one is stripped). Used for docs/performance.md's memory
figures: the kernel maps file pages 64 KB around each page touched, so a resident page says only
that something near it ran or was read.
"""
import bisect, collections, os, re, struct, subprocess, sys

pid = int(sys.argv[1])
exe = os.path.realpath(f"/proc/{pid}/exe")
binary = sys.argv[2] if len(sys.argv) > 2 else exe

rss = collections.Counter()
current = None
for line in open(f"/proc/{pid}/smaps"):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        parts = line.split()
        current = parts[5] if len(parts) > 5 else "[anonymous]"
    elif line.startswith("Rss:"):
        rss[current] += int(line.split()[1])
print(f"RSS {sum(rss.values())} KB, by mapping:")
for name, kb in rss.most_common(12):
    print(f"  {kb:8d} KB  {name}")

maps = []
for line in open(f"/proc/{pid}/maps"):
    parts = line.split()
    if len(parts) > 5 and parts[5] == exe:
        start, end = (int(x, 16) for x in parts[0].split("-"))
        maps.append((start, end, parts[1]))
base = min(start for start, _, _ in maps)

sections = []
headers = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})\s+[0-9a-f]+\s+([0-9a-f]+)", headers):
    address, size = int(m.group(2), 16), int(m.group(3), 16)
    if address:
        sections.append((address, address + size, m.group(1)))
sections.sort()
section_starts = [s[0] for s in sections]

symbols = []
for line in subprocess.run(["nm", "-n", "-S", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 4:
        symbols.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
symbol_starts = [s[0] for s in symbols]


def module(name):
    m = re.match(r"\$s(\d+)", name)
    if m and not name[2:].startswith("So"):
        length = int(m.group(1))
        return name[2 + len(m.group(1)) : 2 + len(m.group(1)) + length]
    if name.startswith(("swift_", "_swift", "_ZN5swift")):
        return "(Swift runtime)"
    if "icu" in name.lower() or re.match(r"^u[a-z]*_", name):
        return "(ICU)"
    if re.match(r"^_{0,2}CF", name):
        return "(CoreFoundation)"
    return "(C and other)"


by_section, by_module = collections.Counter(), collections.Counter()
pagemap = open(f"/proc/{pid}/pagemap", "rb")
for start, end, _ in maps:
    pagemap.seek(start // 4096 * 8)
    entries = pagemap.read((end - start) // 4096 * 8)
    for i in range(len(entries) // 8):
        if not struct.unpack("<Q", entries[i * 8 : i * 8 + 8])[0] >> 63:
            continue
        address = start + i * 4096 - base
        j = bisect.bisect_right(section_starts, address + 4095) - 1
        by_section[sections[j][2] if j >= 0 and address < sections[j][1] else "(between sections)"] += 4
        k = bisect.bisect_right(symbol_starts, address + 2048) - 1
        by_module[module(symbols[k][2]) if k >= 0 else "(none)"] += 4
print(f"executable: {sum(by_section.values())} KB resident, by section:")
for name, kb in by_section.most_common(12):
    print(f"  {kb:8d} KB  {name}")
print("by the module of the symbol nearest each page:")
for name, kb in by_module.most_common(20):
    print(f"  {kb:8d} KB  {name}")
