# tests/sim.cmake: the convergence simulator, the crash test with real
# processes and the allocation-failure test of the apply path (issue 3 §4).
# tests/sim/README.md says what each one drives and checks.

# The simulator's parts, shared by cs_sim, the crash test and the OOM test.
add_library(cs_simlib STATIC sim/sim_rng.c sim/sim_vfs.c sim/sim_db.c sim/sim_oracle.c)
target_link_libraries(cs_simlib PUBLIC cs_sql cs_base)

# Until the engine's implementation is merged only its header exists.
if(EXISTS ${CMAKE_SOURCE_DIR}/sql/engine.c)
	add_executable(cs_sim sim/sim_main.c)
	target_link_libraries(cs_sim PRIVATE cs_simlib)
	target_compile_definitions(cs_sim PRIVATE CS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()

# The simulator's own parts (RNG, oracle, VFS shim, dumps), without the engine.
cs_unit_test(sim_oracle cs_simlib)
