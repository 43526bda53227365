//! A sandbox's `npm run dev` as the sandbox's `sandbox/ports.ts` keeps it (keep the two in step):
//!
//! - its ports: `PORT` / `VITE_PORT` (the environment, then the project's `.env`), else modkit.toml's
//!   `[dev] api_port` / `vite_port`, else `.modkit/ports.json` (chosen free once, with the project
//!   folder it was chosen in: a copy's file is the original's), else 3001 / 5173;
//! - the running one: `.modkit/dev.json` (`{pid, root, api, vite}`), trusted when it names this folder
//!   and its pid is a live process whose working folder is this one;
//! - whose server answers on a port: the API's `GET /api/sandbox/health` names its project folder
//!   (through Vite's proxy too).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::project::ProjectFile;

/// A dev port and where it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub port: u16,
    pub from: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPorts {
    pub api: Port,
    pub vite: Port,
}

/// The `npm run dev` running in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningDev {
    pub pid: u32,
    pub api: u16,
    pub vite: u16,
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn same_folder(named: &str, root: &Path) -> bool {
    canonical(Path::new(named.trim_end_matches('/'))) == canonical(root)
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// A port from the environment, else from the project's `.env`.
fn env_port(root: &Path, var: &str) -> Option<u16> {
    let value = std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            dotenvy::from_path_iter(root.join(".env"))
                .ok()?
                .flatten()
                .find(|(name, _)| name == var)
                .map(|(_, v)| v)
        })?;
    value.trim().parse().ok().filter(|p| *p > 0)
}

/// The ports the project's `npm run dev` uses (or would use: a port chosen free then is not known yet).
pub fn ports(root: &Path, file: Option<&ProjectFile>) -> DevPorts {
    let dev = file.and_then(|f| f.dev.as_ref());
    let kept = read_json(&root.join(".modkit/ports.json")).filter(|v| {
        v.get("root")
            .and_then(|r| r.as_str())
            .is_some_and(|r| same_folder(r, root))
    });
    let kept_port = |key: &str| {
        kept.as_ref()
            .and_then(|v| v.get(key)?.as_u64())
            .and_then(|p| u16::try_from(p).ok())
    };
    let pick = |var: &str, configured: Option<u16>, key: &str, default: u16| -> Port {
        if let Some(port) = env_port(root, var) {
            Port {
                port,
                from: if var == "PORT" { "PORT" } else { "VITE_PORT" },
            }
        } else if let Some(port) = configured {
            Port {
                port,
                from: "modkit.toml",
            }
        } else if let Some(port) = kept_port(key) {
            Port {
                port,
                from: ".modkit/ports.json",
            }
        } else {
            Port {
                port: default,
                from: "default",
            }
        }
    };
    DevPorts {
        api: pick("PORT", dev.and_then(|d| d.api_port), "api", 3001),
        vite: pick("VITE_PORT", dev.and_then(|d| d.vite_port), "vite", 5173),
    }
}

/// This project's running `npm run dev`, if any.
pub fn running(root: &Path) -> Option<RunningDev> {
    let v = read_json(&root.join(".modkit/dev.json"))?;
    if !same_folder(v.get("root")?.as_str()?, root) {
        return None; // copied from another project
    }
    let pid = u32::try_from(v.get("pid")?.as_u64()?).ok()?;
    let port = |k: &str| {
        v.get(k)
            .and_then(|p| p.as_u64())
            .and_then(|p| u16::try_from(p).ok())
    };
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let launcher = String::from_utf8_lossy(&cmdline).contains("dev.mjs");
    (launcher && canonical(&cwd) == canonical(root)).then(|| RunningDev {
        pid,
        api: port("api").unwrap_or(0),
        vite: port("vite").unwrap_or(0),
    })
}

/// The project folder the sandbox API answering on `port` names (`GET /api/sandbox/health`), if one does.
pub fn project_on(port: u16) -> Option<PathBuf> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(800))).ok()?;
    stream
        .write_all(b"GET /api/sandbox/health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    let _ = stream.take(64 * 1024).read_to_string(&mut text);
    let body = text.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(PathBuf::from(v.get("project")?.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_ports_file_is_not_this_projects() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".modkit")).unwrap();
        std::fs::write(
            root.join(".modkit/ports.json"),
            r#"{"root":"/somewhere/else/","api":4100,"vite":4200}"#,
        )
        .unwrap();
        let p = ports(root, None);
        assert_eq!(p.api.from, "default");
        std::fs::write(
            root.join(".modkit/ports.json"),
            format!(r#"{{"root":"{}/","api":4100,"vite":4200}}"#, root.display()),
        )
        .unwrap();
        let p = ports(root, None);
        assert_eq!((p.api.port, p.vite.port), (4100, 4200));
        assert!(running(root).is_none());
    }
}
