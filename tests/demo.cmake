# tests/demo.cmake: the demo schema, its generator, the `cabsync db` commands,
# the end-to-end demo and the engine benchmarks (issue 3 §3, §5).

# The device state file beside a database (agent/devstate.h).
cs_unit_test(devstate cs_agent cs_base)

# The generator makes what it promises, deterministically, with valid FKs.
add_test(NAME demo_generate
	COMMAND ${CMAKE_SOURCE_DIR}/tests/demo/generate_test.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(demo_generate PROPERTIES TIMEOUT 120 LABELS demo)
