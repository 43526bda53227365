//! The database engine: where the URL comes from, connecting, and the bootstrap.

pub mod url;
