# wire/bundle: sealed relay bundles (docs/PROTOCOL.md §6).
cs_unit_test(bundle cs_wire cs_base)
cs_fuzz_target(bundle cs_wire cs_base)
if(TARGET fuzz_bundle)
	# cs_fuzz_target instruments only the target's own file, so libFuzzer would
	# see no coverage of the decoder: compile wire/bundle.c into the target with
	# -fsanitize=fuzzer (the linker then takes no bundle.o from cs_wire).
	target_sources(fuzz_bundle PRIVATE ${CMAKE_SOURCE_DIR}/wire/bundle.c)
endif()
cs_bench(bundle cs_wire cs_base)
# Regenerates the checked-in seed corpus tests/fuzz/corpus/bundle/ (not run by ctest).
add_executable(gen_bundle_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gen_bundle_corpus.c)
target_link_libraries(gen_bundle_corpus PRIVATE cs_wire cs_base)
