# tests/tray.cmake: cabsync-tray (issue 8). The status decoder and control
# client (cs_tray, no GTK) are unit-tested and fuzzed; the tray itself runs
# under Xvfb with a real XEmbed tray host against real agents.
if(TARGET cs_tray)
	cs_unit_test(tray_status cs_tray cs_base)
	cs_fuzz_target(tray_status cs_tray cs_base)
	if(TARGET fuzz_tray_status)
		target_sources(fuzz_tray_status PRIVATE ${CMAKE_SOURCE_DIR}/agent/tray/tray_status.c)
	endif()
	set_tests_properties(unit_tray_status PROPERTIES LABELS "unit;tray")
endif()
if(TARGET cabsync-tray)
	add_test(NAME tray_states
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/tray_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(tray_states PROPERTIES TIMEOUT 300 LABELS tray)
endif()
if(TARGET cabsync-tray)
	add_test(NAME tray_install
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/install_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(tray_install PROPERTIES TIMEOUT 120 LABELS tray
		ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
endif()
# The control socket's subscriptions, events, async answers, bounded queues.
cs_unit_test(control_events cs_agent cs_base)
set_tests_properties(unit_control_events PROPERTIES LABELS "unit;tray" TIMEOUT 120)
# Events and database verbs of the control socket against real agents.
add_test(NAME control_events
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/events_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(control_events PROPERTIES TIMEOUT 180 LABELS tray)
# The tray's conflicts and audit windows and its notifications (Xvfb, D-Bus).
if(TARGET cabsync-tray)
	add_test(NAME tray_windows
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/windows_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(tray_windows PROPERTIES TIMEOUT 300 LABELS tray)
endif()
# The share verbs and share events of the control socket against real agents.
add_test(NAME control_shares
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/share_ctl_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(control_shares PROPERTIES TIMEOUT 240 LABELS tray)
# The tray's share windows under Xvfb, clicked, against real agents.
if(TARGET cabsync-tray)
	add_test(NAME tray_share_windows
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/share_window_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(tray_share_windows PROPERTIES TIMEOUT 300 LABELS tray)
endif()
# The patients' labels the share verbs list (sql/patlabel.h).
cs_unit_test(patlabel cs_sql cs_base)
set_tests_properties(unit_patlabel PROPERTIES LABELS "unit;tray")
