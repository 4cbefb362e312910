# tests/relayc.cmake: the agent's relay client (issue 7 §2, §3, §5): real
# agents on 127.0.0.1 that never meet, through the shared-folder backend,
# the hand-carried export, and the Supabase test server.
add_test(NAME relay_folder
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/folder_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(relay_folder PROPERTIES TIMEOUT 300 LABELS "relay;agent")
