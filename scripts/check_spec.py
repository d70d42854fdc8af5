#!/usr/bin/env python3
"""docs/adalora.md is the project's copy of the algorithm's contract
(../shared/docs/adalora.md), which comments in lib/ cite by section. This
check fails when the two differ, so a change to the contract is noticed and
the code and the copy move together; it skips (77) where ../shared is absent.

    scripts/check_spec.py [ROOT]
"""
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
ours = os.path.join(root, 'docs', 'adalora.md')
shared = os.path.join(root, '..', 'shared', 'docs', 'adalora.md')
if not os.path.isfile(shared):
    print(f'check_spec: {shared} is absent; nothing to compare docs/adalora.md with')
    sys.exit(77)
with open(ours, 'rb') as a, open(shared, 'rb') as b:
    if a.read() != b.read():
        print('check_spec: docs/adalora.md differs from ../shared/docs/adalora.md: bring the '
              'copy (and the code it describes) in step with the contract')
        sys.exit(1)
print('check_spec: docs/adalora.md is the shared contract')
