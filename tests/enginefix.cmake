# tests/enginefix.cmake: regression tests of the engine bugs the simulator and
# the OOM test found (tests/sim/README.md "Known engine bugs"), one file per bug.
cs_unit_test(engine_capture_dots cs_sql cs_base)
# bug 4: allocation failures (fails every index: slow under sanitizers)
cs_unit_test(engine_oom_txn cs_sql cs_base)
set_tests_properties(unit_engine_oom_txn PROPERTIES TIMEOUT 900)
# bug 1: paged extraction (rows travel whole)
cs_unit_test(engine_paged cs_sql cs_base)
# bug 2: conflicts of the cascade during apply
cs_unit_test(engine_cascade cs_sql cs_base)
# bug 7 (stuck): a stale copy of a moved row waited for a deleted parent
cs_unit_test(engine_stale_ref cs_sql cs_base)
