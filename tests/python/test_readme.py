"""The README's Python example runs as printed, the way the README says to run it (PYTHONPATH
pointing at python/ of the tree, Debian's python3), and writes the file `gnf fit` writes."""
import filecmp
import os
import re
import shutil
import subprocess
import sys

from conftest import CLI, IMAGE, ROOT


def readme_example():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("\n## Python\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example(tmp_path):
    code = readme_example()
    assert "gnf.fit_image" in code and len(code.strip().split("\n")) <= 11
    os.makedirs(tmp_path / "data")
    shutil.copy(IMAGE, tmp_path / "data")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert re.match(r"\d+\.\d\d dB, \d+ parameters\n", p.stdout), p.stdout
    subprocess.run([CLI, "fit", "data/kodim23_crop.png", "--steps", "1000", "-o", "cli.gnf", "--quiet"], cwd=tmp_path,
                   check=True, capture_output=True)
    assert filecmp.cmp(tmp_path / "kodim23.gnf", tmp_path / "cli.gnf", shallow=False)
