//! One file per subcommand, each with one entry function; the engines live beside them.

pub mod adapt;
pub mod bootstrap;
pub mod db;
pub mod doctor;
pub mod init;
pub mod migration;
pub mod upgrade;
