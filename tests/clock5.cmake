# tests/clock5.cmake: a PC whose clock is minutes off still converges
# (docs/MERGE.md "Far-future clock"): the CLOCK message, the offset estimate,
# the engine's future bound with a corrected clock, and two agents on
# 127.0.0.1, one of them (agent and sqlite3 writer) 10 min late under
# libfaketime.
cs_unit_test(clockmsg cs_wire cs_base)
cs_unit_test(clockoff cs_agent cs_base)
cs_unit_test(clockbound cs_sql cs_base)
# clockskew: one PC 10 min late among three; clockearly: one PC 10 min early,
# alone with one other (both converge), then among three (its rows wait)
foreach(t clockskew clockearly)
	add_test(NAME agent_${t}
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/agent/${t}_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(agent_${t} PROPERTIES TIMEOUT 300 LABELS agent SKIP_RETURN_CODE 77)
endforeach()
cs_fuzz_target(clockmsg cs_wire cs_base)
