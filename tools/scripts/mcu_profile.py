#!/usr/bin/python3
"""Where a device program's instructions go: run an ELF in QEMU (mps2-an386) with every
translated block logged, and count the instructions each function (or source line) executed.

  /usr/bin/python3 tools/scripts/mcu_profile.py DIR/app.elf --append "--input FILE --limit 1 --steps 8" [--lines 30]

QEMU logs the guest instructions of each block it translates (-d in_asm) and each block it
runs (-d exec, with chaining off so that every run is logged); a block's count times its
instructions, summed per function from the ELF's symbols (arm-none-eabi-nm), is what the
function executed. The whole program is counted: loading the model (its CRC-32), reading the
input and, with --count, painting the stack come before the inference. --lines also sums per
source line (arm-none-eabi-addr2line; build with MCU_OPT="-O2 -g"). The log of one inference
of the bundled CNN at T = 8 is about 100 MB; it goes to a temporary file. Standard library only.
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys
import tempfile

INSN = re.compile(r"^0x([0-9a-f]{8}):")


def parse(log):
    """Per block start address: its instruction addresses; and how often each block ran."""
    blocks, runs, cur = {}, collections.Counter(), None
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("Trace"):  # Trace 0: HOST [FLAGS/PC/...] symbol
                runs[int(line.split("[", 1)[1].split("/")[1], 16)] += 1
            elif line.startswith("IN:"):
                cur = None
            else:
                m = INSN.match(line)
                if m:
                    a = int(m.group(1), 16)
                    if cur is None:
                        cur = a
                        blocks[cur] = []
                    blocks[cur].append(a)
    return blocks, runs


def functions(elf):
    out = subprocess.run(["arm-none-eabi-nm", "-n", elf], capture_output=True, text=True, check=True).stdout
    syms = sorted((int(p[0], 16), p[2]) for p in (l.split() for l in out.splitlines())
                  if len(p) == 3 and p[1] in "tTwW")
    return [a for a, _ in syms], [n for _, n in syms]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("elf")
    ap.add_argument("--append", default="", help="the program's arguments (QEMU -append)")
    ap.add_argument("--machine", default="mps2-an386")
    ap.add_argument("--top", type=int, default=25, help="functions to print")
    ap.add_argument("--lines", type=int, default=0, help="also the N busiest source lines")
    a = ap.parse_args()
    fd, log = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    try:
        subprocess.run(["qemu-system-arm", "-M", a.machine, "-display", "none", "-icount", "shift=0,align=off,sleep=off",
                        "-chardev", "stdio,id=sh0", "-semihosting-config", "enable=on,target=native,chardev=sh0",
                        "-kernel", a.elf, "-append", a.append, "-d", "exec,nochain,in_asm", "-D", log],
                       stdout=subprocess.DEVNULL, check=False)
        blocks, runs = parse(log)
    finally:
        os.unlink(log)
    if not runs:
        sys.exit("mcu_profile: QEMU logged no blocks (is %s a device build?)" % a.elf)
    per_insn = collections.Counter()
    for pc, n in runs.items():
        for insn in blocks.get(pc, [pc]):
            per_insn[insn] += n
    addrs, names = functions(a.elf)
    per_fn = collections.Counter()
    for insn, n in per_insn.items():
        k = bisect.bisect_right(addrs, insn & ~1) - 1
        per_fn[names[k] if k >= 0 else "?"] += n
    total = sum(per_fn.values())
    print("| function | instructions | share |\n| --- | --- | --- |")
    for fn, n in per_fn.most_common(a.top):
        print("| %s | %d | %.1f %% |" % (fn, n, 100.0 * n / total))
    print("| all | %d | |" % total)
    if a.lines:
        pcs = sorted(per_insn)
        out = subprocess.run(["arm-none-eabi-addr2line", "-e", a.elf] + [hex(p) for p in pcs],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        per_line = collections.Counter()
        for p, where in zip(pcs, out):
            per_line[os.path.basename(where)] += per_insn[p]
        print("\n| source line | instructions |\n| --- | --- |")
        for where, n in per_line.most_common(a.lines):
            print("| %s | %d |" % (where, n))


if __name__ == "__main__":
    main()
