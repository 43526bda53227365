//! The database engine: where the URL comes from, connecting, and the bootstrap.

pub mod bootstrap;
pub mod catalog;
pub mod connect;
pub mod statements;
pub mod url;
