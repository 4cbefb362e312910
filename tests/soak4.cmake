# soak bug 4 (docs/TESTING.md): a device's db_version never goes back.
cs_unit_test(dbvfloor cs_sql cs_base)
