#!/usr/bin/env python3
"""Line and branch coverage per project from coverlet's Cobertura reports, merged over the test projects.

Usage: coverage-summary.py [--vjp] REPORT.cobertura.xml...

Each test project writes its own report, covering every assembly it loads; a line counts as covered when
any report saw it run, a line's branches as the most that any one report covered (Cobertura gives per-line
counts, not which branch, so a branch covered in one project and another in the other counts once: the
branch figures are a lower bound). Prints one line per project, the total, and with --vjp every uncovered
line of VJP code: the spans scripts/mutation-scope.cs marks as VJP code for mutation testing (every
Tape.Record call with its closure, the elementwise VJP lambdas, the named backward helpers, the engine).
"""
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def relative(path):
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        parts = p.parts
        for i, part in enumerate(parts):
            if part.startswith("Autograd."):
                return str(Path(*parts[i:]))
        return str(p)


def read(reports):
    """(project, file) -> {line: (hits, covered branches, branches)} merged over the reports."""
    lines = defaultdict(dict)
    for report in reports:
        root = ET.parse(report).getroot()
        sources = [s.text for s in root.iter("source") if s.text]
        for package in root.iter("package"):
            project = package.get("name")
            for cls in package.iter("class"):
                name = cls.get("filename")
                path = next((str(Path(s) / name) for s in sources if (Path(s) / name).exists()), name)
                key = (project, relative(path))
                for line in cls.iter("line"):
                    number = int(line.get("number"))
                    hits = int(line.get("hits"))
                    covered, total = 0, 0
                    if line.get("branch", "").lower() == "true":
                        text = line.get("condition-coverage", "0% (0/0)")
                        covered, total = (int(x) for x in text[text.index("(") + 1:text.index(")")].split("/"))
                    old = lines[key].get(number, (0, 0, 0))
                    lines[key][number] = (max(old[0], hits), max(old[1], covered), max(old[2], total))
    return lines


def summary(lines):
    per = defaultdict(lambda: [0, 0, 0, 0])
    for (project, _), numbers in lines.items():
        for hits, covered, total in numbers.values():
            p = per[project]
            p[0] += hits > 0
            p[1] += 1
            p[2] += covered
            p[3] += total
    print("coverage (coverlet.collector, Release; lines and branches of every test project merged):")
    print(f"  {'project':<18} {'lines':>22} {'branches':>22}")
    all_ = [0, 0, 0, 0]
    for project in sorted(per):
        p = per[project]
        all_ = [a + b for a, b in zip(all_, p)]
        print(f"  {project:<18} {fmt(p[0], p[1]):>22} {fmt(p[2], p[3]):>22}")
    print(f"  {'total':<18} {fmt(all_[0], all_[1]):>22} {fmt(all_[2], all_[3]):>22}")


def fmt(covered, total):
    return f"{100.0 * covered / max(total, 1):5.1f} % ({covered}/{total})"


def vjp_spans():
    """file -> [(first line, last line)] of the VJP code, from scripts/mutation-scope.cs."""
    spans = defaultdict(list)
    for project in ("Ops", "Core"):
        out = subprocess.run(["dotnet", "run", "scripts/mutation-scope.cs", "--", project],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        for pattern in out.split():
            glob, _, rest = pattern.partition("{")
            rel = glob.removeprefix("**/")
            text = (ROOT / rel).read_text(encoding="utf-8")
            if not rest:
                spans[rel].append((1, text.count("\n") + 1))
                continue
            for span in ("{" + rest).strip("{}").split("}{"):
                start, end = (int(x) for x in span.split(".."))
                spans[rel].append((text.count("\n", 0, start) + 1, text.count("\n", 0, end) + 1))
    return spans


def uncovered_vjp(lines):
    spans = vjp_spans()
    by_file = defaultdict(dict)
    for (_, path), numbers in lines.items():
        for number, value in numbers.items():
            old = by_file[path].get(number, (0, 0, 0))
            by_file[path][number] = tuple(max(a, b) for a, b in zip(old, value))
    print("uncovered VJP lines (scripts/mutation-scope.cs spans; branch gaps as covered/branches):")
    count = 0
    for path in sorted(spans):
        numbers = by_file.get(path, {})
        source = (ROOT / path).read_text(encoding="utf-8").splitlines()
        for number in sorted(numbers):
            hits, covered, total = numbers[number]
            if not any(a <= number <= b for a, b in spans[path]) or (hits > 0 and covered == total):
                continue
            what = "not run" if hits == 0 else f"branches {covered}/{total}"
            print(f"  {path}:{number}  {what:<14} {source[number - 1].strip()[:100]}")
            count += 1
    print(f"  ({count} lines)")


def main(argv):
    vjp = "--vjp" in argv
    reports = [a for a in argv if a != "--vjp"]
    if not reports:
        sys.exit("usage: coverage-summary.py [--vjp] REPORT.cobertura.xml...")
    lines = read(reports)
    summary(lines)
    if vjp:
        uncovered_vjp(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
