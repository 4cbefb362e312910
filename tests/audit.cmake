# Audit trail (issue 6 §3, §4): unit tests of the chain, heads and verify;
# the tamper test with the sqlite3 shell and the cabsync CLI; the head decoder fuzzer.
cs_unit_test(audit cs_sql cs_base)
foreach(t tamper events)
	add_test(NAME audit_${t}
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/audit/${t}_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(audit_${t} PROPERTIES TIMEOUT 300 LABELS agent)
endforeach()
cs_fuzz_target(audit_head cs_sql cs_base)
cs_bench(audit cs_sql cs_base)
