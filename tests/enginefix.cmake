# tests/enginefix.cmake: regression tests of the engine bugs the simulator and
# the OOM test found (tests/sim/README.md "Known engine bugs"), one file per bug.
cs_unit_test(engine_capture_dots cs_sql cs_base)
