# The release build every script measures with (scripts/bench, scripts/faults).
#
# Always the same packages: cargo unifies dependency features over the packages of one build, so
# building a different set would rebuild the dependencies and the workspace, and could hand the
# next script a chatd built with other features than the one measured before.
build_release() {
  cargo build --release -p server -p faults -p bench -p loadgen
}
