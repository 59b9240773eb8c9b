"""Copy the user-editable folders into the package so a plain `pip install .` ships them."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("judges", "prompts", "tournaments", "data")


class BuildWithBundled(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "arena" / "_bundled"
        for name in BUNDLED:
            src = HERE / name
            if src.is_dir():
                dst = target / name
                if dst.exists():
                    shutil.rmtree(dst)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "make_*.py"))


setup(cmdclass={"build_py": BuildWithBundled})
