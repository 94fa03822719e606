"""The shared library the package loads: its files and soname, exactly the functions of
include/gnf.h exported, and every struct the package mirrors laid out as the C compiler lays it."""
import ctypes
import os
import re
import shutil
import subprocess

import pytest

import gnf
from gnf import _lib
from conftest import ROOT

REL = os.path.join(ROOT, "build", "release")


def header_functions():
    """The functions include/gnf.h declares (from the preprocessed header, comments gone)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to preprocess include/gnf.h")
    out = subprocess.run([cc, "-E", "-P", "-Iinclude", "include/gnf.h"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return set(re.findall(r"\b(gnf_[a-z0-9_]*)\s*\(", out))


def test_files_and_soname():
    assert os.readlink(os.path.join(REL, "libgnf.so")) == "libgnf.so.0"
    assert os.readlink(os.path.join(REL, "libgnf.so.0")) == "libgnf.so.0.1"
    assert os.path.isfile(os.path.join(REL, "libgnf.so.0.1"))
    if shutil.which("readelf") is None:
        pytest.skip("no readelf (binutils)")
    dyn = subprocess.run(["readelf", "-d", os.path.join(REL, "libgnf.so.0.1")], capture_output=True, text=True).stdout
    assert "Library soname: [libgnf.so.0]" in dyn


def test_exports_exactly_the_public_functions():
    if shutil.which("nm") is None:
        pytest.skip("no nm (binutils)")
    out = subprocess.run(["nm", "-D", "--defined-only", os.path.join(REL, "libgnf.so.0.1")], capture_output=True,
                         text=True, check=True).stdout
    exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
    declared = header_functions()
    assert len(declared) > 70
    assert exported == declared, "exported but not in gnf.h: %s; in gnf.h but not exported: %s" % (
        sorted(exported - declared), sorted(declared - exported))
    assert all(s.startswith("gnf_") for s in exported)


def test_package_loads_this_build():
    if os.environ.get("GNF_LIBRARY"):
        pytest.skip("GNF_LIBRARY chooses the library")
    assert os.path.realpath(gnf.library_path) == os.path.realpath(os.path.join(REL, "libgnf.so.0.1"))


def test_kernel_name():
    assert gnf.kernel_name() in ("avx2-fma", "scalar")


def test_struct_layouts_match_the_header(tmp_path):
    """A C program prints sizeof of each struct and offsetof and sizeof of each field; ctypes must agree."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ['#include "gnf.h"', "#include <stddef.h>", "#include <stdio.h>", "int main(void) {"]
    want = []
    for name, cls in _lib.STRUCTS.items():
        lines.append('printf("%%s %%zu\\n", "%s", sizeof(%s));' % (name, name))
        want.append("%s %d" % (name, ctypes.sizeof(cls)))
        for field, ftype in cls._fields_:
            lines.append('printf("%%s %%zu %%zu\\n", "%s.%s", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                         % (name, field, name, field, name, field))
            want.append("%s.%s %d %d" % (name, field, getattr(cls, field).offset, ctypes.sizeof(ftype)))
    lines.append("return 0; }")
    src, exe = tmp_path / "layout.c", tmp_path / "layout"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe)], check=True)
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    assert got == want
