//! Integration tests of `modkit bootstrap` on a real PostgreSQL (to be written with the command).
