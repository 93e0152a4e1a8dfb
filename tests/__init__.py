"""The test suite (a package, so its support modules import one way: `tests.support...`)."""
