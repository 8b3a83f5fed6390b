"""Maps the one `jobpulse` namespace onto its component folders (agent/, hub/, deploy/).

pyproject.toml holds all metadata; setuptools cannot express a namespace package whose
sub-packages live under different roots, so the package directories are computed here.
"""

from setuptools import find_namespace_packages, setup

ROOTS = ("agent", "hub", "deploy")

packages: list[str] = []
package_dir: dict[str, str] = {}
for root in ROOTS:
    for package in find_namespace_packages(root, include=["jobpulse.*"]):
        packages.append(package)
        package_dir[package] = f"{root}/{package.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
