//! See tests/it/hostile.rs.
