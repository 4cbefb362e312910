# wire/bundle: sealed relay bundles (docs/PROTOCOL.md §6).
cs_unit_test(bundle cs_wire cs_base)
cs_fuzz_target(bundle cs_wire cs_base)
cs_bench(bundle cs_wire cs_base)
# Regenerates the checked-in seed corpus tests/fuzz/corpus/bundle/ (not run by ctest).
add_executable(gen_bundle_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gen_bundle_corpus.c)
target_link_libraries(gen_bundle_corpus PRIVATE cs_wire cs_base)
