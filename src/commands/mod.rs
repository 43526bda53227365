//! One file per subcommand, each with one entry function; the engines live beside them.

pub mod access;
pub mod adapt;
pub mod bootstrap;
pub mod db;
pub mod doctor;
pub mod init;
pub mod migration;
pub mod tenant;
pub mod upgrade;
