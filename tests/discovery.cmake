# discovery/: tags, the AvahiPoll adapter, mDNS, the address cache.
cs_unit_test(tag cs_discovery cs_base)
cs_unit_test(avpoll cs_discovery cs_base)
cs_unit_test(addrcache cs_discovery cs_base)
cs_unit_test(mdns cs_discovery cs_base)

# The probe the LAN test runs in each network namespace.
add_executable(cs-mdns-probe ${CMAKE_CURRENT_SOURCE_DIR}/lan/mdns_probe.c)
target_link_libraries(cs-mdns-probe PRIVATE cs_discovery cs_base)

# 5 namespaces on a bridge, each with its own dbus-daemon and avahi-daemon
# (../shared/testing-lan.md). Root only; exit 77 = skipped.
add_test(NAME lan_discovery
	COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/lan/discovery-lan.sh $<TARGET_FILE:cs-mdns-probe>)
set_tests_properties(lan_discovery PROPERTIES TIMEOUT 240 LABELS lan SKIP_RETURN_CODE 77
	RUN_SERIAL TRUE)

cs_fuzz_target(addrcache cs_discovery cs_base)
cs_fuzz_target(addr cs_discovery cs_base)

# ./run bench mdns: the LAN harness in --measure mode (root).
cs_bench(mdns cs_base)
target_compile_definitions(bench_mdns PRIVATE
	CS_LAN_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/lan/discovery-lan.sh"
	CS_PROBE="$<TARGET_FILE:cs-mdns-probe>")
add_dependencies(bench_mdns cs-mdns-probe)
