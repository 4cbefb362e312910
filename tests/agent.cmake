# tests/agent.cmake: the agent (issue 5): real `cabsync agent` processes on
# 127.0.0.1 with static peers, the control socket, its fuzzed decoder.
foreach(t sync refuse kill enroll chain silent keyfile keyring mixed status dberror)
	add_test(NAME agent_${t}
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/agent/${t}_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(agent_${t} PROPERTIES TIMEOUT 300 LABELS agent SKIP_RETURN_CODE 77)
endforeach()
# a 1 500-row sync and many status calls under ASan: slow on a loaded machine
set_tests_properties(agent_status PROPERTIES TIMEOUT 600)
cs_unit_test(control cs_agent cs_base)
cs_unit_test(enroll cs_agent cs_base)
cs_unit_test(appschema cs_agent cs_base)
cs_unit_test(jsonw cs_agent cs_base)
cs_fuzz_target(control cs_agent cs_base)
if(TARGET fuzz_control)
	# instrument the decoder itself (cs_agent is built without fuzzer coverage)
	target_sources(fuzz_control PRIVATE ${CMAKE_SOURCE_DIR}/agent/control.c)
endif()

# Edit-to-peer latency of two real agents (./run bench latency).
cs_bench(latency cs_base)
target_link_libraries(bench_latency PRIVATE PkgConfig::SQLITE)
target_compile_definitions(bench_latency PRIVATE CS_DEMO_DIR="${CMAKE_SOURCE_DIR}/sql/demo"
	CS_CABSYNC_BIN="$<TARGET_FILE:cabsync>")
add_dependencies(bench_latency cabsync)
add_test(NAME bench_smoke_latency COMMAND bench_latency)
set_tests_properties(bench_smoke_latency PROPERTIES TIMEOUT 120 LABELS agent
	ENVIRONMENT "CS_BENCH_SMALL=1")

# join without --peer: the inviter found over mDNS, 2 namespaces with their
# own avahi-daemons (root only; 77 = skipped).
add_test(NAME agent_join_mdns
	COMMAND bash ${CMAKE_SOURCE_DIR}/tests/agent/join_mdns_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(agent_join_mdns PROPERTIES TIMEOUT 120 LABELS lan SKIP_RETURN_CODE 77
	RUN_SERIAL TRUE)

# The app during an initial sync (SQLITE_BUSY, write latency), initial sync
# rate, reconnect cost, idle agent (./run bench busy|initsync|reconnect|idle).
foreach(b busy initsync reconnect idle)
	cs_bench(${b} cs_base)
	target_link_libraries(bench_${b} PRIVATE PkgConfig::SQLITE Threads::Threads)
	target_compile_definitions(bench_${b} PRIVATE CS_DEMO_DIR="${CMAKE_SOURCE_DIR}/sql/demo"
		CS_CABSYNC_BIN="$<TARGET_FILE:cabsync>")
	add_dependencies(bench_${b} cabsync)
endforeach()
# the benches on tiny sizes, so that they cannot rot
foreach(b initsync reconnect)
	add_test(NAME bench_smoke_${b} COMMAND bench_${b})
	set_tests_properties(bench_smoke_${b} PROPERTIES TIMEOUT 300 LABELS agent
		ENVIRONMENT "CS_BENCH_SMALL=1")
endforeach()
# ./run demo: real agents enrolled by invite, an edit arriving, a conflict, status
add_test(NAME demo_agents COMMAND sh ${CMAKE_SOURCE_DIR}/tests/demo/agents_demo.sh
	${CMAKE_BINARY_DIR})
set_tests_properties(demo_agents PROPERTIES TIMEOUT 300 LABELS demo)
