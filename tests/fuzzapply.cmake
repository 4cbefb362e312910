# tests/fuzzapply.cmake: hostile CHANGES messages through the codec into
# cs_engine_apply() on the demo schema (tests/fuzz/fuzz_apply.c), and the
# generator of its seed corpus tests/fuzz/corpus/apply/ (run by hand).
cs_fuzz_target(apply cs_sql cs_wire cs_base)
if(TARGET fuzz_apply)
	target_compile_definitions(fuzz_apply PRIVATE CS_DEMO_DIR="${CMAKE_SOURCE_DIR}/sql/demo")
	target_link_libraries(fuzz_apply PRIVATE PkgConfig::SQLITE)
endif()
add_executable(gen_apply_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gen_apply_corpus.c)
target_compile_definitions(gen_apply_corpus PRIVATE CS_DEMO_DIR="${CMAKE_SOURCE_DIR}/sql/demo")
target_link_libraries(gen_apply_corpus PRIVATE cs_sql cs_wire cs_base PkgConfig::SQLITE)
