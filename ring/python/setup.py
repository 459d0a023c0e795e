"""Build the mring Python binding from the source tree with setuptools only:

    pip install ./ring/python            (Debian: python3-pip)
    /usr/bin/python3 setup.py build      (no pip)

The extension compiles the library's C sources itself (ring/src), so it
needs no installed libmring; liburing and libnuma are used when their
headers are there, as the CMake build does.
"""
import os
import pathlib

from setuptools import Extension, setup

here = pathlib.Path(__file__).resolve().parent
ring = here.parent
# Relative paths: setuptools keeps object files inside its build directory.
rel = os.path.relpath(ring, here)
lib_sources = sorted(
    os.path.join(rel, "src", p.name) for p in (ring / "src").glob("*.c")
    if p.name != "chaos.c")  # chaos.c: the MRING_CHAOS test build only

macros = [("MRING_BUILDING", None)]
libs = ["pthread"]
for header, macro, lib in (("liburing.h", "MRING_HAVE_LIBURING", "uring"),
                           ("numa.h", "MRING_HAVE_LIBNUMA", "numa")):
    if any(os.path.exists(os.path.join(d, header))
           for d in ("/usr/include", "/usr/local/include")):
        macros.append((macro, "1"))
        libs.append(lib)

version = "0.0.0"
for line in (ring / "include" / "mring.h").read_text().splitlines():
    if line.startswith("#define MRING_VERSION_STRING"):
        version = line.split('"')[1]

setup(
    name="mring",
    version=version,
    description="Zero-copy Python access to mring ring files",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="see the mring repository",
    packages=["mring"],
    package_data={"mring": ["py.typed", "_mring.pyi"]},
    python_requires=">=3.9",
    ext_modules=[Extension(
        "mring._mring",
        sources=["src/_mring.c"] + lib_sources,
        include_dirs=[os.path.join(rel, "include"), os.path.join(rel, "src")],
        define_macros=macros,
        libraries=libs,
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden"],
    )],
)
