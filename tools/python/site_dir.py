"""Where a package installed under PREFIX is importable by this Python: the shallowest
site- or dist-packages folder on sys.path inside PREFIX, printed as an absolute path, or
nothing when the Python searches none there.  site_dir.py PREFIX"""
import os
import sys

prefix = os.path.abspath(sys.argv[1])
found = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))
         and os.path.commonpath([prefix, os.path.abspath(p)]) == prefix]
if found:
    print(min(found, key=lambda p: len(os.path.relpath(p, prefix).split(os.sep))))
