//! Processes and ports for tests that start servers: a free loopback port, a child that is killed
//! with everything it started when the test ends (even by a panic), and polling with a deadline.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that nothing listens on right now. (Another process could take it
/// before the caller binds it; callers that start servers retry on "address in use".)
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_is_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Call `check` every 100 ms until it returns `Some`, or panic after `timeout` saying `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process in its own process group, killed with its whole group on drop: `npm run dev`
/// starts a shell that starts node, and killing only npm would leave the server running.
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    pub fn spawn(cmd: &mut Command) -> Self {
        let child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Self { child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has already ended (a server that died at start-up).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Ctrl-C: SIGINT to the whole group, as a terminal sends it; then wait (30 s at most) for the
    /// process itself to end.
    pub fn interrupt(&mut self) {
        let group = i32::try_from(self.child.id()).expect("a pid fits in i32");
        signal_group(group, SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_wait().is_none() {
            assert!(
                Instant::now() < deadline,
                "{} did not end on SIGINT",
                self.child.id()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let group = i32::try_from(self.child.id()).expect("a pid fits in i32");
        signal_group(group, SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.try_wait().is_some() && !signal_group(group, 0) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(group, SIGKILL);
        let _ = self.child.wait();
    }
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Send `signal` to every process in the group (0 only asks whether any is left).
fn signal_group(group: i32, signal: i32) -> bool {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { kill(-group, signal) == 0 }
}
