//! `modkit doctor --fix`: the safe fixes.

use anyhow::Result;

use super::Target;
use crate::commands::doctor::Ignore;

pub fn run(_target: &Target, _ignore: &Ignore) -> Result<Vec<String>> {
    Ok(Vec::new())
}
