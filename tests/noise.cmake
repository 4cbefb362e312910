# Noise (wire/noise): tests, interop, fuzz targets and benchmark.
#
# cs_wire_noise_test: wire/noise.c compiled a second time with
# CS_NOISE_TEST_HOOKS (fixed ephemeral keys for the test vectors, settable
# nonces for exhaustion tests). Only tests link it; the shipped cs_wire and
# the cabsync binary never contain the hooks.
add_library(cs_wire_noise_test STATIC ${CMAKE_SOURCE_DIR}/wire/noise.c)
target_compile_definitions(cs_wire_noise_test PUBLIC CS_NOISE_TEST_HOOKS)
target_link_libraries(cs_wire_noise_test PUBLIC cs_base PkgConfig::SODIUM)

cs_unit_test(noise cs_wire_noise_test cs_base)

# noise-peer: the TCP test program of docs/PROTOCOL.md §7, on the shipped cs_wire.
add_executable(noise-peer ${CMAKE_CURRENT_SOURCE_DIR}/interop/noise_peer.c)
target_link_libraries(noise-peer PRIVATE cs_wire cs_base)

# Interop over real loopback TCP, both roles: C against C, npm noise-handshake
# (tests/interop/package-lock.json, installed by ./run test) and Debian's
# python3-dissononce; XXpsk0 (ours) and plain XX; a wrong psk refused at
# message 1; an unexpected static key refused (the roster rule).
foreach(other c node python)
	foreach(role initiator responder)
		foreach(mode xxpsk0 xx)
			add_test(NAME interop_noise_${other}_c_${role}_${mode}
				COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/interop/noise_interop.sh
					$<TARGET_FILE:noise-peer> ${other} ${role} ${mode})
			set_tests_properties(interop_noise_${other}_c_${role}_${mode} PROPERTIES
				TIMEOUT 90 LABELS interop)
		endforeach()
		foreach(bad wrongpsk wrongkey)
			add_test(NAME interop_noise_${other}_c_${role}_${bad}
				COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/interop/noise_interop.sh
					$<TARGET_FILE:noise-peer> ${other} ${role} xxpsk0 ${bad})
			set_tests_properties(interop_noise_${other}_c_${role}_${bad} PROPERTIES
				TIMEOUT 90 LABELS interop)
		endforeach()
	endforeach()
endforeach()

# Hostile handshake and transport messages for each side (tests/fuzz/noise_fuzz.h).
# noise.c is built once more with the hooks and libFuzzer's coverage
# instrumentation, so that the fuzzer sees which branches of noise.c it reaches.
if(CS_FUZZ)
	add_library(cs_wire_noise_fuzz STATIC ${CMAKE_SOURCE_DIR}/wire/noise.c)
	target_compile_definitions(cs_wire_noise_fuzz PUBLIC CS_NOISE_TEST_HOOKS)
	target_compile_options(cs_wire_noise_fuzz PRIVATE -fsanitize=fuzzer-no-link)
	target_link_libraries(cs_wire_noise_fuzz PUBLIC cs_base PkgConfig::SODIUM)
endif()
cs_fuzz_target(noise_responder cs_wire_noise_fuzz cs_base)
cs_fuzz_target(noise_initiator cs_wire_noise_fuzz cs_base)

# Transport and handshake vs raw libsodium in the same run (./run bench noise).
cs_bench(noise cs_wire cs_base)

# The shipped cs_wire must not contain the test hooks (fixed ephemerals, nonces).
add_test(NAME noise_no_test_hooks_in_cs_wire
	COMMAND sh -c "nm -g \"$1\" | grep -q ' T cs_noise_init$' && ! nm -g \"$1\" | grep -q cs_noise_test_"
		sh $<TARGET_FILE:cs_wire>)
set_tests_properties(noise_no_test_hooks_in_cs_wire PROPERTIES TIMEOUT 30)
