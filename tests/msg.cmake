# wire/frame, wire/chunk, wire/msg (issue 4 §2): unit tests, fuzz targets, codec bench.
cs_unit_test(frame cs_wire cs_base)
cs_unit_test(msg cs_wire cs_base)
cs_fuzz_target(frame cs_wire cs_base)
cs_fuzz_target(msg cs_wire cs_base)
cs_bench(codec cs_wire cs_base)
# Writes the seed corpora of fuzz_frame and fuzz_msg from the encoders
# (tests/fuzz/corpus/{frame,msg}/); run by hand after a format change.
add_executable(gen_msg_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gen_msg_corpus.c)
target_link_libraries(gen_msg_corpus PRIVATE cs_wire cs_base)
# libFuzzer only sees coverage of code built with -fsanitize=fuzzer-no-link:
# without it the fuzzers above are blind inside cs_wire (cov: 7). Sanitizer
# builds only (./run test, ./run fuzz), so that benchmarks stay uninstrumented.
if(CS_FUZZ AND CS_SANITIZE)
	target_compile_options(cs_wire PRIVATE -fsanitize=fuzzer-no-link)
endif()
# The engine's changesets through the codec, once the branch meets sql/engine
# (built only where the engine and its test fixture exist).
if(EXISTS ${CMAKE_SOURCE_DIR}/sql/engine.h AND
    EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/engine_fixture.h)
	cs_unit_test(wire_engine cs_wire cs_sql cs_base)
endif()
