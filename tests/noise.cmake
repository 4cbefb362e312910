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
