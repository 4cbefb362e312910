#!/bin/sh
# The engine demo (issue 3 §3) replaces this once sql/ lands its engine.
set -eu
build=$1
"$build/agent/cabsync" --version
