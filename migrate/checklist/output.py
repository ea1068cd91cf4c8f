"""The verdict as a text table (colour on a terminal only) or as JUnit XML for CI."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

from migrate.checklist.model import FAIL, PASS, SKIP, WARN, Verdict

_COLOURS = {PASS: "\x1b[32m", FAIL: "\x1b[31m", WARN: "\x1b[33m", SKIP: "\x1b[36m"}
_RESET = "\x1b[0m"
DETAIL_WIDTH = 72


def text_table(verdict: Verdict, *, colour: bool = False) -> str:
    """One row per check: status, id, detail (wrapped under itself), then the verdict."""
    width = max(len(c.id) for c in verdict.checks)
    lines = []
    for check in verdict.checks:
        status = f"{check.status.upper():<4}"
        if colour:
            status = f"{_COLOURS[check.status]}{status}{_RESET}"
        wrapped = textwrap.wrap(check.detail, DETAIL_WIDTH, break_on_hyphens=False) or [""]
        lines.append(f"{status}  {check.id:<{width}}  {wrapped[0]}")
        indent = " " * (4 + 2 + width + 2)
        lines.extend(indent + rest for rest in wrapped[1:])
    counts = {s: sum(1 for c in verdict.checks if c.status == s) for s in (PASS, FAIL, WARN, SKIP)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    strict = " (strict: warn and skip block too)" if verdict.strict else ""
    word = "READY" if verdict.ready else "NOT READY"
    lines.append("")
    lines.append(f"{word} to turn v2 off: {summary}{strict}")
    return "\n".join(lines) + "\n"


def junit_xml(verdict: Verdict) -> str:
    """One ``testcase`` per check: ``fail`` is a failure carrying the detail, ``skip`` skipped.

    With ``strict``, a ``warn`` or ``skip`` fails too (it blocks the verdict)."""
    suite = ET.Element(
        "testsuite",
        name="webhooks-migrate checklist",
        tests=str(len(verdict.checks)),
    )
    failures = skipped = 0
    for check in verdict.checks:
        case = ET.SubElement(
            suite, "testcase", classname="webhooks-migrate.checklist", name=check.id
        )
        blocking = check.status == FAIL or (verdict.strict and check.status in (WARN, SKIP))
        if blocking:
            failures += 1
            failure = ET.SubElement(case, "failure", message=check.detail, type=check.status)
            failure.text = f"{check.title}\n{check.detail}"
        elif check.status == SKIP:
            skipped += 1
            ET.SubElement(case, "skipped", message=check.detail)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"{check.status}: {check.detail}"
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suites = ET.Element("testsuites", name="webhooks-migrate", tests=suite.get("tests", "0"))
    suites.set("failures", str(failures))
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
