//! The project's own local PostgreSQL: a cluster in `<project>/.modkit/pg`, started and stopped with
//! `pg_ctl`, the default database when no URL is given (`modkit db`, docs/sandbox.md).
//!
//! The protocol, shared with the sandbox's `sandbox/localdb.ts` (keep the two in step):
//!
//! | file under `.modkit/pg/` | what |
//! | --- | --- |
//! | `data/` | the cluster (`initdb --auth=scram-sha-256 --no-sync`, user `postgres`) |
//! | `data/modkit.conf` | `listen_addresses = '127.0.0.1'`, `port`, `unix_socket_directories = ''` (TCP only) |
//! | `port` | the port, chosen free once and kept; chosen again only when another program took it |
//! | `password` | the random password, mode 0600 |
//! | `url` | `postgres://postgres:<password>@127.0.0.1:<port>/<db>`, mode 0600 |
//! | `server.log` | the server's log (`modkit db logs`) |
//! | `bootstrapped` | written once the first bootstrap succeeded |
//!
//! A server is running when `data/postmaster.pid` names a live `postgres` process; a pid file
//! naming anything else (a crash, a reboot) is stale and removed before the start. Starts, stops and
//! resets take `.modkit/pg.lock` (lock.rs) one at a time.
//!
//! As root, all of it runs in a child process that is already the owner (owner.rs): root never acts
//! on a name in a tree another user can change.

mod binaries;
pub mod devserver;
mod lock;
mod owner;
mod read;
mod user;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

pub use self::binaries::Binaries;
use self::lock::StartLock;
pub use self::owner::{as_owner, check_run_as};
use self::user::RunAs;
pub use self::user::{DEFAULT_SYSTEM_USER, create_system_user, is_root};
use crate::exit::UserError;

/// `.modkit/pg`, relative to the project.
pub const DIR: &str = ".modkit/pg";
/// The server's superuser in the local cluster.
const SUPERUSER: &str = "postgres";

#[derive(Debug)]
pub struct LocalDb {
    pub project: PathBuf,
    pub dir: PathBuf,
    database: String,
    /// The port asked for, if any (`with_port`).
    wanted_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No cluster yet (`modkit db start` makes one).
    Absent,
    Stopped,
    Running {
        pid: u32,
    },
}

/// What `start` did (sent back from the owner's process as root: owner.rs).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Started {
    /// The full URL, password included: hand it to the driver only.
    pub url: String,
    /// A new cluster was made.
    pub created: bool,
    /// It was already running.
    pub reused: bool,
    /// No bootstrap has succeeded on it yet.
    pub needs_bootstrap: bool,
    /// The binaries' PostgreSQL version and where they came from, when this start ran them.
    pub binaries: Option<(String, String)>,
}

impl LocalDb {
    /// The cluster of `project`; `database` names the database a new cluster gets.
    pub fn new(project: &Path, database: &str) -> Self {
        Self {
            project: project.to_path_buf(),
            dir: project.join(DIR),
            database: database.to_string(),
            wanted_port: None,
        }
    }

    /// Ask for `port`: a cluster made now takes it, and a made one whose port differs moves to it
    /// at its next start (refused with a hint when another program holds it).
    pub fn with_port(mut self, port: Option<u16>) -> Self {
        self.wanted_port = port;
        self
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `.modkit`, `.modkit/pg` or its `data` being a symbolic link would let `start` write, and
    /// `stop`/`reset` stop or delete, a cluster outside the project: refuse it before anything else.
    fn refuse_links(&self) -> Result<()> {
        crate::plan::guard_no_symlink(&self.project, &format!("{DIR}/data/PG_VERSION"))
    }

    /// A file of `.modkit/pg` (`rel` below it): as root, never through a link (read.rs).
    fn read(&self, rel: &str) -> Option<String> {
        read::read_text(&self.project, &Path::new(DIR).join(rel))
    }

    fn has(&self, rel: &str) -> bool {
        read::is_file(&self.project, &Path::new(DIR).join(rel))
    }

    fn initialized(&self) -> bool {
        self.has("data/PG_VERSION") && self.has("url")
    }

    /// The stored URL (password included), if a cluster exists. None in a copy of another
    /// project's cluster until its next start gives it a port of its own (see `copied_from`).
    pub fn url(&self) -> Option<String> {
        if self.copied_from().is_some() {
            return None;
        }
        let text = self.read("url")?;
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    }

    pub fn port(&self) -> Option<u16> {
        self.read("port")?.trim().parse().ok()
    }

    pub fn bootstrapped(&self) -> bool {
        self.has("bootstrapped")
    }

    pub fn mark_bootstrapped(&self) -> Result<()> {
        owner::as_owner(&self.project, None, || {
            if self.bootstrapped() {
                return Ok(());
            }
            let owner = user::decide(&self.project, &self.data(), None).ok().flatten();
            write_private(&self.file("bootstrapped"), "", owner)
        })
    }

    pub fn state(&self) -> State {
        if !self.initialized() {
            return State::Absent;
        }
        match self.server_pid() {
            Some(pid) if is_postgres(pid) && self.pid_file_is_ours() => State::Running { pid },
            _ => State::Stopped,
        }
    }

    /// The first line of `postmaster.pid`.
    fn server_pid(&self) -> Option<u32> {
        let text = self.read("data/postmaster.pid")?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Whether the server says it accepts connections: `postmaster.pid`'s eighth line is `ready`
    /// once it has started (`starting` before, `stopping` after). A server another start has just
    /// spawned runs and is ours, but refuses connections until then ("the database system is
    /// starting up").
    fn server_ready(&self) -> bool {
        self.read("data/postmaster.pid")
            .is_some_and(|text| text.lines().nth(7).is_some_and(|l| l.trim() == "ready"))
    }

    /// Wait, as `pg_ctl -w -t 60` would, for a running server to be ready.
    fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while matches!(self.state(), State::Running { .. })
            && !self.server_ready()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Make the cluster when there is none, then start it unless it runs already.
    pub fn start(&self, run_as: Option<&str>) -> Result<Started> {
        owner::as_owner(&self.project, run_as, || self.start_here(run_as))
    }

    fn start_here(&self, run_as: Option<&str>) -> Result<Started> {
        self.refuse_links()?;
        // Running but still starting: another start holds the lock; wait for it there.
        if matches!(self.state(), State::Running { .. }) && self.server_ready() {
            return self.started(false, true, None);
        }
        let binaries = binaries::find(&self.project)?;
        refuse_shell_characters(&self.project, "the project's path")?;
        refuse_shell_characters(&binaries.dir, "the PostgreSQL binaries' path")?;
        let user = user::decide(&self.project, &self.data(), run_as)?;
        if let Some(u) = user {
            user::check_reachable(&self.project, u)?;
        }
        binaries.repair_links()?;
        // One start at a time; whoever waited finds the cluster made, or running, by the other.
        let _lock = self.lock(user)?;
        if let State::Running { .. } = self.state() {
            self.wait_ready(); // started by hand (pg_ctl) meanwhile, not through the lock
            return self.started(false, true, Some(binaries));
        }
        let created = !self.initialized();
        if created {
            self.create(&binaries, user)?;
        }
        if self.server_pid().is_some() {
            // postmaster.pid names no live postgres: left by a crash or a reboot. PostgreSQL would
            // refuse to start if the pid now belongs to another process.
            let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
        }
        self.rehome(user)?;
        self.keep_port_free(user)?;
        let mut cmd = Command::new(binaries.pg_ctl());
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.file("server.log"))
            .args(["-w", "-t", "60", "start"]);
        let out = run(&mut cmd, user)?;
        if !out.status.success() {
            // Another start (npm run dev, a second modkit) may have won the race: fine.
            if let State::Running { .. } = self.state() {
                self.wait_ready();
                return self.started(created, true, Some(binaries));
            }
            return Err(self.failure("pg_ctl start", &out));
        }
        self.started(created, false, Some(binaries))
    }

    fn started(&self, created: bool, reused: bool, binaries: Option<Binaries>) -> Result<Started> {
        Ok(Started {
            url: self.url().context("the local database has no url file")?,
            created,
            reused,
            needs_bootstrap: !self.bootstrapped(),
            binaries: binaries.map(|b| (b.version().unwrap_or_default(), b.source.to_string())),
        })
    }

    /// initdb with a random password, then the settings and the url file.
    fn create(&self, binaries: &Binaries, user: Option<RunAs>) -> Result<()> {
        // A half-made cluster (initdb interrupted) is made again from nothing.
        if self.dir.exists() {
            let _ = std::fs::remove_dir_all(self.data());
        }
        for dir in [self.project.join(".modkit"), self.dir.clone()] {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            if let Some(u) = user {
                u.chown(&dir)?;
            }
        }
        let password = random_hex(16)?;
        write_private(&self.file("password"), &password, user)?;
        let port = self.chosen_port()?;
        write_private(&self.file("port"), &port.to_string(), user)?;

        let mut cmd = Command::new(binaries.initdb());
        cmd.arg("-D")
            .arg(self.data())
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", self.file("password").display()));
        let out = run(&mut cmd, user)?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(self.data());
            return Err(self.failure("initdb", &out));
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))?;
        writeln!(
            conf,
            "\n# modkit: the local database's own settings\ninclude_if_exists = 'modkit.conf'"
        )?;
        self.write_settings(port, user)
    }

    /// `data/modkit.conf`, the port file and the url file, for `port`.
    fn write_settings(&self, port: u16, user: Option<RunAs>) -> Result<()> {
        let conf = format!(
            "# Written by modkit: loopback TCP only, no Unix socket (its folder may not be writable, and\n\
             # a socket path is limited to 107 bytes).\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = ''\n"
        );
        write_private(&self.data().join("modkit.conf"), &conf, user)?;
        write_private(&self.file("port"), &port.to_string(), user)?;
        write_private(&self.file("home"), &canonical(&self.dir).to_string_lossy(), user)?;
        let password = std::fs::read_to_string(self.file("password"))
            .context("the local database's password file is missing")?;
        let url = format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{port}/{}",
            password.trim(),
            self.database
        );
        write_private(&self.file("url"), &url, user)
    }

    /// `postmaster.pid`'s second line names the data folder of the server that wrote it: a pid
    /// file copied (`cp -a`) from another project names that project's folder and live server,
    /// which this project must never report, stop or connect to.
    fn pid_file_is_ours(&self) -> bool {
        let Some(text) = self.read("data/postmaster.pid") else {
            return false;
        };
        match text.lines().nth(1).map(str::trim) {
            None | Some("") => true,
            Some(named) => canonical(Path::new(named)) == canonical(&self.data()),
        }
    }

    /// The `.modkit/pg` this one was made as, when that is another folder: a copy (`cp -a`) of
    /// another project's cluster, whose port, password and url are the original's. None for a
    /// cluster made here, or made before modkit wrote the `home` file.
    pub fn copied_from(&self) -> Option<PathBuf> {
        let home = self.read("home")?;
        let home = PathBuf::from(home.trim());
        (!home.as_os_str().is_empty() && home != canonical(&self.dir)).then_some(home)
    }

    /// A copied cluster gets a port of its own (the original's may be free now, but is not the
    /// copy's to keep); one made before the `home` file gets that file.
    fn rehome(&self, user: Option<RunAs>) -> Result<()> {
        if self.copied_from().is_some() {
            return self.write_settings(self.chosen_port()?, user);
        }
        if !self.file("home").is_file() {
            return self.write_settings(self.port().unwrap_or(0), user);
        }
        Ok(())
    }

    /// The stored port is kept; only when another program listens on it is a new one chosen.
    fn keep_port_free(&self, user: Option<RunAs>) -> Result<()> {
        if let Some(want) = self.wanted_port {
            // The server is stopped here: whoever listens on the port is another program.
            if TcpListener::bind(("127.0.0.1", want)).is_err() {
                return Err(crate::exit::UserError::new(format!(
                    "port {want}, asked for the local database, is in use by another program"
                ))
                .hint("choose another: `modkit db start --port N`, MODKIT_PG_PORT=N, or port = N under [database] in modkit.toml")
                .into());
            }
            if self.port() != Some(want) {
                self.write_settings(want, user)?;
            }
            return Ok(());
        }
        let port = self.port().unwrap_or(0);
        if port != 0 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        self.write_settings(self.chosen_port()?, user)
    }

    /// A new port: the one the user asked for (`MODKIT_PG_PORT`, `[database] port` in
    /// modkit.toml, `modkit db start --port`, see `with_port`), else any free one.
    fn chosen_port(&self) -> Result<u16> {
        match self.wanted_port {
            Some(port) => Ok(port),
            None => free_port(),
        }
    }

    /// Stop a running server; false when none ran.
    pub fn stop(&self) -> Result<bool> {
        owner::as_owner(&self.project, None, || self.stop_here())
    }

    fn stop_here(&self) -> Result<bool> {
        self.refuse_links()?;
        if !matches!(self.state(), State::Running { .. }) {
            return Ok(false);
        }
        let user = user::decide(&self.project, &self.data(), None)?;
        let _lock = self.lock(user)?;
        self.stop_locked(user)
    }

    fn stop_locked(&self, user: Option<RunAs>) -> Result<bool> {
        if !matches!(self.state(), State::Running { .. }) {
            return Ok(false);
        }
        let binaries = binaries::find(&self.project)?;
        let mut cmd = Command::new(binaries.pg_ctl());
        cmd.arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        let out = run(&mut cmd, user)?;
        if !out.status.success() && matches!(self.state(), State::Running { .. }) {
            return Err(self.failure("pg_ctl stop", &out));
        }
        Ok(true)
    }

    /// Stop it and delete the whole cluster; false when there was none.
    pub fn reset(&self) -> Result<bool> {
        owner::as_owner(&self.project, None, || self.reset_here())
    }

    fn reset_here(&self) -> Result<bool> {
        self.refuse_links()?;
        if !self.dir.exists() {
            return Ok(false);
        }
        let user = user::decide(&self.project, &self.data(), None).ok().flatten();
        let _lock = self.lock(user)?;
        self.stop_locked(user)?;
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        Ok(true)
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> Result<String> {
        let path = self.file("server.log");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            UserError::new(format!("cannot read {}: {e}", path.display()))
                .hint("the log appears once the local database has started (modkit db start)")
        })?;
        let all: Vec<&str> = text.lines().collect();
        Ok(all[all.len().saturating_sub(lines)..].join("\n"))
    }

    /// `.modkit/pg.lock` (lock.rs), after `refuse_links` so that it is never made through a link.
    fn lock(&self, owner: Option<RunAs>) -> Result<StartLock> {
        StartLock::acquire(&self.project.join(".modkit"), owner)
    }

    pub fn binaries(&self) -> Result<Binaries> {
        binaries::find(&self.project)
    }

    /// Whether [`LocalDb::binaries`] finds them (the same error when not), asked in the cheapest
    /// order: doctor only needs to know.
    pub fn binaries_available(&self) -> Result<()> {
        binaries::available(&self.project)
    }

    /// A failed PostgreSQL program, with its output and the log's end (neither holds the password:
    /// it only ever travels in a file).
    fn failure(&self, what: &str, out: &Output) -> anyhow::Error {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Ok(log) = self.log_tail(15) {
            detail.push_str("\n--- server.log ---\n");
            detail.push_str(&log);
        }
        UserError::new(format!("{what} failed for the local database in {}:\n{detail}", self.dir.display()))
            .hint("`modkit db logs` shows the server's log; `modkit db reset` deletes the local database and starts over")
            .into()
    }
}

/// initdb runs `"<bindir>/postgres" -V` and pg_ctl the server through `/bin/sh`, inside double
/// quotes: a folder named `$(touch PW)` ran `touch PW`, and a quote or a newline failed with a
/// misleading "program postgres not found". Such a path is refused before anything runs.
fn refuse_shell_characters(path: &Path, what: &str) -> Result<()> {
    let text = path.to_string_lossy();
    let Some(bad) = text
        .chars()
        .find(|c| matches!(c, '$' | '`' | '"' | '\'' | '\\') || c.is_control())
    else {
        return Ok(());
    };
    Err(UserError::new(format!(
        "{what} {} holds the character {bad:?}, which PostgreSQL's initdb and pg_ctl cannot take (they pass the path through a shell)",
        path.display()
    ))
    .hint("move or rename the project folder to a path without $ ` \" ' \\ or control characters, or use your own server with DATABASE_URL")
    .into())
}

/// Run a PostgreSQL program, as `user` when given; its output is captured.
fn run(cmd: &mut Command, user: Option<RunAs>) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Nothing of a developer's PG* settings may redirect the programs.
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("PGHOST");
    if let Some(u) = user {
        u.apply(cmd);
    }
    cmd.output()
        .with_context(|| format!("cannot run {}", cmd.get_program().to_string_lossy()))
}

/// Is `pid` a live `postgres`? Where /proc exists its name is checked, so a pid reused by
/// another program after a reboot does not count.
fn is_postgres(pid: u32) -> bool {
    let Ok(pid_t) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; it sends nothing.
    let alive = unsafe { libc::kill(pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !alive {
        return false;
    }
    // `/proc/<pid>/stat` is `pid (comm) state ...`. A killed postmaster whose parent does not reap
    // it (pid 1 in a container) stays a zombie ('Z') that kill(pid, 0) still finds.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let name = stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')'));
            matches!(name, Some((comm, rest)) if comm == "postgres" && !rest.trim_start().starts_with(['Z', 'X']))
        }
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Whether the server answers on the port.
pub fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// `path` with its links resolved, or as it is when it cannot be (gone).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .context("cannot read /dev/urandom for the local database's password")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write a file only its owner can read (0600 from its creation), given to `user` when set.
fn write_private(path: &Path, text: &str, user: Option<RunAs>) -> Result<()> {
    // A name of this process's own: eight bootstraps at once each mark the cluster bootstrapped, and
    // with one shared `.tmp` one removed or renamed away another's ("cannot write ... bootstrapped").
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    drop(file);
    if let Some(u) = user {
        u.chown(&tmp)?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
