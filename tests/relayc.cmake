# tests/relayc.cmake: the agent's relay client (issue 7 §2, §3, §5): real
# agents on 127.0.0.1 that never meet, through the shared-folder backend,
# the hand-carried export, and the Supabase test server.
add_test(NAME relay_folder
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/folder_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(relay_folder PROPERTIES TIMEOUT 300 LABELS "relay;agent")
add_test(NAME relay_export
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/export_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(relay_export PROPERTIES TIMEOUT 300 LABELS "relay;agent")
# Decoders of outside bytes added by the relay client.
cs_fuzz_target(relay_payload cs_agent cs_base)
cs_fuzz_target(relay_export cs_agent cs_base)
add_test(NAME relay_supabase
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/supa_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(relay_supabase PROPERTIES TIMEOUT 300 LABELS "relay;agent")
cs_fuzz_target(relay_json cs_agent cs_base)
# The relay step of ./run demo (sql/demo/relay_demo.sh) on its own.
add_test(NAME relay_demo
	COMMAND sh ${CMAKE_SOURCE_DIR}/sql/demo/relay_demo.sh ${CMAKE_BINARY_DIR})
set_tests_properties(relay_demo PROPERTIES TIMEOUT 120 LABELS "relay;demo"
	PASS_REGULAR_EXPRESSION "the bundles were deleted from the folder once imported")
# The pure parts: payload decoder (truncations, refusals, every allocation
# failure), export container, JSON reader, [relay] config, seen set, outbox.
cs_unit_test(relay cs_agent cs_base)

# A colleague with a read share, never online with the owner: the shared
# patient by relay only, nothing of an unshared one (canary), none for a
# practitioner without a share, a later share sent from the start.
add_test(NAME relay_colleague
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/relay/colleague_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(relay_colleague PROPERTIES TIMEOUT 300 LABELS "relay;agent")
