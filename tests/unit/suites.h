/* The unit-test suites, in the order they run: SUITE(x) expects x_tests[]
 * defined in tests/unit/test_x.c. */
SUITE(timefmt)
SUITE(redact)
SUITE(json)
SUITE(buf)
SUITE(config)
SUITE(catalog)
SUITE(wallclock)
SUITE(fmp4)
SUITE(segwriter)
