//! End-to-end tests: a rendered sandbox installed with npm, type-checked, bootstrapped and served (to be written).
