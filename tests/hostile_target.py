"""A --python target that answers through the real interpreter, then puts hostile strings into
its answers: rich markup, terminal escapes (window title, clipboard, clear screen, C1 CSI),
newlines that forge a log line, a lone surrogate. Usage: python hostile_target.py PYTHON...
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

ESCAPES = "\x1b]0;owned\x07\x1b]52;c;ZWNobyBvd25lZA==\x07\x1b[2J\x9b31m"
FORGED = "\niodetect: error: forged line"
HOSTILE = f"[/][bold red]x{ESCAPES}{FORGED}\udc80"


def facts(doc: dict[str, Any]) -> None:
    doc["host"]["container"] = "[/]" + ESCAPES
    doc["host"]["os_name"] = HOSTILE
    doc["interpreter"]["executable"] = "/usr/bin/python\udc80" + ESCAPES + FORGED
    for loop in doc.get("loops", []):
        loop["support_note"] = HOSTILE
    doc["errors"] = [{"probe": "[/]" + ESCAPES, "error": HOSTILE}]


def selftest(doc: dict[str, Any]) -> None:
    doc.setdefault("warnings", []).append(
        {
            "category": "DeprecationWarning",
            "message": HOSTILE,
            "where": "loop_setup.py:1" + ESCAPES,
            "origin": "setup",
            "phase": "run",
        }
    )


def main() -> None:
    program = sys.stdin.buffer.read()
    found = re.search(rb"MARKER = '(@@iodetect@@ [0-9a-f]+ )'", program)
    marker = found.group(1) if found else b"@@iodetect@@ "
    done = subprocess.run(sys.argv[1:], input=program, stdout=subprocess.PIPE, check=False)
    for line in done.stdout.splitlines(keepends=True):
        if line.startswith(marker):
            doc = json.loads(line[len(marker) :])
            {"iodetect.facts": facts, "iodetect.selftest": selftest}.get(
                doc.get("kind"), lambda d: None
            )(doc)
            line = marker + json.dumps(doc).encode("ascii") + b"\n"
        sys.stdout.buffer.write(line)
    sys.stdout.flush()
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
