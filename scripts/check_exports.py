#!/usr/bin/env python3
"""The shared libadalora exports adalora.h's functions and nothing else.

lib/ is built with -fvisibility=hidden and adalora.h marks its functions
ADA_API; this lists the library's dynamic symbols (nm -D) and fails on any
defined one that does not start with ada_, and on an adalora.h function the
library does not export.

    scripts/check_exports.py LIBADALORA.so ADALORA.H
"""
import re
import subprocess
import sys

lib, header = sys.argv[1], sys.argv[2]
out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True, capture_output=True,
                     text=True).stdout
exported = {line.split()[-1] for line in out.splitlines() if line.split()
            and line.split()[-2] in 'TtDdBbRrVvWw'}
with open(header) as f:
    declared = set(re.findall(r'^ADA_API\s[^(]*?\b(ada_\w+)\(', f.read(), re.M))
stray = sorted(s for s in exported if not s.startswith('ada_'))
missing = sorted(declared - exported)
for s in stray:
    print(f'check_exports: {lib} exports {s}, which is not in adalora.h')
for s in missing:
    print(f'check_exports: adalora.h declares {s}, which {lib} does not export')
if stray or missing:
    sys.exit(1)
print(f'check_exports: {len(exported)} symbols, all of them adalora.h\'s ({len(declared)} declared)')
