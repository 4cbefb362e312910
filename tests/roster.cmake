# Signed roster, device revocation and cabinet key rotation (issue 6 §2):
# record codec and rules (unit), the roster-record decoder (fuzz), real
# agents on loopback (tests/roster/*_test.sh).
cs_unit_test(rrec cs_wire cs_base)
cs_unit_test(roster cs_agent cs_base)
cs_fuzz_target(rrec cs_wire cs_base)
add_executable(rrec_forge ${CMAKE_CURRENT_SOURCE_DIR}/roster/forge.c)
target_link_libraries(rrec_forge PRIVATE cs_agent cs_base)
foreach(t revoke rules converge migrate io)
	add_test(NAME roster_${t}
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/roster/${t}_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(roster_${t} PROPERTIES TIMEOUT 300 LABELS agent)
endforeach()
