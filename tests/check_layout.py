#!/usr/bin/env python3
"""Hold the source tree to its layout (docs/layout.md): every #include points down the
table of folders below, and no files include each other, directly or around a loop.

  check_layout.py [ROOT]      check the checkout at ROOT (default: this file's checkout)
  check_layout.py --self-test plant each kind of violation in a scratch tree and check that
                              every one is reported (so this test can fail)

Prints one line per violation, "FILE:LINE: what is wrong", and exits 1 if there is any.
A module is a file without its extension: x.c and x.h are one module, so x.c -> y.h and
y.c -> x.h is a loop. Standard library only.
"""
import os
import re
import sys
import tempfile

# folder -> the folders its files may include, besides their own. Order is the layout's,
# bottom up; a folder never names one after it.
LOWER = {
    "runtime": [],
    "converter/base": [],
    "converter/ir": ["converter/base"],
    "converter/eval": ["converter/ir", "converter/base"],
    "converter/passes": ["converter/eval", "converter/ir", "converter/base"],
    "converter/proto": ["converter/base"],
    "converter/data": ["converter/proto", "converter/base"],
    "converter/onnx": ["converter/proto", "converter/passes", "converter/eval", "converter/ir",
                       "converter/base"],
    "normalize": ["converter/eval", "converter/ir", "converter/base", "runtime"],
    "normalize/correct": ["normalize", "converter/eval", "converter/ir", "converter/base", "runtime"],
    # The public library (ann2snn.h) over everything below it.
    "converter/api": ["normalize/correct", "normalize", "converter/onnx", "converter/data", "converter/proto",
                      "converter/passes", "converter/eval", "converter/ir", "converter/base", "runtime"],
}
LIBRARIES = list(LOWER)
LOWER.update({
    # Command-line programs: anything below; nothing includes them (see TOOL_PREFIX).
    "tools/ann2snn": LIBRARIES,
    "tools/snn-run": ["runtime", "converter/data", "converter/proto", "converter/base"],
    "tools/scatter-floor": ["runtime", "converter/data", "converter/proto", "converter/base"],
    # Tests and the embedding example see the libraries, never a tool.
    "tests": LIBRARIES,
    "tests/fuzz": LIBRARIES + ["tests"],
    "docs": ["runtime"],
})
TOOL_PREFIX = "tools/"

# Headers meant for a few folders only.
PRIVATE = {
    # The protobuf-c types: only the TensorProto reader and the ONNX importer see them.
    "converter/proto/tensorproto_pb.h": ["converter/proto", "converter/onnx"],
    # The runtime's inner loops, shared with the tool that replays them and the tests.
    "runtime/snn_internal.h": ["runtime", "tools/scatter-floor", "tests"],
    # normalize/ takes the file format from the runtime, nothing else; its bias correction
    # (normalize/correct/) runs networks through it.
    "runtime/snn_runtime.h": ["runtime", "normalize/correct", "converter/api", "tools", "tests", "docs"],
}
# Headers that the build generates: name -> folders that may include it.
GENERATED = {"onnx.pb-c.h": ["converter/proto", "converter/onnx"]}
# Where a quoted include is looked up after the including file's own folder.
INCLUDE_ROOTS = ["converter", "normalize", "runtime", "tests"]
# The runtime builds for devices: the C library and libm, and the compilers' intrinsic headers.
RUNTIME_SYSTEM = {
    "assert.h", "float.h", "inttypes.h", "limits.h", "math.h", "stdarg.h", "stdbool.h", "stddef.h",
    "stdint.h", "stdio.h", "stdlib.h", "string.h", "emmintrin.h", "immintrin.h", "arm_acle.h",
}
SOURCE_DIRS = ["runtime", "converter", "normalize", "tools", "tests", "docs"]
SKIPPED_DIRS = {"tests/data", "tests/fuzz/corpus"}  # data, not code
EXTENSIONS = (".c", ".h", ".def")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def folder_of(rel):
    """The layout folder a repo-relative path belongs to, or None when it has no rule."""
    d = os.path.dirname(rel)
    while d:
        if d in LOWER:
            return d
        d = os.path.dirname(d)
    return None


def sources(root):
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            rel_dir = os.path.relpath(dirpath, root)
            dirnames[:] = sorted(x for x in dirnames
                                 if os.path.join(rel_dir, x) not in SKIPPED_DIRS)
            for f in sorted(filenames):
                if f.endswith(EXTENSIONS):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def resolve(root, rel, name):
    for base in [os.path.dirname(rel)] + INCLUDE_ROOTS:
        cand = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def module(rel):
    return os.path.splitext(rel)[0]


def check(root):
    errors = []
    edges = {}  # module -> {module: (file, line)}
    for rel in sources(root):
        here = folder_of(rel)
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        for no, text in enumerate(lines, 1):
            m = INCLUDE.match(text)
            if not m:
                continue
            kind, name = m.groups()
            at = f"{rel}:{no}"
            if kind == "<":
                if here == "runtime" and name not in RUNTIME_SYSTEM:
                    errors.append(f"{at}: runtime/ includes <{name}>; it may use only the C "
                                  "library and libm")
                continue
            target = resolve(root, rel, name)
            if target is None:
                if name in GENERATED:
                    if here not in GENERATED[name]:
                        errors.append(f'{at}: includes the generated "{name}"; only '
                                      f'{", ".join(GENERATED[name])} may')
                else:
                    errors.append(f'{at}: "{name}" is not found in the folder or in '
                                  f'{", ".join(INCLUDE_ROOTS)}')
                continue
            there = folder_of(target)
            if here is None:
                errors.append(f"{at}: {os.path.dirname(rel)}/ has no place in the layout "
                              "(tests/check_layout.py LOWER)")
                continue
            if there != here:
                if there is not None and there.startswith(TOOL_PREFIX):
                    errors.append(f"{at}: includes {target}, a command-line program's file; "
                                  "nothing includes those")
                elif there not in LOWER[here]:
                    errors.append(f"{at}: {here}/ includes {target}, which {there}/ holds; "
                                  f"{here}/ may include only "
                                  f"{', '.join(x + '/' for x in LOWER[here]) or 'itself'}")
            allowed = PRIVATE.get(target)
            if allowed and not any(here == a or here.startswith(a + "/") for a in allowed):
                errors.append(f"{at}: includes {target}, which is private to "
                              f"{', '.join(a + '/' for a in allowed)}")
            a, b = module(rel), module(target)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, at)
    errors += loops(edges)
    return errors


def loops(edges):
    """One message per strongly connected group of modules, with one loop through it."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(describe_loop(edges, group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def describe_loop(edges, group):
    start = min(group)
    # Breadth-first from start back to start inside the group: the shortest loop.
    prev, frontier, seen = {}, [start], {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, {})):
                if w not in group:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    path.reverse()
                    hops = [edges[x][y] for x, y in zip(path, path[1:] + [start])]
                    return (f"{hops[0]}: include loop: " + " -> ".join(path + [start]) +
                            " (" + ", ".join(hops) + ")")
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return f"include loop among {', '.join(sorted(group))}"


def self_test():
    """Each planted file must produce the error named beside it; a clean file none."""
    plants = {
        "runtime/snn_runtime.h": ("", None),
        "runtime/snn_internal.h": ("", None),
        "runtime/up.c": ('#include "ir/graph.h"\n', "runtime/ includes converter/ir/graph.h"),
        "runtime/sys.c": ("#include <protobuf-c/protobuf-c.h>\n", "runtime/ includes <protobuf-c"),
        "converter/base/diag.h": ("", None),
        "converter/ir/graph.h": ('#include "base/diag.h"\n', None),
        "converter/ir/graph.c": ('#include "graph.h"\n#include "shape.h"\n', "include loop"),
        "converter/ir/shape.h": ('#include "graph.h"\n', None),
        "converter/ir/shape.c": ('#include "shape.h"\n', None),
        "converter/eval/eval.h": ('#include "ir/graph.h"\n', None),
        "converter/ir/up.c": ('#include "eval/eval.h"\n', "converter/ir/ includes converter/eval/eval.h"),
        "converter/proto/tensorproto_pb.h": ('#include "onnx.pb-c.h"\n', None),
        "converter/data/pb.c": ('#include "proto/tensorproto_pb.h"\n', "private to"),
        "converter/data/gen.c": ('#include "onnx.pb-c.h"\n', 'the generated "onnx.pb-c.h"'),
        "converter/data/missing.c": ('#include "nowhere.h"\n', '"nowhere.h" is not found'),
        "normalize/n.c": ('#include "snn_internal.h"\n', "private to"),
        "tools/ann2snn/cli.h": ("", None),
        "tests/t.c": ('#include "../tools/ann2snn/cli.h"\n', "a command-line program's file"),
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, (text, _) in plants.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        errors = check(root)
    failed = 0
    for rel, (_, want) in plants.items():
        mine = [e for e in errors if e.startswith(rel + ":")]
        if want is None and mine:
            print(f"self-test: {rel} should pass, got: {mine}")
            failed += 1
        elif want is not None and not any(want in e for e in mine):
            print(f"self-test: {rel} should report '{want}', got: {mine}")
            failed += 1
    print(f"self-test: {len(plants) - failed} of {len(plants)} planted files judged right")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    errors = check(os.path.abspath(root))
    for e in errors:
        print(e)
    n = sum(1 for _ in sources(os.path.abspath(root)))
    print(f"layout: {n} files, {len(errors)} violation{'s' if len(errors) != 1 else ''}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
