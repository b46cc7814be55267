"""Where the scripts find the checkout and the built programs (standard library only)."""
import os

# The checkout: this file is tools/scripts/paths.py.
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.path.join(ROOT, "build")


def tool(build, name):
    """A command-line program of a meson build dir: tools/NAME/NAME."""
    return os.path.join(build, "tools", name, name)
