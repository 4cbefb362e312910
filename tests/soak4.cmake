# soak bug 4 (docs/TESTING.md): db_version floor, "now" of the extraction scope.
cs_unit_test(dbvfloor cs_sql cs_base)
cs_unit_test(scopenow cs_sql cs_base)
