# tests/shares.cmake: shares between practitioners (issue 6 §1, §2, §4):
# record codec, storage and rights (unit), real agents (integration).
cs_unit_test(sharerec cs_sql cs_wire cs_base)
add_executable(share_forge ${CMAKE_CURRENT_SOURCE_DIR}/share/forge.c)
target_link_libraries(share_forge PRIVATE cs_agent)
foreach(t basic revoke race wire)
	add_test(NAME share_${t}
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/share/${t}_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(share_${t} PROPERTIES TIMEOUT 300 LABELS agent)
endforeach()
# the decoders of a peer's RECORDS message and of the share records in it
cs_fuzz_target(sharerec cs_sql cs_wire cs_base)
if(TARGET fuzz_sharerec)
	# instrument the decoders themselves (libFuzzer coverage)
	target_sources(fuzz_sharerec PRIVATE ${CMAKE_SOURCE_DIR}/sql/sharerec.c)
endif()
# the owner's repair write after a late revoke (sql/engine.c reassert_row)
cs_unit_test(reassert cs_sql cs_base)
