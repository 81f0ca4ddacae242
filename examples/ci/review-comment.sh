#!/usr/bin/env bash
# The review comment for a pull (merge) request on a gitreg registry, in markdown, on stdout.
#
# For every models/NAME/stages.yaml the change touches, and every stage of NAME whose
# versions the change moves: `gitreg diff NAME OLD NEW --format markdown`, where OLD is
# what the base branch holds (`gitreg which NAME STAGE --rev BASE`), or `gitreg show
# NAME@NEW` when the stage was empty there. Prints nothing when no stage moves.
#
# usage: review-comment.sh BASE_REV > comment.md
#   BASE_REV   the target branch as fetched in this checkout, e.g. origin/main
#
# Run it at the top of the registry checkout, with the whole history (actions/checkout
# fetch-depth: 0, GitLab GIT_DEPTH: 0): it needs the merge base of HEAD and BASE_REV.
# Needs git, gitreg and python3 (to read gitreg's --json output) on PATH.
# Called by examples/ci/github/gitreg-review.yml and examples/ci/gitlab/.gitlab-ci.yml;
# copy it into your registry as ci/review-comment.sh.
#
# Everything from the change (paths, model names, versions) is quoted and passed as
# arguments, never evaluated: a pull request from anyone is input, not code.
set -euo pipefail

die() { printf 'review-comment.sh: %s\n' "$*" >&2; exit 2; }

[ "$#" -eq 1 ] || die "usage: review-comment.sh BASE_REV (e.g. origin/main)"
base=$1
case $base in -*) die "BASE_REV must not start with '-': $base" ;; esac
git rev-parse --verify --quiet "$base^{commit}" >/dev/null ||
  die "unknown revision $base: fetch the base branch with its history first"
models_dir=${GITREG_MODELS_DIR:-models}   # registry.yaml layout.models_dir

# What the change moves is judged from where it forked (the merge base), so that a base
# branch that moved on since does not show up as the change's doing; what it replaces is
# read at the base branch's tip, which is what the merge will replace.
fork=$(git merge-base "$base" HEAD)
base_tip=$(git rev-parse "$base^{commit}")

versions_at() {  # NAME STAGE REV: the versions STAGE holds at REV, one a line
  gitreg which "$1" "$2" --rev "$3" --json |
    python3 -c 'import json, sys; print(*json.load(sys.stdin)["versions"], sep="\n")'
}
stages_now() {  # NAME: "STAGE<TAB>V1,V2" for every stage, as the work tree holds them
  gitreg show "$1" --json | python3 -c 'import json, sys
for stage, held in json.load(sys.stdin)["stages"].items():
    print(stage, ",".join(held), sep="\t")'
}
missing_from() {  # LIST_A LIST_B: the lines of A that are not lines of B
  local item
  while IFS= read -r item; do
    [ -n "$item" ] || continue
    grep -Fqx -- "$item" <<<"$2" || printf '%s\n' "$item"
  done <<<"$1"
}
inline() {  # a newline-separated list as `a`, `b` (or "empty")
  if [ -z "$1" ]; then printf '_empty_'; return; fi
  printf '%s\n' "$1" | sed 's/.*/`&`/' | paste -sd, - | sed 's/,/, /g'
}

changed=$(mktemp)
trap 'rm -f "$changed"' EXIT
# The work tree against the fork point: in CI the work tree is HEAD; run by hand, it
# previews uncommitted edits too.
git diff --name-only -z "$fork" -- "$models_dir/*/stages.yaml" >"$changed"

header_done=
header() {
  [ -n "$header_done" ] && return
  printf '## gitreg: the stages this change moves\n'
  header_done=1
}

while IFS= read -r -d '' path; do
  model=${path#"$models_dir"/}
  model=${model%/stages.yaml}
  if [ ! -e "$path" ]; then
    header
    printf '\n**`%s`**: this change deletes %s.\n' "$model" "$path"
    continue
  fi
  # Read into variables, not through `< <(...)`: a failing command must stop the script.
  stages=$(stages_now "$model")
  while IFS=$'\t' read -r stage held; do
    [ -n "$stage" ] || continue
    after=${held//,/$'\n'}
    before=$(versions_at "$model" "$stage" "$fork")
    [ "$before" != "$after" ] || continue
    old=$before
    if [ "$base_tip" != "$fork" ]; then
      old=$(versions_at "$model" "$stage" "$base")   # what the merge will replace
    fi
    [ "$old" != "$after" ] || continue               # the base branch has it already
    header
    printf '\n**`%s` %s**: %s → %s\n' "$model" "$stage" "$(inline "$old")" "$(inline "$after")"
    arriving=$(missing_from "$after" "$old")
    if [ -z "$arriving" ]; then
      printf '\nThis change takes %s out of %s.\n' "$(inline "$(missing_from "$old" "$after")")" "$stage"
    fi
    while IFS= read -r new; do
      [ -n "$new" ] || continue
      printf '\n'
      if [ -n "$old" ]; then
        gitreg diff "$model" "$(printf '%s\n' "$old" | tail -n 1)" "$new" --format markdown
      else
        printf '%s was empty; the version it gets:\n\n```text\n' "$stage"
        gitreg show "$model@$new"
        printf '```\n'
      fi
    done <<<"$arriving"
  done <<<"$stages"
done <"$changed"
