# wire/frame, wire/chunk, wire/msg (issue 4 §2): unit tests, fuzz targets, codec bench.
cs_unit_test(frame cs_wire cs_base)
cs_unit_test(msg cs_wire cs_base)
