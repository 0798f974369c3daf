#!/bin/sh
# The mutation run: changes the module one line at a time (in a copy, never
# this checkout) and runs the tests of the line's package against each
# change; prints every change no test noticed (a survivor) with file:line,
# and the figures. Files are named by their path from the repository's
# root (a bare name is a root file); a folder stands for its files.
#
#   scripts/mutants.sh [flags] [file.go | dir ...]  default: the files holding
#                                               security rules and sessions
#   scripts/mutants.sh -list redirect.go        the mutations, without running
#   scripts/mutants.sh internal/access          that package's files, its tests
#   scripts/mutants.sh -full cookie.go          survivors of -short again
#                                               against the whole suite (for
#                                               another package: its tests
#                                               and the root's whole suite)
#   scripts/mutants.sh -j 2 -timeout 2m ...     two at a time; per-mutation limit
#
# Survivors known to be harmless are in scripts/mutants-explained.txt, each
# with its function and why; the run exits 1 when a survivor is not there.
# -list prints id, file:line, function, operator, change; the function has
# #rank (Put#2) where it holds the same mutation on identical lines, as its
# entry must. Not part of .ci/run: a run over every default file takes
# about an hour on two cores.
set -eu
cd "$(dirname "$0")/.."
exec nice go run ./scripts/mutants "$@"
