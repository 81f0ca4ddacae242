#!/usr/bin/env bash
# Build and check a release of gitreg (README "Releases"): the sdist and the wheel in dist/,
# checked by `twine check`, for the version in gitreg/__init__.py (the one place it is
# written). Refuses when CHANGELOG.md has no section for that version, and, given --tag,
# when the work tree is not clean or the tag v<version> exists already; then it makes the
# annotated tag (push it with `git push origin v<version>`). Publishing is a separate,
# deliberate step: `twine upload dist/*`.
#
#   scripts/release.sh          build and check only (CI runs this on every change)
#   scripts/release.sh --tag    build, check, and tag v<version>
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

version=$("$python" -c 'import ast, sys
tree = ast.parse(open("gitreg/__init__.py").read())
print(next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
           and getattr(n.targets[0], "id", "") == "__version__"))')
tag="v$version"
grep -q "^## $version\$" CHANGELOG.md \
    || { echo "release: CHANGELOG.md has no '## $version' section" >&2; exit 1; }
if [ "${1:-}" = "--tag" ]; then
    [ -z "$(git status --porcelain)" ] \
        || { echo "release: the work tree has changes; commit them first" >&2; exit 1; }
    ! git rev-parse -q --verify "refs/tags/$tag" >/dev/null \
        || { echo "release: the tag $tag exists already" >&2; exit 1; }
elif [ -n "${1:-}" ]; then
    echo "usage: scripts/release.sh [--tag]" >&2; exit 2
fi

rm -rf dist
"$python" -m build --sdist --wheel --outdir dist . >/dev/null
"$python" -m twine check --strict dist/*
for file in "dist/gitreg_registry-$version.tar.gz" "dist/gitreg_registry-$version-py3-none-any.whl"; do
    [ -f "$file" ] || { echo "release: $file was not built" >&2; exit 1; }
done
if [ "${1:-}" = "--tag" ]; then
    git tag -a "$tag" -m "gitreg $version"
    echo "tagged $tag: git push origin $tag; then twine upload dist/*"
else
    echo "built and checked dist/ for $version ($tag)"
fi
