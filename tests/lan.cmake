# tests/lan.cmake: real `cabsync agent`s on a simulated cabinet LAN (issue 5
# §5, §6): network namespaces on a bridge, each with its own dbus-daemon and
# avahi-daemon (tests/lan/netlib.sh, docs/TESTING.md). Root only; exit 77 =
# skipped (no root or no network namespaces).
foreach(t sync partition faults)
	add_test(NAME lan_agents_${t}
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/lan/agents_${t}.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(lan_agents_${t} PROPERTIES TIMEOUT 420 LABELS lan
		SKIP_RETURN_CODE 77)
endforeach()

# The latency probe the LAN benchmark runs (mirrors bench_latency's loop).
add_executable(cs-lan-latency ${CMAKE_CURRENT_SOURCE_DIR}/lan/lan_latency.c)
target_link_libraries(cs-lan-latency PRIVATE PkgConfig::SQLITE)

# ./run bench lan: start -> first sync over mDNS, edit-to-peer latency over
# the namespace bridge; CS_BENCH_SMALL=1 (the smoke test): 1 run, 50 edits.
cs_bench(lan cs_base)
target_compile_definitions(bench_lan PRIVATE
	CS_LAN_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/lan/agents_bench.sh"
	CS_BUILD_DIR="${CMAKE_BINARY_DIR}" CS_SRC_DIR="${CMAKE_SOURCE_DIR}")
add_dependencies(bench_lan cabsync cs-lan-latency)
add_test(NAME bench_smoke_lan COMMAND bench_lan)
set_tests_properties(bench_smoke_lan PROPERTIES TIMEOUT 300 LABELS lan
	ENVIRONMENT "CS_BENCH_SMALL=1")
