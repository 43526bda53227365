//! Fake servers on 127.0.0.1 for the connection tests: each is a `TcpListener` on a free port
//! whose every connection is handled by a closure on a thread of its own, for as long as the test
//! process lives. They speak just enough of the PostgreSQL wire protocol to misbehave in one way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Listen on a free port; `handle` gets each accepted connection. Returns the port.
pub fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let handle = handle.clone();
            std::thread::spawn(move || handle(stream));
        }
    });
    port
}

/// One length-prefixed message body (the startup-phase framing: no type byte).
pub fn read_body(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; (i32::from_be_bytes(len) as usize).saturating_sub(4)];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Answer SSLRequest / GSSENCRequest with "N" (no TLS here) until the startup message comes.
pub fn until_startup(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    loop {
        let body = read_body(stream)?;
        match i32::from_be_bytes(body[..4].try_into().unwrap()) {
            80_877_103 | 80_877_104 => stream.write_all(b"N")?,
            _ => return Ok(()),
        }
    }
}

/// A PostgreSQL that logs anyone in (AuthenticationOk, ReadyForQuery) and then never answers
/// a query: a server stuck after login, or a proxy whose backend went away.
pub fn stalled_after_login() -> u16 {
    serve(|mut stream| {
        if until_startup(&mut stream).is_err() {
            return;
        }
        let _ = stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]); // AuthenticationOk
        let _ = stream.write_all(&[b'K', 0, 0, 0, 12, 0, 0, 0, 42, 0, 0, 0, 7]); // BackendKeyData
        let _ = stream.write_all(&[b'Z', 0, 0, 0, 5, b'I']); // ReadyForQuery, idle
        let _ = stream.flush();
        // Read whatever comes, answer nothing, until the client gives up.
        let mut sink = [0u8; 1024];
        let _ = stream.set_read_timeout(None);
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    })
}

/// A PostgreSQL whose first connection works (every query gets an empty `SET` completion), and
/// whose later connections log in and then stall: a server that runs out of steam after the
/// first connection, as the pool opens more.
pub fn stalls_after_first_connection() -> u16 {
    let first = std::sync::atomic::AtomicBool::new(true);
    serve(move |mut stream| {
        if until_startup(&mut stream).is_err() {
            return;
        }
        let _ = stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]); // AuthenticationOk
        let _ = stream.write_all(&[b'Z', 0, 0, 0, 5, b'I']); // ReadyForQuery, idle
        let _ = stream.set_read_timeout(None);
        let answer = first.swap(false, std::sync::atomic::Ordering::SeqCst);
        loop {
            let mut tag = [0u8; 1];
            if stream.read_exact(&mut tag).is_err() || read_body(&mut stream).is_err() {
                return;
            }
            if answer && tag[0] == b'Q' {
                let _ = stream.write_all(&[b'C', 0, 0, 0, 8, b'S', b'E', b'T', 0]); // CommandComplete
                let _ = stream.write_all(&[b'Z', 0, 0, 0, 5, b'I']);
            }
        }
    })
}

/// Something that answers the first bytes of every connection with `reply` and hangs up.
pub fn answering(reply: &'static [u8]) -> u16 {
    serve(move |mut stream| {
        let mut first = [0u8; 8];
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        if stream.read_exact(&mut first).is_ok() {
            let _ = stream.write_all(reply);
            let _ = stream.flush();
        }
    })
}

/// A server that says "no TLS" like PostgreSQL, then answers the startup message with `reply`
/// and hangs up.
pub fn garbage_after_startup(reply: &'static [u8]) -> u16 {
    serve(move |mut stream| {
        if until_startup(&mut stream).is_ok() {
            let _ = stream.write_all(reply);
            let _ = stream.flush();
        }
    })
}

/// A fake PostgreSQL that asks for a cleartext password and refuses it (28P01), quoting the
/// password it got in its error message, as a careless proxy might. Returns the port and the
/// passwords it received.
pub fn refusing_logins() -> (u16, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let port = serve(move |mut stream| {
        let _ = refuse_login(&mut stream, &record);
    });
    (port, seen)
}

fn refuse_login(stream: &mut TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    until_startup(stream)?;
    stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?; // AuthenticationCleartextPassword
    let mut tag = [0u8; 1];
    stream.read_exact(&mut tag)?; // 'p'
    let password = String::from_utf8_lossy(&read_body(stream)?)
        .trim_end_matches('\0')
        .to_string();
    seen.lock().unwrap().push(password.clone());
    let message = format!("password authentication failed for user \"app\" (got \"{password}\")");
    let mut fields = Vec::new();
    for (key, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28P01"),
        (b'M', message.as_str()),
    ] {
        fields.push(key);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    stream.write_all(b"E")?;
    stream.write_all(&(fields.len() as i32 + 4).to_be_bytes())?;
    stream.write_all(&fields)?;
    stream.flush()
}
