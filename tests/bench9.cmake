# tests/bench9.cmake: the report generation of `./run bench`
# (tests/bench/report.sh: summary of every goal, plots, hand-written notes)
# checked on the canned data of tests/bench/fixture/, so that it cannot rot.
add_test(NAME bench_report_plot
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/bench/plot_test.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(bench_report_plot PROPERTIES TIMEOUT 60 LABELS unit)
