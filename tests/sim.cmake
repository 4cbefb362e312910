# tests/sim.cmake: the convergence simulator, the crash test with real
# processes and the allocation-failure test of the apply path (issue 3 §4).
# tests/sim/README.md says what each one drives and checks.

# The simulator's parts, shared by cs_sim, the crash test and the OOM test.
add_library(cs_simlib STATIC sim/sim_rng.c sim/sim_vfs.c sim/sim_db.c sim/sim_oracle.c
	sim/sim_gen.c)
target_link_libraries(cs_simlib PUBLIC cs_sql cs_base)

# Until the engine's implementation is merged only its header exists.
if(EXISTS ${CMAKE_SOURCE_DIR}/sql/engine.c)
	add_executable(cs_sim sim/sim_main.c)
	target_link_libraries(cs_sim PRIVATE cs_simlib)
	target_compile_definitions(cs_sim PRIVATE CS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

	# Crash test with real processes: a writer killed with SIGKILL >= 50 times.
	add_executable(cs_crash sim/crash_main.c)
	target_link_libraries(cs_crash PRIVATE cs_simlib)
	target_compile_definitions(cs_crash PRIVATE CS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
	add_test(NAME sim_crash COMMAND cs_crash --kills 60 --min-kills 50 --seconds 200)
	set_tests_properties(sim_crash PROPERTIES TIMEOUT 280 LABELS sim)

	# Allocation failures on the apply path (cs_malloc, SQLite routed through it).
	cs_unit_test(apply_oom cs_simlib cs_sql cs_base)
endif()

# The simulator's own parts (RNG, oracle, VFS shim, dumps), without the engine.
cs_unit_test(sim_oracle cs_simlib)
