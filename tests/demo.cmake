# tests/demo.cmake: the demo schema, its generator, the `cabsync db` commands,
# the end-to-end demo and the engine benchmarks (issue 3 §3, §5).

# The device state file beside a database (agent/devstate.h).
cs_unit_test(devstate cs_agent cs_base)

# The generator makes what it promises, deterministically, with valid FKs.
add_test(NAME demo_generate
	COMMAND ${CMAKE_SOURCE_DIR}/tests/demo/generate_test.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(demo_generate PROPERTIES TIMEOUT 120 LABELS demo)

# Engine benchmarks (./run bench capture|apply|extract), each with its raw
# SQLite baseline measured in the same run.
foreach(b capture apply extract)
	cs_bench(${b} cs_sql cs_base)
	target_compile_definitions(bench_${b} PRIVATE CS_DEMO_DIR="${CMAKE_SOURCE_DIR}/sql/demo")
endforeach()

# `cabsync db` as an operator uses it: errors, exit codes, install/uninstall.
add_test(NAME demo_db_cmd
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/demo/db_cmd_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(demo_db_cmd PROPERTIES TIMEOUT 120 LABELS demo)

# The demo end to end: convergence and the recorded conflicts.
add_test(NAME demo_e2e
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/demo/demo_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(demo_e2e PROPERTIES TIMEOUT 300 LABELS demo)

# Each bench binary on tiny sizes, so that they cannot rot.
foreach(b capture apply extract)
	add_test(NAME bench_smoke_${b} COMMAND bench_${b})
	set_tests_properties(bench_smoke_${b} PROPERTIES TIMEOUT 300 LABELS demo
		ENVIRONMENT "CS_BENCH_SMALL=1")
endforeach()
