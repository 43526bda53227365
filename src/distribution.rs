//! How this modkit was installed, as far as the sandbox it renders cares (docs/install.md).

/// Set by the npm launcher (npm/modkit/lib/launcher.js) for the binary it runs, to its own version.
pub const NPM_LAUNCHER_ENV: &str = "MODKIT_NPM_LAUNCHER";

/// True when this process was started by the npm launcher: a sandbox it renders then depends on
/// the `modkit` package at this version, so that its CI needs nothing but `npm ci`. A modkit
/// installed with cargo (variable unset) renders the sandbox without it, as before.
pub fn from_npm() -> bool {
    std::env::var_os(NPM_LAUNCHER_ENV).is_some_and(|v| !v.is_empty())
}
