#!/usr/bin/env python3
"""Symbol hygiene: libkwire.so exports exactly the functions that include/kwire/
declares with KW_API (and data symbols it declares extern).

  check_exports.py LIBKWIRE_SO INCLUDE_DIR

Fails, naming each offender, when the library exports a symbol no public header
declares (an internal function leaking into users' link namespace) or when a
public header declares a KW_API function the library does not export (a user's
link error)."""
import pathlib
import re
import subprocess
import sys

DECL = re.compile(r"\bKW_API\b[^;{]*?\b(kw_\w+)\s*\(", re.S)


def declared(include_dir):
    names = set()
    for header in sorted(pathlib.Path(include_dir).rglob("*.h")):
        text = re.sub(r"/\*.*?\*/", " ", header.read_text(), flags=re.S)
        names.update(DECL.findall(text))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # Names starting with "__" are made by the compiler or a sanitizer, never ours.
        if len(parts) == 3 and parts[1] in "TDBRVW" and not parts[2].startswith("__"):
            names.add(parts[2])
    return names


def main():
    lib, include_dir = sys.argv[1], sys.argv[2]
    public, visible = declared(include_dir), exported(lib)
    leaked = sorted(visible - public)
    missing = sorted(public - visible)
    for name in leaked:
        print(f"exported but not declared in {include_dir}: {name}")
    for name in missing:
        print(f"declared KW_API but not exported by {lib}: {name}")
    print(f"{len(visible)} exported, {len(public)} declared, {len(leaked)} leaked, {len(missing)} missing")
    return 1 if leaked or missing else 0


if __name__ == "__main__":
    sys.exit(main())
