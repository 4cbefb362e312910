# tests/tray4.cmake: `transfer PATIENT PRAC` on the control socket and the
# tray's "Transfer…" action of "Manage shares…" (issue 8 §1, issue 6 §1).
# The decoder's unit test and fuzz target are unit_control / fuzz_control.
add_test(NAME control_transfer
	COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/transfer_ctl_test.sh ${CMAKE_BINARY_DIR}
		${CMAKE_SOURCE_DIR})
set_tests_properties(control_transfer PROPERTIES TIMEOUT 240 LABELS tray)
# The transfer window under Xvfb, clicked, against real agents.
if(TARGET cabsync-tray)
	add_test(NAME tray_transfer_window
		COMMAND sh ${CMAKE_SOURCE_DIR}/tests/tray/transfer_window_test.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR})
	set_tests_properties(tray_transfer_window PROPERTIES TIMEOUT 300 LABELS tray)
endif()
