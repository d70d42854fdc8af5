#!/usr/bin/env python3
"""Check that #include "..." lines only point where the layering allows.

docs/ARCHITECTURE.md promises that dependencies point one way: inside lib/,
each folder includes only the folders below it (LAYERS), and the folders
outside lib/ see lib/ through adalora.h and util/*.h alone. The compiler
enforces part of it (other folders get no include path into lib/'s
internals); this check catches the rest: a lib/ folder that reaches up or
sideways, and a "../" path around the include paths.

Every quoted include is resolved the way the build resolves it (the
including file's folder first, then the folder's include paths); one that
resolves nowhere is an error too, unless it is a file the build generates.

    scripts/check_includes.py [ROOT]     check the tree (default: the repo)
    scripts/check_includes.py --self-test
                                         also show that a deliberate
                                         violation is caught, then check
Exit status 0 when the layering holds, 1 with one line per violation.
"""
import os
import re
import sys
import tempfile

# Folders of lib/ and what each may include (besides itself). include/ is
# adalora.h: every folder may include it. The order is the layering.
LIB_LAYERS = {
    'lib/include': [],
    'lib/util': [],
    'lib/format': ['lib/util'],
    'lib/tokenizer': ['lib/util', 'lib/format'],
    'lib/model': ['lib/util', 'lib/format', 'lib/tokenizer'],
    'lib/nn': ['lib/util', 'lib/model'],
    'lib/data': ['lib/util', 'lib/tokenizer'],
    'lib/net': ['lib/util', 'lib/tokenizer', 'lib/model', 'lib/nn', 'lib/data'],
    'lib/adapter': ['lib/util', 'lib/format', 'lib/model', 'lib/nn', 'lib/data', 'lib/net'],
    'lib/train': ['lib/util', 'lib/format', 'lib/tokenizer', 'lib/model', 'lib/nn',
                  'lib/data', 'lib/net', 'lib/adapter'],
    'lib/infer': ['lib/util', 'lib/format', 'lib/tokenizer', 'lib/model', 'lib/nn',
                  'lib/data', 'lib/net', 'lib/adapter'],
}
PUBLIC = ['lib/include', 'lib/util']
OTHER = {
    'cli': PUBLIC,
    'store': PUBLIC,
    'api': ['store'] + PUBLIC,
    'daemon': ['api', 'store'] + PUBLIC,
}
# tests/ and bench/ may include anything: unit tests test internals.
FREE = ['tests', 'bench']

# Include paths per folder, as the meson files set them.
LIB_PATHS = ['lib', 'lib/include', 'lib/util/include']
PATHS = {
    'cli': ['lib/include', 'lib/util/include'],
    'store': ['store', 'lib/include', 'lib/util/include'],
    'api': ['api', 'store', 'lib/include', 'lib/util/include'],
    'daemon': ['daemon', 'api', 'store', 'lib/include', 'lib/util/include'],
}
GENERATED = {'migrations.h'}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def component(rel):
    """The layering unit a repo-relative path belongs to, or None."""
    parts = rel.split('/')
    if parts[0] == 'lib' and len(parts) > 2:
        return 'lib/' + parts[1]
    if parts[0] in OTHER or parts[0] in FREE:
        return parts[0]
    return None


def search_paths(comp):
    if comp.startswith('lib/'):
        return LIB_PATHS
    return PATHS.get(comp, LIB_PATHS + ['store', 'api', 'daemon'])


def allowed(src, dst):
    if src == dst or dst == 'lib/include' or src in FREE:
        return True
    if src in LIB_LAYERS:
        return dst in LIB_LAYERS[src]
    return dst in OTHER.get(src, [])


def check(root):
    problems = []
    for top in list(OTHER) + FREE + ['lib']:
        for dirpath, dirnames, files in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if d != 'node_modules']
            for name in sorted(files):
                if not name.endswith(('.c', '.h')):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                comp = component(rel)
                if comp is None:
                    continue
                with open(path, encoding='utf-8', errors='replace') as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    inc = m.group(1)
                    line = text.count('\n', 0, m.start()) + 1
                    where = f'{rel}:{line}'
                    cands = [os.path.join(os.path.dirname(rel), inc)]
                    cands += [os.path.join(p, inc) for p in search_paths(comp)]
                    target = next((os.path.normpath(c) for c in cands
                                   if os.path.isfile(os.path.join(root, c))), None)
                    if target is None:
                        if os.path.basename(inc) not in GENERATED and comp not in FREE:
                            problems.append(f'{where}: "{inc}" is not on {comp}\'s include path')
                        continue
                    dst = component(target)
                    if dst is None or target.startswith('..'):
                        problems.append(f'{where}: "{inc}" leaves the tree')
                    elif not allowed(comp, dst):
                        problems.append(f'{where}: {comp} may not include {target} ({dst})')
    return problems


def self_test():
    """A tree with two deliberate violations must report exactly those."""
    with tempfile.TemporaryDirectory() as t:
        def put(rel, text):
            os.makedirs(os.path.join(t, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(t, rel), 'w') as f:
                f.write(text)
        put('lib/include/adalora.h', '')
        put('lib/util/include/util/err.h', '#include "adalora.h"\n')
        put('lib/infer/eval.h', '#include "util/err.h"\n')
        put('lib/train/trainer.c', '#include "infer/eval.h"\n#include "util/err.h"\n')
        put('cli/main.c', '#include "adalora.h"\n#include "../lib/infer/eval.h"\n')
        put('api/x.c', '#include "infer/eval.h"\n')
        got = check(t)
        want = ['lib/train/trainer.c:1: lib/train may not include lib/infer/eval.h (lib/infer)',
                'cli/main.c:2: cli may not include lib/infer/eval.h (lib/infer)',
                'api/x.c:1: "infer/eval.h" is not on api\'s include path']
        if sorted(got) != sorted(want):
            print('check_includes: the self-test expected\n  ' + '\n  '.join(want) +
                  '\nbut got\n  ' + '\n  '.join(got))
            return False
        print('check_includes: the self-test caught its deliberate violations:')
        for p in got:
            print('  ' + p)
    return True


def main(argv):
    args = [a for a in argv[1:] if a != '--self-test']
    if len(args) != len(argv) - 1 and not self_test():
        return 1
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f'check_includes: {len(problems)} include(s) break the layering '
              '(docs/ARCHITECTURE.md, scripts/check_includes.py)')
        return 1
    print('check_includes: the layering holds')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
