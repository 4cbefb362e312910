# tests/sim.cmake: the convergence simulator, the crash test with real
# processes and the allocation-failure test of the apply path (issue 3 §4).
# tests/sim/README.md says what each one drives and checks.

# The simulator's parts, shared by cs_sim, the crash test and the OOM test.
add_library(cs_simlib STATIC sim/sim_rng.c sim/sim_vfs.c sim/sim_db.c sim/sim_oracle.c
	sim/sim_gen.c)
target_link_libraries(cs_simlib PUBLIC cs_sql cs_base)

# The simulator's own parts (RNG, oracle, VFS shim, dumps), without the engine.
cs_unit_test(sim_oracle cs_simlib)

add_executable(cs_sim sim/sim_main.c)
target_link_libraries(cs_sim PRIVATE cs_simlib)
target_compile_definitions(cs_sim PRIVATE CS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# 2 000 seeds in 8 ranges (ctest -j runs them side by side): sim_seeds_*
# with one batch per session, sim_strict_* with paged sessions (1-6 batches
# of 1-6 rows, each after the previous db_version: the engine's contract).
# Every error class fails a seed except cascade, still tolerated (counted and
# printed) for the open part of bug 7 (README.md "Known engine bugs": a child
# cascaded here before the deleter's own tombstone of it arrives; seed 1673
# paged); drop the option once it is fixed. stuck is no longer tolerated.
foreach(first 1 251 501 751 1001 1251 1501 1751)
	add_test(NAME sim_seeds_${first}
		COMMAND cs_sim --first ${first} --seeds 250 --streams single
			--tolerate cascade)
	set_tests_properties(sim_seeds_${first} PROPERTIES TIMEOUT 900 LABELS sim)
	add_test(NAME sim_strict_${first}
		COMMAND cs_sim --first ${first} --seeds 250 --tolerate cascade)
	set_tests_properties(sim_strict_${first} PROPERTIES TIMEOUT 900 LABELS sim)
endforeach()

# Crash test with real processes: a writer killed with SIGKILL >= 50 times.
add_executable(cs_crash sim/crash_main.c)
target_link_libraries(cs_crash PRIVATE cs_simlib)
target_compile_definitions(cs_crash PRIVATE CS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_test(NAME sim_crash
	COMMAND cs_crash --patients 50 --kills 55 --min-kills 50 --seconds 420)
set_tests_properties(sim_crash PROPERTIES TIMEOUT 500 LABELS sim)

# Allocation failures on the apply path (cs_malloc, SQLite routed through it).
cs_unit_test(apply_oom cs_simlib cs_sql cs_base)
# Bug 8 (README.md) fixed: enabled again.
set_tests_properties(unit_apply_oom PROPERTIES TIMEOUT 900)
